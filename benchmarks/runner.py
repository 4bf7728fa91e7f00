"""Measure one system: build (time, peak RSS) and sweep (recall, QPS, latency, short rows).

:func:`run_system` is meant to run in a fresh subprocess per system (see
:func:`run_in_subprocess`), so that the peak-RSS figure belongs to that system alone and
libraries' thread pools and allocators do not leak between systems.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import resource
import sys
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from benchmarks.adapters import ADAPTERS, Adapter, BuildParams
from benchmarks.data import FilterSpec, Truth, attributes, ground_truth, load_dataset, make_filters
from benchmarks.data import recall_at_k as _recall

#: peers that always scan exactly, whatever ``--index`` says
EXACT_PEERS = ("duckdb-exact", "lancedb")


@dataclass
class RunConfig:
    """Everything a worker needs to reproduce one system's measurements."""

    data: str
    system: str
    k: int = 10
    knobs: list[int | None] = field(default_factory=lambda: [None])
    selectivities: list[float] = field(default_factory=list)
    clustered: bool = True
    build: BuildParams = field(default_factory=BuildParams)
    max_queries: int | None = None
    warmup: int = 10
    time_limit_s: float = 60.0
    batch: bool = True
    #: stop the knob sweep of a filter once recall reaches this (scale runs)
    stop_recall: float | None = None
    #: passes over the query set per setting (median QPS reported)
    repeats: int = 1


class RssSampler:
    """Sample this process's RSS every few ms in a thread; ``peak_mb`` is the maximum seen."""

    def __init__(self, interval: float = 0.005) -> None:
        import psutil

        self.proc = psutil.Process()
        self.interval = interval
        self.start_mb = self._rss()
        self.peak_mb = self.start_mb
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> float:
        return self.proc.memory_info().rss / 2**20

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_mb = max(self.peak_mb, self._rss())

    def __enter__(self) -> RssSampler:
        self._maxrss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.end_mb = self._rss()
        self.peak_mb = max(self.peak_mb, self.end_mb)
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        if maxrss > self._maxrss0:  # the kernel saw a higher peak than the sampler did
            self.peak_mb = max(self.peak_mb, maxrss)


