"""Fixtures for the service tests: real servers on 127.0.0.1 ephemeral ports, and a small
REST client with the embedded API (it maps error bodies back to vecdb error classes)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pytest

import vecdb
from vecdb.errors import InvalidArgumentError, error_from_code
from vecdb.result import Result
from vecdb.types import Hit, Record
from vecdb_server.config import ServerConfig
from vecdb_server.main import VecdbServer

# --------------------------------------------------------------------------- REST client


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


class RestDatabase:
    """The embedded Database API over the REST endpoints (for the contract suite)."""

    def __init__(self, base_url: str, api_key: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=30)

    def request(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        if body is not None:
            # allow_nan: the contract sends NaN on purpose (httpx's encoder refuses it)
            kw["content"] = json.dumps(_jsonable(body), allow_nan=True)
            kw["headers"] = {"Content-Type": "application/json"}
        r = self.http.request(method, path, **kw)
        data = r.json()
        if r.status_code >= 400:
            err = data["error"]
            raise error_from_code(err["code"], err["message"])
        return data

    def create_collection(self, name: str, dim: int | None = None, **kw: Any) -> RestCollection:
        info = self.request("POST", "/v1/collections", {"name": name, "dim": dim, **kw})
        return RestCollection(self, info)

    def get_collection(self, name: str) -> RestCollection:
        return RestCollection(self, self.request("GET", f"/v1/collections/{name}"))

    def list_collections(self) -> list[str]:
        return self.request("GET", "/v1/collections")["collections"]

    def drop_collection(self, name: str, missing_ok: bool = False) -> None:
        self.request("DELETE", f"/v1/collections/{name}", params={"missing_ok": missing_ok})

    def sql(self, query: str, params: Any = None) -> Result:
        data = self.request("POST", "/v1/sql", {"sql": query, "params": params})
        cols = data["columns"]
        arrays = [pa.array([row[i] for row in data["rows"]]) for i in range(len(cols))]
        return Result(pa.Table.from_arrays(arrays, names=cols))

    def close(self) -> None:
        self.http.close()


class RestCollection:
    """The embedded Collection API over REST."""

    def __init__(self, db: RestDatabase, info: dict[str, Any]) -> None:
        self.db = db
        self.name = info["name"]
        self.dim = info["dim"]
        self.metric = info["metric"]
        self.info = info

    def _post(self, op: str, body: dict[str, Any]) -> Any:
        return self.db.request("POST", f"/v1/collections/{self.name}/{op}", body)

    def describe(self) -> dict[str, Any]:
        return self.db.request("GET", f"/v1/collections/{self.name}")

    def add(self, ids: Any, vectors: Any = None, rows: Any = None, documents: Any = None) -> int:
        body = {"ids": ids, "vectors": vectors, "rows": rows, "documents": documents}
        return self._post("add", body)["count"]

    def upsert(self, ids: Any, vectors: Any = None, rows: Any = None, documents: Any = None) -> int:
        body = {"ids": ids, "vectors": vectors, "rows": rows, "documents": documents}
        return self._post("upsert", body)["count"]

    def delete(self, ids: Any = None, where: str | None = None, params: Any = None) -> int:
        return self._post("delete", {"ids": ids, "where": where, "params": params})["count"]

    def get(self, ids: Any, include: Any = None) -> list[Record]:
        recs = self._post("get", {"ids": ids, "include": include})["records"]
        return [Record(r["id"], np.asarray(r["vector"], np.float32), r["row"]) for r in recs]

    def count(self, where: str | None = None, params: Any = None) -> int:
        # GET with query parameters (params as JSON text), like `curl .../count?where=...`
        q: dict[str, Any] = {"where": where} if where is not None else {}
        if params is not None:
            q["params"] = json.dumps(_jsonable(params))
        return self.db.request("GET", f"/v1/collections/{self.name}/count", params=q)["count"]

    def compact(self) -> None:
        self._post("compact", {})

    def search(self, query: Any, k: int = 10, **kw: Any) -> Any:
        if isinstance(query, str):
            res = self._post("search", {"query_text": query, "k": k, **kw})["results"]
            return [Hit(h["id"], h["distance"], h["row"]) for h in res[0]]
        try:
            q = np.asarray(query, dtype=np.float32)
        except ValueError as e:
            raise InvalidArgumentError(str(e)) from None
        body = {"vector" if q.ndim == 1 else "vectors": q, "k": k, **kw}
        res = self._post("search", body)["results"]
        lists = [[Hit(h["id"], h["distance"], h["row"]) for h in hits] for hits in res]
        return lists[0] if q.ndim == 1 else lists

    def explain(self, query: Any, k: int = 10, **kw: Any) -> dict[str, Any]:
        if isinstance(query, str):
            return self._post("explain", {"query_text": query, "k": k, **kw})
        return self._post("explain", {"vector": np.asarray(query, np.float32), "k": k, **kw})


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
    """A Database-like object: embedded, remote over gRPC, the REST test client, or a
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
            client = RestDatabase(srv.http_url)
        yield client
        client.close()


@pytest.fixture
def server_factory() -> Any:
    """``running_server`` (a context manager: path, ServerConfig) for tests that need
    special settings."""
    return running_server
