"""What progress reporting costs a small write: paired runs of two vecdb source trees.

``python -m benchmarks.progress_overhead --before /tmp/base --after .`` times ``upsert`` of
small batches (10 rows, the common case, which must not pay for progress) and, for scale, of
one batch just above :data:`vecdb.progress.MIN_ITEMS` with progress off (on disk, where
each commit syncs DuckDB's WAL, and in memory, where the Python layer's cost shows). Each
round runs one child process per tree, alternating which goes first; the report gives each
tree's median of the per-round medians and the after/before ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

CHILD = r"""
import json, sys, tempfile, time
import numpy as np, vecdb
calls, batch, where, dim = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], 32
rng = np.random.default_rng(0)
vecs = rng.normal(size=(calls * batch, dim)).astype(np.float32)
with tempfile.TemporaryDirectory() as d:
    kw = {"progress": False} if "progress" in vecdb.connect.__code__.co_varnames else {}
    with vecdb.connect(d if where == "disk" else None, **kw) as db:
        c = db.create_collection("c", dim=dim, metric="l2", index="hnsw")
        c.upsert(np.arange(100) + 10**9, vecs[:100])  # warm up
        times = []
        for i in range(calls):
            ids = np.arange(i * batch, (i + 1) * batch)
            t0 = time.perf_counter()
            c.upsert(ids, vecs[i * batch:(i + 1) * batch])
            times.append(time.perf_counter() - t0)
print(json.dumps(sorted(times)[len(times) // 2]))
"""


def _one(tree: str, calls: int, batch: int, where: str) -> float:
    env = {**os.environ, "PYTHONPATH": os.path.abspath(tree), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(calls), str(batch), where],
        capture_output=True,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),  # so that the tree on PYTHONPATH is the vecdb imported
        check=True,
    )
    return float(json.loads(out.stdout))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--before", required=True, help="a tree holding the vecdb package, before")
    p.add_argument("--after", default=".", help="a tree holding the vecdb package, after")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--small-only", action="store_true", help="skip the 12k-row batches")
    args = p.parse_args()
    cases = (
        ("10-row upsert, in memory", 300, 10, "memory"),
        ("10-row upsert, on disk", 100, 10, "disk"),
        ("12k-row upsert, on disk", 3, 12_000, "disk"),
    )
    for label, calls, batch, where in cases[:2] if args.small_only else cases:
        got: dict[str, list[float]] = {"before": [], "after": []}
        for r in range(args.rounds):
            order = ["before", "after"] if r % 2 == 0 else ["after", "before"]
            for which in order:
                got[which].append(_one(getattr(args, which), calls, batch, where))
        b, a = statistics.median(got["before"]), statistics.median(got["after"])
        print(
            f"{label}: before {b * 1e3:.3f} ms, after {a * 1e3:.3f} ms, "
            f"after/before {a / b:.3f} (medians of {args.rounds} paired rounds)"
        )


if __name__ == "__main__":
    main()
