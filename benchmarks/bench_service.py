"""pytest-benchmark suite for the service (``make bench``): search over gRPC and REST next to
embedded ``search()``, the transport floor (a gRPC health check on the same server), 8
concurrent gRPC clients, and bulk upsert over streaming gRPC.

``test_search_interleaved`` is the one to read on a shared machine: it alternates blocks of
embedded, gRPC, health-check and REST calls in one loop, so that load from other work hits
all of them alike, and prints (and stores in ``extra_info``) per-path p50/p99 and the gRPC
QPS ratio to embedded. Run ``pytest benchmarks/bench_service.py --benchmark-only -s`` to see
the table.

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
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
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
def test_grpc_floor_health(benchmark: Any, server: Any) -> None:
    """The transport floor: a trivial unary call (health check) on the same server and channel
    options; gRPC search can never be faster than this."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    import vecdb

    with vecdb.connect(server[0]) as db:
        stub = health_pb2_grpc.HealthStub(db._channel)
        req = health_pb2.HealthCheckRequest()
        benchmark(lambda: stub.Check(req))


@pytest.mark.benchmark(group="service-search-k10")
def test_search_rest(benchmark: Any, server: Any, data: Any) -> None:
    import httpx

    with httpx.Client(base_url=server[1]) as http:
        qs = _cycle([q.tolist() for q in data[1]])
        url = "/v1/collections/bench/search"
        benchmark(lambda: http.post(url, json={"vector": next(qs), "k": K}).raise_for_status())


def _pct(ts: list[float], q: float) -> float:
    a = sorted(ts)
    return a[min(len(a) - 1, int(len(a) * q))]


@pytest.mark.benchmark(group="service-search-interleaved")
def test_search_interleaved(benchmark: Any, embedded: Any, server: Any, data: Any) -> None:
    """Embedded, gRPC, health-check floor and REST in alternating blocks of calls; medians of
    the per-block medians, p99 over all calls, QPS ratio to embedded."""
    import httpx
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    import vecdb

    rounds, per = int(os.environ.get("VECDB_BENCH_ROUNDS", 8)), 300
    qs = list(data[1])
    qls = [q.tolist() for q in qs]
    with vecdb.connect(server[0]) as db, httpx.Client(base_url=server[1]) as http:
        col = db.get_collection("bench")
        stub = health_pb2_grpc.HealthStub(db._channel)
        hreq = health_pb2.HealthCheckRequest()
        url = "/v1/collections/bench/search"
        paths: dict[str, tuple[Callable[[int], Any], int]] = {
            "embedded": (lambda i: embedded.search(qs[i % len(qs)], k=K), per),
            "grpc": (lambda i: col.search(qs[i % len(qs)], k=K), per),
            "grpc floor (health check)": (lambda i: stub.Check(hreq), per),
            "rest": (
                lambda i: http.post(url, json={"vector": qls[i % len(qs)], "k": K}),
                per // 4,
            ),
        }
        blocks: dict[str, list[float]] = {name: [] for name in paths}
        calls: dict[str, list[float]] = {name: [] for name in paths}

        def run() -> None:
            for fn, _ in paths.values():  # warm up
                for i in range(50):
                    fn(i)
            for r in range(rounds):
                for name, (fn, n) in paths.items():
                    ts = []
                    for i in range(r * n, (r + 1) * n):
                        t0 = time.perf_counter()
                        fn(i)
                        ts.append(time.perf_counter() - t0)
                    blocks[name].append(statistics.median(ts))
                    calls[name].extend(ts)

        benchmark.pedantic(run, rounds=1, iterations=1)
    emb = statistics.median(blocks["embedded"])
    print(f"\n{'path':28s} {'p50 us':>8s} {'p99 us':>8s} {'QPS':>8s} {'vs embedded':>11s}")
    for name in paths:
        p50 = statistics.median(blocks[name])
        p99 = _pct(calls[name], 0.99)
        key = name.split(" ")[0] if name != "grpc floor (health check)" else "floor"
        benchmark.extra_info[f"{key}_p50_us"] = round(p50 * 1e6, 1)
        benchmark.extra_info[f"{key}_p99_us"] = round(p99 * 1e6, 1)
        benchmark.extra_info[f"{key}_qps_vs_embedded"] = round(emb / p50, 3)
        print(f"{name:28s} {p50 * 1e6:8.1f} {p99 * 1e6:8.1f} {1 / p50:8.0f} {emb / p50:10.3f}x")


@pytest.mark.benchmark(group="service-search-concurrent")
def test_search_grpc_8_clients(benchmark: Any, server: Any, data: Any) -> None:
    """Aggregate QPS of 8 client threads, each with its own channel, 100 queries each."""
    import vecdb

    dbs = [vecdb.connect(server[0]) for _ in range(8)]
    cols = [db.get_collection("bench") for db in dbs]
    per = 100

    lat: list[float] = []

    def round_() -> None:
        def work(i: int) -> None:
            qs = data[1]
            mine = []
            for j in range(per):
                t0 = time.perf_counter()
                cols[i].search(qs[(i * per + j) % len(qs)], k=K)
                mine.append(time.perf_counter() - t0)
            lat.extend(mine)

        ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    t0 = time.perf_counter()
    benchmark.pedantic(round_, rounds=3, iterations=1)
    benchmark.extra_info["queries_per_round"] = 8 * per
    benchmark.extra_info["approx_qps"] = round(3 * 8 * per / (time.perf_counter() - t0), 1)
    benchmark.extra_info["p50_us"] = round(statistics.median(lat) * 1e6, 1)
    benchmark.extra_info["p99_us"] = round(_pct(lat, 0.99) * 1e6, 1)
    print(f"\n8 gRPC clients: {benchmark.extra_info}")
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
