"""The read-only key, the key checked before anything else, /metrics behind the key, and a
deadline on every statement (issue: confined SQL and API keys that hold)."""

from __future__ import annotations

import time
from typing import Any

import grpc
import httpx
import numpy as np
import pytest

import vecdb
from tests.service.conftest import RestDatabase
from vecdb.errors import (
    InvalidArgumentError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnauthenticatedError,
)
from vecdb.sql import run
from vecdb_server.config import ServerConfig

FULL, RO = "full-key-123", "read-only-456"

#: writes the regex classifier let through as reads, and plain ones; the read-only key must
#: be refused for each, on both transports, and nothing may change
WRITES = [
    "DELETE FROM docs WHERE id = 1",
    "/* /* */ SELECT 1 */ DELETE FROM docs WHERE id = 1",
    "WITH x AS (SELECT $t$ $$ $t$ AS s) DELETE FROM docs WHERE id = 1 AND '$$'='$$'",
    "SELECT 1 AS `--`; DELETE FROM docs",
    "/* /* */ SELECT 1 */ DROP TABLE docs",
    "/* /* */ SELECT 1 */ CREATE INDEX i ON docs USING IVF (vec) WITH (nlist = 2)",
    "CREATE INDEX i ON docs USING HNSW (vec)",
    "INSERT INTO docs VALUES (99, 1, [1, 0, 0, 0])",
    "UPDATE docs SET year = 0",
    "CREATE TABLE t AS SELECT 1 AS a",
    "DROP TABLE docs",
    "TRUNCATE docs",
    "EXPLAIN ANALYZE DELETE FROM docs",
    "explain /**/ analyze delete from docs",
    "WITH d AS (DELETE FROM docs RETURNING id) SELECT * FROM d",
]


@pytest.fixture
def keyed(tmp_path: Any, server_factory: Any) -> Any:
    cfg = ServerConfig(api_key=FULL, read_only_key=RO, grace_s=2, request_timeout_s=1.0)
    with server_factory(tmp_path / "d", cfg) as srv:
        with vecdb.connect(srv.grpc_url, api_key=FULL) as db:
            c = db.create_collection("docs", dim=4, columns={"year": "INTEGER"})
            c.upsert(
                ids=list(range(10)),
                vectors=np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32),
                rows=[{"year": 2000 + i} for i in range(10)],
            )
        yield srv


def _state(srv: Any) -> Any:
    cur = srv.db._cursor()
    return (
        cur.execute("SELECT * FROM _vecdb.collections ORDER BY ALL").fetchall(),
        cur.execute("SELECT id, year FROM docs ORDER BY id").fetchall(),
        cur.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall(),
        srv.db.get_collection("docs").count(),
        srv.db.get_collection("docs").index_kind,
    )


@pytest.mark.parametrize("statement", WRITES)
def test_read_only_key_cannot_write(keyed: Any, statement: str) -> None:
    before = _state(keyed)
    clients = [vecdb.connect(keyed.grpc_url, api_key=RO), RestDatabase(keyed.http_url, RO)]
    for db in clients:
        with pytest.raises(PermissionDeniedError):
            db.sql(statement)
        db.close()
    assert _state(keyed) == before


def test_read_only_key_reads(keyed: Any) -> None:
    for db in (vecdb.connect(keyed.grpc_url, api_key=RO), RestDatabase(keyed.http_url, RO)):
        assert db.sql("SELECT count(*) FROM docs").fetchall() == [(10,)]
        q = [1.0, 0.0, 0.0, 0.0]
        ids = db.sql(
            "SELECT id, year FROM docs WHERE year > 2003 ORDER BY cosine(vec, $q) LIMIT 3",
            {"q": q},
        ).fetchall()
        assert len(ids) == 3 and all(y > 2003 for _, y in ids)
        assert len(db.sql("DESCRIBE docs").fetchall()) == 3
        db.close()


def test_misclassified_write_is_still_rolled_back(tmp_path: Any, monkeypatch: Any) -> None:
    """If the classification were wrong, the read-only transaction still refuses the write."""
    db = vecdb.connect(str(tmp_path / "d"), confined=True)
    db.sql("CREATE TABLE plain (a INTEGER)")
    db.sql("INSERT INTO plain VALUES (1), (2)")
    c = db.create_collection("docs", dim=2)
    c.upsert(ids=[1, 2], vectors=[[1, 0], [0, 1]])
    # break both classification layers on purpose
    # (both now live in one function: the statement kind and the plan's class)
    monkeypatch.setattr(run, "check_read_only", lambda statement, p: None)
    for stmt in ("DELETE FROM plain", "INSERT INTO plain VALUES (3)", "CREATE TABLE x (a INT)"):
        with pytest.raises(PermissionDeniedError):
            db.sql(stmt, read_only=True)
    with pytest.raises(Exception):  # noqa: B017 - any refusal; the point is what follows
        db.sql("DELETE FROM docs WHERE id = 1", read_only=True)
    assert db.sql("SELECT count(*) FROM plain").fetchall() == [(2,)]
    assert c.count() == 2 and db.sql("SELECT count(*) FROM docs").fetchall() == [(2,)]
    assert [t[0] for t in db.sql("SHOW TABLES").fetchall()] == ["docs", "plain"]
    db.close()


