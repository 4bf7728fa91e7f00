"""``vecdb demo``: build a persistent collection from generated data and search it.

Usage::

    python -m vecdb demo [--data ./vecdb-data] [--n 20000] [--dim 64] [--k 5]
                         [--index hnsw|ivf|exact] [--queries 200]

The first run generates ``--n`` clustered vectors with metadata (``year INTEGER``,
``lang VARCHAR``, ``title VARCHAR``) and stores them in ``--data``; later runs reopen the same
directory and reuse the collection (its index checkpoint is loaded, not rebuilt). Each run then
prints, with timings, an unfiltered search, a broad filtered search and a selective one, and for
each the plan the filter-safe planner chose (as :meth:`vecdb.Collection.explain` reports it).

>>> import tempfile
>>> main(["--data", tempfile.mkdtemp(), "--n", "500", "--dim", "8", "--queries", "5"])
... # doctest: +ELLIPSIS
vecdb demo: ...
0
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

import vecdb
from vecdb.errors import VecdbError

__all__ = ["main", "generate"]

LANGS = ["en", "de", "fr", "es", "ja"]
LANG_P = [0.5, 0.2, 0.15, 0.1, 0.05]
N_CLUSTERS = 32
BATCH = 5_000
#: (title, predicate, params): a broad filter and a selective one
FILTERS = [
    ("broad filter", "year >= $y", {"y": 2010}),
    ("selective filter", "year >= $y AND lang = $lang", {"y": 2022, "lang": "de"}),
]


def generate(
    start: int, stop: int, dim: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Rows ``start..stop-1`` of the demo data set: ids, clustered vectors, metadata rows.

    Deterministic per id range, so a re-run (or a resumed load) writes the same rows.

    >>> ids, vecs, rows = generate(0, 3, dim=4)
    >>> ids.tolist(), vecs.shape, sorted(rows[0])
    ([0, 1, 2], (3, 4), ['lang', 'title', 'year'])
    """
    centers = np.random.default_rng(seed).standard_normal((N_CLUSTERS, dim)).astype(np.float32)
    rng = np.random.default_rng([seed, start])
    n = stop - start
    ids = np.arange(start, stop, dtype=np.int64)
    cluster = rng.integers(0, N_CLUSTERS, n)
    vecs = centers[cluster] + 0.35 * rng.standard_normal((n, dim)).astype(np.float32)
    years = rng.integers(2000, 2025, n)
    langs = rng.choice(len(LANGS), n, p=LANG_P)
    rows = [
        {"year": int(y), "lang": LANGS[la], "title": f"doc {i} (topic {c})"}
        for i, y, la, c in zip(ids.tolist(), years.tolist(), langs.tolist(), cluster.tolist())
    ]
    return ids, vecs.astype(np.float32), rows


def _queries(n: int, dim: int, seed: int = 1) -> np.ndarray:
    """Query vectors near the data's clusters (but not equal to any row)."""
    centers = np.random.default_rng(0).standard_normal((N_CLUSTERS, dim)).astype(np.float32)
    rng = np.random.default_rng(seed)
    q = centers[rng.integers(0, N_CLUSTERS, n)] + 0.35 * rng.standard_normal((n, dim))
    return q.astype(np.float32)


def _load(coll: vecdb.Collection, n: int, dim: int) -> tuple[int, float]:
    """Make the collection hold exactly rows ``0..n-1``; returns (rows written, seconds)."""
    t0 = time.perf_counter()
    have = coll.count()
    written = 0
    if have != n or coll.count(where="id >= $n", params={"n": n}):
        if have > n:
            coll.delete(where="id >= $n", params={"n": n})
        show = sys.stdout.isatty()
        for start in range(0, n, BATCH):
            ids, vecs, rows = generate(start, min(n, start + BATCH), dim)
            written += coll.upsert(ids, vecs, rows)
            if show:
                print(f"\r  loading {min(n, start + BATCH):,}/{n:,} rows", end="", flush=True)
        if show:
            print()
    return written, time.perf_counter() - t0


def _time_queries(coll: vecdb.Collection, queries: np.ndarray, k: int, **kw: Any) -> float:
    """Mean milliseconds per single-vector search."""
    coll.search(queries[0], k=k, **kw)  # warm the filter cache and the code paths
    t0 = time.perf_counter()
    for q in queries:
        coll.search(q, k=k, **kw)
    return (time.perf_counter() - t0) * 1000 / len(queries)