def measure_setting(
    adapter: Adapter,
    queries: np.ndarray,
    k: int,
    time_limit_s: float,
    warmup: int,
    batch: bool,
    repeats: int = 1,
) -> dict[str, Any]:
    """Time single queries (one calling thread) and one batch call at the prepared setting.

    The query set is run ``repeats`` times (while the ``time_limit_s`` budget lasts); QPS is
    the median over complete passes, p50/p99 come from that median pass, recall from the
    first pass. The batch call is timed ``repeats`` times too and its median reported.
    """
    for q in queries[: min(warmup, len(queries))]:
        adapter.search(q, k)
    found: list[np.ndarray] = []
    passes: list[np.ndarray] = []
    t_start = time.perf_counter()
    for r in range(max(1, repeats)):
        if r and time.perf_counter() - t_start > time_limit_s / 2:
            break  # not enough budget left for another full pass
        adapter.excluded_s = 0.0
        lat: list[float] = []
        for q in queries:
            before = adapter.excluded_s
            t0 = time.perf_counter()
            ids = adapter.search(q, k)
            lat.append(time.perf_counter() - t0 - (adapter.excluded_s - before))
            if r == 0:
                found.append(ids)
            if time.perf_counter() - t_start > time_limit_s:
                break
        if r == 0 or len(lat) == len(passes[0]):
            passes.append(np.asarray(lat))
        if len(lat) < len(queries):
            break
    qps = [len(p) / p.sum() if p.sum() > 0 else float("inf") for p in passes]
    mid = passes[int(np.argsort(qps)[len(qps) // 2])]
    out: dict[str, Any] = {
        "found": found,
        "n_queries": len(found),
        "qps": float(np.median(qps)),
        "p50_ms": float(np.percentile(mid, 50) * 1e3),
        "p99_ms": float(np.percentile(mid, 99) * 1e3),
        "passes": len(passes),
        "batch_qps": None,
        "batch_recall_found": None,
    }
    single_s = time.perf_counter() - t_start
    # the batch call has no time limit of its own: skip it when single queries were slow
    if batch and len(found) == len(queries) and single_s <= time_limit_s / 2:
        times: list[float] = []
        for _ in range(max(1, repeats)):
            t0 = time.perf_counter()
            res = adapter.search_batch(queries, k)
            times.append(time.perf_counter() - t0)
            if res is None:
                break
            if out["batch_recall_found"] is None:
                out["batch_recall_found"] = res
        if out["batch_recall_found"] is not None:
            dt = float(np.median(times))
            out["batch_qps"] = float(len(queries) / dt) if dt > 0 else float("inf")
    return out


def run_system(cfg: RunConfig) -> dict[str, Any]:
    """Build one system and sweep it; returns ``{"rows": [...]}`` or ``{"skipped": reason}``."""
    cls = ADAPTERS[cfg.system]
    reason = cls.available()
    if reason is not None:
        return {"skipped": reason}
    if cfg.build.index not in cls.kinds:
        return {"skipped": f"{cfg.system} has no {cfg.build.index} index"}
    ds = load_dataset(cfg.data, cfg.max_queries)
    attrs = attributes(ds)
    filters: list[FilterSpec | None] = [None]
    filters += make_filters(ds, attrs, cfg.selectivities, cfg.clustered)
    truths: dict[str | None, Truth] = {
        (f.name if f else None): ground_truth(ds, cfg.k, f) for f in filters
    }
    adapter = cls()
    try:
        with RssSampler() as rss:
            t0 = time.perf_counter()
            adapter.build(ds, attrs, cfg.build)
            build_s = time.perf_counter() - t0
        rss_mb = rss.peak_mb - rss.start_mb
        rss_after_mb = rss.end_mb - rss.start_mb
        rows: list[dict[str, Any]] = []
        knobs = [None] if cls.fixed_knob or cfg.build.index == "exact" else cfg.knobs
        knob_name = {"hnsw": "ef", "ivf": "nprobe"}.get(cfg.build.index)
        for flt in filters:
            truth = truths[flt.name if flt else None]
            for knob in knobs:
                adapter.prepare(flt, knob)
                m = measure_setting(
                    adapter, ds.queries, cfg.k, cfg.time_limit_s, cfg.warmup, cfg.batch,
                    cfg.repeats,
                )  # fmt: skip
                n = m["n_queries"]
                mask = flt.mask if flt is not None else None
                rec = _recall(
                    m["found"], ds.base, ds.queries[:n], ds.metric, truth.kth_dist[:n],
                    truth.n_allowed, cfg.k, mask,
                )  # fmt: skip
                want = min(cfg.k, truth.n_allowed)
                params = dict(cfg.build.describe(ds.n))
                if knob is not None and knob_name:
                    params[knob_name] = knob
                if cls.fixed_knob and cfg.system == "chromadb":
                    params["ef"] = cfg.build.ef_search
                batch_recall = None
                if m["batch_recall_found"] is not None:
                    batch_recall = _recall(
                        m["batch_recall_found"], ds.base, ds.queries, ds.metric,
                        truth.kth_dist, truth.n_allowed, cfg.k, mask,
                    )  # fmt: skip
                rows.append(
                    {
                        "system": cfg.system,
                        "index": "exact" if cfg.system in EXACT_PEERS else cfg.build.index,
                        "params": params,
                        "filter": flt.where if flt is not None else None,
                        "selectivity": flt.selectivity if flt is not None else 1.0,
                        "recall": rec,
                        "qps": m["qps"],
                        "p50_ms": m["p50_ms"],
                        "p99_ms": m["p99_ms"],
                        "build_s": build_s,
                        "rss_mb": rss_mb,
                        "short": int(sum(len(f) < want for f in m["found"])),
                        "batch_qps": m["batch_qps"],
                        "batch_recall": batch_recall,
                        "n_queries": n,
                        "passes": m["passes"],
                        "k": cfg.k,
                        "dataset": ds.name,
                        "rss_peak_mb": rss.peak_mb,
                        "rss_after_mb": rss_after_mb,
                        **adapter.info(ds.queries[0], cfg.k),
                    }
                )
                if cfg.stop_recall is not None and rec >= cfg.stop_recall:
                    break
        return {"rows": rows}
    finally:
        adapter.close()


def _safe_run(cfg_dict: dict[str, Any]) -> dict[str, Any]:
    bp = BuildParams(**cfg_dict.pop("build"))
    cfg = RunConfig(build=bp, **cfg_dict)
    try:
        return run_system(cfg)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}


def run_in_subprocess(cfg: RunConfig, fresh_process: bool = True) -> dict[str, Any]:
    """Run :func:`run_system` in a fresh spawned process (or in this one when not fresh)."""
    d = asdict(cfg)
    if not fresh_process:
        return _safe_run(d)
    ctx = mp.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        try:
            return pool.submit(_safe_run, d).result()
        except Exception as exc:  # worker died (OOM, segfault)
            return {"error": f"worker died: {type(exc).__name__}: {exc}"}


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use python -m benchmarks.ann")
