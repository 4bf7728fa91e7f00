"""The filter-safe search planner.

Given an allow-list (the labels a ``where`` predicate matches), choose per query batch:

* ``exact`` / ``index`` -- no filter: scan everything (exact index) or search the index;
* ``exact-allowlist`` -- few matching rows: score just those rows with BLAS. Recall 1.0, and
  below a few percent selectivity faster than any graph walk;
* ``index+allowlist`` -- many matching rows: search the index restricted to the allow-list.
  For HNSW the graph is walked unfiltered with ``k / selectivity`` candidates (plus margin)
  and non-matching rows dropped; if that leaves a query short, the candidate count grows,
  and the last resort is the exact scan. For IVF the allow-list goes into faiss as a bitmap
  selector, so only allowed rows are scored.

Whatever the path, every query returns ``min(k, matching rows)`` hits: a filter never costs
results. The cost model compares the exact scan's work (``rows x dim``) with a budget.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from vecdb.index import VectorIndex, VectorStore, exact_topk

__all__ = ["search", "choose", "AllowList"]

#: cost model, in microseconds on one core (measured on glove-50 / siftsmall, see benchmarks/):
#: an exact scan costs per multiply-add and per row (top-k selection); an HNSW walk costs
#: per unit of ef per dimension. Only the ratio between the two matters.
EXACT_US_PER_MADD = 0.0005
EXACT_US_PER_ROW = 0.004
GRAPH_US_PER_EF_DIM = 0.02
#: graph over-fetch beyond which hnswlib's own in-graph filter is used instead
MAX_OVERFETCH = 4_096
#: cache the gathered allow-list vectors when they take at most this many bytes
SUBMATRIX_CACHE_BYTES = 256 << 20


class AllowList:
    """The labels a filter matches, sorted, plus what searches derive from them once.

    ``bitmap`` (a bool per label, for in-index filtering) and the gathered sub-matrix (for
    exact scans) are filled lazily by :func:`search` and reused while the allow-list lives;
    the owner drops it when the store changes.

    >>> AllowList(np.array([3, 1])).labels.tolist()
    [1, 3]
    """

    __slots__ = ("labels", "bitmap", "sub_vectors", "sub_sqnorms")

    def __init__(self, labels: np.ndarray) -> None:
        self.labels = np.sort(labels)
        self.bitmap: np.ndarray | None = None
        self.sub_vectors: np.ndarray | None = None
        self.sub_sqnorms: np.ndarray | None = None


def choose(n_alive: int, n_allowed: int | None, k: int, dim: int, kind: str, ef: int = 64) -> str:
    """The strategy for a search: see the module docstring.

    >>> choose(100_000, None, 10, 50, "hnsw"), choose(100_000, 500, 10, 50, "hnsw")
    ('index', 'exact-allowlist')
    >>> choose(100_000, 60_000, 10, 50, "hnsw")
    'index+allowlist'
    """
    if n_allowed is None:
        return "exact" if kind == "exact" else "index"
    if kind == "exact" or n_allowed <= k:
        return "exact-allowlist"
    exact_us = n_allowed * (dim * EXACT_US_PER_MADD + EXACT_US_PER_ROW)
    if kind == "hnsw":
        walk = max(ef, _overfetch(k, n_allowed, n_alive))
    else:  # ivf scans about nprobe/nlist of the rows whatever the filter
        walk = max(ef, int(math.sqrt(n_alive)))
    index_us = walk * dim * GRAPH_US_PER_EF_DIM
    return "exact-allowlist" if exact_us <= index_us else "index+allowlist"


def _overfetch(k: int, n_allowed: int, n_alive: int) -> int:
    sel = n_allowed / max(n_alive, 1)
    return int(math.ceil(k / sel * 1.5)) + 16


def search(
    store: VectorStore,
    index: VectorIndex,
    queries: np.ndarray,
    k: int,
    allow: AllowList | None,
    knob: int | None,
) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, Any]]:
    """Labels and distances per query (``min(k, matching)`` each) and the plan info."""
    n_alive = store.n_alive
    n_allowed = None if allow is None else len(allow.labels)
    strategy = choose(
        n_alive, n_allowed, k, store.dim, index.kind, knob or index.params.get("ef_search", 64)
    )
    want = min(k, n_alive if n_allowed is None else n_allowed)
    info: dict[str, Any] = {
        "strategy": strategy,
        "estimated_rows": n_alive if n_allowed is None else n_allowed,
        "matching_rows": n_alive if n_allowed is None else n_allowed,
        "total_rows": n_alive,
        "k": k,
        "candidates": want,
        "index": index.kind,
        "index_params": index.describe(),
        "fallbacks": 0,
    }
    nq = len(queries)
    if want == 0:
        empty_l = np.zeros(0, np.int64)
        empty_d = np.zeros(0, np.float32)
        return [empty_l] * nq, [empty_d] * nq, info
    if strategy == "exact":
        labels, dists = _exact_all(store, queries, want, index.metric)
        return list(labels), list(dists), info
    if strategy == "exact-allowlist":
        assert allow is not None
        labels, dists = _exact_allowed(store, allow, queries, want, index.metric)
        return list(labels), list(dists), info
    if strategy == "index":
        res = index.search(queries, want, knob)
        info["candidates"] = want
        return _finish(store, index, queries, want, res, None, info)
    assert allow is not None
    if allow.bitmap is None:
        bitmap = np.zeros(store.n_labels, dtype=bool)
        bitmap[allow.labels] = True
        allow.bitmap = bitmap
    if index.kind == "hnsw":
        fetch = min(n_alive, max(_overfetch(k, len(allow.labels), n_alive), want))
        if fetch > MAX_OVERFETCH:
            res = index.search(queries, want, knob, allowed=allow.bitmap)
            info["candidates"] = want
            info["filter"] = "in-graph"
            return _finish(store, index, queries, want, res, allow, info)
        # the walk must hold the `fetch` candidates and still have its usual width beyond
        # them, or the far end of the candidate list is poor and filtered recall drops
        ef = fetch + (knob or index.params["ef_search"])
        res = index.search(queries, fetch, ef)
        info["candidates"] = fetch
        info["filter"] = "overfetch"
        if res is not None:
            lab, dist = res
            ok = (lab >= 0) & allow.bitmap[np.maximum(lab, 0)]
            out_l, out_d = [], []
            for i in range(nq):
                sel = np.flatnonzero(ok[i])[:want]
                out_l.append(lab[i, sel])
                out_d.append(dist[i, sel])
            return _fix_short(store, index, queries, want, out_l, out_d, allow, info)
        return _finish(store, index, queries, want, None, allow, info)
    res = index.search(queries, want, knob, allowed=allow.bitmap)
    info["candidates"] = want
    info["filter"] = "bitmap"
    return _finish(store, index, queries, want, res, allow, info)


def _finish(
    store: VectorStore,
    index: VectorIndex,
    queries: np.ndarray,
    want: int,
    res: tuple[np.ndarray, np.ndarray] | None,
    allow: AllowList | None,
    info: dict[str, Any],
) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, Any]]:
    if res is None:  # the index cannot serve it (untrained IVF, unreachable rows): scan
        info["fallbacks"] = len(queries)
        if allow is None:
            labels, dists = _exact_all(store, queries, want, index.metric)
        else:
            labels, dists = _exact_allowed(store, allow, queries, want, index.metric)
        info["strategy"] = "exact" if allow is None else "exact-allowlist"
        return list(labels), list(dists), info
    lab, dist = res
    out_l, out_d = [], []
    for i in range(len(queries)):
        good = lab[i] >= 0
        out_l.append(lab[i][good][:want])
        out_d.append(dist[i][good][:want])
    return _fix_short(store, index, queries, want, out_l, out_d, allow, info)


def _fix_short(
    store: VectorStore,
    index: VectorIndex,
    queries: np.ndarray,
    want: int,
    out_l: list[np.ndarray],
    out_d: list[np.ndarray],
    allow: AllowList | None,
    info: dict[str, Any],
) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, Any]]:
    """Any query the index left short of ``want`` rows is answered by an exact scan."""
    for i in range(len(queries)):
        if len(out_l[i]) < want:
            info["fallbacks"] += 1
            q = queries[i : i + 1]
            if allow is None:
                lab, dist = _exact_all(store, q, want, index.metric)
            else:
                lab, dist = _exact_allowed(store, allow, q, want, index.metric)
            out_l[i], out_d[i] = lab[0], dist[0]
    return out_l, out_d, info


def _exact_all(
    store: VectorStore, queries: np.ndarray, k: int, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    n = store.n_labels
    if store.n_alive == n:
        return exact_topk(store.vectors[:n], store.sqnorms[:n], queries, k, metric)
    live = store.live_labels()
    return exact_topk(store.vectors[live], store.sqnorms[live], queries, k, metric, labels=live)


def _exact_allowed(
    store: VectorStore, allow: AllowList, queries: np.ndarray, k: int, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    labels = allow.labels
    if allow.sub_vectors is None:
        vecs = store.vectors[labels]
        sq = store.sqnorms[labels]
        if vecs.nbytes <= SUBMATRIX_CACHE_BYTES:
            allow.sub_vectors, allow.sub_sqnorms = vecs, sq
    else:
        vecs, sq = allow.sub_vectors, allow.sub_sqnorms
    return exact_topk(vecs, sq, queries, k, metric, labels=labels)
