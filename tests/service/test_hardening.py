"""Auth, read-only keys, limits, malformed input, health, metrics and concurrency: right
status codes, and the server keeps answering afterwards."""

from __future__ import annotations

import threading
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import vecdb
from vecdb.errors import (
    InvalidArgumentError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnauthenticatedError,
)
from vecdb_server.config import ServerConfig

DIM = 4
FULL, RO = "full-key-123", "read-only-456"


def seed(srv: Any, key: str | None = FULL, n: int = 20) -> None:
    with vecdb.connect(srv.grpc_url, api_key=key) as db:
        c = db.create_collection("docs", dim=DIM, columns={"year": "INTEGER"}, exist_ok=True)
        rng = np.random.default_rng(1)
        c.upsert(
            ids=list(range(n)),
            vectors=rng.normal(size=(n, DIM)).astype(np.float32),
            rows=[{"year": 2000 + i} for i in range(n)],
        )


def still_answers(srv: Any, key: str | None = None) -> None:
    with vecdb.connect(srv.grpc_url, api_key=key) as db:
        assert db.get_collection("docs").count() >= 0
    h = {"Authorization": f"Bearer {key}"} if key else {}
    assert httpx.get(f"{srv.http_url}/v1/collections", headers=h).status_code == 200


# --------------------------------------------------------------------------- auth


@pytest.fixture
def auth_server(tmp_path: Any, server_factory: Any) -> Any:
    cfg = ServerConfig(api_key=FULL, read_only_key=RO, grace_s=2)
    with server_factory(tmp_path / "d", cfg) as srv:
        seed(srv)
        yield srv


def test_grpc_auth(auth_server: Any) -> None:
    srv = auth_server
    for key in (None, "wrong", FULL + "x"):
        with vecdb.connect(srv.grpc_url, api_key=key) as db:
            with pytest.raises(UnauthenticatedError):
                db.list_collections()
    with vecdb.connect(srv.grpc_url, api_key=RO) as db:
        c = db.get_collection("docs")
        assert len(c.search(np.ones(DIM), k=3)) == 3
        assert c.count() == 20 and len(c.get([1, 2])) == 2
        assert db.sql("SELECT count(*) FROM docs").fetchone() == (20,)
        with pytest.raises(PermissionDeniedError):
            c.upsert(ids=[100], vectors=np.ones((1, DIM)))
        with pytest.raises(PermissionDeniedError):
            c.delete(ids=[1])
        with pytest.raises(PermissionDeniedError):
            db.create_collection("other", dim=2)
        with pytest.raises(PermissionDeniedError):
            db.drop_collection("docs")
        for stmt in ("DELETE FROM docs", "DROP TABLE docs", "SELECT 1; DELETE FROM docs"):
            with pytest.raises(PermissionDeniedError):
                db.sql(stmt)
        assert c.count() == 20
    with vecdb.connect(srv.grpc_url, api_key=FULL) as db:
        assert db.get_collection("docs").delete(ids=[1]) == 1
    # health stays open
    with grpc.insecure_channel(f"127.0.0.1:{srv.grpc_port}") as ch:
        resp = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=""))
        assert resp.status == health_pb2.HealthCheckResponse.SERVING


