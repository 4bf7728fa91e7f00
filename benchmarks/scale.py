"""Scaling run on clustered synthetic data: build time, QPS at recall >= target, bytes/vector.

Usage::

    python -m benchmarks.scale --sizes 100000,300000,1000000 [--dim 128] [--target 0.95]

For each size, gaussian blobs (``benchmarks.data.clustered_blobs``) are written with exact
ground truth under ``benchmarks/.cache/scale/`` (reused on later runs). Each system is built
in its own subprocess; ef is raised through the sweep until recall@k reaches the target,
and the QPS (one thread, one query per call) at that ef is reported. Bytes per vector is the
process RSS increase from before the build to after it (steady state) divided by n; the
peak during build is shown too.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.adapters import BuildParams
from benchmarks.ann import fmt
from benchmarks.data import cache_dir, clustered_blobs, write_dataset
from benchmarks.runner import RunConfig, run_in_subprocess

DEFAULT_EFS = "10,12,16,24,32,48,64,96,128,192,256,384,512,768,1024"


def dataset_for(
    n: int, dim: int, n_clusters: int, n_queries: int, seed: int, spread: float
) -> Path:
    """Generate (once) and return the folder of an n x dim blob data set with ground truth."""
    name = f"blobs-{n}-{dim}-{n_clusters}-{n_queries}-{seed}-{spread:g}"
    path = cache_dir() / "scale" / name
    if (path / "meta.json").exists():
        return path
    print(f"# generating {n} x {dim} blobs and exact ground truth ...", file=sys.stderr, flush=True)
    base, queries = clustered_blobs(n, dim, n_clusters, n_queries, spread=spread, seed=seed)
    return write_dataset(path, base, queries, "euclidean", k=100, name=path.name)


def main(argv: list[str] | None = None) -> int:
    """Run the scaling benchmark and print a Markdown table."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.scale", description=__doc__.split("\n")[0]
    )
    p.add_argument("--sizes", default="100000,300000,1000000")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--clusters", type=int, default=1000)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--spread", type=float, default=1.0, help="blob std (centres ~ N(0, 1))")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--target", type=float, default=0.95)
    p.add_argument("--efs", default=DEFAULT_EFS)
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--ef-construction", type=int, default=200)
    p.add_argument("--systems", default="vecdb,hnswlib,faiss")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)

    efs: list[int | None] = [int(v) for v in args.efs.split(",")]
    rows: list[dict[str, Any]] = []
    for n in [int(v) for v in args.sizes.split(",")]:
        data = dataset_for(n, args.dim, args.clusters, args.queries, args.seed, args.spread)
        for system in [s.strip() for s in args.systems.split(",") if s.strip()]:
            cfg = RunConfig(
                data=str(data),
                system=system,
                k=args.k,
                knobs=efs,
                selectivities=[],
                clustered=False,
                build=BuildParams(index="hnsw", m=args.m, ef_construction=args.ef_construction),
                time_limit_s=60.0,
                repeats=3,
                batch=False,
                stop_recall=args.target,
            )
            print(f"# n={n}: running {system} ...", file=sys.stderr, flush=True)
            res = run_in_subprocess(cfg)
            if "rows" not in res:
                print(f"#   {system}: {res.get('skipped') or res.get('error')}", file=sys.stderr)
                continue
            sweep = res["rows"]
            hit = next((r for r in sweep if r["recall"] >= args.target), None)
            best = hit or max(sweep, key=lambda r: r["recall"])
            rows.append(
                {
                    "n": n,
                    "dim": args.dim,
                    "system": system,
                    "build_s": best["build_s"],
                    "ef": best["params"].get("ef"),
                    "recall": best["recall"],
                    "reached": hit is not None,
                    "qps": best["qps"],
                    "p50_ms": best["p50_ms"],
                    "p99_ms": best["p99_ms"],
                    "bytes_per_vector": best["rss_after_mb"] * 2**20 / n,
                    "peak_bytes_per_vector": best["rss_mb"] * 2**20 / n,
                    "raw_bytes_per_vector": args.dim * 4,
                    "sweep": [(r["params"].get("ef"), r["recall"], r["qps"]) for r in sweep],
                }
            )
            print(
                f"#   build {best['build_s']:.1f} s; ef={best['params'].get('ef')} "
                f"recall={best['recall']:.3f} qps={best['qps']:.0f}",
                file=sys.stderr,
                flush=True,
            )
    print(
        f"| n | system | build s | ef for recall@{args.k} >= {args.target} | recall "
        "| QPS (1 thread) | p50 ms | p99 ms | bytes/vector (after build) "
        "| peak bytes/vector (during build) |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        ef = f"{r['ef']}" if r["reached"] else f"not reached (ef={r['ef']})"
        print(
            f"| {r['n']:,} | {r['system']} | {fmt(r['build_s'], 1)} | {ef} | {fmt(r['recall'])} | "
            f"{fmt(r['qps'])} | {fmt(r['p50_ms'])} | {fmt(r['p99_ms'])} | "
            f"{r['bytes_per_vector']:,.0f} | {r['peak_bytes_per_vector']:,.0f} |"
        )
    print(f"\nRaw vector size: {args.dim * 4} bytes (float32 x {args.dim}).")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
