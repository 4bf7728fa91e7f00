"""The read path of one collection: filter -> planner -> rows, and the text modes.

:class:`Reads` answers a :class:`~vecdb.Collection`'s searches, ``get`` and ``explain``. A
``where`` predicate becomes an allow-list (cached per predicate and parameters by the live
index), the planner picks an exact scan of it or an index search restricted to it, and the
requested columns come from the row store under the same read lock as the ids, so rows
always belong to the ids' snapshot. ``mode="fulltext"``/``"hybrid"`` rank by BM25, or fuse
BM25 with the vector ranking.

>>> import vecdb
>>> c = vecdb.connect().create_collection("c", dim=2, metric="l2", index="exact")
>>> _ = c.add([1, 2], [[0, 0], [3, 4]])
>>> c._reads.search([0, 0], k=1)
[Hit(id=1, distance=0.0, row=None)]
"""

from __future__ import annotations

import json
from collections.abc import Callable
from itertools import repeat
from typing import Any

import numpy as np
import pyarrow as pa

from vecdb._input import (
    MAX_K,
    as_ids,
    as_queries,
    check_include,
    check_k,
    check_where,
    search_knob,
)
from vecdb.errors import InvalidArgumentError
from vecdb.index import INDEX_TYPES
from vecdb.live_index import LiveIndex
from vecdb.live_text import LiveText
from vecdb.result import Result
from vecdb.sql.predicate import Predicate
from vecdb.storage.table import CollectionTable
from vecdb.text import HYBRID_DEPTH, SCORES, check_fusion, check_mode, fuse
from vecdb.types import Candidates, Hit, Record, new_hit

__all__ = ["Reads", "VEC"]

#: the name under which ``include`` asks for each hit's vector
VEC = "vec"


