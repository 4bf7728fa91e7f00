"""Fixtures for the LangChain/LlamaIndex store tests: a small deterministic embedding and a
real ``vecdb serve`` subprocess on ephemeral ports (stopped by the fixture)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

BANNER = re.compile(r"vecdb serving grpc=(\S+):(\d+) http=(\S+) docs=(\S+)")


def bag_of_words(texts: list[str], dim: int = 16) -> np.ndarray:
    """A deterministic text embedding: hashed word counts plus a floor (never zero)."""
    out = np.full((len(texts), dim), 0.05, dtype=np.float32)
    for i, t in enumerate(texts):
        for w in re.findall(r"\w+", t.lower()):
            out[i, zlib.crc32(w.encode()) % dim] += 1.0
    return out


class Server:
    """``vecdb serve`` in a subprocess; ``grpc`` and ``http`` are its URLs."""

    def __init__(self, data: Path) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("VECDB_API_KEY", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vecdb", "serve", "--data", str(data), "--host", "127.0.0.1"]
            + ["--grpc-port", "0", "--http-port", "0", "--log-level", "WARNING"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        deadline = time.monotonic() + 90
        seen: list[str] = []
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            m = BANNER.search(line)
            if m:
                self.grpc = f"grpc://{m.group(1)}:{m.group(2)}"
                self.http = m.group(3)
                return
        self.proc.kill()
        raise AssertionError("vecdb serve did not start:\n" + "".join(seen))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.communicate()


@pytest.fixture(scope="session")
def vecdb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the session's remote store tests."""
    server = Server(tmp_path_factory.mktemp("serve") / "data")
    yield server
    server.stop()
