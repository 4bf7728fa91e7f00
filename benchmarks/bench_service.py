"""pytest-benchmark suite for the service (``make bench``): search over gRPC and REST next to
embedded ``search()``, 8 concurrent gRPC clients, and bulk upsert over streaming gRPC.

The server runs as a separate ``vecdb serve`` process on loopback ephemeral ports, so the
client and the server do not share a GIL. Data: ``$VECDB_BENCH_DATA`` or
``../shared/data/glove-50-angular-100k`` when present (first ``$VECDB_BENCH_N`` rows, default
all), else 20k clustered synthetic 50-d vectors. Cosine, HNSW m=16, ef_construction=200, k=10.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.data import clustered_blobs, load_dataset

K = 10
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "glove-50-angular-100k"
BANNER = re.compile(r"vecdb serving grpc=(\S+) http=(\S+) docs=")
PARAMS = {"m": 16, "ef_construction": 200, "ef_search": 64}


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    path = os.environ.get("VECDB_BENCH_DATA") or (str(SHARED) if SHARED.exists() else None)
    if path:
        ds = load_dataset(path)
        base, queries = ds.base, ds.queries
    else:
        base, queries = clustered_blobs(20_000, 50, n_clusters=100, n_queries=200)
    n = int(os.environ.get("VECDB_BENCH_N", len(base)))
    return np.ascontiguousarray(base[:n], np.float32), np.ascontiguousarray(queries, np.float32)


def _fill(col: Any, base: np.ndarray, step: int = 20_000) -> None:
    for s in range(0, len(base), step):
        col.upsert(ids=np.arange(s, min(s + step, len(base))), vectors=base[s : s + step])


@pytest.fixture(scope="module")
def embedded(data: tuple[np.ndarray, np.ndarray]) -> Iterator[Any]:
    import vecdb

    db = vecdb.connect()
    col = db.create_collection("bench", dim=data[0].shape[1], index_params=PARAMS)
    _fill(col, data[0])
    yield col
    db.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: Any, data: tuple[np.ndarray, np.ndarray]) -> Iterator[Any]:
    """(grpc_url, http_url) of a `vecdb serve` subprocess holding the data set."""
    import vecdb

    path = tmp_path_factory.mktemp("serve")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("VECDB_API_KEY", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "vecdb", "serve", "--data", str(path), "--grpc-port", "0"]
        + ["--http-port", "0", "--log-level", "WARNING"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    m = None
    for line in proc.stdout:
        m = BANNER.search(line)
        if m:
            break
    assert m, "server did not start"
    grpc_url, http_url = f"grpc://{m.group(1)}", m.group(2)
    with vecdb.connect(grpc_url) as db:
        col = db.create_collection("bench", dim=data[0].shape[1], index_params=PARAMS)
        _fill(col, data[0])
    yield grpc_url, http_url
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)


def _cycle(queries: np.ndarray) -> Iterator[np.ndarray]:
    return itertools.cycle(list(queries))


@pytest.mark.benchmark(group="service-search-k10")
def test_search_embedded(benchmark: Any, embedded: Any, data: Any) -> None:
    qs = _cycle(data[1])
    benchmark(lambda: embedded.search(next(qs), k=K))


@pytest.mark.benchmark(group="service-search-k10")
def test_search_grpc(benchmark: Any, server: Any, data: Any) -> None:
    import vecdb

    with vecdb.connect(server[0]) as db:
        col = db.get_collection("bench")
        qs = _cycle(data[1])
        benchmark(lambda: col.search(next(qs), k=K))


@pytest.mark.benchmark(group="service-search-k10")
def test_search_rest(benchmark: Any, server: Any, data: Any) -> None:
    import httpx

    with httpx.Client(base_url=server[1]) as http:
        qs = _cycle([q.tolist() for q in data[1]])
        url = "/v1/collections/bench/search"
        benchmark(lambda: http.post(url, json={"vector": next(qs), "k": K}).raise_for_status())


@pytest.mark.benchmark(group="service-search-concurrent")
def test_search_grpc_8_clients(benchmark: Any, server: Any, data: Any) -> None:
    """Aggregate QPS of 8 client threads, each with its own channel, 100 queries each."""
    import vecdb

    dbs = [vecdb.connect(server[0]) for _ in range(8)]
    cols = [db.get_collection("bench") for db in dbs]
    per = 100

    def round_() -> None:
        def work(i: int) -> None:
            qs = data[1]
            for j in range(per):
                cols[i].search(qs[(i * per + j) % len(qs)], k=K)

        ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    t0 = time.perf_counter()
    benchmark.pedantic(round_, rounds=3, iterations=1)
    benchmark.extra_info["queries_per_round"] = 8 * per
    benchmark.extra_info["approx_qps"] = round(3 * 8 * per / (time.perf_counter() - t0), 1)
    for db in dbs:
        db.close()


@pytest.mark.benchmark(group="service-upsert-10k")
def test_upsert_embedded(benchmark: Any, data: Any) -> None:
    import vecdb

    base = data[0][:10_000]
    db = vecdb.connect()

    def setup() -> tuple[tuple[Any], dict[str, Any]]:
        db.drop_collection("up", missing_ok=True)
        return (db.create_collection("up", dim=base.shape[1], index_params=PARAMS),), {}

    benchmark.pedantic(
        lambda c: c.upsert(ids=np.arange(len(base)), vectors=base), setup=setup, rounds=3
    )
    db.close()


@pytest.mark.benchmark(group="service-upsert-10k")
def test_upsert_grpc_stream(benchmark: Any, server: Any, data: Any) -> None:
    import vecdb

    base = data[0][:10_000]
    with vecdb.connect(server[0]) as db:

        def setup() -> tuple[tuple[Any], dict[str, Any]]:
            db.drop_collection("up", missing_ok=True)
            return (db.create_collection("up", dim=base.shape[1], index_params=PARAMS),), {}

        benchmark.pedantic(
            lambda c: c.upsert(ids=np.arange(len(base)), vectors=base), setup=setup, rounds=3
        )
