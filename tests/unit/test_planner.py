"""The planner's cost model at each strategy boundary, and each branch of planner.search.

The boundaries are pinned: a change of the cost model must change these numbers on purpose.
"""

from __future__ import annotations

import math
from unittest.mock import patch

import numpy as np
import pytest

from tests.oracle import topk
from vecdb import planner
from vecdb.index import HnswIndex, IvfIndex, VectorStore
from vecdb.planner import AllowList, choose


def _model(n_alive: int, n_allowed: int, k: int, dim: int, kind: str, ef: int) -> str:
    """The cost model as the planner's docstring states it, written out independently."""
    exact_us = n_allowed * (dim * 0.0005 + 0.004)
    if kind == "hnsw":
        walk = max(ef, math.ceil(k / (n_allowed / n_alive) * 1.5) + 16)
    else:
        walk = max(ef, int(math.sqrt(n_alive)))
    return "exact-allowlist" if exact_us <= walk * dim * 0.02 else "index+allowlist"


def test_no_filter_searches_everything() -> None:
    assert choose(100_000, None, 10, 50, "hnsw") == "index"
    assert choose(100_000, None, 10, 50, "ivf") == "index"
    assert choose(100_000, None, 10, 50, "exact") == "exact"


def test_exact_index_and_few_matches_always_scan_the_allow_list() -> None:
    assert choose(100_000, 90_000, 10, 50, "exact") == "exact-allowlist"
    for kind in ("hnsw", "ivf"):
        assert choose(100_000, 10, 10, 50, kind) == "exact-allowlist"  # n_allowed == k
        assert choose(100_000, 0, 10, 50, kind) == "exact-allowlist"


@pytest.mark.parametrize(
    "n_alive, dim, kind, flip",
    [
        (100_000, 50, "hnsw", 7_483),
        (100_000, 50, "ivf", 10_897),
        (10_000, 8, "hnsw", 1_901),
        (1_000_000, 128, "hnsw", 24_078),
        (1_000_000, 128, "ivf", 37_648),
    ],
)
def test_boundary_between_scan_and_index(n_alive: int, dim: int, kind: str, flip: int) -> None:
    """Below ``flip`` matching rows the allow-list is scanned, from it on the index is used."""
    k, ef = 10, 64
    for n_allowed in (k + 1, flip // 2, flip - 1):
        assert choose(n_alive, n_allowed, k, dim, kind, ef) == "exact-allowlist"
    for n_allowed in (flip, flip + 1, (flip + n_alive) // 2, n_alive):
        assert choose(n_alive, n_allowed, k, dim, kind, ef) == "index+allowlist"
    for n_allowed in (flip - 1, flip):
        assert choose(n_alive, n_allowed, k, dim, kind, ef) == _model(
            n_alive, n_allowed, k, dim, kind, ef
        )


def test_a_wider_walk_moves_the_boundary_up() -> None:
    """A larger ef makes the graph walk dearer, so more rows are scanned exactly."""
    assert choose(100_000, 20_000, 10, 50, "hnsw", ef=64) == "index+allowlist"
    assert choose(100_000, 20_000, 10, 50, "hnsw", ef=4_000) == "exact-allowlist"


# ---- planner.search on real indexes -------------------------------------------------------
N, DIM, K = 3_000, 8, 10


def _store(metric: str = "l2") -> tuple[VectorStore, np.ndarray]:
    rng = np.random.default_rng(7)
    vecs = rng.normal(size=(N, DIM)).astype(np.float32)
    store = VectorStore(DIM, "int")
    store.upsert(np.arange(N), vecs)
    return store, vecs


def _hnsw(store: VectorStore) -> HnswIndex:
    index = HnswIndex(DIM, "l2", HnswIndex.check_params({}), store)
    index.rebuild()
    return index


def _check_exact_enough(
    labels: list[np.ndarray], vecs: np.ndarray, queries: np.ndarray, allowed: np.ndarray
) -> None:
    for lab, q in zip(labels, queries):
        assert len(lab) == min(K, len(allowed))
        assert set(lab.tolist()) <= set(allowed.tolist())
        want = topk(vecs[allowed], q, K, "l2")
        got = np.sort(np.sqrt(((vecs[lab] - q) ** 2).sum(axis=1)))
        assert (got <= want[-1] + 1e-4).mean() >= 0.8


@pytest.mark.parametrize(
    "max_overfetch, branch", [(planner.MAX_OVERFETCH, "overfetch"), (0, "in-graph")]
)
def test_hnsw_allow_list_branches(max_overfetch: int, branch: str) -> None:
    store, vecs = _store()
    index = _hnsw(store)
    allowed = np.flatnonzero(np.arange(N) % 2 == 0)
    queries = np.random.default_rng(1).normal(size=(4, DIM)).astype(np.float32)
    with patch.object(planner, "MAX_OVERFETCH", max_overfetch):
        labels, _, info = planner.search(store, index, queries, K, AllowList(allowed), None)
    assert info["strategy"] == "index+allowlist" and info["filter"] == branch
    _check_exact_enough(labels, vecs, queries, allowed)


def test_ivf_allow_list_is_a_bitmap() -> None:
    store, vecs = _store()
    index = IvfIndex(DIM, "l2", IvfIndex.check_params({"nlist": 16, "nprobe": 16}), store)
    index.rebuild()
    allowed = np.flatnonzero(np.arange(N) % 3 == 0)
    queries = np.random.default_rng(2).normal(size=(3, DIM)).astype(np.float32)
    with patch.object(planner, "EXACT_US_PER_ROW", 1e6):  # make scanning look dear
        labels, _, info = planner.search(store, index, queries, K, AllowList(allowed), None)
    assert info["strategy"] == "index+allowlist" and info["filter"] == "bitmap"
    _check_exact_enough(labels, vecs, queries, allowed)


def test_untrained_ivf_falls_back_to_an_exact_scan() -> None:
    store, vecs = _store()
    index = IvfIndex(DIM, "l2", IvfIndex.check_params({"nlist": 1_000}), store)
    index.rebuild()  # needs 39 * nlist rows to train: stays untrained
    queries = np.random.default_rng(3).normal(size=(2, DIM)).astype(np.float32)
    labels, _, info = planner.search(store, index, queries, K, None, None)
    assert info["strategy"] == "exact" and info["fallbacks"] == 2
    _check_exact_enough(labels, vecs, queries, np.arange(N))


def test_an_empty_allow_list_returns_empty_results() -> None:
    store, _ = _store()
    queries = np.zeros((2, DIM), np.float32)
    labels, dists, info = planner.search(
        store, _hnsw(store), queries, K, AllowList(np.zeros(0, np.int64)), None
    )
    assert [len(x) for x in labels] == [0, 0] and [len(x) for x in dists] == [0, 0]
    assert info["matching_rows"] == 0
