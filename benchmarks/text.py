"""Text in collections (#12): the cost of the full-text index on writes, and query latency.

    python -m benchmarks.text                # 20k npm documents, 3 paired rounds
    python -m benchmarks.text --rounds 5 --json out.json

* ``add``: the 20k npm-text-20k documents with their shipped MiniLM vectors, in batches of
  2,000, into an in-memory HNSW collection, with the full-text index (``fulltext=True``,
  ``documents=``) and without (vector index alone, no document column). Rounds alternate the
  two orders (paired); medians are reported.
* ``query``: p50/p90 latency of one query per call on the loaded 20k collection: vector
  (shipped query vector), fulltext (known-item query text), hybrid (RRF, own vector + text),
  each also with a ``where`` filter matching about 10 % of the rows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

import vecdb

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "npm-text-20k"
if not DATA.exists():
    DATA = Path("/work/shared/data/npm-text-20k")
BATCH = 2_000


def load() -> tuple[np.ndarray, list[str], list[str], np.ndarray]:
    vecs = np.load(DATA / "base.npy").astype(np.float32)
    docs = pq.read_table(DATA / "docs.parquet").column("text").to_pylist()
    queries = pq.read_table(DATA / "known_item.parquet").column("query").to_pylist()
    qvecs = np.load(DATA / "queries.npy").astype(np.float32)
    return vecs, docs, queries, qvecs


def build(vecs: np.ndarray, docs: list[str], text: bool) -> tuple[float, Any, Any]:
    db = vecdb.connect()
    kw: dict[str, Any] = {"fulltext": True} if text else {}
    c = db.create_collection("npm", dim=vecs.shape[1], columns={"bucket": "INTEGER"}, **kw)
    t0 = time.perf_counter()
    for s in range(0, len(vecs), BATCH):
        ids = list(range(s, min(s + BATCH, len(vecs))))
        rows = [{"bucket": i % 10} for i in ids]
        if text:
            c.add(ids=ids, vectors=vecs[s : s + BATCH], rows=rows, documents=docs[s : s + BATCH])
        else:
            c.add(ids=ids, vectors=vecs[s : s + BATCH], rows=rows)
    return time.perf_counter() - t0, db, c


def latency(fn: Any, n: int) -> dict[str, float]:
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return {"p50_ms": times[len(times) // 2], "p90_ms": times[int(len(times) * 0.9)]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--json")
    args = ap.parse_args()
    vecs, docs, queries, qvecs = load()
    adds: dict[str, list[float]] = {"vector only": [], "vector + fulltext": []}
    for r in range(args.rounds):
        order = [False, True] if r % 2 == 0 else [True, False]
        for text in order:
            sec, db, _ = build(vecs, docs, text)
            db.close()
            adds["vector + fulltext" if text else "vector only"].append(sec)
    out: dict[str, Any] = {"n": len(vecs), "add_s_median": {}, "query": {}}
    for k, v in adds.items():
        out["add_s_median"][k] = statistics.median(v)
    base = out["add_s_median"]["vector only"]
    out["add_ratio"] = out["add_s_median"]["vector + fulltext"] / base
    _, db, c = build(vecs, docs, True)
    nq = min(args.queries, len(queries))
    w = "bucket = 3"
    runs = {
        "vector": lambda i: c.search(qvecs[i], k=10),
        "vector where": lambda i: c.search(qvecs[i], k=10, where=w),
        "fulltext": lambda i: c.search(queries[i], k=10, mode="fulltext"),
        "fulltext where": lambda i: c.search(queries[i], k=10, mode="fulltext", where=w),
        "hybrid": lambda i: c.search(qvecs[i], k=10, mode="hybrid", text=queries[i]),
        "hybrid where": lambda i: c.search(qvecs[i], k=10, mode="hybrid", text=queries[i], where=w),
    }
    for name, fn in runs.items():
        fn(0)  # warm (allow-list cache, first call)
        out["query"][name] = latency(fn, nq)
    db.close()
    print(json.dumps(out, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
