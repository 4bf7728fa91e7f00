"""The SQL search path against the collection API: paired, alternating single-query timings
of the same filtered searches through ``db.sql`` (the direct path, and a SELECT list that
needs DuckDB's round trip) and through ``Collection.search(include=)``, plain and confined.

Run with ``python benchmarks/sql_path.py [--n 20000] [--dim 64]`` (it uses only the public
API, so the same file times any version of vecdb: compare the ``sql_over_search`` ratios of
two versions, measured under the same load, not absolute numbers).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

import vecdb

#: (label, Collection where, SQL WHERE)
FILTERS = [
    ("100%", None, ""),
    ("50%", "bucket < 500", "WHERE bucket < 500"),
    ("1%", "bucket < 10", "WHERE bucket < 10"),
]


def run(
    n: int, dim: int, k: int, queries: int, passes: int, confined: bool
) -> list[dict[str, Any]]:
    """Median latencies (µs) per system and filter."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=(n, dim)).astype(np.float32)
    qs = rng.normal(size=(queries, dim)).astype(np.float32)
    out = []
    with vecdb.connect(confined=confined) as db:
        c = db.create_collection("docs", dim=dim, columns={"name": "VARCHAR", "bucket": "INTEGER"})
        c.add(np.arange(n), base, [{"name": f"n{i}", "bucket": i % 1000} for i in range(n)])
        for label, where, sql_where in FILTERS:
            direct = f"SELECT id, name FROM docs {sql_where} ORDER BY cosine(vec, $q) LIMIT {k}"
            duck = (
                f"SELECT id, upper(name) AS u FROM docs {sql_where} "
                f"ORDER BY cosine(vec, $q) LIMIT {k}"
            )
            systems = {
                "search": lambda q, w=where: c.search(q, k=k, where=w, include=["name"]),
                "sql_direct": lambda q, s=direct: db.sql(s, {"q": q}).fetchall(),
                "sql_duckdb": lambda q, s=duck: db.sql(s, {"q": q}).fetchall(),
            }
            order = list(systems)
            times: dict[str, list[float]] = {s: [] for s in order}
            for q in qs[:20]:
                for s in order:
                    systems[s](q)
            for rep in range(passes):
                for i, q in enumerate(qs):
                    shift = (i + rep) % len(order)
                    for s in order[shift:] + order[:shift]:
                        t = time.perf_counter()
                        systems[s](q)
                        times[s].append(time.perf_counter() - t)
            med = {s: float(np.median(v)) * 1e6 for s, v in times.items()}
            row: dict[str, Any] = {"confined": confined, "filter": label}
            row.update({f"{s}_us": round(v, 1) for s, v in med.items()})
            row["direct_over_search"] = round(med["sql_direct"] / med["search"], 3)
            row["duckdb_over_search"] = round(med["sql_duckdb"] / med["search"], 3)
            print(json.dumps(row), flush=True)
            out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--passes", type=int, default=2)
    args = ap.parse_args(argv)
    for confined in (False, True):
        run(args.n, args.dim, args.k, args.queries, args.passes, confined)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
