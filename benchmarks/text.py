"""Text in collections (#12): the cost of the full-text index on writes, and query latency
through a collection at 20k and 200k documents.

    python -m benchmarks.text                                  # add (3 rounds) + queries at 20k
    python -m benchmarks.text --no-add --sizes 20000,200000    # query latency at both sizes
    python -m benchmarks.text --rounds 5 --json out.json

* ``add``: the 20k npm-text-20k documents with their shipped MiniLM vectors, in batches of
  2,000, into an in-memory HNSW collection, with the full-text index (``fulltext=True``,
  ``documents=``) and without (vector index alone, no document column). Rounds alternate the
  two orders (paired); medians are reported.
* ``query``: one query per call on a loaded collection (HNSW, cosine, defaults, with
  ``fulltext=True``), k=10. 20k = the npm corpus with its shipped vectors; a larger size is
  synthetic: documents whose tokens and lengths are drawn from the npm corpus
  (:func:`benchmarks.fulltext.synthetic`) and vectors that are npm vectors plus noise,
  renormalised. Query texts are the known-item queries; query vectors the shipped
  ``queries.npy`` (another query set: fine for latency, not for quality). For every query the
  modes run one after the other in a rotating order, so machine load hits each alike;
  p50/p90 per mode. ``bm25 engine`` is the collection's own BM25 index called directly (no
  collection layer), the reference for the ``fulltext`` row.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

import vecdb

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "npm-text-20k"
if not DATA.exists():
    DATA = Path("/work/shared/data/npm-text-20k")
BATCH = 2_000
WHERE = "bucket = 3"  # about 10 % of the rows


def load() -> tuple[np.ndarray, list[str], list[str], np.ndarray]:
    vecs = np.load(DATA / "base.npy").astype(np.float32)
    docs = pq.read_table(DATA / "docs.parquet").column("text").to_pylist()
    queries = pq.read_table(DATA / "known_item.parquet").column("query").to_pylist()
    qvecs = np.load(DATA / "queries.npy").astype(np.float32)
    return vecs, docs, queries, qvecs


def corpus(vecs: np.ndarray, docs: list[str], n: int, seed: int = 0) -> tuple[Any, list[str]]:
    """``n`` (vector, document) pairs: the npm corpus itself when ``n`` fits, else synthetic.

    Synthetic vectors are returned as a function of a slice (``(start, stop) -> matrix``) so
    200k x 384 floats are made batch by batch, never held twice."""
    if n <= len(docs):
        return (lambda s, e: vecs[s:e]), docs[:n]
    from benchmarks.fulltext import synthetic

    texts = synthetic(docs, n, seed=seed)

    def make(s: int, e: int) -> np.ndarray:
        rng = np.random.default_rng(seed + s)
        base = vecs[np.arange(s, e) % len(vecs)]
        v = base + rng.normal(scale=0.05, size=base.shape).astype(np.float32)
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)

    return make, texts


def build(vectors: Any, docs: list[str], text: bool, batch: int = BATCH) -> tuple[float, Any, Any]:
    """Add ``docs`` (and their vectors) to a new in-memory collection; (seconds, db, coll)."""
    get = vectors if callable(vectors) else (lambda s, e: vectors[s:e])
    dim = get(0, 1).shape[1]
    db = vecdb.connect(progress=False)
    kw: dict[str, Any] = {"fulltext": True} if text else {}
    c = db.create_collection("npm", dim=dim, columns={"bucket": "INTEGER"}, **kw)
    t0 = time.perf_counter()
    for s in range(0, len(docs), batch):
        e = min(s + batch, len(docs))
        ids = list(range(s, e))
        rows = [{"bucket": i % 10} for i in ids]
        if text:
            c.add(ids=ids, vectors=get(s, e), rows=rows, documents=docs[s:e])
        else:
            c.add(ids=ids, vectors=get(s, e), rows=rows)
    return time.perf_counter() - t0, db, c


def pct(times: list[float]) -> dict[str, float]:
    t = sorted(times)
    return {"p50_ms": t[len(t) // 2] * 1e3, "p90_ms": t[int(len(t) * 0.9)] * 1e3, "n": len(t)}


def latencies(
    runs: dict[str, Callable[[int], Any]], n_queries: int, passes: int
) -> dict[str, dict[str, float]]:
    """Per mode p50/p90; every query runs each mode once per pass, in a rotating order."""
    names = list(runs)
    for fn in runs.values():  # warm: first call, allow-list cache
        fn(0)
    times: dict[str, list[float]] = {n: [] for n in names}
    clock = time.perf_counter
    for p in range(passes):
        for i in range(n_queries):
            r = (i + p) % len(names)
            for name in names[r:] + names[:r]:
                t0 = clock()
                runs[name](i)
                times[name].append(clock() - t0)
    return {n: pct(t) for n, t in times.items()}


def query_runs(c: Any, queries: list[str], qvecs: np.ndarray) -> dict[str, Callable[[int], Any]]:
    engine = c._live.fulltext  # the collection's own BM25 index: the no-layer reference
    nq = len(qvecs)
    return {
        "vector": lambda i: c.search(qvecs[i % nq], k=10),
        "vector where": lambda i: c.search(qvecs[i % nq], k=10, where=WHERE),
        "bm25 engine": lambda i: engine.search(queries[i], 10),
        "fulltext": lambda i: c.search(queries[i], k=10, mode="fulltext"),
        "fulltext where": lambda i: c.search(queries[i], k=10, mode="fulltext", where=WHERE),
        "hybrid": lambda i: c.search(qvecs[i % nq], k=10, mode="hybrid", text=queries[i]),
        "hybrid where": lambda i: c.search(
            qvecs[i % nq], k=10, mode="hybrid", text=queries[i], where=WHERE
        ),
        "hybrid weighted": lambda i: c.search(
            qvecs[i % nq],
            k=10,
            mode="hybrid",
            text=queries[i],
            fusion={"method": "weighted", "vector": 0.3, "text": 0.7},
        ),
    }


def add_rounds(vecs: np.ndarray, docs: list[str], rounds: int) -> dict[str, Any]:
    adds: dict[str, list[float]] = {"vector only": [], "vector + fulltext": []}
    for r in range(rounds):
        order = [False, True] if r % 2 == 0 else [True, False]
        for text in order:
            sec, db, _ = build(vecs, docs, text)
            db.close()
            adds["vector + fulltext" if text else "vector only"].append(sec)
    med = {k: statistics.median(v) for k, v in adds.items()}
    return {
        "add_s": adds,
        "add_s_median": med,
        "add_ratio": med["vector + fulltext"] / med["vector only"],
    }


def scale_run(size: int, n_queries: int, passes: int) -> dict[str, Any]:
    vecs, docs, queries, qvecs = load()
    vectors, texts = corpus(vecs, docs, size)
    del docs
    build_s, db, c = build(vectors, texts, True, batch=10_000 if size > 50_000 else BATCH)
    nq = min(n_queries, len(queries))
    out = {
        "n": size,
        "synthetic": size > len(vecs),
        "build_s": build_s,
        "query": latencies(query_runs(c, queries, qvecs), nq, passes),
    }
    db.close()
    return out


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| query, k=10 | " + " | ".join(f"{r['n']:,} p50 / p90 ms" for r in results) + " |"]
    lines.append("| --- |" + " ---: |" * len(results))
    for mode in results[0]["query"]:
        cells = [
            f"{r['query'][mode]['p50_ms']:.2f} / {r['query'][mode]['p90_ms']:.2f}" for r in results
        ]
        lines.append(f"| {mode} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3, help="paired add rounds (20k)")
    ap.add_argument("--no-add", action="store_true", help="skip the add comparison")
    ap.add_argument("--sizes", default="20000", help="collection sizes for query latency")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    out: dict[str, Any] = {}
    if not args.no_add:
        vecs, docs, _, _ = load()
        out["add"] = add_rounds(vecs, docs, args.rounds)
        print(json.dumps(out["add"]["add_s_median"]), f"ratio {out['add']['add_ratio']:.2f}")
    out["latency"] = []
    for size in (int(s) for s in args.sizes.split(",") if s):
        r = scale_run(size, args.queries, args.passes)
        print(f"{size:,}: built in {r['build_s']:.1f} s", flush=True)
        out["latency"].append(r)
    if out["latency"]:
        print(table(out["latency"]))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
