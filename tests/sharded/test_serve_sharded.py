"""A sharded database behind the same gRPC and REST server; ``vecdb serve --shards``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import vecdb
from tests.service.test_serve_e2e import start, stop
from vecdb_server.config import ServerConfig
from vecdb_server.main import VecdbServer


def test_server_over_shards_reports_per_shard_metrics(pair: tuple[Any, Any]) -> None:
    from tests.service.conftest import RestDatabase

    _, db = pair  # the session's 2-shard database (new shard actors cost seconds)
    srv = VecdbServer(db, ServerConfig(grace_s=1)).start()
    try:
        rng = np.random.default_rng(2)
        vecs = rng.normal(size=(300, 8)).astype(np.float32)
        remote: Any = vecdb.connect(srv.grpc_url)
        c = remote.create_collection("served", dim=8, metric="l2", index="exact")
        assert c.upsert(ids=list(range(300)), vectors=vecs) == 300
        assert [h.id for h in c.search(vecs[17], k=3)][0] == 17
        rest = RestDatabase(srv.http_url)
        assert rest.get_collection("served").count() == 300
        assert [h.id for h in rest.get_collection("served").search(vecs[40], k=1)] == [40]
        text = httpx.get(f"{srv.http_url}/metrics").text
        rows = {
            line.split("shard=")[1][1]: int(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("vecdb_shard_rows{") and 'collection="served"' in line
        }
        assert set(rows) == {"0", "1"} and sum(rows.values()) == 300
        assert 'vecdb_shard_calls_total{shard="1"}' in text
        assert "vecdb_shard_busy_seconds_total" in text
        # documents and full-text search through the server, over both shards
        t = remote.create_collection("served_text", dim=8, metric="l2", fulltext=True)
        docs = ["ray shards", "duckdb rows", "ray ray actors", "bm25 ranks ray"]
        assert t.upsert(ids=[1, 2, 3, 4], vectors=vecs[:4], documents=docs) == 4
        assert {h.id for h in t.search("ray", k=5, mode="fulltext")} == {1, 3, 4}
        got = rest.get_collection("served_text").search(
            "ray", k=2, mode="fulltext", include=["document"]
        )
        assert [h.id for h in got] == [3, 1] and got[0].row == {"document": "ray ray actors"}
        remote.close()
        rest.close()
    finally:
        srv.stop(grace=1)
        db.drop_collection("served", missing_ok=True)
        db.drop_collection("served_text", missing_ok=True)


@pytest.mark.slow
def test_vecdb_serve_shards_cli(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc, grpc_url, http_url = start(data, "--shards", "2")
    try:
        with vecdb.connect(grpc_url) as db:
            c = db.create_collection("docs", dim=4, metric="l2", index="exact")
            assert c.upsert(ids=list(range(50)), vectors=np.eye(4)[np.arange(50) % 4]) == 50
            assert c.count() == 50
        assert "vecdb_shard_rows" in httpx.get(f"{http_url}/metrics").text
    finally:
        out = stop(proc)
    assert "vecdb stopped" in out
    assert (data / "vecdb-shards.json").exists() and (data / "shard-1").is_dir()
