"""Fixtures for the service tests: real servers on 127.0.0.1 ephemeral ports; the clients
are the shipped ones (``vecdb.connect("grpc://...")`` and ``vecdb.connect("http://...")``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

import vecdb
from vecdb_server.config import ServerConfig
from vecdb_server.main import VecdbServer

# --------------------------------------------------------------------------- REST client


def RestDatabase(base_url: str, api_key: str | None = None) -> Any:  # noqa: N802
    """The shipped REST client (``vecdb.connect("http://...")``), as the tests name it."""
    return vecdb.connect(base_url, api_key=api_key, timeout=30)


# --------------------------------------------------------------------------- servers


@contextlib.contextmanager
def running_server(path: Any = None, config: ServerConfig | None = None) -> Iterator[VecdbServer]:
    """A started server over a fresh confined Database; stopped and closed afterwards."""
    db = vecdb.connect(str(path) if path is not None else None, confined=True)
    srv = VecdbServer(db, config or ServerConfig(grace_s=2)).start()
    try:
        yield srv
    finally:
        srv.stop(grace=2)
        db.close()


@pytest.fixture
def server(tmp_path: Any) -> Iterator[VecdbServer]:
    """A server with default limits and no keys."""
    with running_server(tmp_path / "data") as srv:
        yield srv


@pytest.fixture(scope="session")
def sharded_db(tmp_path_factory: Any) -> Iterator[Any]:
    """A confined 2-shard database on a local Ray, shared by the session (Ray starts slowly)."""
    from tests.sharded.ray_helpers import local_ray

    local_ray()
    db = vecdb.connect(str(tmp_path_factory.mktemp("sharded")), confined=True, shards=2)
    yield db
    db.close()


@pytest.fixture(params=["embedded", "grpc", "rest", "sharded"])
def backend(request: Any, tmp_path: Any) -> Iterator[Any]:
    """A Database-like object: embedded, remote over gRPC, remote over REST, or a
    2-shard database on Ray (emptied after each test)."""
    kind = request.param
    if kind == "sharded":
        db = request.getfixturevalue("sharded_db")
        yield db
        for name in db.list_collections():
            db.drop_collection(name)
        return
    if kind == "embedded":
        db = vecdb.connect(str(tmp_path / "emb"), confined=True)
        yield db
        db.close()
        return
    with running_server(tmp_path / "data") as srv:
        if kind == "grpc":
            client: Any = vecdb.connect(srv.grpc_url)
        else:
            client = vecdb.connect(srv.http_url)
        yield client
        client.close()


@pytest.fixture
def server_factory() -> Any:
    """``running_server`` (a context manager: path, ServerConfig) for tests that need
    special settings."""
    return running_server