class Reads:
    """Searches, ``get`` and ``explain`` over one collection's live index and table.

    ``text`` answers keyword searches; ``embed`` embeds query texts; ``check_open`` raises
    when the collection was dropped or its database closed, and ``is_open`` says so without
    raising (for the hot path). A ``where`` is a predicate's text or, from the SQL layer, a
    checked :class:`~vecdb.sql.predicate.Predicate`.
    """

    def __init__(
        self,
        live: LiveIndex,
        text: LiveText,
        table: CollectionTable,
        confined: bool,
        embed: Callable[[list[str]], np.ndarray],
        check_open: Callable[[], None],
        is_open: Callable[[], bool],
    ) -> None:
        self._live = live
        self._text = text
        self._table = table
        self._confined = confined
        self._embed = embed
        self._check_open = check_open
        self._is_open = is_open

    def predicate(self, where: Any) -> str:
        """The one check of a ``where`` predicate (search, count, delete)."""
        return check_where(where, self._confined)

    def count(self, where: str | None, params: Any) -> int:
        """:meth:`vecdb.Collection.count`."""
        self._check_open()
        if where is None:
            return self._live.store.n_alive
        return self._table.count(self.predicate(where), params)

    # ---- get ---------------------------------------------------------------------------
    def get(self, ids: Any, include: Any) -> list[Record]:
        """Records by id, in the order asked; missing ids are left out."""
        self._check_open()
        wanted = as_ids(ids, self._live.spec.id_type).tolist()
        cols, _ = self.include(include if include is not None else "*")
        got, (values, vecs) = self._live.get_rows(wanted, cols, True)
        assert vecs is not None
        vecs = self._raw_vectors(got, vecs)
        return [
            Record(i, vecs[j], {c: values[n][j] for n, c in enumerate(cols)})
            for j, i in enumerate(got)
        ]

    def include(self, include: Any) -> tuple[list[str], bool]:
        """The columns to return and whether ``"vec"`` (the stored vector) was asked for."""
        columns = self._live.spec.columns
        if isinstance(include, str) and include == VEC:
            return [], True
        if include is not None and not isinstance(include, str):
            include = list(include)
            if VEC in include:
                rest = [c for c in include if c != VEC]
                return (check_include(rest, columns) if rest else []), True
        return check_include(include, columns), False

    def _raw_vectors(self, ids: list[Any], stored: np.ndarray) -> np.ndarray:
        """The vectors as written. The store holds them as written under l2/ip; under cosine
        it holds unit rows, so the written ones come from DuckDB (a row deleted meanwhile
        keeps its unit vector)."""
        if self._live.spec.metric != "cosine" or not ids:
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

    # ---- search ------------------------------------------------------------------------
    def search(
        self,
        query: Any,
        k: Any = 10,
        where: Any = None,
        params: Any = None,
        include: Any = None,
        ef: Any = None,
        nprobe: Any = None,
        mode: Any = "vector",
        text: Any = None,
        fusion: Any = None,
    ) -> list[Hit] | list[list[Hit]]:
        """:meth:`vecdb.Collection.search`."""
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
        spec = self._live.spec
        mode = check_mode(mode)
        want_scores = include is not None and not isinstance(include, str) and SCORES in include
        if want_scores:
            include = [c for c in include if c != SCORES]
        if mode != "vector" or text is not None:
            cols = check_include(include, spec.columns)
            return self._search_text(
                query, check_k(k), where, params, cols, want_scores, ef, nprobe, mode, text, fusion
            )
        query = self._embedded(query)
        cols, vec = self.include(include)
        if include is not None and where is None and (ef is None or type(ef) is int and ef > 0):
            kk = k if type(k) is int and 0 < k <= MAX_K else None
            q1 = query if isinstance(query, np.ndarray) and query.ndim == 1 else None
            if kk is not None and q1 is not None and self._live.hot is not None:
                if not (q1.dtype == np.float32 and q1.shape[0] == spec.dim):
                    q1 = as_queries(q1, spec.dim, spec.metric)[0][0]
                # like _probe, a float32 query goes as is (the HNSW space normalizes it)
                got = self._live.probe_rows(q1, kk, ef, cols, vec)
                if got is not None and not want_scores:
                    return self._hits(got[0].tolist(), got[1].tolist(), cols, got[3], vec)
        q, single = as_queries(query, spec.dim, spec.metric)
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

    def table(self, hits: Any, include: Any) -> Result:
        """Search hits as one :class:`~vecdb.Result` (see ``Collection.search_table``)."""
        spec = self._live.spec
        cols, vec = self.include(include)
        id_type = pa.string() if spec.id_type == "str" else pa.int64()
        names = cols + ([VEC] if vec else [])
        return Result.from_hits(hits, names, self._live.row_types, id_type, spec.dim)

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
        where: str | Predicate | None,
        params: Any,
        ef: Any,
        nprobe: Any,
        mode: str,
        text: str | None,
        fusion: Any,
    ) -> tuple[Any, dict[str, Any]]:
        """Run a fulltext or hybrid search: ``(ranking, plan)``; the ranking is
        ``(ids, scores, vector distances or None, text scores or None)``."""
        spec = self._live.spec
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
                f"collection {spec.name!r} has no full-text index; create it with "
                f"fulltext=True to use mode={mode!r} or text="
            )
        matching = key = None
        if where is not None:
            pred = self.predicate(where)
            key = (where, _freeze(params))

            def matching() -> np.ndarray:
                return self._table.ids_where(pred, params)

        if mode == "fulltext":
            ids, scores, plan = self._text.search(text, k, key, matching)
            return (ids, scores, None, scores), {"mode": "fulltext", **plan}
        fz = check_fusion(fusion)
        depth = max(k, HYBRID_DEPTH)
        q, single = as_queries(self._embedded(query), spec.dim, spec.metric)
        if not single:
            raise InvalidArgumentError("a hybrid search takes one query, not a matrix")
        vec = self._run(q, depth, where, params, ef, nprobe)[0]
        t_ids, t_scores, t_plan = self._text.search(text, depth, key, matching)
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
        where: str | Predicate | None,
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

    def _probe(
        self, query: Any, k: Any, ef: int | None
    ) -> tuple[np.ndarray, np.ndarray, int] | None:
        """The hot path: one unfiltered float32 query on HNSW, or None for the general path."""
        live = self._live
        if (
            type(query) is np.ndarray
            and query.dtype == np.float32
            and query.ndim == 1
            and type(k) is int
            and 0 < k <= MAX_K
            and query.shape[0] == live.spec.dim
            and live.hot is not None
            and self._is_open()
        ):
            return live.probe(query, k, ef)
        return None

    def explain(
        self,
        query: Any,
        k: Any,
        where: str | Predicate | None,
        params: Any,
        ef: Any,
        nprobe: Any,
        mode: Any,
        text: Any,
        fusion: Any,
    ) -> dict[str, Any]:
        """:meth:`vecdb.Collection.explain`."""
        self._check_open()
        if check_mode(mode) != "vector" or text is not None:
            return self._text_plan(
                query, check_k(k), where, params, ef, nprobe, mode, text, fusion
            )[1]
        spec = self._live.spec
        q, _ = as_queries(self._embedded(query), spec.dim, spec.metric)
        return self._run(q, check_k(k), where, params, ef, nprobe)[0].plan

    # ---- the SQL layer's and the shards' entries ---------------------------------------
    def candidates(
        self,
        queries: np.ndarray,
        k: int,
        where: str | Predicate | None,
        params: Any,
        ef: Any,
        nprobe: Any,
    ) -> Candidates:
        """:meth:`vecdb.Collection.search_candidates`."""
        spec = self._live.spec
        if ef is not None or nprobe is not None:
            self._check_open()
            q, _ = as_queries(queries, spec.dim, spec.metric)
            return self._run(q, k, where, params, ef, nprobe)[0]
        if where is None and queries.ndim == 2 and len(queries) == 1:
            res = self._probe(queries[0], k, None)
            if res is not None:
                ids, dists, n = res
                return Candidates([ids], [dists], self._live.probe_plan(k, len(ids), n))
        self._check_open()
        q, _ = as_queries(queries, spec.dim, spec.metric)
        return self._run(q, k, where, params, None, None)[0]

    def rows(
        self,
        queries: np.ndarray,
        k: int,
        where: str | Predicate | None,
        params: Any,
        columns: list[str],
        vectors: bool = False,
    ) -> tuple[Candidates, list[Any]]:
        """:meth:`vecdb.Collection.search_rows`."""
        spec = self._live.spec
        if where is None and queries.ndim == 2 and len(queries) == 1 and self._live.hot:
            self._check_open()
            q1 = queries[0]
            if not (q1.dtype == np.float32 and q1.shape[0] == spec.dim):
                q1 = as_queries(q1, spec.dim, spec.metric)[0][0]
            res = self._live.probe_rows(q1, k, None, columns, vectors)  # as _probe does
            if res is not None:
                ids, dists, n, (values, vecs) = res
                raw = self._raw_vectors(ids.tolist(), vecs) if vecs is not None else None
                plan = self._live.probe_plan(k, len(ids), n)
                return Candidates([ids], [dists], plan), [(values, raw)]
        self._check_open()
        q, _ = as_queries(queries, spec.dim, spec.metric)
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
        where: str | Predicate | None,
        params: Any,
        ef: Any,
        nprobe: Any,
        columns: list[str] | None = None,
        vectors: bool = False,
    ) -> tuple[Candidates, list[Any]]:
        knob = search_knob(INDEX_TYPES[self._live.spec.index].knob, ef, nprobe)
        if where is None:
            return self._live.search_rows(q, k, knob, columns=columns, vectors=vectors)
        pred = self.predicate(where)
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
