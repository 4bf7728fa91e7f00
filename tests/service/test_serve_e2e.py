"""``vecdb serve`` as a real process: ephemeral ports, load, SIGTERM, restart, every row."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

import vecdb

BANNER = re.compile(r"vecdb serving grpc=(\S+):(\d+) http=(\S+) docs=(\S+)")


def start(data: Path, *extra: str) -> tuple[subprocess.Popen[str], str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("VECDB_API_KEY", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "vecdb", "serve", "--data", str(data)]
        + ["--grpc-port", "0", "--http-port", "0", "--log-level", "WARNING", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 60
    seen = []
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        m = BANNER.search(line)
        if m:
            return proc, f"grpc://{m.group(1)}:{m.group(2)}", m.group(3)
    proc.kill()
    raise AssertionError("server did not start:\n" + "".join(seen))


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    return out


def test_serve_sigterm_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(1000, 16)).astype(np.float32)
    proc, grpc_url, http_url = start(data)
    try:
        db: Any = vecdb.connect(grpc_url)
        c = db.create_collection("docs", dim=16, columns={"n": "INTEGER"})
        # bulk over streaming gRPC, in several atomic calls
        for lo in range(0, 900, 300):
            ids = list(range(lo, lo + 300))
            assert c.upsert(ids=ids, vectors=vecs[lo : lo + 300], rows=[{"n": i} for i in ids])
        # the rest over REST
        r = httpx.post(
            f"{http_url}/v1/collections/docs/upsert",
            json={
                "ids": list(range(900, 1000)),
                "vectors": vecs[900:].tolist(),
                "rows": [{"n": i} for i in range(900, 1000)],
            },
        )
        assert r.status_code == 200, r.text
        assert c.count() == 1000
        assert httpx.get(f"{http_url}/healthz").json() == {"status": "ok"}
        db.close()
    finally:
        out = stop(proc)
    assert "vecdb stopped" in out

    proc, grpc_url, http_url = start(data)
    try:
        with vecdb.connect(grpc_url) as db:
            c = db.get_collection("docs")
            assert c.count() == 1000
            recs = c.get(list(range(1000)))
            assert [r.id for r in recs] == list(range(1000))
            np.testing.assert_allclose(np.stack([r.vector for r in recs]), vecs, rtol=1e-6)
            assert [r.row["n"] for r in recs] == list(range(1000))
            hits = c.search(vecs[123], k=1)
            assert hits[0].id == 123
    finally:
        stop(proc)


def test_busy_port_is_one_line_naming_the_flag(tmp_path: Path) -> None:
    """A taken port: no traceback, one line on stderr naming the flag to change, exit 2."""
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = str(holder.getsockname()[1])
        for flag, other in (("--grpc-port", "--http-port"), ("--http-port", "--grpc-port")):
            proc = subprocess.run(
                [sys.executable, "-m", "vecdb", "serve", "--data", str(tmp_path / "d")]
                + [flag, busy, other, "0", "--log-level", "WARNING"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert proc.returncode == 2, (flag, proc.stdout, proc.stderr)
            lines = proc.stderr.strip().splitlines()
            assert len(lines) == 1, (flag, proc.stderr)
            assert "Traceback" not in proc.stderr + proc.stdout
            assert flag in lines[0] and busy in lines[0], lines[0]
            assert "vecdb serving" not in proc.stdout
    # the data directory was released: a server starts on it right away
    proc2, _, _ = start(tmp_path / "d")
    stop(proc2)
