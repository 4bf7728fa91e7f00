"""Memory and disk of a build: vecdb vs raw hnswlib vs raw faiss, in paired subprocesses (#11).

Run with ``python -m benchmarks.memory --n 100000 --data /work/shared/data/npm-text-20k``.

Each system builds the same ``n x dim`` cosine HNSW index (m=16, ef_construction=200) in a
fresh subprocess; the systems alternate, ``--repeats`` times, and each figure is the median
over repeats. Per run:

* ``base`` -- RSS once the libraries are imported and the data (held by the harness, as a
  user's process would) is in memory;
* ``peak`` -- the highest RSS during the build (sampled every 2 ms, plus the kernel's
  ``ru_maxrss``), which includes saving the index to disk (vecdb checkpoints it);
* ``steady`` -- RSS after the build and a garbage collection, the index still open;
* ``disk`` -- the bytes the system left on disk (vecdb: its whole directory, after close).

RSS is split into anonymous memory (heap: what cannot be given back without freeing it) and
file-backed pages (memory-mapped files: the kernel drops them under pressure), from
``/proc/self/status``. For vecdb, ``--phases`` adds RSS at the boundaries of a write (before
the DuckDB insert, after it, after the in-memory apply, after the checkpoint) and the sizes
of its parts (vector store, row store, DuckDB's own accounting).

The data is the real 384-d MiniLM vectors of npm-text-20k tiled to ``n`` with small gaussian
noise (seeded), or random gaussian vectors with ``--data random``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

SYSTEMS = ("vecdb", "hnswlib", "faiss")
M, EF_CONSTRUCTION = 16, 200


def _status() -> dict[str, float]:
    """VmRSS, RssAnon, RssFile of this process in MiB."""
    out: dict[str, float] = {}
    with open("/proc/self/status") as f:
        for line in f:
            key = line.split(":", 1)[0]
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                out[key] = int(line.split()[1]) / 1024
    return out


class Sampler:
    """Peak RSS (and its anon/file split at that moment) sampled in a thread."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.peak: dict[str, float] = _status()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            s = _status()
            if s["VmRSS"] > self.peak["VmRSS"]:
                self.peak = s

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if maxrss > self.peak["VmRSS"]:  # the kernel saw a higher peak than the thread did
            self.peak = {**self.peak, "VmRSS": maxrss}


def make_data(source: str, n: int, dim: int, seed: int = 7) -> np.ndarray:
    """``n`` float32 vectors: npm-text-20k tiled with noise, or random gaussian."""
    rng = np.random.default_rng(seed)
    if source == "random":
        return rng.standard_normal((n, dim), dtype=np.float32)
    real = np.load(Path(source) / "base.npy").astype(np.float32)
    out = np.empty((n, real.shape[1]), dtype=np.float32)
    for start in range(0, n, len(real)):
        stop = min(n, start + len(real))
        out[start:stop] = real[: stop - start]
        if start:  # copies after the first get noise so no two vectors coincide
            out[start:stop] += rng.normal(0, 0.01, (stop - start, real.shape[1])).astype(np.float32)
    return out


def _du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _settle() -> dict[str, float]:
    gc.collect()
    time.sleep(0.3)
    return _status()


