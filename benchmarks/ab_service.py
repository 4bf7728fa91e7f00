"""Paired A/B of two source trees' servers: the same client, data and queries against each.

Each tree's ``vecdb serve`` runs as its own process (``PYTHONPATH`` pointing at the tree's
``vecdb`` and ``server``), on the same data; the client alternates blocks of calls between
them, so load from other work hits both alike, and reports the median over blocks of the
per-block p50 ratio B/A for: a plain gRPC search, a filtered gRPC search with a column, and
a REST search. Use it to check that a refactor of the transports costs nothing::

    git worktree add --detach /tmp/base <old-commit>
    python -m benchmarks.ab_service --a /tmp/base --b . [--n 20000] [--rounds 12]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import vecdb

BANNER = re.compile(r"vecdb serving grpc=(\S+) http=(\S+) docs=")


def start(tree: Path, data: Path) -> tuple[subprocess.Popen[str], str, str]:
    """``vecdb serve`` from ``tree`` on ephemeral ports; (process, grpc url, http url)."""
    src = Path(tempfile.mkdtemp(prefix="vecdb-ab-src-"))
    (src / "vecdb").symlink_to(tree.resolve() / "vecdb")
    (src / "vecdb_server").symlink_to(tree.resolve() / "server")
    env = dict(os.environ, PYTHONPATH=str(src), VECDB_PROGRESS="0")
    cmd = [sys.executable, "-m", "vecdb", "serve", "--data", str(data)]
    cmd += ["--grpc-port", "0", "--http-port", "0"]
    proc = subprocess.Popen(
        cmd, cwd=src, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        m = BANNER.search(line)
        if m:
            return proc, f"grpc://{m.group(1)}", m.group(2)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError(f"server from {tree} did not start")


def block(fn: Callable[[np.ndarray], Any], queries: np.ndarray) -> float:
    """p50 latency (µs) of ``fn`` over the queries."""
    times = []
    for q in queries:
        t0 = time.perf_counter()
        fn(q)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.ab_service")
    ap.add_argument("--a", type=Path, required=True, help="baseline source tree")
    ap.add_argument("--b", type=Path, required=True, help="candidate source tree")
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--block", type=int, default=200)
    ns = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    base = rng.normal(size=(ns.n, ns.dim)).astype(np.float32)
    queries = rng.normal(size=(ns.block, ns.dim)).astype(np.float32)
    servers, clients = [], []
    try:
        for tree in (ns.a, ns.b):
            proc, grpc_url, http_url = start(tree, Path(tempfile.mkdtemp(prefix="vecdb-ab-")))
            servers.append(proc)
            g, r = vecdb.connect(grpc_url), vecdb.connect(http_url)
            c = g.create_collection("ab", dim=ns.dim, columns={"bucket": "INTEGER"})
            for s in range(0, ns.n, 5000):
                ids = list(range(s, min(s + 5000, ns.n)))
                c.upsert(ids, base[s : s + 5000], [{"bucket": i % 100} for i in ids])
            clients.append((c, r.get_collection("ab")))
        shapes: dict[str, Callable[[Any, Any], Callable[[np.ndarray], Any]]] = {
            "grpc search()": lambda g, r: lambda q: g.search(q, k=10),
            "grpc where+include": lambda g, r: (
                lambda q: g.search(q, k=10, where="bucket < 10", include=["bucket"])
            ),
            "rest search()": lambda g, r: lambda q: r.search(q, k=10),
        }
        ratios: dict[str, list[float]] = {s: [] for s in shapes}
        p50: dict[str, list[list[float]]] = {s: [[], []] for s in shapes}
        for rnd in range(ns.rounds):
            order = (0, 1) if rnd % 2 == 0 else (1, 0)
            for shape, make in shapes.items():
                got = [0.0, 0.0]
                for side in order:
                    got[side] = block(make(*clients[side]), queries)
                    p50[shape][side].append(got[side])
                ratios[shape].append(got[1] / got[0])
        print(f"{'shape':<22} {'A p50 µs':>9} {'B p50 µs':>9} {'B/A (median of pairs)':>22}")
        for shape in shapes:
            a, b = (statistics.median(x) for x in p50[shape])
            print(f"{shape:<22} {a:9.0f} {b:9.0f} {statistics.median(ratios[shape]):22.3f}")
    finally:
        for proc in servers:
            proc.terminate()
            proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
