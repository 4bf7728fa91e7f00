"""A full disk under a running server: writes get a clear ResourceExhaustedError and change
nothing, /healthz says 503 with the reason, everything recovers when space returns, and
nothing acknowledged is lost (a small tmpfs; needs root to mount it)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import vecdb
from tests.service.conftest import running_server
from vecdb.errors import ResourceExhaustedError
from vecdb_server.config import ServerConfig


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(mnt)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_is_reported_and_recovers(small_disk: Path) -> None:
    data = small_disk / "data"
    filler = small_disk / "filler"
    rng = np.random.default_rng(0)
    acked: list[int] = []
    cfg = ServerConfig(grace_s=1, min_free_bytes=1024 * 1024)
    with running_server(data, cfg) as srv:
        client: Any = vecdb.connect(srv.grpc_url)
        docs = client.create_collection("docs", dim=32, columns={"t": "VARCHAR"})
        assert httpx.get(srv.http_url + "/healthz").status_code == 200
        # take the space, leaving a little for the first writes
        free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
        with open(filler, "wb") as f:
            f.write(b"\0" * max(0, free - 2 * 1024 * 1024))
        failed = None
        for start in range(0, 200_000, 500):
            ids = list(range(start, start + 500))
            try:
                docs.upsert(
                    ids=ids,
                    vectors=rng.normal(size=(500, 32)).astype("float32"),
                    rows=[{"t": "x" * 100}] * 500,
                )
            except ResourceExhaustedError as e:
                failed = e
                break
            acked.extend(ids)
        assert failed is not None and "disk" in str(failed).lower()
        r = httpx.get(srv.http_url + "/healthz")
        assert r.status_code == 503 and "disk" in r.json()["reason"]
        # the failed write changed nothing: counts agree with what was acknowledged
        assert docs.count() == len(acked)
        assert client.sql("SELECT count(*) FROM docs").fetchall() == [(len(acked),)]
        # space returns: health recovers and writes succeed again, no restart needed
        filler.unlink()
        assert httpx.get(srv.http_url + "/healthz").status_code == 200
        docs.upsert(ids=[10**9], vectors=np.ones((1, 32), np.float32), rows=[{"t": "after"}])
        acked.append(10**9)
        client.close()
    with vecdb.connect(str(data)) as db:
        coll = db.get_collection("docs")
        assert coll.count() == len(acked)
        got = {r.id for r in coll.get([acked[0], acked[-2], 10**9])}
        assert got == {acked[0], acked[-2], 10**9}
