"""gRPC health follows the core's health as REST's /healthz does: NOT_SERVING with the reason
while the disk is below ``min_free_bytes`` (a fault made by raising the threshold above any
disk's free space), SERVING again once it clears; a Watch stream sees both changes."""

from __future__ import annotations

from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.service.conftest import running_server
from vecdb_server.config import ServerConfig
from vecdb_server.grpc_service import SERVICE_NAME
from vecdb_server.health import REASON_KEY

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _check(stub: health_pb2_grpc.HealthStub, service: str) -> tuple[int, dict[str, str]]:
    resp, call = stub.Check.with_call(health_pb2.HealthCheckRequest(service=service), timeout=10)
    return resp.status, dict(call.trailing_metadata() or ())


def test_grpc_health_reports_a_fault_and_its_recovery(tmp_path: Path) -> None:
    cfg = ServerConfig(grace_s=1)
    with running_server(tmp_path / "data", cfg) as srv:
        with grpc.insecure_channel(f"127.0.0.1:{srv.grpc_port}") as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            watch = stub.Watch(health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=30)
            assert next(watch).status == SERVING
            for service in ("", SERVICE_NAME):
                assert _check(stub, service)[0] == SERVING
            assert httpx.get(srv.http_url + "/healthz").status_code == 200

            srv.config.min_free_bytes = 1 << 62  # more free space than any disk has
            rest = httpx.get(srv.http_url + "/healthz")
            assert rest.status_code == 503 and "disk full" in rest.json()["reason"]
            for service in ("", SERVICE_NAME):
                status, meta = _check(stub, service)
                assert status == NOT_SERVING
                assert "disk full" in meta[REASON_KEY], meta
            assert next(watch).status == NOT_SERVING

            srv.config.min_free_bytes = 0  # space returns
            assert _check(stub, SERVICE_NAME) == (SERVING, {})
            assert _check(stub, "")[0] == SERVING
            assert next(watch).status == SERVING
            assert httpx.get(srv.http_url + "/healthz").status_code == 200
            watch.cancel()


def test_grpc_health_when_duckdb_fails(tmp_path: Path) -> None:
    """A database that no longer answers (closed under the server here; invalidated by a
    full disk in production) is NOT_SERVING, with DuckDB's error as the reason."""
    with running_server(tmp_path / "data", ServerConfig(grace_s=1)) as srv:
        with grpc.insecure_channel(f"127.0.0.1:{srv.grpc_port}") as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            assert _check(stub, "")[0] == SERVING
            srv.db.close()
            status, meta = _check(stub, "")
            assert status == NOT_SERVING and "closed" in meta[REASON_KEY]
            assert httpx.get(srv.http_url + "/healthz").status_code == 503