def test_rest_auth(auth_server: Any) -> None:
    base = auth_server.http_url
    assert httpx.get(f"{base}/healthz").status_code == 200
    r = httpx.get(f"{base}/v1/collections")
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHENTICATED"
    r = httpx.get(f"{base}/v1/collections", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    ro = {"Authorization": f"Bearer {RO}"}
    full = {"Authorization": f"Bearer {FULL}"}
    assert httpx.get(f"{base}/v1/collections/docs/count", headers=ro).json() == {"count": 20}
    r = httpx.post(
        f"{base}/v1/collections/docs/search", json={"vector": [1, 0, 0, 0], "k": 2}, headers=ro
    )
    assert r.status_code == 200 and len(r.json()["results"][0]) == 2
    up = {"ids": [50], "vectors": [[1, 2, 3, 4]]}
    r = httpx.post(f"{base}/v1/collections/docs/upsert", json=up, headers=ro)
    assert r.status_code == 403 and r.json()["error"]["code"] == "PERMISSION_DENIED"
    r = httpx.post(f"{base}/v1/sql", json={"sql": "DELETE FROM docs"}, headers=ro)
    assert r.status_code == 403
    r = httpx.post(f"{base}/v1/sql", json={"sql": "SELECT count(*) AS n FROM docs"}, headers=ro)
    assert r.json() == {"columns": ["n"], "rows": [[20]]}
    assert httpx.delete(f"{base}/v1/collections/docs", headers=ro).status_code == 403
    r = httpx.post(f"{base}/v1/collections/docs/upsert", json=up, headers=full)
    assert r.status_code == 200 and r.json() == {"count": 1}
    still_answers(auth_server, FULL)


# --------------------------------------------------------------------------- limits


@pytest.fixture
def limited(tmp_path: Any, server_factory: Any) -> Any:
    cfg = ServerConfig(
        max_k=5, max_batch_rows=50, max_message_bytes=32 * 1024, request_timeout_s=0.5, grace_s=2
    )
    with server_factory(tmp_path / "d", cfg) as srv:
        seed(srv)
        yield srv


def test_grpc_limits(limited: Any) -> None:
    with vecdb.connect(limited.grpc_url) as db:
        c = db.get_collection("docs")
        with pytest.raises(ResourceExhaustedError, match="max_k"):
            c.search(np.ones(DIM), k=6)
        with pytest.raises(ResourceExhaustedError, match="max_batch_rows"):
            c.upsert(ids=list(range(100, 151)), vectors=np.ones((51, DIM)))
        with pytest.raises(ResourceExhaustedError, match="max_batch_rows"):
            c.search(np.ones((51, DIM)), k=1)
        with pytest.raises(ResourceExhaustedError, match="max_message_bytes"):
            c.search(np.ones(DIM), k=1, where="year > 0 OR " + "year = 1 OR " * 3000 + "true")
        assert isinstance(ResourceExhaustedError("x"), InvalidArgumentError)
        assert c.count() == 20 and len(c.search(np.ones(DIM), k=5)) == 5


def test_request_timeout(limited: Any) -> None:
    slow = "SELECT count(*) FROM range(100000) a, range(100000) b WHERE a.range + b.range < 7"
    with vecdb.connect(limited.grpc_url) as db:
        with pytest.raises(ResourceExhaustedError, match="request_timeout_s"):
            db.sql(slow)
        assert db.sql("SELECT 1").fetchone() == (1,)
    r = httpx.post(f"{limited.http_url}/v1/sql", json={"sql": slow}, timeout=30)
    assert r.status_code == 413 and "request_timeout_s" in r.json()["error"]["message"]
    still_answers(limited)


def test_rest_limits(limited: Any) -> None:
    base = limited.http_url
    r = httpx.post(f"{base}/v1/collections/docs/search", json={"vector": [1, 0, 0, 0], "k": 6})
    assert r.status_code == 413 and "max_k" in r.json()["error"]["message"]
    big = {"ids": list(range(2000)), "vectors": [[0.5] * DIM] * 2000}
    r = httpx.post(f"{base}/v1/collections/docs/upsert", json=big)
    assert r.status_code == 413 and r.json()["error"]["code"] == "LIMIT_EXCEEDED"
    assert "max_message_bytes" in r.json()["error"]["message"]
    rows = {"ids": list(range(100, 160)), "vectors": [[0.5] * DIM] * 60}
    r = httpx.post(f"{base}/v1/collections/docs/upsert", json=rows)
    assert r.status_code == 413 and "max_batch_rows" in r.json()["error"]["message"]
    still_answers(limited)


# --------------------------------------------------------------------------- malformed


def test_malformed_protobuf(server: Any) -> None:
    seed(server, None)
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        for method in ("Search", "Get", "CreateCollection"):
            call = ch.unary_unary(f"/vecdb.rpc.v1.Vecdb/{method}")  # raw bytes in and out
            with pytest.raises(grpc.RpcError) as ei:
                call(b"\xff\xff\xff\xff\x0f garbage", timeout=5)
            assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            md = dict(ei.value.trailing_metadata())
            assert md["vecdb-error-code"] == "INVALID_ARGUMENT"
        up = ch.stream_unary("/vecdb.rpc.v1.Vecdb/Upsert")
        with pytest.raises(grpc.RpcError) as ei:
            up(iter([b"\x0a\xff\xff"]), timeout=5)
        assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        # a packed vector whose byte length does not match its dim
        from vecdb.rpc.v1 import vecdb_pb2 as pb

        req = pb.SearchRequest(collection="docs", single=True, k=3)
        req.queries.dim, req.queries.n, req.queries.packed_f32 = DIM, 1, b"\x00" * 7
        call = ch.unary_unary(
            "/vecdb.rpc.v1.Vecdb/Search",
            request_serializer=pb.SearchRequest.SerializeToString,
            response_deserializer=pb.SearchResponse.FromString,
        )
        with pytest.raises(grpc.RpcError) as ei:
            call(req, timeout=5)
        assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    still_answers(server)


def test_malformed_json(server: Any) -> None:
    seed(server, None)
    base = server.http_url
    hdr = {"Content-Type": "application/json"}
    url = f"{base}/v1/collections/docs/search"
    r = httpx.post(url, content=b'{"vector": [1, 2,', headers=hdr)
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_ARGUMENT"
    r = httpx.post(url, content=b"[1, 2, 3]", headers=hdr)
    assert r.status_code == 400
    # a bad value is InvalidArgumentError, 400, as on the other transports (never 422)
    r = httpx.post(url, json={"vector": "abc", "k": 2})
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_ARGUMENT"
    r = httpx.post(url, json={"vector": [1, 2, 3, 4], "k": "many"})
    assert r.status_code == 400
    r = httpx.post(url, json={"vector": [1, 2, 3], "k": 2})
    assert r.status_code == 400 and r.json()["error"]["code"] == "DIMENSION_MISMATCH"
    r = httpx.post(f"{base}/v1/collections/docs/upsert", json={"ids": [1], "vectors": [[1]]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "DIMENSION_MISMATCH"
    r = httpx.post(
        f"{base}/v1/collections/docs/upsert", json={"ids": [1], "vectors": [[1, 2], [1, 2, 3]]}
    )
    assert r.status_code == 400
    r = httpx.post(f"{base}/v1/collections/nope/search", json={"vector": [1, 2, 3, 4]})
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
    r = httpx.get(f"{base}/v1/no/such/route")
    assert r.status_code == 404 and "error" in r.json()
    r = httpx.post(f"{base}/v1/sql", json={"sql": "COPY docs TO '/tmp/x.csv'"})
    assert r.status_code == 403
    still_answers(server)


# --------------------------------------------------------------------------- ops


def test_metrics_and_docs(server: Any) -> None:
    seed(server, None)
    base = server.http_url
    httpx.post(f"{base}/v1/collections/docs/search", json={"vector": [1, 0, 0, 0], "k": 2})
    httpx.get(f"{base}/v1/collections/missing")
    text = httpx.get(f"{base}/metrics").text
    assert (
        'vecdb_requests_total{transport="rest",route="POST /v1/collections/{name}/search",'
        'status="200"} 1' in text
    )
    assert 'route="GET /v1/collections/{name}",status="404"' in text
    assert 'transport="grpc",route="Upsert",status="OK"' in text
    assert "vecdb_request_duration_seconds_bucket" in text
    assert 'vecdb_collection_rows{collection="docs"} 20' in text
    assert httpx.get(f"{base}/docs").status_code == 200
    spec = httpx.get(f"{base}/openapi.json").json()
    assert "/v1/collections/{name}/search" in spec["paths"]


def test_reflection_lists_services(server: Any) -> None:
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        stub = reflection_pb2_grpc.ServerReflectionStub(ch)
        req = reflection_pb2.ServerReflectionRequest(list_services="")
        (resp,) = list(stub.ServerReflectionInfo(iter([req]), timeout=5))
        names = {s.name for s in resp.list_services_response.service}
    assert {"vecdb.rpc.v1.Vecdb", "grpc.health.v1.Health"} <= names


def test_concurrent_readers_see_whole_batches(server: Any) -> None:
    """Writers add batches of 10; readers never see a count that is not a multiple of 10."""
    with vecdb.connect(server.grpc_url) as db:
        db.create_collection("docs", dim=DIM, index="hnsw")
    errors: list[BaseException] = []
    counts: list[int] = []
    stop = threading.Event()

    def writer(w: int) -> None:
        try:
            with vecdb.connect(server.grpc_url) as db:
                c = db.get_collection("docs")
                rng = np.random.default_rng(w)
                for b in range(15):
                    ids = [w * 10_000 + b * 10 + i for i in range(10)]
                    c.upsert(ids=ids, vectors=rng.normal(size=(10, DIM)).astype(np.float32))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    def reader() -> None:
        try:
            with vecdb.connect(server.grpc_url) as db:
                c = db.get_collection("docs")
                while not stop.is_set():
                    counts.append(c.count())
                    c.search(np.ones(DIM, dtype=np.float32), k=5)
        except BaseException as e:  # pragma: no cover
            errors.append(e)

    readers = [threading.Thread(target=reader) for _ in range(3)]
    writers = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert not errors, errors
    assert counts and all(n % 10 == 0 for n in counts)
    with vecdb.connect(server.grpc_url) as db:
        assert db.get_collection("docs").count() == 450
