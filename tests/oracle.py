"""An exact numpy oracle for nearest-neighbour search, independent of vecdb's own code."""

from __future__ import annotations

import numpy as np


def distances(vectors: np.ndarray, query: np.ndarray, metric: str) -> np.ndarray:
    """The metric's distance from ``query`` to every row, in float64."""
    v = vectors.astype(np.float64)
    q = query.astype(np.float64)
    if metric == "l2":
        return np.sqrt(((v - q) ** 2).sum(axis=1))
    if metric == "cosine":
        return 1.0 - (v @ q) / (np.linalg.norm(v, axis=1) * np.linalg.norm(q))
    return -(v @ q)


def topk(vectors: np.ndarray, query: np.ndarray, k: int, metric: str) -> np.ndarray:
    """Sorted distances of the true ``k`` nearest rows."""
    return np.sort(distances(vectors, query, metric))[:k]


def assert_exact(
    got_ids: list,
    got_dists: list,
    id_to_row: dict,
    vectors: np.ndarray,
    query: np.ndarray,
    k: int,
    metric: str,
    allowed_rows: np.ndarray,
) -> None:
    """The result is a true top-k of the allowed rows (ties in any order)."""
    allowed = vectors[allowed_rows]
    expected = topk(allowed, query, k, metric)
    assert len(got_ids) == len(expected) == min(k, len(allowed_rows))
    assert len(set(got_ids)) == len(got_ids), "duplicate ids in one result"
    allowed_set = set(allowed_rows.tolist())
    tol = 1e-4 * max(1.0, float(np.abs(expected).max(initial=0.0)))
    true_d = distances(vectors[[id_to_row[i] for i in got_ids]], query, metric)
    for i, d, t in zip(got_ids, got_dists, true_d):
        assert id_to_row[i] in allowed_set, f"id {i} does not match the filter"
        assert abs(d - t) <= tol, f"id {i}: distance {d} but true {t}"
    assert np.allclose(np.asarray(got_dists), expected, atol=tol, rtol=0)


def recall(
    got_ids: list,
    id_to_row: dict,
    vectors: np.ndarray,
    query: np.ndarray,
    k: int,
    metric: str,
    allowed_rows: np.ndarray,
) -> float:
    """Tie-aware recall@k: a hit counts when its true distance is within the k-th true one."""
    expected = topk(vectors[allowed_rows], query, k, metric)
    if len(expected) == 0:
        return 1.0
    tol = 1e-4 * max(1.0, float(np.abs(expected).max(initial=0.0)))
    thr = expected[-1] + tol
    true_d = distances(vectors[[id_to_row[i] for i in got_ids]], query, metric)
    return float((true_d <= thr).sum()) / len(expected)