def run_one(system: str, source: str, n: int, dim: int, opts: dict[str, Any]) -> dict[str, Any]:
    """Build one system in this process and measure it (see the module docstring)."""
    if system == "vecdb":
        import vecdb
    elif system == "hnswlib":
        import hnswlib
    else:
        import faiss

        faiss.omp_set_num_threads(opts.get("threads") or 1)
    data = make_data(source, n, dim)
    ids = np.arange(n, dtype=np.int64)
    work = Path(tempfile.mkdtemp(prefix=f"vecdb-mem-{system}-"))
    out: dict[str, Any] = {"system": system, "n": n, "dim": data.shape[1]}
    phases: list[tuple[str, float]] = []
    base = _settle()
    out["base"] = base
    t0 = time.perf_counter()
    try:
        if system == "vecdb":
            if opts.get("phases"):
                _instrument(phases)
            kw = {"memory_limit": opts["memory_limit"]} if opts.get("memory_limit") else {}
            db = vecdb.connect(work / "db", **kw)
            with Sampler() as s:
                c = db.create_collection("c", dim=data.shape[1], metric="cosine", index="hnsw")
                batch = opts.get("batch") or n
                for start in range(0, n, batch):
                    c.add(ids[start : start + batch], data[start : start + batch])
            out["build_s"] = time.perf_counter() - t0
            out["steady"] = _settle()
            out["parts_mb"] = _parts(db, c)
            db.close()
            del db, c
            out["closed"] = _settle()
            out["disk"] = _du(work / "db")
            out["files"] = {
                str(p.relative_to(work / "db")): p.stat().st_size
                for p in (work / "db").rglob("*")
                if p.is_file()
            }
        elif system == "hnswlib":
            with Sampler() as s:
                idx = hnswlib.Index(space="cosine", dim=data.shape[1])
                idx.init_index(max_elements=n, M=M, ef_construction=EF_CONSTRUCTION, random_seed=1)
                idx.add_items(data, ids)
                idx.save_index(str(work / "hnsw.bin"))
            out["build_s"] = time.perf_counter() - t0
            out["steady"] = _settle()
            out["disk"] = _du(work / "hnsw.bin")
            del idx
        else:
            with Sampler() as s:
                index = faiss.IndexHNSWFlat(data.shape[1], M, faiss.METRIC_INNER_PRODUCT)
                index.hnsw.efConstruction = EF_CONSTRUCTION
                unit = data / np.linalg.norm(data, axis=1, keepdims=True)
                index.add(unit)
                del unit
                faiss.write_index(index, str(work / "faiss.index"))
            out["build_s"] = time.perf_counter() - t0
            out["steady"] = _settle()
            out["disk"] = _du(work / "faiss.index")
            del index
        out["peak"] = s.peak
        out["phases"] = phases
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def _parts(db: Any, c: Any) -> dict[str, float]:
    """Sizes of vecdb's parts in MiB: what each holds, from its own accounting."""
    live = c._live
    mb = 2**20
    parts: dict[str, float] = {}
    store = live.store
    # vectors held in RAM; a file-backed store (after an HNSW checkpoint) reads the rest from
    # the memory-mapped hnsw.bin, which is page cache (RssFile), counted only once read
    parts["store_vectors"] = getattr(store, "vectors_nbytes", lambda: store.vectors.nbytes)() / mb
    parts["store_file_backed"] = float(bool(getattr(store, "mapped", False)))
    parts["store_ids_alive_sqnorms"] = (
        store.ids.nbytes + store.alive.nbytes + store.sqnorms.nbytes
    ) / mb
    parts["row_store"] = live.rows.nbytes() / mb
    hot = live.hot
    if hot is not None:
        # hnswlib: per element the vector, level-0 links (2m), label and header; upper levels
        # are ~1/m of that for links only
        per = c.dim * 4 + (2 * M + 1) * 4 + 8
        parts["hnsw_estimate"] = hot._index.get_max_elements() * per / mb
    try:
        rows = db._cursor().execute("SELECT tag, memory_usage_bytes FROM duckdb_memory()")
        parts["duckdb_total"] = sum(r[1] for r in rows.fetchall()) / mb
        limit = db._cursor().execute("SELECT current_setting('memory_limit')").fetchone()
        parts["duckdb_memory_limit"] = str(limit[0]) if limit else None  # type: ignore[assignment]
    except Exception as e:  # older DuckDB without duckdb_memory()
        parts["duckdb_error"] = str(e)  # type: ignore[assignment]
    return parts


def _instrument(phases: list[tuple[str, float]]) -> None:
    """Record RSS at the boundaries of a write (benchmark only: wraps methods in place)."""
    from vecdb.live_index import LiveIndex
    from vecdb.storage.table import CollectionTable
    from vecdb.upkeep import Upkeep

    def mark(name: str) -> None:
        phases.append((name, _status()["VmRSS"]))

    def wrap(cls: Any, meth: str) -> None:
        orig = getattr(cls, meth)

        def inner(*a: Any, **kw: Any) -> Any:
            mark(f"{meth}:start")
            try:
                return orig(*a, **kw)
            finally:
                mark(f"{meth}:end")

        setattr(cls, meth, inner)

    wrap(CollectionTable, "write")
    wrap(LiveIndex, "apply")
    wrap(Upkeep, "checkpoint")


def _child(args: argparse.Namespace) -> None:
    opts = {
        "phases": args.phases,
        "batch": args.batch,
        "memory_limit": args.memory_limit,
        "threads": args.threads,
    }
    res = run_one(args.one, args.data, args.n, args.dim, opts)
    print("RESULT " + json.dumps(res))


def run_paired(args: argparse.Namespace) -> dict[str, Any]:
    """Every system ``repeats`` times, alternating; returns the raw runs and medians."""
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in args.systems}
    for r in range(args.repeats):
        order = list(args.systems) if r % 2 == 0 else list(reversed(args.systems))
        for system in order:
            cmd = [sys.executable, "-m", "benchmarks.memory", "--one", system]
            cmd += ["--n", str(args.n), "--dim", str(args.dim), "--data", args.data]
            if args.phases:
                cmd.append("--phases")
            if args.batch:
                cmd += ["--batch", str(args.batch)]
            if args.memory_limit:
                cmd += ["--memory-limit", args.memory_limit]
            env = {**os.environ, "OMP_NUM_THREADS": str(args.threads or 1)}
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
            if proc.returncode != 0 or not line:
                print(proc.stdout[-2000:], proc.stderr[-4000:], file=sys.stderr)
                raise SystemExit(f"{system} failed")
            res = json.loads(line[0][len("RESULT ") :])
            runs[system].append(res)
            print(f"# {system} run {r}: {_brief(res)}", file=sys.stderr)
    return {"runs": runs, "summary": summarize(runs)}


