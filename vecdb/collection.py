"""A collection: one DuckDB table of rows and vectors, and the ANN index derived from it.

:class:`Collection` is a facade: it checks its input once (:mod:`vecdb._input`) and hands the
work to :class:`~vecdb.storage.table.CollectionTable` (every DuckDB statement) and
:class:`~vecdb.live_index.LiveIndex` (store + index). A write goes to DuckDB first, in one
transaction with its change-log entry, and reaches the index only after it commits; so an
acknowledged write is durable and an index can always be caught up or rebuilt from DuckDB.
A search runs filter -> planner -> rows: the ``where`` predicate becomes an allow-list, the
planner picks an exact scan of it or an index search restricted to it (see
:mod:`vecdb.planner`), and requested columns come back in one batched fetch.

Lock order (take them in this order, never the other way round):

1. ``Database`` catalog lock -- create/drop of collections;
2. the collection's write lock (:meth:`Collection.writing`) -- one writer at a time; the DuckDB
   transaction and the index maintenance after it run under it;
3. the live index's read/write lock -- readers hold the read side for a whole search
   (allow-list, planner, id lookup); writers take the write side only to swap in a batch.

>>> import numpy as np, vecdb
>>> db = vecdb.connect()
>>> c = db.create_collection("c", dim=2, metric="l2", columns={"tag": "VARCHAR"})
>>> c.add(ids=[1, 2, 3], vectors=[[0, 0], [1, 0], [5, 5]],
...       rows=[{"tag": "a"}, {"tag": "b"}, {"tag": "a"}])
3
>>> [(h.id, round(h.distance, 3)) for h in c.search([0.9, 0], k=2)]
[(2, 0.1), (1, 0.9)]
>>> [h.row for h in c.search([0.9, 0], k=1, where="tag = $t", params={"t": "a"}, include="*")]
[{'tag': 'a'}]
>>> db.close()
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from vecdb._input import (
    MAX_K,
    as_batch,
    as_ids,
    as_queries,
    check_include,
    check_index,
    check_k,
    check_where,
    search_knob,
)
from vecdb.embed import EmbeddingFunction, from_spec, resolve
from vecdb.errors import AlreadyExistsError, InvalidArgumentError, NotFoundError
from vecdb.fulltext import CorpusStats
from vecdb.index import INDEX_TYPES
from vecdb.live_index import LiveIndex
from vecdb.result import Result
from vecdb.storage.table import CollectionTable
from vecdb.text import (
    DOCUMENT,
    HYBRID_DEPTH,
    SCORES,
    check_documents,
    check_fusion,
    check_mode,
    fuse,
)
from vecdb.types import Candidates, CollectionSpec, Hit, Record, new_hit

__all__ = ["Collection", "CollectionContext", "Candidates"]

#: the name under which ``include`` asks for each hit's vector
VEC = "vec"


@dataclass(frozen=True)
class CollectionContext:
    """What a collection needs from its database, and no more."""

    cursor: Callable[[], duckdb.DuckDBPyConnection]  #: the calling thread's DuckDB connection
    root: Path | None  #: the data directory (None in memory)
    confined: bool  #: whether SQL predicates are confined (no files, network, settings)
    closed: Callable[[], bool]  #: whether the database was closed
    owner: object = None  #: keeps the database alive while any of its collections is in use


class Collection:
    """Vectors with metadata rows; get one from :meth:`vecdb.Database.create_collection`.

    >>> import vecdb
    >>> db = vecdb.connect()
    >>> docs = db.create_collection("docs", dim=3)
    >>> docs.upsert(ids=[1], vectors=[[1, 2, 3]])
    1
    >>> docs.count(), docs.get([1])[0].vector.tolist()
    (1, [1.0, 2.0, 3.0])
    >>> db.close()
    """

    def __init__(
        self,
        ctx: CollectionContext,
        spec: CollectionSpec,
        seq: int,
        embedding: EmbeddingFunction | None = None,
    ) -> None:
        self._ctx = ctx
        self._embedding = embedding
        self._spec = spec
        self._dropped = False
        self._write_lock = threading.RLock()
        self._table = CollectionTable(ctx.cursor, spec, seq)
        directory = None if ctx.root is None else ctx.root / "index" / spec.name
        self._live = LiveIndex(spec, directory, self._table.column_types())

    # ---- what it is ------------------------------------------------------------------------
    spec = property(lambda self: self._spec, doc="The collection's definition.")
    name = property(lambda self: self._spec.name)
    dim = property(lambda self: self._spec.dim)
    metric = property(lambda self: self._spec.metric)
    index_kind = property(lambda self: self._spec.index, doc='"hnsw", "ivf" or "exact".')
    columns = property(lambda self: dict(self._spec.columns))
    id_type = property(lambda self: self._spec.id_type)
    index_params = property(lambda self: self._live.index.describe())
    store = property(lambda self: self._live.store, doc="The live vector store (inspect only).")
    column_types = property(
        lambda self: self._live.row_types,
        doc="Each column's Arrow type, as DuckDB returns it (do not modify).",
    )
    index = property(lambda self: self._live.index, doc="The live ANN index (inspect only).")

    @property
    def embedding_function(self) -> EmbeddingFunction | None:
        """The function that embeds documents and text queries (None without one).

        Rebuilt from the persisted spec on first use; a collection created with a plain
        callable raises an error asking for it (pass it with
        ``db.get_collection(name, embedding=fn)``)."""
        if self._embedding is None and self._spec.embedding is not None:
            self._embedding = from_spec(
                self._spec.embedding, dim=self._spec.dim, collection=self._spec.name
            )
        return self._embedding

    def set_embedding_function(self, embedding: Any) -> None:
        """Give the collection its embedding function again (a callable is not persisted).

        >>> import vecdb
        >>> db = vecdb.connect()
        >>> c = db.create_collection("t", embedding=lambda ts: [[1.0, len(t)] for t in ts])
        >>> c.set_embedding_function(lambda ts: [[2.0, len(t)] for t in ts]); c.dim
        2
        """
        if self._spec.embedding is None:
            raise InvalidArgumentError(
                f"collection {self.name!r} was created without an embedding function; "
                "create a new collection with embedding= to embed documents"
            )
        self._embedding = resolve(embedding, dim=self._spec.dim)

    def _embed(self, texts: list[str]) -> np.ndarray:
        fn = self.embedding_function
        if fn is None:
            raise InvalidArgumentError(
                f"collection {self.name!r} has no embedding function, so texts cannot be "
                "embedded: pass vectors (or create the collection with embedding=...)"
            )
        return fn(texts)

    def describe(self) -> dict[str, Any]:
        """The collection's definition and row count.

        >>> import vecdb
        >>> vecdb.connect().create_collection("d", dim=2, index="exact").describe()["index"]
        'exact'
        """
        out = dataclasses.asdict(self._spec)  # name, dim, metric, index, ..., id_type
        return {**out, "index_params": self.index_params, "count": self.count()}

    def __repr__(self) -> str:
        s = self._spec
        return f"Collection({s.name!r}, dim={s.dim}, metric={s.metric!r}, index={s.index!r})"

    def _check_open(self) -> None:
        if self._dropped:
            raise NotFoundError(f"collection {self.name!r} was dropped")
        if self._ctx.closed():
            raise InvalidArgumentError("the database is closed; open it again with vecdb.connect")

    # ---- life cycle (called by Database) ---------------------------------------------------
    def load(self) -> None:
        """Bring the index up to DuckDB: checkpoint + replay of newer writes, or a rebuild."""
        self._live.load(self._table)

    def drop(self) -> None:
        """Drop the table, its change log and catalog row (one transaction), then the index
        files; the collection is unusable afterwards."""
        with self._write_lock:
            self._table.drop()
            self._dropped = True
            self._live.remove_files()

    def checkpoint(self, if_changed: bool = False) -> None:
        """Write the index and vector store to disk, covering every write so far (with
        ``if_changed``, only when there were writes since the last checkpoint)."""
        with self._write_lock:
            if not self._dropped and not (if_changed and self._live.ckpt_seq == self._table.seq):
                self._live.checkpoint(self._table)

    # ---- writes ----------------------------------------------------------------------------
    def add(
        self, ids: Any = None, vectors: Any = None, rows: Any = None, documents: Any = None
    ) -> int:
        """Insert new rows; an id that already exists is an error and nothing is written.

        ``ids`` may instead be a pandas/Arrow/Polars table with ``id`` and ``vec`` columns.

        >>> import vecdb
        >>> c = vecdb.connect().create_collection("c", dim=2, index="exact")
        >>> c.add([1], [[1, 0]])
        1
        >>> c.add([1], [[0, 1]])
        Traceback (most recent call last):
        ...
        vecdb.errors.AlreadyExistsError: ids already exist: [1]; use upsert() to replace them

        With ``documents`` (collections with ``embedding=`` or ``fulltext=True``), each text
        goes to the ``document`` column; documents without a vector (``vectors=None``, or a
        ``None`` in the list of vectors) are embedded first, in batches, before anything is
        written: an embedding error writes nothing.
        """
        return self._write(ids, vectors, rows, documents, replace=False)

    def upsert(
        self, ids: Any = None, vectors: Any = None, rows: Any = None, documents: Any = None
    ) -> int:
        """Insert rows, replacing any row with the same id (vector and all columns).

        >>> import vecdb
        >>> c = vecdb.connect().create_collection("c", dim=2, index="exact")
        >>> c.upsert([1], [[1, 0]]), c.upsert([1], [[0, 1]]), c.count()
        (1, 1, 1)
        """
        return self._write(ids, vectors, rows, documents, replace=True)

    def _with_documents(self, ids: Any, vectors: Any, documents: Any) -> tuple[Any, Any]:
        """The vectors to write (embedding what has none) and the document column."""
        if not self._spec.has_text:
            raise InvalidArgumentError(
                f"collection {self.name!r} has no document column; create it with "
                "embedding=... or fulltext=True to store documents"
            )
        n = len(as_ids(ids, self.id_type)) if ids is not None else None
        docs = check_documents(documents, n)
        if vectors is None:
            missing = list(range(len(docs)))
        elif isinstance(vectors, (list, tuple)) and any(v is None for v in vectors):
            missing = [i for i, v in enumerate(vectors) if v is None]
        else:
            return vectors, docs
        if any(docs[i] is None for i in missing):
            raise InvalidArgumentError(
                "a row with neither a vector nor a document cannot be embedded; pass one of them"
            )
        embedded = self._embed([docs[i] for i in missing])  # type: ignore[misc]
        if vectors is None:
            return embedded, docs
        out = list(vectors)
        for j, i in enumerate(missing):
            out[i] = embedded[j]
        return out, docs

    def _write(self, ids: Any, vectors: Any, rows: Any, documents: Any, *, replace: bool) -> int:
        self._check_open()
        docs = None
        if documents is not None:
            vectors, docs = self._with_documents(ids, vectors, documents)
        id_arr, mat, batch = as_batch(ids, vectors, rows, self._spec)
        if docs is not None:
            if rows is not None and any(r and DOCUMENT in r for r in rows):
                raise InvalidArgumentError(
                    "pass each document once: in documents= or as rows' 'document', not both"
                )
            pos = batch.column_names.index(DOCUMENT)
            batch = batch.set_column(pos, DOCUMENT, pa.array(docs, pa.string()))
        texts = batch.column(DOCUMENT).to_pylist() if self._live.fulltext is not None else None
        prepared = self._live.prepare(mat)
        if len(id_arr) == 0:
            return 0
        with self._write_lock:
            self._check_open()
            if not replace and (exists := self._live.store.contains(id_arr)).any():
                shown = id_arr[exists][:5].tolist()
                raise AlreadyExistsError(
                    f"ids already exist: {shown}; use upsert() to replace them"
                )
            stored = self._table.write(batch, replace=replace)
            self._live.apply(id_arr, prepared, None, stored, texts)
            self._live.after_write(len(id_arr), self._table)
        return len(id_arr)

    def delete(self, ids: Any = None, where: str | None = None, params: Any = None) -> int:
        """Delete rows by id or by a SQL predicate; returns how many rows were deleted.

        >>> import vecdb
        >>> c = vecdb.connect().create_collection("c", dim=1, index="exact",
        ...                                       columns={"y": "INTEGER"})
        >>> c.add([1, 2, 3], [[1], [2], [3]], [{"y": 1}, {"y": 2}, {"y": 3}])
        3
        >>> c.delete(ids=[1]), c.delete(where="y >= $min", params={"min": 3}), c.count()
        (1, 1, 1)
        """
        self._check_open()
        if (ids is None) == (where is None):
            raise InvalidArgumentError("pass exactly one of ids= or where=")
        if ids is not None:
            id_list = as_ids(ids, self.id_type).tolist()
            sql = self._table.delete_sql("id IN (SELECT unnest($__ids))")
            return len(self.execute_dml(sql, {"__ids": id_list}, "ids")) if id_list else 0
        sql = self._table.delete_sql(self._check_predicate(where))
        return len(self.execute_dml(sql, params, "where"))

    def execute_dml(self, sql: str, params: Any = None, what: str | None = None) -> list[Any]:
        """Run one INSERT/UPDATE/DELETE on this collection's table ending in ``RETURNING id``;
        returns the touched ids. Atomic: the touched rows are checked, logged and committed
        together, then the index follows. (The SQL layer's entry for DML.)"""
        self._check_open()
        with self._write_lock:
            touched, current = self._table.execute_dml(sql, params, self._live.prepare, what)
            if current is not None:
                self._live.apply(*current, self._live.texts_of(self._table, current[0]))
                self._live.after_write(len(touched), self._table)
        return touched

    def compact(self) -> None:
        """Rebuild the index over live rows only, reclaiming deleted entries; checkpoint it."""
        self._check_open()
        with self._write_lock:
            self._live.compact(self._table)

    def set_index(
        self, index: str, metric: str | None = None, index_params: dict[str, Any] | None = None
    ) -> None:
        """Switch the ANN index (rebuilt from the stored vectors).

        >>> import vecdb
        >>> c = vecdb.connect().create_collection("c", dim=2, index="exact")
        >>> c.set_index("hnsw", index_params={"m": 8}); c.index_kind
        'hnsw'
        """
        self._check_open()
        metric, index, params = check_index(metric or self.metric, index, index_params)
        s = self._spec
        spec = CollectionSpec(s.name, s.dim, metric, index, params, s.columns, s.id_type)
        with self._write_lock:
            self._live.reconfigure(spec, self._table)  # raises before any change if it must
            self._table.save_index_spec(spec)
            self._spec = spec
            self._live.checkpoint(self._table)

    # ---- reads -----------------------------------------------------------------------------
    def count(self, where: str | None = None, params: Any = None) -> int:
        """Number of rows (matching ``where`` when given)."""
        self._check_open()
        if where is None:
            return self._live.store.n_alive
        return self._table.count(self._check_predicate(where), params)

    def get(self, ids: Any, include: Any = None) -> list[Record]:
        """Rows by id, in the order asked; ids that do not exist are left out.

        >>> import vecdb
        >>> c = vecdb.connect().create_collection("c", dim=2, index="exact")
        >>> _ = c.add([5], [[1, 2]])
        >>> [(r.id, r.vector.tolist(), r.row) for r in c.get([5, 6])]
        [(5, [1.0, 2.0], {})]
        """
        self._check_open()
        wanted = as_ids(ids, self.id_type).tolist()
        cols, _ = self._include(include if include is not None else "*")
        got, (values, vecs) = self._live.get_rows(wanted, cols, True)
        assert vecs is not None
        vecs = self._raw_vectors(got, vecs)
        return [
            Record(i, vecs[j], {c: values[n][j] for n, c in enumerate(cols)})
            for j, i in enumerate(got)
        ]

    def _include(self, include: Any) -> tuple[list[str], bool]:
        """The columns to return and whether ``"vec"`` (the stored vector) was asked for."""
        if isinstance(include, str) and include == VEC:
            return [], True
        if include is not None and not isinstance(include, str):
            include = list(include)
            if VEC in include:
                rest = [c for c in include if c != VEC]
                return (check_include(rest, self._spec.columns) if rest else []), True
        return check_include(include, self._spec.columns), False

    def _raw_vectors(self, ids: list[Any], stored: np.ndarray) -> np.ndarray:
        """The vectors as written. The store holds them as written under l2/ip; under cosine
        it holds unit rows, so the written ones come from DuckDB (a row deleted meanwhile
        keeps its unit vector)."""
        if self.metric != "cosine" or not ids:
            return stored
        raw = self._table.vectors(ids)
        out = stored.copy()
        for j, i in enumerate(ids):
            v = raw.get(i)
            if v is not None:
                out[j] = v
        return out

    def _hits(
        self, ids: list[Any], dists: list[float], cols: list[str], fetched: Any, vec: bool
    ) -> list[Hit]:
        values, vecs = fetched
        if not cols and not vec:
            return list(map(new_hit, zip(ids, dists, repeat(None))))
        rows: list[dict[str, Any]]
        rows = [dict(zip(cols, vals)) for vals in zip(*values)] if cols else [{} for _ in ids]
        if vec:
            raw = self._raw_vectors(ids, vecs)
            for j, r in enumerate(rows):
                r[VEC] = raw[j]
        return list(map(new_hit, zip(ids, dists, rows)))

    def _check_predicate(self, where: Any) -> str:
        """The one check of a ``where`` predicate (search, count, delete)."""
        return check_where(where, self._ctx.confined)

    def search(
        self,
        query: Any,
        k: int = 10,
        where: str | None = None,
        params: Any = None,
        include: Any = None,
        ef: int | None = None,
        nprobe: int | None = None,
        mode: str = "vector",
        text: str | None = None,
        fusion: Any = None,
    ) -> list[Hit] | list[list[Hit]]:
        """The ``k`` nearest rows to ``query`` (among rows matching ``where``).

        A 1-D query returns a list of :class:`Hit`; a 2-D matrix returns one list per row.
        Each list holds ``min(k, matching rows)`` hits, nearest first. ``include`` names the
        columns to return in ``Hit.row`` (``"*"`` for all); by default rows are not fetched.
        ``ef`` (hnsw) and ``nprobe`` (ivf) trade speed for recall on this call only.

        >>> import vecdb
        >>> c = vecdb.connect().create_collection("c", dim=2, metric="l2", index="exact",
        ...                                       columns={"y": "INTEGER"})
        >>> _ = c.add([1, 2], [[0, 0], [3, 4]], [{"y": 2020}, {"y": 2024}])
        >>> c.search([0, 0], k=5, where="y > 2021", include=["y"])
        [Hit(id=2, distance=5.0, row={'y': 2024})]

        **Text.** With an embedding function, ``query`` may be a string (or a list of
        strings): it is embedded first. ``mode="fulltext"`` ranks by BM25 over the
        ``document`` column (the query string, or ``text=``); ``mode="hybrid"`` runs both and
        fuses them: reciprocal rank fusion (``fusion={"method": "rrf", "k": 60}``, the
        default) or weighted normalised scores (``{"method": "weighted", "vector": 0.7,
        "text": 0.3}``). ``where`` filters every branch before ranking. In these two modes a
        hit's ``distance`` is its ranking score, higher is better (BM25 or fused).
        ``include=["_scores"]`` adds ``row["_scores"] = {"vector": distance, "text": bm25}``
        (``None`` where the row was not in that branch).
        """
        if (
            where is None
            and include is None
            and mode == "vector"
            and text is None
            and (ef is None or type(ef) is int and ef > 0)
        ):
            res = self._probe(query, k, ef)
            if res is not None:
                return list(map(new_hit, zip(res[0].tolist(), res[1].tolist(), repeat(None))))
        self._check_open()
        mode = check_mode(mode)
        want_scores = include is not None and not isinstance(include, str) and SCORES in include
        if want_scores:
            include = [c for c in include if c != SCORES]
        if mode != "vector" or text is not None:
            cols = check_include(include, self._spec.columns)
            return self._search_text(
                query, check_k(k), where, params, cols, want_scores, ef, nprobe, mode, text, fusion
            )
        query = self._embedded(query)
        cols, vec = self._include(include)
        if include is not None and where is None and (ef is None or type(ef) is int and ef > 0):
            kk = k if type(k) is int and 0 < k <= MAX_K else None
            q1 = query if isinstance(query, np.ndarray) and query.ndim == 1 else None
            if kk is not None and q1 is not None and self._live.hot is not None:
                if not (q1.dtype == np.float32 and q1.shape[0] == self._spec.dim):
                    q1 = as_queries(q1, self.dim, self.metric)[0][0]
                # like _probe, a float32 query goes as is (the HNSW space normalizes it)
                got = self._live.probe_rows(q1, kk, ef, cols, vec)
                if got is not None and not want_scores:
                    return self._hits(got[0].tolist(), got[1].tolist(), cols, got[3], vec)
        q, single = as_queries(query, self.dim, self.metric)
        found, fetched = self._run(q, check_k(k), where, params, ef, nprobe, cols, vec)
        if include is None:
            out = [
                list(map(new_hit, zip(ir.tolist(), dr.tolist(), repeat(None))))
                for ir, dr in zip(found.ids, found.distances)
            ]
        else:
            out = [
                self._hits(ir.tolist(), dr.tolist(), cols, f, vec)
                for ir, dr, f in zip(found.ids, found.distances, fetched)
            ]
        if want_scores:
            out = [
                [Hit(h.id, h.distance, {**(h.row or {}), SCORES: _vector_scores(h)}) for h in hits]
                for hits in out
            ]
        return out[0] if single else out

    def search_table(
        self,
        query: Any,
        k: int = 10,
        where: str | None = None,
        params: Any = None,
        include: Any = None,
        ef: int | None = None,
        nprobe: int | None = None,
    ) -> Result:
        """:meth:`search` as one table (a :class:`~vecdb.Result`): ``id``, ``distance`` and
        the ``include``d columns, with a leading ``query`` column for a matrix of queries.
        Then ``.to_arrow()``, ``.to_pandas()``, ``.to_polars()`` or ``.to_numpy()``.

        >>> import vecdb
        >>> c = vecdb.connect().create_collection("c", dim=2, metric="l2", index="exact",
        ...                                       columns={"y": "INTEGER"})
        >>> _ = c.add([1, 2], [[0, 0], [3, 4]], [{"y": 2020}, {"y": 2024}])
        >>> c.search_table([0, 0], k=2, include=["y"]).to_arrow().to_pydict()
        {'id': [1, 2], 'distance': [0.0, 5.0], 'y': [2020, 2024]}
        """
        hits = self.search(query, k, where, params, include, ef, nprobe)
        cols, vec = self._include(include)
        id_type = pa.string() if self.id_type == "str" else pa.int64()
        names = cols + ([VEC] if vec else [])
        return Result.from_hits(hits, names, self._live.row_types, id_type, self.dim)

    def _embedded(self, query: Any) -> Any:
        """A str query (or a list of them) embedded with the collection's function."""
        if isinstance(query, str):
            return self._embed([query])[0]
        if isinstance(query, (list, tuple)) and query and all(isinstance(x, str) for x in query):
            return self._embed(list(query))
        return query

    def _text_plan(
        self,
        query: Any,
        k: int,
        where: str | None,
        params: Any,
        ef: Any,
        nprobe: Any,
        mode: str,
        text: str | None,
        fusion: Any,
    ) -> tuple[Any, dict[str, Any]]:
        """Run a fulltext or hybrid search: ``(ranking, plan)``; the ranking is
        ``(ids, scores, vector distances or None, text scores or None)``."""
        if text is None:
            if not isinstance(query, str):
                raise InvalidArgumentError(
                    f"mode={mode!r} needs keyword text: pass a string query or text='...'"
                )
            text = query
        if not isinstance(text, str):
            raise InvalidArgumentError(f"text must be a str, got {type(text).__name__}")
        if self._live.fulltext is None:
            raise InvalidArgumentError(
                f"collection {self.name!r} has no full-text index; create it with "
                f"fulltext=True to use mode={mode!r} or text="
            )
        matching = key = None
        if where is not None:
            pred = self._check_predicate(where)
            key = (where, _freeze(params))

            def matching() -> np.ndarray:
                return self._table.ids_where(pred, params)

        if mode == "fulltext":
            ids, scores, plan = self._live.search_text(text, k, key, matching)
            return (ids, scores, None, scores), {"mode": "fulltext", **plan}
        fz = check_fusion(fusion)
        depth = max(k, HYBRID_DEPTH)
        q, single = as_queries(self._embedded(query), self.dim, self.metric)
        if not single:
            raise InvalidArgumentError("a hybrid search takes one query, not a matrix")
        vec = self._run(q, depth, where, params, ef, nprobe)[0]
        t_ids, t_scores, t_plan = self._live.search_text(text, depth, key, matching)
        fused = fuse((vec.ids[0], vec.distances[0]), (t_ids, t_scores), fz, k)
        plan = {
            "mode": "hybrid",
            "fusion": fz,
            "depth": depth,
            "vector": vec.plan,
            "fulltext": t_plan,
            "k": k,
            "results": len(fused.keys),
        }
        bs = fused.branch_scores
        return (fused.keys, fused.scores, bs[:, 0], bs[:, 1]), plan

    def _search_text(
        self,
        query: Any,
        k: int,
        where: str | None,
        params: Any,
        cols: list[str],
        want_scores: bool,
        ef: Any,
        nprobe: Any,
        mode: str,
        text: str | None,
        fusion: Any,
    ) -> list[Hit]:
        if mode == "vector":
            raise InvalidArgumentError(
                "text= is the keyword text of mode='hybrid' or 'fulltext'; pass mode= too"
            )
        (ids, scores, vdist, tscore), _ = self._text_plan(
            query, k, where, params, ef, nprobe, mode, text, fusion
        )
        id_list = ids.tolist()
        rows = self._table.rows(id_list, cols) if cols else {}
        out = []
        for j, (i, sc) in enumerate(zip(id_list, scores.tolist())):
            row = dict(rows.get(i) or {}) if cols else None
            if want_scores:
                v = None if vdist is None or np.isnan(vdist[j]) else float(vdist[j])
                t = None if tscore is None or np.isnan(tscore[j]) else float(tscore[j])
                row = {**(row or {}), SCORES: {"vector": v, "text": t}}
            out.append(Hit(i, float(sc), row))
        return out

    def text_stats(self, text: str) -> CorpusStats:
        """BM25's corpus statistics for ``text`` (documents, total length, each token's
        document frequency): what a sharded collection sums over its shards, to score every
        shard with global IDF (see :func:`vecdb.fulltext.corpus_stats`).

        >>> import vecdb
        >>> c = vecdb.connect().create_collection("t", dim=2, fulltext=True, index="exact")
        >>> _ = c.add(ids=[1, 2], vectors=[[1, 0], [0, 1]], documents=["red fox", "blue fox"])
        >>> c.text_stats("fox")
        CorpusStats(documents=2, total_length=4, df={'fox': 2})
        """
        self._check_open()
        return self._live.text_stats(text)

    def _probe(
        self, query: Any, k: Any, ef: int | None
    ) -> tuple[np.ndarray, np.ndarray, int] | None:
        """The hot path: one unfiltered float32 query on HNSW, or None for the general path."""
        if (
            type(query) is np.ndarray
            and query.dtype == np.float32
            and query.ndim == 1
            and type(k) is int
            and 0 < k <= MAX_K
            and query.shape[0] == self._spec.dim
            and self._live.hot is not None
            and not self._dropped
            and not self._ctx.closed()
        ):
            return self._live.probe(query, k, ef)
        return None

    def explain(
        self,
        query: Any,
        k: int = 10,
        where: str | None = None,
        params: Any = None,
        ef: int | None = None,
        nprobe: int | None = None,
        mode: str = "vector",
        text: str | None = None,
        fusion: Any = None,
    ) -> dict[str, Any]:
        """How :meth:`search` would run this query: strategy, matching rows, parameters
        (for ``mode="fulltext"``/``"hybrid"``: the mode, fusion and each branch's plan)."""
        self._check_open()
        if check_mode(mode) != "vector" or text is not None:
            return self._text_plan(
                query, check_k(k), where, params, ef, nprobe, mode, text, fusion
            )[1]
        q, _ = as_queries(self._embedded(query), self.dim, self.metric)
        return self._run(q, check_k(k), where, params, ef, nprobe)[0].plan

    def search_candidates(
        self,
        queries: np.ndarray,
        k: int,
        where: str | None = None,
        params: Any = None,
        ef: int | None = None,
        nprobe: int | None = None,
    ) -> Candidates:
        """Ids and exact distances per query row, and the plan info (the entry of the SQL
        layer and of shards for vector search; ``queries`` is a float32 ``(m, dim)`` matrix)."""
        if ef is not None or nprobe is not None:
            self._check_open()
            q, _ = as_queries(queries, self.dim, self.metric)
            return self._run(q, k, where, params, ef, nprobe)[0]
        if where is None and queries.ndim == 2 and len(queries) == 1:
            res = self._probe(queries[0], k, None)
            if res is not None:
                ids, dists, n = res
                return Candidates([ids], [dists], self._live.probe_plan(k, len(ids), n))
        self._check_open()
        q, _ = as_queries(queries, self.dim, self.metric)
        return self._run(q, k, where, params, None, None)[0]

    def search_rows(
        self,
        queries: np.ndarray,
        k: int,
        where: str | None,
        params: Any,
        columns: list[str],
        vectors: bool = False,
    ) -> tuple[Candidates, list[Any]]:
        """:meth:`search_candidates` plus, per query, the hits' ``columns`` (one value list
        per column) and vectors as written (or None): the SQL layer's entry for a search
        whose SELECT list it answers without DuckDB. Rows and ids come from one snapshot."""
        if where is None and queries.ndim == 2 and len(queries) == 1 and self._live.hot:
            self._check_open()
            q1 = queries[0]
            if not (q1.dtype == np.float32 and q1.shape[0] == self._spec.dim):
                q1 = as_queries(q1, self.dim, self.metric)[0][0]
            res = self._live.probe_rows(q1, k, None, columns, vectors)  # as _probe does
            if res is not None:
                ids, dists, n, (values, vecs) = res
                raw = self._raw_vectors(ids.tolist(), vecs) if vecs is not None else None
                plan = self._live.probe_plan(k, len(ids), n)
                return Candidates([ids], [dists], plan), [(values, raw)]
        self._check_open()
        q, _ = as_queries(queries, self.dim, self.metric)
        found, fetched = self._run(q, k, where, params, None, None, columns, vectors)
        if vectors:
            fetched = [
                (v, self._raw_vectors(i.tolist(), m)) for i, (v, m) in zip(found.ids, fetched)
            ]
        return found, fetched

    def _run(
        self,
        q: np.ndarray,
        k: int,
        where: str | None,
        params: Any,
        ef: Any,
        nprobe: Any,
        columns: list[str] | None = None,
        vectors: bool = False,
    ) -> tuple[Candidates, list[Any]]:
        knob = search_knob(INDEX_TYPES[self.index_kind].knob, ef, nprobe)
        if where is None:
            return self._live.search_rows(q, k, knob, columns=columns, vectors=vectors)
        pred = self._check_predicate(where)
        key = (where, _freeze(params))
        return self._live.search_rows(
            q, k, knob, key, lambda: self._table.ids_where(pred, params), columns, vectors
        )


def _vector_scores(hit: Hit) -> dict[str, Any]:
    """A vector-mode hit's per-branch scores (it was not ranked by text)."""
    return {"vector": hit.distance, "text": None}


def _freeze(params: Any) -> Any:
    """A hashable stand-in for query parameters (the allow-list cache key)."""
    if params is None:
        return None
    if isinstance(params, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in params.items()))
    if isinstance(params, (list, tuple)):
        return tuple(_freeze(v) for v in params)
    if isinstance(params, np.ndarray):
        return (params.dtype.str, params.shape, params.tobytes())
    try:
        hash(params)
    except TypeError:
        return json.dumps(params, default=str, sort_keys=True)
    return params
