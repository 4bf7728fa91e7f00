"""What confinement and API keys cost: paired, alternating runs, medians.

Run with ``python -m benchmarks.security``. Three pairs, each measured on the same data in
one process with consecutive calls alternating between the two sides (and the order
flipping every call), so both see the same load:

1. ``db.sql(SELECT …)`` on a trusted database vs a confined one (plans cached: the
   verification runs once per statement text, the read-back checks are not per call);
2. ``search(q, where=…)`` trusted vs confined (the predicate is compiled once and cached);
3. over a live server, REST and gRPC search and SQL with no key configured vs with a key
   (checked before the body is decoded), and SQL with the full key vs the read-only key
   (which adds a read-only transaction around the DuckDB query).

The cold cost (first sight of a statement text) is reported separately.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import vecdb

SELECT = "SELECT id, year FROM docs WHERE year > 2010 AND id < 100 ORDER BY id"
SEARCH_SQL = "SELECT id, year FROM docs WHERE year > $y ORDER BY cosine(vec, $q) LIMIT 10"


def _pair(a: Callable[[], Any], b: Callable[[], Any], n: int) -> tuple[float, float]:
    """Median seconds per call of ``a`` and ``b``, alternating and flipping the order."""
    ta, tb = [], []
    clock = time.perf_counter
    for _ in range(20):  # warm both
        a(), b()
    for i in range(n):
        first, second = (a, b) if i % 2 else (b, a)
        t0 = clock()
        first()
        t1 = clock()
        second()
        t2 = clock()
        if first is a:
            ta.append(t1 - t0)
            tb.append(t2 - t1)
        else:
            tb.append(t1 - t0)
            ta.append(t2 - t1)
    return float(np.median(ta)), float(np.median(tb))


def _fill(db: Any, n: int, dim: int) -> None:
    rng = np.random.default_rng(0)
    c = db.create_collection("docs", dim=dim, columns={"year": "INTEGER"})
    c.add(
        ids=np.arange(n),
        vectors=rng.normal(size=(n, dim)).astype(np.float32),
        rows=[{"year": 2000 + i % 25} for i in range(n)],
    )


def run(n_rows: int, dim: int, calls: int) -> list[tuple[str, float, float]]:
    rows: list[tuple[str, float, float]] = []
    rng = np.random.default_rng(1)
    q = rng.normal(size=dim).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        trusted = vecdb.connect(f"{tmp}/a")
        confined = vecdb.connect(f"{tmp}/b", confined=True)
        for db in (trusted, confined):
            _fill(db, n_rows, dim)
        a = trusted.get_collection("docs")
        b = confined.get_collection("docs")
        rows.append(
            ("db.sql(SELECT) trusted vs confined",)
            + _pair(
                lambda: trusted.sql(SELECT).fetchall(),
                lambda: confined.sql(SELECT).fetchall(),
                calls,
            )
        )
        params = {"q": q, "y": 2012}
        rows.append(
            ("db.sql(search + columns) trusted vs confined",)
            + _pair(
                lambda: trusted.sql(SEARCH_SQL, params).fetchall(),
                lambda: confined.sql(SEARCH_SQL, params).fetchall(),
                calls,
            )
        )
        rows.append(
            ("search(q, where=) trusted vs confined",)
            + _pair(
                lambda: a.search(q, k=10, where="year > $y", params={"y": 2012}),
                lambda: b.search(q, k=10, where="year > $y", params={"y": 2012}),
                calls,
            )
        )
        rows.append(
            ("search(q) trusted vs confined",)
            + _pair(lambda: a.search(q, k=10), lambda: b.search(q, k=10), calls)
        )
        # cold: a statement text never seen before (parse, both parsers, read-back checks)
        cold_t, cold_c = [], []
        for i in range(200):
            text = f"SELECT id FROM docs WHERE year > {i} LIMIT 1"
            t0 = time.perf_counter()
            trusted.sql(text).fetchall()
            t1 = time.perf_counter()
            confined.sql(text).fetchall()
            t2 = time.perf_counter()
            cold_t.append(t1 - t0)
            cold_c.append(t2 - t1)
        rows.append(
            ("cold SELECT (new text) trusted vs confined", np.median(cold_t), np.median(cold_c))
        )
        trusted.close()
        confined.close()
        rows.extend(_service(tmp, n_rows, dim, calls, q))
    return rows


def _service(
    tmp: str, n_rows: int, dim: int, calls: int, q: np.ndarray
) -> list[tuple[str, float, float]]:
    from tests.service.conftest import RestDatabase  # the REST test client
    from vecdb_server.config import ServerConfig
    from vecdb_server.main import VecdbServer

    out = []
    servers = []
    for name, cfg in (
        ("open", ServerConfig(grace_s=1)),
        ("keyed", ServerConfig(api_key="k1", read_only_key="r1", grace_s=1)),
    ):
        db = vecdb.connect(f"{tmp}/{name}", confined=True)
        _fill(db, n_rows, dim)
        servers.append((VecdbServer(db, cfg).start(), db))
    (open_srv, _), (keyed_srv, _) = servers
    g_open = vecdb.connect(open_srv.grpc_url)
    g_key = vecdb.connect(keyed_srv.grpc_url, api_key="k1")
    g_ro = vecdb.connect(keyed_srv.grpc_url, api_key="r1")
    r_open = RestDatabase(open_srv.http_url)
    r_key = RestDatabase(keyed_srv.http_url, "k1")
    co, ck = g_open.get_collection("docs"), g_key.get_collection("docs")
    out.append(
        ("gRPC search: no key vs key",)
        + _pair(lambda: co.search(q, k=10), lambda: ck.search(q, k=10), calls)
    )
    out.append(
        ("gRPC SELECT: no key vs key",)
        + _pair(lambda: g_open.sql(SELECT).fetchall(), lambda: g_key.sql(SELECT).fetchall(), calls)
    )
    out.append(
        ("gRPC SELECT: full key vs read-only key",)
        + _pair(lambda: g_key.sql(SELECT).fetchall(), lambda: g_ro.sql(SELECT).fetchall(), calls)
    )
    ro, rk = r_open.get_collection("docs"), r_key.get_collection("docs")
    out.append(
        ("REST search: no key vs key",)
        + _pair(lambda: ro.search(q, k=10), lambda: rk.search(q, k=10), calls)
    )
    out.append(
        ("REST SELECT: no key vs key",)
        + _pair(lambda: r_open.sql(SELECT), lambda: r_key.sql(SELECT), calls)
    )
    for c in (g_open, g_key, g_ro, r_open, r_key):
        c.close()
    for srv, db in servers:
        srv.stop(grace=1)
        db.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--calls", type=int, default=2_000)
    args = ap.parse_args(argv)
    rows = run(args.rows, args.dim, args.calls)
    print("| pair (A vs B) | A p50 µs | B p50 µs | B − A µs |")
    print("| --- | ---: | ---: | ---: |")
    for name, a, b in rows:
        print(f"| {name} | {a * 1e6:.1f} | {b * 1e6:.1f} | {(b - a) * 1e6:+.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