def test_grpc_checks_the_key_before_decoding(keyed: Any) -> None:
    channel = grpc.insecure_channel(f"127.0.0.1:{keyed.grpc_port}")
    call = channel.unary_unary("/vecdb.rpc.v1.Vecdb/Search")
    for meta in ((), (("authorization", "Bearer wrong"),)):
        with pytest.raises(grpc.RpcError) as info:
            call(b"\xff\xff\xff garbage", metadata=meta, timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as info:
        call(b"\xff\xff\xff garbage", metadata=(("authorization", f"Bearer {RO}"),), timeout=5)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    channel.close()


def test_rest_checks_the_key_before_the_body(keyed: Any) -> None:
    url = keyed.http_url
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        r = httpx.post(f"{url}/v1/sql", content=b"{not json", headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHENTICATED"
        big = httpx.post(f"{url}/v1/collections/docs/upsert", content=b"x" * 10, headers=headers)
        assert big.status_code == 401
    # lower-case scheme and extra spaces are accepted
    r = httpx.get(f"{url}/v1/collections", headers={"Authorization": f"bearer   {RO}"})
    assert r.status_code == 200
    r = httpx.post(f"{url}/v1/sql", content=b"{not json", headers={"Authorization": f"Bearer {RO}"})
    assert r.status_code == 400
    assert httpx.get(f"{url}/healthz").status_code == 200


def test_metrics_need_the_key(keyed: Any, tmp_path: Any, server_factory: Any) -> None:
    url = keyed.http_url
    r = httpx.get(f"{url}/metrics")
    assert r.status_code == 401 and "docs" not in r.text
    r = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {RO}"})
    assert r.status_code == 200 and "docs" in r.text
    cfg = ServerConfig(api_key=FULL, metrics_public=True, grace_s=2)
    with server_factory(tmp_path / "open", cfg) as srv:
        assert httpx.get(f"{srv.http_url}/metrics").status_code == 200
        assert httpx.get(f"{srv.http_url}/v1/collections").status_code == 401


def test_unauthenticated_is_the_same_on_both_transports(keyed: Any) -> None:
    with vecdb.connect(keyed.grpc_url, api_key="nope") as db, pytest.raises(UnauthenticatedError):
        db.sql("SELECT 1")
    rest = RestDatabase(keyed.http_url, "nope")
    with pytest.raises(UnauthenticatedError):
        rest.sql("SELECT 1")
    rest.close()


LONG_WRITE = (
    "CREATE TABLE big AS SELECT count(*) AS n FROM range(100000000) a, range(100000000) b "
    "WHERE a.range + b.range = -1"
)


def test_long_write_hits_the_deadline_and_the_server_answers(keyed: Any) -> None:
    for db in (vecdb.connect(keyed.grpc_url, api_key=FULL), RestDatabase(keyed.http_url, FULL)):
        t0 = time.monotonic()
        with pytest.raises(ResourceExhaustedError, match="request_timeout_s"):
            db.sql(LONG_WRITE)
        assert time.monotonic() - t0 < 20
        t1 = time.monotonic()
        assert db.sql("SELECT count(*) FROM docs").fetchall() == [(10,)]
        assert time.monotonic() - t1 < 5
        db.close()
    tables = keyed.db._cursor().execute("SELECT table_name FROM duckdb_tables()").fetchall()
    assert ("big",) not in tables


@pytest.mark.parametrize(
    "ctype",
    ["INTEGER, evil INTEGER", "INTEGER) --", "INT; DROP TABLE docs", "INTEGER /* */, x INT"],
)
def test_column_types_are_parsed_not_filtered(keyed: Any, ctype: str) -> None:
    """A column type must be exactly one DuckDB type, on every transport; nothing is made."""
    before = _state(keyed)
    clients = [
        vecdb.connect(keyed.grpc_url, api_key=FULL),
        RestDatabase(keyed.http_url, FULL),
    ]
    for db in (*clients, keyed.db):
        with pytest.raises(InvalidArgumentError, match="not one DuckDB type"):
            db.create_collection("evil", dim=2, columns={"x": ctype})
    for db in clients:
        db.close()
    assert _state(keyed) == before
    c = keyed.db.create_collection("fine", dim=2, columns={"x": "varchar[]"})
    assert c.describe()["columns"] == {"x": "VARCHAR[]"}
    keyed.db.drop_collection("fine")
