"""A collection: one DuckDB table of rows and vectors, and the ANN index derived from it.

:class:`Collection` is a facade: it checks its input once (:mod:`vecdb._input`) and hands the
work to :class:`~vecdb.storage.table.CollectionTable` (every DuckDB statement),
:class:`~vecdb.live_index.LiveIndex` (store + index, in memory), :class:`~vecdb.upkeep.Upkeep`
(its load, rebuild, compaction and checkpoints) and :class:`~vecdb.live_text.LiveText` (its
keyword reads). A write goes to DuckDB first, in one
transaction with its change-log entry, and reaches the index only after it commits; so an
acknowledged write is durable and an index can always be caught up or rebuilt from DuckDB.
Reads (search, get, explain) are answered by :class:`~vecdb.reads.Reads`: filter -> planner
-> rows, where the ``where`` predicate becomes an allow-list, the planner picks an exact scan
of it or an index search restricted to it (see :mod:`vecdb.planner`), and requested columns
come from the row store in the ids' snapshot.

Lock order (take them in this order, never the other way round):

1. ``Database`` catalog lock -- create/drop of collections;
2. the collection's write lock (:meth:`Collection.writing`) -- one writer at a time; the DuckDB
   transaction and the index maintenance after it run under it;
3. the live index's read/write lock (:class:`~vecdb.live_index.RWLock`) -- readers hold the
   read side for a whole search (allow-list, planner, id lookup, rows); writers (apply, and
   the upkeep's rebuild/compact swaps) take the write side only to swap in a batch or parts.

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
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from vecdb.embed import EmbeddingFunction
from vecdb.errors import InvalidArgumentError, NotFoundError
from vecdb.fulltext import CorpusStats
from vecdb.live_index import LiveIndex
from vecdb.live_text import LiveText
from vecdb.reads import Reads
from vecdb.result import Result
from vecdb.sql.predicate import Predicate
from vecdb.storage.table import CollectionTable
from vecdb.types import Candidates, CollectionSpec, Hit, Record
from vecdb.upkeep import Upkeep
from vecdb.writes import Writes

__all__ = ["Collection", "CollectionContext", "Candidates"]


@dataclass(frozen=True)
class CollectionContext:
    """What a collection needs from its database, and no more."""

    cursor: Callable[[], duckdb.DuckDBPyConnection]  #: the calling thread's DuckDB connection
    root: Path | None  #: the data directory (None in memory)
    confined: bool  #: whether SQL predicates are confined (no files, network, settings)
    closed: Callable[[], bool]  #: whether the database was closed
    owner: object = None  #: keeps the database alive while any of its collections is in use
    progress: Any = None  #: how long work reports progress (see :mod:`vecdb.progress`)


class Collection:
    """Vectors with metadata rows; get one from :meth:`vecdb.Database.create_collection`.

    >>> import vecdb
    >>> docs = vecdb.connect().create_collection("docs", dim=3)
    >>> docs.upsert(ids=[1], vectors=[[1, 2, 3]]), docs.get([1])[0].vector.tolist()
    (1, [1.0, 2.0, 3.0])
    """

    def __init__(
        self, ctx: CollectionContext, spec: CollectionSpec, seq: int, embedding: Any = None
    ) -> None:
        self._ctx = ctx
        self._dropped = False
        self._write_lock = threading.RLock()
        self._table = CollectionTable(ctx.cursor, spec, seq)
        directory = None if ctx.root is None else ctx.root / "index" / spec.name
        self._live = live = LiveIndex(spec, self._table.column_types(), ctx.progress)
        self._upkeep = Upkeep(live, directory)
        self._text = LiveText(live)
        table, lock, check = self._table, self._write_lock, self._check_open
        self._reads = Reads(live, self._text, table, ctx.confined, self.embed, check, self._is_open)
        self._writes = Writes(self._upkeep, table, lock, check, self._reads.predicate, embedding)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Vectors of ``texts`` by the collection's embedding function (an error without)."""
        return self._writes.embed(texts)

    # ---- what it is ------------------------------------------------------------------------
    spec = property(lambda self: self._live.spec, doc="The collection's definition.")
    name = property(lambda self: self._live.spec.name)
    dim = property(lambda self: self._live.spec.dim)
    metric = property(lambda self: self._live.spec.metric)
    index_kind = property(lambda self: self._live.spec.index, doc='"hnsw", "ivf" or "exact".')
    columns = property(lambda self: dict(self._live.spec.columns))
    id_type = property(lambda self: self._live.spec.id_type)
    index_params = property(lambda self: self._live.index.describe())
    store = property(lambda self: self._live.store, doc="The live vector store (inspect only).")
    column_types = property(lambda self: self._live.row_types, doc="Arrow types (do not modify).")
    index = property(lambda self: self._live.index, doc="The live ANN index (inspect only).")
    text_index = property(lambda self: None if self._live.fulltext is None else self._text)

    @property
    def embedding_function(self) -> EmbeddingFunction | None:
        """The function that embeds documents and text queries (None without one); a plain
        callable is not persisted: pass it again with ``db.get_collection(name, embedding=)``."""
        return self._writes.embedding_function

    def set_embedding_function(self, embedding: Any) -> None:
        """Give the collection its embedding function again (a callable is not persisted).

        >>> import vecdb
        >>> db = vecdb.connect()
        >>> c = db.create_collection("t", embedding=lambda ts: [[1.0, len(t)] for t in ts])
        >>> c.set_embedding_function(lambda ts: [[2.0, len(t)] for t in ts]); c.dim
        2
        """
        self._writes.set_embedding_function(embedding)

    def describe(self) -> dict[str, Any]:
        """The collection's definition and row count.

        >>> import vecdb
        >>> vecdb.connect().create_collection("d", dim=2, index="exact").describe()["index"]
        'exact'
        """
        out = dataclasses.asdict(self._live.spec)  # name, dim, metric, index, ..., id_type
        return {**out, "index_params": self.index_params, "count": self.count()}

    def __repr__(self) -> str:
        s = self._live.spec
        return f"Collection({s.name!r}, dim={s.dim}, metric={s.metric!r}, index={s.index!r})"

    def _is_open(self) -> bool:
        return not self._dropped and not self._ctx.closed()

    def _check_open(self) -> None:
        if self._dropped:
            raise NotFoundError(f"collection {self.name!r} was dropped")
        if self._ctx.closed():
            raise InvalidArgumentError("the database is closed; open it again with vecdb.connect")

    # ---- life cycle (called by Database) ---------------------------------------------------
    def load(self) -> None:
        """Bring the index up to DuckDB: checkpoint + replay of newer writes, or a rebuild."""
        self._upkeep.load(self._table)

    def drop(self) -> None:
        """Drop the table, change log and catalog row (one transaction), then the index files."""
        with self._write_lock:
            self._table.drop()
            self._dropped = True
            self._upkeep.remove_files()

    def checkpoint(self, if_changed: bool = False) -> None:
        """Save the index covering every write so far (``if_changed``: only after writes)."""
        with self._write_lock:
            if not self._dropped and not (if_changed and self._upkeep.ckpt_seq == self._table.seq):
                self._upkeep.checkpoint(self._table)

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

        ``documents`` go to the ``document`` column; those without a vector are embedded
        before anything is written (see :mod:`vecdb.writes`).
        """
        return self._writes.write(ids, vectors, rows, documents, replace=False)

    def upsert(
        self, ids: Any = None, vectors: Any = None, rows: Any = None, documents: Any = None
    ) -> int:
        """Insert rows, replacing any row with the same id (vector and all columns).

        >>> import vecdb
        >>> c = vecdb.connect().create_collection("c", dim=2, index="exact")
        >>> c.upsert([1], [[1, 0]]), c.upsert([1], [[0, 1]]), c.count()
        (1, 1, 1)
        """
        return self._writes.write(ids, vectors, rows, documents, replace=True)

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
        return self._writes.delete(ids, where, params)

    def execute_dml(self, sql: str, params: Any = None, what: str | None = None) -> list[Any]:
        """The SQL layer's DML entry: one INSERT/UPDATE/DELETE ending in ``RETURNING id``, run
        atomically (checked, logged, committed, then the index follows); the touched ids."""
        return self._writes.execute_dml(sql, params, what)

    def compact(self) -> None:
        """Rebuild the index over live rows only, reclaiming deleted entries; checkpoint it."""
        self._writes.compact()

    def set_index(
        self,
        index: str,
        metric: str | None = None,
        index_params: dict[str, Any] | None = None,
        *,
        sql_name: tuple[str, bool] | None = None,
    ) -> None:
        """Switch the ANN index (rebuilt); ``sql_name=(name, keep)`` records its SQL name.

        >>> import vecdb
        >>> c = vecdb.connect().create_collection("c", dim=2, index="exact")
        >>> c.set_index("hnsw", index_params={"m": 8}); c.index_kind
        'hnsw'
        """
        self._writes.set_index(index, metric, index_params, sql_name)

    # ---- reads (answered by vecdb.reads.Reads) --------------------------------------------
    def count(self, where: str | None = None, params: Any = None) -> int:
        """Number of rows (matching ``where`` when given)."""
        return self._reads.count(where, params)

    def get(self, ids: Any, include: Any = None) -> list[Record]:
        """Rows by id, in the order asked; ids that do not exist are left out.

        >>> import vecdb
        >>> c = vecdb.connect().create_collection("c", dim=2, index="exact")
        >>> _ = c.add([5], [[1, 2]])
        >>> [(r.id, r.vector.tolist(), r.row) for r in c.get([5, 6])]
        [(5, [1.0, 2.0], {})]
        """
        return self._reads.get(ids, include)

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
        columns to return in ``Hit.row`` (``"*"`` for all, ``"vec"`` for the vector); by
        default rows are not fetched. ``ef`` (hnsw) and ``nprobe`` (ivf) trade speed for
        recall on this call only.

        >>> import vecdb
        >>> c = vecdb.connect().create_collection("c", dim=2, metric="l2", index="exact",
        ...                                       columns={"y": "INTEGER"})
        >>> _ = c.add([1, 2], [[0, 0], [3, 4]], [{"y": 2020}, {"y": 2024}])
        >>> c.search([0, 0], k=5, where="y > 2021", include=["y"])
        [Hit(id=2, distance=5.0, row={'y': 2024})]

        **Text** (DESIGN.md, "Text"): a string query is embedded first; ``mode="fulltext"``
        ranks by BM25 (of ``text=`` or the query), ``"hybrid"`` fuses both (``fusion=``, RRF
        by default) and ``distance`` is then the score, higher is better;
        ``include=["_scores"]`` adds each branch's score as ``row["_scores"]``.
        """
        return self._reads.search(query, k, where, params, include, ef, nprobe, mode, text, fusion)

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
        hits = self._reads.search(query, k, where, params, include, ef, nprobe)
        return self._reads.table(hits, include)

    def explain(
        self,
        query: Any,
        k: int = 10,
        where: str | Predicate | None = None,
        params: Any = None,
        ef: int | None = None,
        nprobe: int | None = None,
        mode: str = "vector",
        text: str | None = None,
        fusion: Any = None,
    ) -> dict[str, Any]:
        """How :meth:`search` would run this query: strategy, matching rows, parameters
        (for ``mode="fulltext"``/``"hybrid"``: the mode, fusion and each branch's plan)."""
        return self._reads.explain(query, k, where, params, ef, nprobe, mode, text, fusion)

    def search_candidates(
        self,
        queries: np.ndarray,
        k: int,
        where: str | Predicate | None = None,
        params: Any = None,
        ef: int | None = None,
        nprobe: int | None = None,
    ) -> Candidates:
        """Ids and exact distances per query row, and the plan info (the entry of the SQL
        layer and of shards for vector search; ``queries`` is a float32 ``(m, dim)`` matrix)."""
        return self._reads.candidates(queries, k, where, params, ef, nprobe)

    def text_stats(self, text: str) -> CorpusStats:
        """BM25's corpus statistics for ``text``: what a sharded collection sums over its
        shards to score each with global IDF (:func:`vecdb.fulltext.corpus_stats`)."""
        self._check_open()
        return self._text.stats(text)

    def search_rows(
        self,
        queries: np.ndarray,
        k: int,
        where: str | Predicate | None,
        params: Any,
        columns: list[str],
        vectors: bool = False,
    ) -> tuple[Candidates, list[Any]]:
        """:meth:`search_candidates` plus, per query, the hits' ``columns`` (a value list each)
        and vectors as written (or None), from the ids' snapshot (SQL's direct path)."""
        return self._reads.rows(queries, k, where, params, columns, vectors)
