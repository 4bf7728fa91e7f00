"""Hits with their rows: paired, alternating timings of ids-only search, search(include=),
SQL selecting columns, the old DuckDB row fetch and raw hnswlib (issue #11).

Run with ``python -m benchmarks.rows --data /work/shared/data/npm-text-20k``.

Every query runs once per system per pass; consecutive systems rotate so none always goes
first, and each reported figure is a median of single-query latencies. On a shared machine
compare the *ratios* (they are measured under the same load), not the absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import vecdb
from benchmarks.data import load_dataset

#: (label, where predicate on bucket = id % 1000, SQL WHERE clause)
SELECTIVITIES = [
    ("100%", None, ""),
    ("50%", "bucket < 500", "WHERE bucket < 500"),
    ("10%", "bucket < 100", "WHERE bucket < 100"),
    ("1%", "bucket < 10", "WHERE bucket < 10"),
]


def _rss_mb() -> float:
    try:
        with open(f"/proc/{os.getpid()}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _names(data_dir: str, n: int) -> list[str]:
    path = os.path.join(data_dir, "docs.parquet")
    if os.path.exists(path):
        import pyarrow.parquet as pq

        return [str(s) for s in pq.read_table(path, columns=["name"]).column("name").to_pylist()]
    return [f"doc-{i}" for i in range(n)]


def run(data_dir: str, k: int = 10, passes: int = 2, ef: int = 64) -> dict[str, Any]:
    """Median latencies (µs) per system and selectivity, and the ratios the issue targets."""
    ds = load_dataset(data_dir)
    base, queries = ds.base.astype(np.float32), ds.queries.astype(np.float32)
    n = len(base)
    names = _names(data_dir, n)[:n]
    out: dict[str, Any] = {"n": n, "dim": base.shape[1], "k": k, "ef": ef, "rows": []}
    with vecdb.connect() as db:
        rss0 = _rss_mb()
        c = db.create_collection(
            "docs",
            dim=base.shape[1],
            metric=ds.metric,
            index="hnsw",
            index_params={"m": 16, "ef_construction": 200, "ef_search": ef},
            columns={"name": "VARCHAR", "bucket": "INTEGER"},
        )
        t0 = time.perf_counter()
        c.add(np.arange(n), base, [{"name": s, "bucket": i % 1000} for i, s in enumerate(names)])
        out["build_s"] = time.perf_counter() - t0
        out["rss_after_build_mb"] = _rss_mb() - rss0
        out["row_store_mb"] = c._live.rows.nbytes() / 2**20
        raw = c.index._index
        fn = {"cosine": "cosine", "l2": "l2", "ip": "ip_distance"}[c.metric]
        clock = time.perf_counter
        table = c._table
        for label, where, sql_where in SELECTIVITIES:
            sql = f"SELECT id, name FROM docs {sql_where} ORDER BY {fn}(vec, $q) LIMIT {k}"
            systems: dict[str, Callable[[np.ndarray], Any]] = {
                "ids": lambda q, w=where: c.search(q, k=k, where=w),
                "include": lambda q, w=where: c.search(q, k=k, where=w, include=["name"]),
                "sql": lambda q, s=sql: db.sql(s, {"q": q}).fetchall(),
                # what search(include=) paid before the row store: one DuckDB fetch
                "old_fetch": lambda q, w=where: table.rows(
                    [h.id for h in c.search(q, k=k, where=w)], ["name"]
                ),
            }
            if where is None:
                systems["raw_hnswlib"] = lambda q: raw.knn_query(q, k=k)
            times: dict[str, list[float]] = {s: [] for s in systems}
            # the old fetch leaves DuckDB's threads busy: timed in the rotation it slows
            # whichever system follows it, so it runs in a pass of its own
            order = [s for s in systems if s != "old_fetch"]
            for q in queries:
                t = clock()
                systems["old_fetch"](q)
                times["old_fetch"].append(clock() - t)
            for q in queries[:20]:  # warm the allow-list cache and the plans
                for s in order:
                    systems[s](q)
            for rep in range(passes):
                for i, q in enumerate(queries):
                    shift = (i + rep) % len(order)
                    for s in order[shift:] + order[:shift]:
                        t = clock()
                        systems[s](q)
                        times[s].append(clock() - t)
            med = {s: float(np.median(v)) * 1e6 for s, v in times.items()}
            row: dict[str, Any] = {"selectivity": label, **{f"{s}_us": med[s] for s in med}}
            row["include_over_ids"] = med["ids"] / med["include"]
            row["sql_over_include"] = med["include"] / med["sql"]
            if "raw_hnswlib" in med:
                row["ids_over_raw"] = med["raw_hnswlib"] / med["ids"]
            out["rows"].append(row)
            print(json.dumps(row), flush=True)
        out["exact_floor"] = _exact_floor(c, base, queries, k, passes)
    return out


def _exact_floor(
    c: Any, base: np.ndarray, queries: np.ndarray, k: int, passes: int
) -> list[dict[str, Any]]:
    """Selective filters answered by the exact allow-list scan vs a bare numpy scan of the
    same allowed rows (pre-gathered, unit rows, argpartition): the floor of that path."""
    out = []
    ids = np.arange(len(base))
    unit = base / np.linalg.norm(base, axis=1, keepdims=True)
    clock = time.perf_counter
    for label, where, top in (("1%", "bucket < 10", 10), ("0.1%", "bucket < 1", 1)):
        allowed = ids[ids % 1000 < top]
        sub = np.ascontiguousarray(unit[allowed] if c.metric == "cosine" else base[allowed])

        def bare(q: np.ndarray, sub: np.ndarray = sub, allowed: np.ndarray = allowed) -> Any:
            d = -(sub @ q)
            kk = min(k, len(d) - 1)
            idx = np.argpartition(d, kk)[:k]
            return allowed[idx[np.argsort(d[idx])]]

        def ours(q: np.ndarray, w: str = where) -> Any:
            return c.search(q, k=k, where=w)

        strategy = c.explain(queries[0], k=k, where=where)["strategy"]
        t_bare, t_ours = [], []
        for q in queries[:20]:
            bare(q / np.linalg.norm(q))
            ours(q)
        for rep in range(passes):
            for i, q in enumerate(queries):
                first_bare = (i + rep) % 2 == 0
                for which in ("bare", "ours") if first_bare else ("ours", "bare"):
                    t = clock()
                    if which == "bare":  # the bare scan normalizes its query too
                        bare(q / np.linalg.norm(q))
                        t_bare.append(clock() - t)
                    else:
                        ours(q)
                        t_ours.append(clock() - t)
        mb, mo = float(np.median(t_bare)) * 1e6, float(np.median(t_ours)) * 1e6
        row = {
            "filter": label,
            "allowed": int(len(allowed)),
            "strategy": strategy,
            "numpy_us": mb,
            "vecdb_us": mo,
            "vecdb_over_numpy": mb / mo,
        }
        print(json.dumps(row), flush=True)
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default="/work/shared/data/npm-text-20k")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--ef", type=int, default=64)
    args = ap.parse_args(argv)
    res = run(args.data, args.k, args.passes, args.ef)
    print(json.dumps({key: v for key, v in res.items() if key != "rows"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