def _brief(res: dict[str, Any]) -> str:
    return (
        f"base {res['base']['VmRSS']:.0f} peak {res['peak']['VmRSS']:.0f} "
        f"steady {res['steady']['VmRSS']:.0f} MiB, disk {res['disk'] / 2**20:.0f} MiB, "
        f"build {res['build_s']:.1f} s"
    )


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, float]]:
    """Medians per system, in MiB, plus vecdb's ratios to hnswlib."""
    out: dict[str, dict[str, float]] = {}
    for system, rs in runs.items():
        if rs:
            out[system] = _medians(rs)
    if "vecdb" in out and "hnswlib" in out:
        v, h = out["vecdb"], out["hnswlib"]
        out["ratios"] = {
            "peak": v["peak"] / h["peak"],
            "steady": v["steady"] / h["steady"],
            "peak_over_base": v["peak_over_base"] / h["peak_over_base"],
            "steady_over_base": v["steady_over_base"] / h["steady_over_base"],
            "disk": v["disk"] / h["disk"],
        }
    return out


def _medians(rs: list[dict[str, Any]]) -> dict[str, float]:
    """Medians over one system's runs, in MiB (bytes per vector in bytes)."""
    n = rs[0]["n"]

    def med(f: Any) -> float:
        return float(statistics.median(f(r) for r in rs))

    return {
        "base": med(lambda r: r["base"]["VmRSS"]),
        "peak": med(lambda r: r["peak"]["VmRSS"]),
        "peak_anon": med(lambda r: r["peak"].get("RssAnon", float("nan"))),
        "steady": med(lambda r: r["steady"]["VmRSS"]),
        "steady_anon": med(lambda r: r["steady"]["RssAnon"]),
        "steady_file": med(lambda r: r["steady"]["RssFile"]),
        "peak_over_base": med(lambda r: r["peak"]["VmRSS"] - r["base"]["VmRSS"]),
        "steady_over_base": med(lambda r: r["steady"]["VmRSS"] - r["base"]["VmRSS"]),
        "disk": med(lambda r: r["disk"] / 2**20),
        "build_s": med(lambda r: r["build_s"]),
        "bytes_per_vector_steady": med(
            lambda r: (r["steady"]["VmRSS"] - r["base"]["VmRSS"]) * 2**20 / n
        ),
        "bytes_per_vector_disk": med(lambda r: r["disk"] / n),
    }


def table(summary: dict[str, dict[str, float]]) -> str:
    """The summary as a markdown table."""
    cols = [
        ("base", "base RSS MiB"),
        ("peak", "peak RSS MiB"),
        ("peak_anon", "peak anon MiB"),
        ("steady", "steady RSS MiB"),
        ("steady_anon", "steady anon MiB"),
        ("peak_over_base", "peak − base MiB"),
        ("steady_over_base", "steady − base MiB"),
        ("disk", "disk MiB"),
        ("bytes_per_vector_steady", "B/vector (steady − base)"),
        ("bytes_per_vector_disk", "B/vector disk"),
        ("build_s", "build s"),
    ]
    lines = ["| system | " + " | ".join(c[1] for c in cols) + " |"]
    lines.append("| --- |" + " ---: |" * len(cols))
    for system in SYSTEMS:
        if system in summary:
            s = summary[system]
            lines.append(f"| {system} | " + " | ".join(f"{s[c[0]]:,.1f}" for c in cols) + " |")
    if "ratios" in summary:
        r = summary["ratios"]
        lines.append("")
        lines.append("vecdb / hnswlib: " + ", ".join(f"{k} {v:.2f}×" for k, v in r.items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", default="/work/shared/data/npm-text-20k", help="dir or 'random'")
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--dim", type=int, default=384, help="with --data random")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--systems", default=",".join(SYSTEMS))
    p.add_argument("--phases", action="store_true", help="vecdb: RSS at write boundaries")
    p.add_argument("--batch", type=int, default=0, help="vecdb: rows per add() (0: one call)")
    p.add_argument("--memory-limit", default=None, help="vecdb: connect(memory_limit=...)")
    p.add_argument("--threads", type=int, default=0, help="faiss/OMP threads (0: 1)")
    p.add_argument("--json", default=None, help="write the runs and summary here")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        _child(args)
        return
    args.systems = [s for s in args.systems.split(",") if s]
    res = run_paired(args)
    res["args"] = {k: v for k, v in vars(args).items() if k != "one"}
    print(table(res["summary"]))
    for r in res["runs"].get("vecdb", [])[:1]:
        print("\nvecdb parts (MiB):", json.dumps(r.get("parts_mb")))
        print("vecdb files (MiB):", {k: round(v / 2**20, 1) for k, v in r["files"].items()})
        if r.get("phases"):
            print("vecdb phases (RSS MiB):", [(a, round(b)) for a, b in r["phases"]])
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