def _print_hits(hits: list[Any]) -> None:
    print(f"    {'id':>8}  {'distance':>9}  {'year':>4}  {'lang':<4}  title")
    for h in hits:
        row = h.row or {}
        print(
            f"    {h.id:>8}  {h.distance:>9.4f}  {row.get('year', ''):>4}  "
            f"{row.get('lang', ''):<4}  {row.get('title', '')}"
        )


def _print_plan(info: dict[str, Any]) -> None:
    params = info.get("index_params", {})
    shown = ", ".join(f"{k}={v}" for k, v in params.items() if v is not None)
    extra = f", filter={info['filter']}" if "filter" in info else ""
    print(
        f"    plan: strategy={info['strategy']}{extra}; matching rows "
        f"{info['matching_rows']:,} of {info['total_rows']:,} (estimated "
        f"{info['estimated_rows']:,}); candidates={info['candidates']}; "
        f"fallbacks={info.get('fallbacks', 0)}; index {info.get('index', '?')}({shown})"
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vecdb demo",
        description="Build a persistent collection from generated data and search it.",
    )
    p.add_argument("--data", default="./vecdb-data", help="data directory (default %(default)s)")
    p.add_argument("--n", type=int, default=20_000, help="rows (default %(default)s)")
    p.add_argument("--dim", type=int, default=64, help="vector dimension (default %(default)s)")
    p.add_argument("--k", type=int, default=5, help="hits per search (default %(default)s)")
    p.add_argument(
        "--index",
        choices=["hnsw", "ivf", "exact"],
        default="hnsw",
        help="ANN index of a new collection (default %(default)s)",
    )
    p.add_argument(
        "--queries", type=int, default=200, help="queries per timing (default %(default)s)"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the exit status (0 ok, 1 engine error, 2 bad arguments)."""
    args = _parser().parse_args(argv)
    if args.n < 1 or args.dim < 1 or args.k < 1 or args.queries < 1:
        print("vecdb demo: --n, --dim, --k and --queries must be positive", file=sys.stderr)
        return 2
    name = f"demo_{args.index}_{args.dim}d"
    try:
        t0 = time.perf_counter()
        db = vecdb.connect(args.data)
        opened = time.perf_counter() - t0
    except VecdbError as e:
        print(f"vecdb demo: {e}", file=sys.stderr)
        return 1
    try:
        with db:
            coll = db.create_collection(
                name,
                dim=args.dim,
                metric="cosine",
                index=args.index,
                columns={"year": "INTEGER", "lang": "VARCHAR", "title": "VARCHAR"},
                exist_ok=True,
            )
            existing = coll.count()
            print(
                f"vecdb demo: {args.n:,} vectors x {args.dim}-d (cosine, {args.index}) "
                f"in {args.data}, collection {name!r}"
            )
            print(f"  opened the database in {opened * 1000:.0f} ms; {existing:,} rows found")
            written, secs = _load(coll, args.n, args.dim)
            if written:
                print(f"  built: {written:,} rows in {secs:.2f} s ({written / secs:,.0f} rows/s)")
            else:
                print("  reusing the stored collection (nothing to load)")
            _run_searches(coll, args.k, args.queries)
    except VecdbError as e:
        print(f"vecdb demo: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


def _run_searches(coll: vecdb.Collection, k: int, n_queries: int) -> None:
    queries = _queries(n_queries, coll.dim)
    q = queries[0]
    print(f"\nunfiltered search, k={k}:")
    _print_hits(coll.search(q, k=k, include="*"))
    _print_plan(coll.explain(q, k=k))
    ms = _time_queries(coll, queries, k)
    print(f"    {ms:.3f} ms/query ({1000 / ms:,.0f} QPS) over {len(queries)} queries")
    for title, where, params in FILTERS:
        print(f"\n{title}: where {where!r} with {params}, k={k}:")
        _print_hits(coll.search(q, k=k, where=where, params=params, include="*"))
        _print_plan(coll.explain(q, k=k, where=where, params=params))
        ms = _time_queries(coll, queries, k, where=where, params=params)
        print(f"    {ms:.3f} ms/query ({1000 / ms:,.0f} QPS) over {len(queries)} queries")


if __name__ == "__main__":
    sys.exit(main())
