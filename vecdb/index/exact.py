"""Exact search: BLAS over the stored vectors. The oracle every other index is held to.

>>> import numpy as np
>>> V = np.array([[0, 0], [3, 4], [1, 0]], dtype=np.float32)
>>> labels, dists = exact_topk(V, (V * V).sum(1), np.zeros((1, 2), np.float32), 2, "l2")
>>> labels.tolist(), dists.round(3).tolist()
([[0, 2]], [[0.0, 1.0]])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from vecdb.index.base import VectorIndex, register

__all__ = ["ExactIndex", "exact_topk"]


def exact_topk(
    vectors: np.ndarray,
    sqnorms: np.ndarray | None,
    queries: np.ndarray,
    k: int,
    metric: str,
    labels: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` rows of ``vectors`` for each query, nearest first.

    ``vectors`` are unit-normalized under cosine (and so are ``queries``). Returns positions
    into ``vectors`` (or ``labels[pos]`` when ``labels`` is given) and the metric's distance.
    Euclidean candidates are chosen with the expanded form and then re-measured directly, so
    the distances do not suffer its cancellation error.
    """
    m = len(vectors)
    nq = len(queries)
    k = min(k, m)
    if k == 0:
        return np.zeros((nq, 0), np.int64), np.zeros((nq, 0), np.float32)
    if nq == 1 and metric != "l2":
        return _top1(vectors, queries[0], k, metric, labels)
    if nq <= 4:
        # einsum runs single-threaded in numpy's own SIMD loops: a multi-threaded BLAS GEMV
        # on a busy 2-core machine costs 10-50x more (threads spin against each other)
        dots = np.einsum("qd,md->qm", queries, vectors, optimize=False)
    else:
        dots = queries @ vectors.T  # (nq, m)
    if metric == "l2":
        assert sqnorms is not None, "l2 scans need the squared norms"
        score = sqnorms[None, :] - 2.0 * dots  # |v|^2 - 2 q.v  (|q|^2 is constant per row)
        pool = min(m, k + max(8, k // 2))  # re-measure a margin of candidates
    elif metric == "cosine":
        score = 1.0 - dots
        pool = k
    else:
        score = -dots
        pool = k
    if pool < m:
        cand = np.argpartition(score, pool - 1, axis=1)[:, :pool]
    else:
        cand = np.broadcast_to(np.arange(m), (nq, m))
    if metric == "l2":
        diff = vectors[cand] - queries[:, None, :]
        dist = np.sqrt(np.einsum("qcd,qcd->qc", diff, diff, dtype=np.float32))
    else:
        dist = np.take_along_axis(score, cand, axis=1)
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    pos = np.take_along_axis(cand, order, axis=1)
    dist = np.take_along_axis(dist, order, axis=1).astype(np.float32, copy=False)
    if labels is not None:
        pos = labels[pos]
    return pos.astype(np.int64, copy=False), dist


def _top1(
    vectors: np.ndarray, q: np.ndarray, k: int, metric: str, labels: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`exact_topk` of one cosine/ip query: the same answer (ties in position order)
    with 1-D arrays only, since at allow-list sizes the 2-D bookkeeping costs more than the
    scan."""
    m = len(vectors)
    # single-threaded numpy loop: see exact_topk on BLAS threads on a busy machine
    dots = np.einsum("md,d->m", vectors, q, optimize=False)
    score = 1.0 - dots if metric == "cosine" else -dots
    if k < m:
        cand = np.argpartition(score, k - 1)[:k]
        cand.sort()  # position order, so the stable sort below breaks ties as the 2-D path
        cand = cand[np.argsort(score[cand], kind="stable")]
    else:
        cand = np.argsort(score, kind="stable")
    dist = score[cand].astype(np.float32, copy=False)
    pos = cand if labels is None else labels[cand]
    return pos.astype(np.int64, copy=False)[None, :], dist[None, :]


@register
class ExactIndex(VectorIndex):
    """No index: every search scans the live vectors exactly."""

    kind: ClassVar[str] = "exact"
    defaults: ClassVar[dict[str, Any]] = {}

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        pass

    def remove(self, labels: np.ndarray) -> None:
        pass

    def rebuild(self, progress: Callable[[int], None] | None = None) -> None:
        pass

    def search(
        self,
        queries: np.ndarray,
        k: int,
        knob: int | None = None,
        allowed: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray] | None:
        store = self.store
        live = store.live_labels() if allowed is None else np.flatnonzero(allowed)
        return exact_topk(
            store.vectors[live], store.sqnorms[live], queries, k, self.metric, labels=live
        )
