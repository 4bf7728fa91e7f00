"""Paired measurement of vecdb's per-query overhead over the raw hnswlib graph beneath it.

Run with ``python -m benchmarks.paired --data ../shared/data/glove-50-angular-100k``.

On a shared, noisy machine two systems timed one after the other see different loads, and a
query timed twice is cache-warm the second time. Here both call the *same* hnswlib graph
(the raw one is ``collection.index``'s own), every query runs once per pass, consecutive
queries alternate between the systems, and the assignment flips on the second pass. The
ratio of medians is then the cost of vecdb's Python layer alone, at identical recall.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import vecdb
from benchmarks.data import load_dataset


def paired(data_dir: str, efs: list[int], k: int, passes: int = 2) -> list[dict[str, float]]:
    """Median single-query latency of raw ``knn_query`` and ``Collection.search``, per ef."""
    ds = load_dataset(data_dir)
    base, queries = ds.base, ds.queries
    rows = []
    with vecdb.connect() as db:
        coll = db.create_collection(
            "paired",
            dim=base.shape[1],
            metric=ds.metric,
            index="hnsw",
            index_params={"m": 16, "ef_construction": 200, "ef_search": efs[0]},
        )
        coll.add(ids=np.arange(len(base)), vectors=base)
        raw_index = coll.index._index
        clock = time.perf_counter
        for ef in efs:
            coll.index.params["ef_search"] = ef
            raw_index.set_ef(ef)
            raw, ours = [], []
            for rep in range(passes):
                for i in range(0, len(queries) - 1, 2):
                    a, b = queries[i], queries[i + 1]
                    if (i // 2 + rep) % 2:
                        a, b = b, a
                    t0 = clock()
                    raw_index.knn_query(a, k=k)
                    t1 = clock()
                    coll.search(b, k=k)
                    t2 = clock()
                    raw.append(t1 - t0)
                    ours.append(t2 - t1)
            r, o = float(np.median(raw)), float(np.median(ours))
            rows.append({"ef": ef, "raw_us": r * 1e6, "vecdb_us": o * 1e6, "qps_ratio": r / o})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--efs", default="32,64,128")
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args(argv)
    rows = paired(args.data, [int(x) for x in args.efs.split(",")], args.k)
    print("| ef | raw hnswlib p50 µs | vecdb search() p50 µs | QPS ratio |")
    print("| ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['ef']} | {r['raw_us']:.1f} | {r['vecdb_us']:.1f} | {r['qps_ratio']:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
