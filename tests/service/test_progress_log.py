"""`vecdb serve` reports long work as log lines, not bars: rebuilding an index at open and a
bulk upsert each log a start line and a 100% line on the ``vecdb.progress`` logger, and
``VECDB_PROGRESS=0`` silences them."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import vecdb
from vecdb.progress import MIN_ITEMS

N = MIN_ITEMS + 2_000
BANNER = re.compile(r"vecdb serving grpc=(\S+):(\d+) http=")


def _serve(data: Path, env_progress: str | None) -> tuple[subprocess.Popen[str], list[str], str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    env.pop("VECDB_API_KEY", None)
    env.pop("VECDB_PROGRESS", None)
    if env_progress is not None:
        env["VECDB_PROGRESS"] = env_progress
    proc = subprocess.Popen(
        [sys.executable, "-m", "vecdb", "serve", "--data", str(data)]
        + ["--grpc-port", "0", "--http-port", "0", "--log-level", "INFO"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        m = BANNER.search(line)
        if m:
            return proc, seen, f"grpc://{m.group(1)}:{m.group(2)}"
    proc.kill()
    raise AssertionError("server did not start:\n" + "".join(seen))


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    return out


@pytest.mark.parametrize("env_progress", [None, "0"])
def test_serve_logs_progress_lines(tmp_path: Path, env_progress: str | None) -> None:
    data = tmp_path / "data"
    rng = np.random.default_rng(0)
    with vecdb.connect(data, progress=False) as db:
        c = db.create_collection("c", dim=4, metric="l2", index="ivf")
        c.upsert(np.arange(N), rng.normal(size=(N, 4)).astype(np.float32))
    shutil.rmtree(data / "index" / "c")  # the server's open rebuilds the index
    proc, seen, url = _serve(data, env_progress)
    try:
        client = vecdb.connect(url)
        big = client.create_collection("big", dim=4, metric="l2", index="exact")
        big.upsert(list(range(N)), rng.normal(size=(N, 4)).astype(np.float32))
        client.close()
    finally:
        out = "".join(seen) + _stop(proc)
    lines = [ln for ln in out.splitlines() if "vecdb.progress" in ln]
    if env_progress == "0":
        assert lines == [], lines
        return
    for what in ("c: loading", "c: indexing", "big: writing", "big: indexing"):
        assert any(f"{what}: 0/{N} rows" in ln for ln in lines), (what, out)
        assert any(f"{what}: {N}/{N} rows (100%) in " in ln for ln in lines), (what, out)
    assert "\r" not in out and "it/s" not in out  # lines, never a bar
