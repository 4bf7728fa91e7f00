"""pytest-benchmark suite for the embedded engine (``make bench``).

Insert, single and batch search, filtered search and SQL search on vecdb, with raw hnswlib
at the same parameters in the same groups so that the ratio is visible in one report.
Data: ``$VECDB_BENCH_DATA`` or ``../shared/data/siftsmall`` when present, else 10k clustered
synthetic 128-d vectors. The collection is cosine, HNSW m=16, ef_construction=200, ef=64.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.data import clustered_blobs, load_dataset

M, EFC, EF, K = 16, 200, 64, 10
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "siftsmall"


def _vecdb() -> Any:
    try:
        import vecdb

        vecdb.connect().close()
    except Exception as exc:
        pytest.skip(f"vecdb engine not usable yet: {type(exc).__name__}: {exc}")
    return vecdb


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(base, queries, sel) where ``sel`` is a permutation of 0..n-1 (exact selectivities)."""
    path = os.environ.get("VECDB_BENCH_DATA") or (str(SHARED) if SHARED.exists() else None)
    if path:
        ds = load_dataset(path)
        base, queries = ds.base, ds.queries
    else:
        base, queries = clustered_blobs(10_000, 128, n_clusters=100, n_queries=100)
    sel = np.random.default_rng(0).permutation(len(base))
    return base, queries, sel


def _fill(col: Any, base: np.ndarray, sel: np.ndarray, step: int = 10_000) -> None:
    for s in range(0, len(base), step):
        e = min(len(base), s + step)
        rows = [{"sel": int(v)} for v in sel[s:e]]
        col.upsert(ids=list(range(s, e)), vectors=base[s:e], rows=rows)


def _create(db: Any, dim: int) -> Any:
    return db.create_collection(
        "c",
        dim=dim,
        metric="cosine",
        index="hnsw",
        index_params={"m": M, "ef_construction": EFC, "ef_search": EF},
        columns={"sel": "INTEGER"},
    )


@pytest.fixture(scope="module")
def db(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> Iterator[Any]:
    """An in-memory vecdb with collection ``c`` holding all base vectors."""
    vecdb = _vecdb()
    base, _, sel = data
    database = vecdb.connect()
    _fill(_create(database, base.shape[1]), base, sel)
    yield database
    database.close()


@pytest.fixture(scope="module")
def raw(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> Any:
    """Raw hnswlib over the same vectors and parameters."""
    import hnswlib

    base = data[0]
    index = hnswlib.Index(space="cosine", dim=base.shape[1])
    index.init_index(max_elements=len(base), M=M, ef_construction=EFC, random_seed=100)
    index.add_items(base, np.arange(len(base)))
    index.set_ef(EF)
    return index


def _cycle(queries: np.ndarray) -> Iterator[np.ndarray]:
    return itertools.cycle(list(queries))


# --------------------------------------------------------------------------- insert


@pytest.mark.benchmark(group="insert-1000")
def test_vecdb_upsert_1000(benchmark: Any, data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """Upsert 1,000 vectors with a row each into a fresh HNSW collection."""
    vecdb = _vecdb()
    base, _, sel = data
    state: dict[str, Any] = {}

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        if "db" in state:
            state["db"].close()
        state["db"] = vecdb.connect()
        return (_create(state["db"], base.shape[1]),), {}

    benchmark.pedantic(lambda col: _fill(col, base[:1000], sel[:1000]), setup=setup, rounds=5)
    state["db"].close()


@pytest.mark.benchmark(group="insert-1000")
def test_hnswlib_add_1000(benchmark: Any, data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """Raw hnswlib add_items of the same 1,000 vectors (the practical limit)."""
    import hnswlib

    base = data[0]

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        index = hnswlib.Index(space="cosine", dim=base.shape[1])
        index.init_index(max_elements=1000, M=M, ef_construction=EFC, random_seed=100)
        return (index,), {}

    benchmark.pedantic(lambda ix: ix.add_items(base[:1000], np.arange(1000)), setup=setup, rounds=5)


# --------------------------------------------------------------------------- search


@pytest.mark.benchmark(group="search-1")
def test_vecdb_search(benchmark: Any, db: Any, data: tuple[np.ndarray, ...]) -> None:
    """One query, k=10, ef=64."""
    col, qs = db.get_collection("c"), _cycle(data[1])
    hits = benchmark(lambda: col.search(next(qs), k=K, ef=EF))
    assert len(hits) == K


@pytest.mark.benchmark(group="search-1")
def test_hnswlib_search(benchmark: Any, raw: Any, data: tuple[np.ndarray, ...]) -> None:
    """Raw hnswlib, one query, one thread, k=10, ef=64."""
    qs = _cycle(data[1])
    benchmark(lambda: raw.knn_query(next(qs)[None, :], k=K, num_threads=1))


@pytest.mark.benchmark(group="search-batch")
def test_vecdb_search_batch(benchmark: Any, db: Any, data: tuple[np.ndarray, ...]) -> None:
    """All queries in one call."""
    col, queries = db.get_collection("c"), data[1]
    res = benchmark(lambda: col.search(queries, k=K, ef=EF))
    assert len(res) == len(queries)


@pytest.mark.benchmark(group="search-batch")
def test_hnswlib_search_batch(benchmark: Any, raw: Any, data: tuple[np.ndarray, ...]) -> None:
    """Raw hnswlib, all queries in one call, all threads."""
    benchmark(lambda: raw.knn_query(data[1], k=K))


# --------------------------------------------------------------------------- filtered


@pytest.mark.parametrize("selectivity", [0.1, 0.01])
@pytest.mark.benchmark(group="search-filtered")
def test_vecdb_filtered_search(
    benchmark: Any, db: Any, data: tuple[np.ndarray, ...], selectivity: float
) -> None:
    """One query with ``where="sel < N"`` matching exactly ``selectivity`` of the rows."""
    col, qs = db.get_collection("c"), _cycle(data[1])
    where = f"sel < {int(selectivity * len(data[0]))}"
    hits = benchmark(lambda: col.search(next(qs), k=K, where=where, ef=EF))
    assert len(hits) == K


@pytest.mark.parametrize("selectivity", [0.1, 0.01])
@pytest.mark.benchmark(group="search-filtered")
def test_hnswlib_filtered_search(
    benchmark: Any, raw: Any, data: tuple[np.ndarray, ...], selectivity: float
) -> None:
    """Raw hnswlib with ``filter=callable`` over a precomputed allow-list."""
    qs, sel = _cycle(data[1]), data[2]
    allowed = (sel < int(selectivity * len(sel))).tolist().__getitem__
    benchmark(lambda: raw.knn_query(next(qs)[None, :], k=K, num_threads=1, filter=allowed))


# --------------------------------------------------------------------------- SQL


@pytest.mark.benchmark(group="search-1")
def test_vecdb_sql_search(benchmark: Any, db: Any, data: tuple[np.ndarray, ...]) -> None:
    """``SELECT id FROM c ORDER BY cosine(vec, $q) LIMIT 10`` through ``db.sql``."""
    sql = "SELECT id FROM c ORDER BY cosine(vec, $q) LIMIT 10"
    try:
        db.sql(sql, {"q": data[1][0]}).fetchall()
    except (NotImplementedError, AttributeError, ImportError) as exc:
        pytest.skip(f"SQL layer not available yet: {type(exc).__name__}: {exc}")
    qs = _cycle(data[1])
    rows = benchmark(lambda: db.sql(sql, {"q": next(qs)}).fetchall())
    assert len(rows) == K
