"""Recall/QPS sweep: vecdb vs raw hnswlib vs raw faiss (and peers), unfiltered and filtered.

Usage::

    python -m benchmarks.ann --data ../shared/data/siftsmall --quick
    python -m benchmarks.ann --data ../shared/data/glove-50-angular-100k \\
        --sweep ef=16,32,64,128,256 --filters 0.5,0.1,0.01,0.001 \\
        --json glove.json --plot glove.png

Each system is built and measured in its own fresh subprocess (peak RSS is that process's
RSS increase during build, sampled every 5 ms plus the kernel's ru_maxrss). Recall is
tie-aware: a returned id counts when it matches the filter and its true distance (computed
with numpy from the base vectors) is <= the k-th true distance + 1e-3.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from benchmarks.adapters import ADAPTERS, BuildParams
from benchmarks.data import attributes, ground_truth, load_dataset, make_filters
from benchmarks.runner import RunConfig, run_in_subprocess

DEFAULT_SWEEP = {"hnsw": "ef=16,32,64,128,256", "ivf": "nprobe=1,2,4,8,16,32", "exact": ""}
QUICK_SWEEP = {"hnsw": "ef=32,128", "ivf": "nprobe=4,16", "exact": ""}
DEFAULT_FILTERS = "0.5,0.1,0.01,0.001"
QUICK_FILTERS = "0.1,0.01"
ALL_SYSTEMS = ["vecdb", "hnswlib", "faiss", "duckdb-exact", "chromadb", "lancedb"]
QUICK_SYSTEMS = ["vecdb", "hnswlib", "faiss"]


def parse_sweep(text: str) -> tuple[str | None, list[int | None]]:
    """``"ef=16,32"`` -> ``("ef", [16, 32])``; an empty string means one default setting."""
    if not text:
        return None, [None]
    name, _, values = text.partition("=")
    if not values:
        raise argparse.ArgumentTypeError(f"--sweep wants NAME=V1,V2,..., got {text!r}")
    return name.strip(), [int(v) for v in values.split(",") if v.strip()]


def parse_floats(text: str) -> list[float]:
    """``"0.5,0.1"`` -> ``[0.5, 0.1]``; ``""`` or ``"none"`` -> ``[]``."""
    if not text or text.strip().lower() == "none":
        return []
    return [float(v) for v in text.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.ann", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="data set folder (base/queries/groundtruth.npy)")
    p.add_argument("--index", choices=["hnsw", "ivf", "exact"], default="hnsw")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--sweep", default=None, help="e.g. ef=16,32,64,128,256 or nprobe=1,4,16")
    p.add_argument("--filters", default=None, help=f"selectivities (default {DEFAULT_FILTERS})")
    p.add_argument("--no-clustered", action="store_true", help="skip the clustered filter")
    p.add_argument("--quick", action="store_true", help="few settings, 100 queries, no peers")
    p.add_argument("--json", type=Path, default=None, help="write the rows as JSON here")
    p.add_argument("--plot", type=Path, default=None, help="write a recall-vs-QPS PNG here")
    p.add_argument("--systems", default=None, help=f"comma list from {','.join(ALL_SYSTEMS)}")
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--ef-construction", type=int, default=200)
    p.add_argument("--nlist", type=int, default=0, help="IVF lists (default ~4*sqrt(n))")
    p.add_argument("--max-queries", type=int, default=None)
    p.add_argument("--peer-queries", type=int, default=200, help="query cap for slow peers")
    p.add_argument("--time-limit", type=float, default=60.0, help="s per setting, single-query")
    p.add_argument("--repeats", type=int, default=3, help="passes per setting (median QPS)")
    p.add_argument("--in-process", action="store_true", help="no subprocess per system")
    return p


def fmt(v: Any, digits: int = 3) -> str:
    """Format a number for the Markdown tables."""
    if v is None:
        return "–"
    if isinstance(v, float):
        if v != v:
            return "nan"
        if abs(v) >= 100:
            return f"{v:,.0f}"
        return f"{v:.{digits}f}"
    return str(v)


def _knob(row: dict[str, Any]) -> str:
    p = row["params"]
    for name in ("ef", "nprobe"):
        if name in p:
            return f"{name}={p[name]}"
    return "–"


def _filter_label(row: dict[str, Any]) -> str:
    return row["filter"] or "none"


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """All rows, one line per (system, filter, setting)."""
    head = (
        "| system | index | setting | filter | sel | recall@k | QPS (1 thread) | batch QPS | "
        "p50 ms | p99 ms | build s | RSS MB | short |\n"
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    lines = [head]
    for r in sorted(rows, key=lambda r: (-r["selectivity"], _filter_label(r), r["system"])):
        lines.append(
            f"| {r['system']} | {r['index']} | {_knob(r)} | {_filter_label(r)} | "
            f"{r['selectivity']:.3g} | {fmt(r['recall'])} | {fmt(r['qps'])} | "
            f"{fmt(r['batch_qps'])} | {fmt(r['p50_ms'])} | {fmt(r['p99_ms'])} | "
            f"{fmt(r['build_s'], 2)} | {fmt(r['rss_mb'], 1)} | {r['short']} |"
        )
    return "\n".join(lines)


def ratio_table(rows: list[dict[str, Any]], base: str = "vecdb") -> str:
    """vecdb vs the raw libraries at matched settings (same filter, same ef/nprobe)."""
    by: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in rows:
        by[(r["system"], _filter_label(r), _knob(r))] = r
    raws = [s for s in ("hnswlib", "faiss") if any(r["system"] == s for r in rows)]
    head = ["filter", "setting", f"{base} plan", f"{base} recall"] + [f"{s} recall" for s in raws]
    head += [f"{base} QPS"] + [f"{s} QPS" for s in raws]
    head += [f"{base}/{s} QPS" for s in raws]
    head += [f"{base}/{s} batch QPS" for s in raws]
    head += [f"{base} short"] + [f"{s} short" for s in raws]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * 3 + " ---: |" * (len(head) - 3)]
    vrows = [r for r in rows if r["system"] == base]
    vrows.sort(key=lambda r: (-r["selectivity"], _filter_label(r), r["params"].get("ef", 0)))
    for v in vrows:
        key = (_filter_label(v), _knob(v))
        peers = [by.get((s,) + key) for s in raws]
        cells = [key[0], key[1], str(v.get("strategy") or "–"), fmt(v["recall"])]
        cells += [fmt(p["recall"]) if p else "–" for p in peers]
        cells += [fmt(v["qps"])] + [fmt(p["qps"]) if p else "–" for p in peers]
        cells += [f"{v['qps'] / p['qps']:.2f}" if p and p["qps"] else "–" for p in peers]
        cells += [
            f"{v['batch_qps'] / p['batch_qps']:.2f}"
            if p and p.get("batch_qps") and v.get("batch_qps")
            else "–"
            for p in peers
        ]
        cells += [str(v["short"])] + [str(p["short"]) if p else "–" for p in peers]
        lines.append("| " + " | ".join(cells) + " |")
    if not vrows:
        return f"(no {base} rows: ratios unavailable)"
    return "\n".join(lines)


def build_table(rows: list[dict[str, Any]]) -> str:
    """One line per system: build time and peak RSS increase during build."""
    seen: dict[str, dict[str, Any]] = {}
    for r in rows:
        seen.setdefault(r["system"], r)
    lines = [
        "| system | index | build s | RSS increase during build MB | process peak RSS MB |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for s, r in seen.items():
        lines.append(
            f"| {s} | {r['index']} | {fmt(r['build_s'], 2)} | {fmt(r['rss_mb'], 1)} | "
            f"{fmt(r.get('rss_peak_mb'), 1)} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], out: Path, title: str) -> None:
    """Recall-vs-QPS PNG: one panel per filter, one line per system (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    filters: list[str] = []
    for r in sorted(rows, key=lambda r: -r["selectivity"]):
        if _filter_label(r) not in filters:
            filters.append(_filter_label(r))
    ncol = min(3, len(filters))
    nrow = (len(filters) + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(5 * ncol, 4 * nrow), squeeze=False)
    for ax, flt in zip(axes.ravel(), filters, strict=False):
        for system in dict.fromkeys(r["system"] for r in rows):
            pts = [r for r in rows if r["system"] == system and _filter_label(r) == flt]
            pts.sort(key=lambda r: r["recall"])
            if pts:
                ax.plot(
                    [p["recall"] for p in pts], [p["qps"] for p in pts], marker="o", label=system
                )
        ax.set_yscale("log")
        ax.set_xlabel("recall@k")
        ax.set_ylabel("QPS (1 thread)")
        ax.set_title(f"filter: {flt}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    for ax in axes.ravel()[len(filters) :]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Run the sweep; print Markdown; write JSON and the plot when asked."""
    args = build_parser().parse_args(argv)
    quick = args.quick
    sweep_text = args.sweep
    if sweep_text is None:
        sweep_text = (QUICK_SWEEP if quick else DEFAULT_SWEEP)[args.index]
    knob_name, knobs = parse_sweep(sweep_text)
    if args.index == "exact":
        knobs = [None]
    filters_text = args.filters if args.filters is not None else (
        QUICK_FILTERS if quick else DEFAULT_FILTERS
    )  # fmt: skip
    sels = parse_floats(filters_text)
    systems = (
        [s.strip() for s in args.systems.split(",") if s.strip()]
        if args.systems
        else (QUICK_SYSTEMS if quick else ALL_SYSTEMS)
    )
    for s in systems:
        if s not in ADAPTERS:
            raise SystemExit(f"unknown system {s!r}; choose from {', '.join(ADAPTERS)}")
    max_q = args.max_queries if args.max_queries is not None else (100 if quick else None)
    time_limit = min(args.time_limit, 10.0) if quick else args.time_limit

    ds = load_dataset(args.data, max_q)
    bp = BuildParams(
        index=args.index,
        m=args.m,
        ef_construction=args.ef_construction,
        nlist=args.nlist,
        ef_search=knobs[len(knobs) // 2] if knob_name == "ef" and knobs[0] else 64,
    )
    log = sys.stderr
    print(
        f"# {ds.name}: n={ds.n} d={ds.dim} metric={ds.metric} queries={len(ds.queries)} "
        f"k={args.k} index={args.index} {sweep_text}",
        file=log,
    )
    # attributes and exact filtered ground truth, computed once and cached for the workers
    attrs = attributes(ds)
    flts = make_filters(ds, attrs, sels, clustered=not args.no_clustered)
    for f in [None, *flts]:
        ground_truth(ds, args.k, f)
    for f in flts:
        print(f"#   filter {f.where}: {int(f.mask.sum())} rows ({f.selectivity:.3%})", file=log)

    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    for system in systems:
        slow_peer = system in ("duckdb-exact", "chromadb", "lancedb")
        cfg = RunConfig(
            data=str(args.data),
            system=system,
            k=args.k,
            knobs=knobs,
            selectivities=sels,
            clustered=not args.no_clustered,
            build=bp,
            max_queries=min(args.peer_queries, max_q or args.peer_queries) if slow_peer else max_q,
            time_limit_s=time_limit,
            repeats=1 if quick else args.repeats,
        )
        print(f"# running {system} ...", file=log, flush=True)
        res = run_in_subprocess(cfg, fresh_process=not args.in_process)
        if "skipped" in res:
            msg = f"{system}: skipped ({res['skipped']})"
            skipped.append(msg)
            print(f"#   {msg}", file=log)
        elif "error" in res:
            msg = f"{system}: FAILED ({res['error']})"
            skipped.append(msg)
            print(f"#   {msg}\n{res.get('traceback', '')}", file=log)
        else:
            rows.extend(res["rows"])
            r0 = res["rows"][0]
            print(f"#   built in {r0['build_s']:.2f} s, +{r0['rss_mb']:.1f} MB RSS", file=log)

    date = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    cmd = "python -m benchmarks.ann " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"## {ds.name} ({ds.n} x {ds.dim}, {ds.metric}), k={args.k}, index={args.index}\n")
    print(
        f"{date}; {platform.machine()} {os.cpu_count()} cores; Python {platform.python_version()};"
        f" `{cmd}`\n"
    )
    print("### vecdb vs raw libraries at matched settings\n")
    print(ratio_table(rows) + "\n")
    print("### Build\n")
    print(build_table(rows) + "\n")
    print("### All rows\n")
    print(markdown_table(rows) + "\n")
    for msg in skipped:
        print(f"- {msg}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1))
    if args.plot and rows:
        plot(rows, args.plot, f"{ds.name}, k={args.k}, {args.index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
