"""Embedding throughput: vecdb's sentence-transformers provider vs the model's own encode().

Run with ``python -m benchmarks.embed --data ../shared/data/npm-text-20k``.

Both sides use the *same* loaded model object (``fn.model``), the same batch size and the
same texts, so the ratio is the cost of vecdb's layer alone (checking the texts, checking
and converting the answer). The texts are cut into chunks; each chunk is embedded once by
each side, consecutive chunks alternate which side goes first, and the whole pass is run
``--passes`` times with the order flipped. Throughput is texts / median chunk time.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def load_texts(data_dir: str, n: int | None) -> list[str]:
    """The ``text`` column of ``docs.parquet`` ('<name>: <summary>' of npm packages)."""
    import pyarrow.parquet as pq

    texts = pq.read_table(Path(data_dir) / "docs.parquet", columns=["text"]).column(0)
    out = texts.to_pylist()
    return out[:n] if n else out


def paired(texts: list[str], chunk: int, passes: int, batch_size: int) -> dict[str, float]:
    """Median per-chunk seconds of ``encode`` and of vecdb's provider, and their ratio."""
    from vecdb.embed import SentenceTransformerEmbedding

    fn = SentenceTransformerEmbedding("all-MiniLM-L6-v2", batch_size=batch_size, progress=False)
    model = fn.model

    def direct(batch: list[str]) -> np.ndarray:
        return model.encode(
            batch, batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True
        )

    warm = texts[: min(len(texts), 2 * batch_size)]
    direct(warm)
    fn(warm)
    clock = time.perf_counter
    raw_t: list[float] = []
    ours_t: list[float] = []
    chunks = [texts[i : i + chunk] for i in range(0, len(texts), chunk)]
    for rep in range(passes):
        for j, batch in enumerate(chunks):
            order = [("raw", direct), ("vecdb", fn)]
            if (j + rep) % 2:
                order.reverse()
            for name, call in order:
                t0 = clock()
                call(batch)
                dt = clock() - t0
                (raw_t if name == "raw" else ours_t).append(dt / len(batch))
    raw, ours = float(np.median(raw_t)), float(np.median(ours_t))
    ratios = np.asarray(raw_t) / np.asarray(ours_t)
    return {
        "texts": len(texts),
        "chunk": chunk,
        "pairs": len(raw_t),
        "raw_tps": 1.0 / raw,
        "vecdb_tps": 1.0 / ours,
        "ratio": raw / ours,
        "pair_ratio_p10": float(np.percentile(ratios, 10)),
        "pair_ratio_p50": float(np.median(ratios)),
        "pair_ratio_p90": float(np.percentile(ratios, 90)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/npm-text-20k")
    ap.add_argument("--n", type=int, default=None, help="first N texts (default: all)")
    ap.add_argument("--chunk", type=int, default=64, help="texts per timed call")
    ap.add_argument("--passes", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (both sides)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    texts = load_texts(args.data, args.n)
    r = paired(texts, args.chunk, args.passes, args.batch_size)
    print(
        f"{r['texts']} texts, chunks of {r['chunk']}, {r['pairs']} pairs, {args.threads} thread(s)"
    )
    print("| encode() texts/s | vecdb texts/s | ratio of medians | pair ratio p10 / p50 / p90 |")
    print("| ---: | ---: | ---: | ---: |")
    print(
        f"| {r['raw_tps']:.0f} | {r['vecdb_tps']:.0f} | {r['ratio']:.3f} | "
        f"{r['pair_ratio_p10']:.3f} / {r['pair_ratio_p50']:.3f} / {r['pair_ratio_p90']:.3f} |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
