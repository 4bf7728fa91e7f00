"""The request model (vecdb.api) and its codecs: every operation has one request type, one
gRPC row and one REST route, and a request survives its trip through the gRPC codec."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

import vecdb
from vecdb import api
from vecdb.client.rest import ROUTES
from vecdb.errors import InvalidArgumentError, ResourceExhaustedError
from vecdb.rpc.messages import BY_REQUEST, RPCS
from vecdb.rpc.v1 import vecdb_pb2 as pb
from vecdb_server.config import ServerConfig
from vecdb_server.core import ServiceCore

REQUEST_TYPES = [
    t for t in vars(api).values() if isinstance(t, type) and issubclass(t, api.Request)
]
REQUEST_TYPES.remove(api.Request)


def test_every_operation_has_one_codec_per_transport() -> None:
    service = pb.DESCRIPTOR.services_by_name["Vecdb"]
    assert set(RPCS) == {m.name for m in service.methods}
    assert set(BY_REQUEST) == set(REQUEST_TYPES) == set(ROUTES)
    for t in REQUEST_TYPES:
        assert dataclasses.is_dataclass(t)
        assert t.__dataclass_params__.frozen  # type: ignore[attr-defined]


EXAMPLES: list[api.Request] = [
    api.CreateCollectionRequest("docs", dim=4, index_params={"m": 8}, columns={"y": "INTEGER"}),
    api.CreateCollectionRequest("t", embedding="sentence-transformers/x", fulltext=True),
    api.GetCollectionRequest("docs"),
    api.ListCollectionsRequest(),
    api.DropCollectionRequest("docs", missing_ok=True),
    api.DeleteRequest("docs", ids=[1, 2]),
    api.DeleteRequest("docs", where="y > $v", params={"v": 3}),
    api.GetRequest("docs", ids=["a", "b"], include="*"),
    api.CountRequest("docs", where="", params=[1]),
    api.CompactRequest("docs"),
    api.ExplainRequest("docs", "some text", k=3, mode="hybrid", text="kw", fusion="rrf"),
    api.SqlRequest("SELECT 1", params={"a": 1}),
]


@pytest.mark.parametrize("req", EXAMPLES, ids=lambda r: type(r).__name__)
def test_grpc_codec_round_trip(req: api.Request) -> None:
    rpc = BY_REQUEST[type(req)]
    msg = rpc.pb_request.FromString(rpc.to_pb(req).SerializeToString())
    assert rpc.from_pb(msg) == req


def test_search_and_write_round_trip() -> None:
    rpc = RPCS["Search"]
    q = np.arange(6, dtype=np.float32).reshape(2, 3)
    req = api.SearchRequest("d", q, k=4, where="a = 1", include=["a"], ef=50, nprobe=2)
    back = rpc.from_pb(rpc.pb_request.FromString(rpc.to_pb(req).SerializeToString()))
    assert isinstance(back, api.SearchRequest)
    assert back.batched and np.array_equal(back.query, q)
    assert dataclasses.replace(back, query=None) == dataclasses.replace(req, query=None)
    # a write is sent as a stream of messages and put back together
    vecs = np.ones((3, 2), np.float32)
    w = api.WriteRequest("d", [1, 2, 3], vecs, [{"a": 1}, None, {"a": 3}], ["x", None, "z"])
    msgs = RPCS["Upsert"].to_pb(w)
    back_w = RPCS["Upsert"].from_pb(iter(msgs))
    assert isinstance(back_w, api.WriteRequest)
    assert np.array_equal(back_w.vectors, vecs)
    assert dataclasses.replace(back_w, vectors=None) == dataclasses.replace(w, vectors=None)


def test_a_streamed_write_is_refused_once_it_passes_the_limit() -> None:
    vecs = np.ones((10, 2), np.float32)
    msgs = RPCS["Upsert"].to_pb(api.WriteRequest("d", list(range(10)), vecs))
    with pytest.raises(ResourceExhaustedError, match="max_batch_rows=5"):
        RPCS["Upsert"].from_pb(iter(msgs), max_rows=5)


@pytest.mark.parametrize(
    ("req", "limit"),
    [
        (api.SearchRequest("d", np.ones(3), k=11), "max_k"),
        (api.SearchRequest("d", np.ones((6, 3)), k=1), "max_batch_rows"),
        (api.ExplainRequest("d", np.ones(3), k=11), "max_k"),
        (api.WriteRequest("d", ids=list(range(6))), "max_batch_rows"),
        (api.GetRequest("d", ids=list(range(6))), "max_batch_rows"),
        (api.DeleteRequest("d", ids=list(range(6))), "max_batch_rows"),
    ],
)
def test_limits_are_declared_by_the_request(req: api.Request, limit: str) -> None:
    """The service refuses by the request's own declaration, before touching the data."""
    core = ServiceCore(vecdb.connect(), ServerConfig(max_k=10, max_batch_rows=5))
    try:
        with pytest.raises(ResourceExhaustedError) as ei:
            core.execute(req)
        assert ei.value.details["limit"] == limit
    finally:
        core.close()


@pytest.mark.parametrize(
    "call",
    [
        lambda: RPCS["Search"].to_pb(api.SearchRequest("d", np.ones(2), k="5")),  # type: ignore[arg-type]
        lambda: RPCS["Count"].to_pb(api.CountRequest("d", where=5)),  # type: ignore[arg-type]
        lambda: RPCS["Search"].to_pb(api.SearchRequest("d", np.ones(2), mode="")),
        lambda: RPCS["CreateCollection"].to_pb(api.CreateCollectionRequest("d")),
    ],
)
def test_the_client_codec_refuses_what_the_engine_refuses(call: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        call()


def test_rest_client_reports_an_unreachable_server() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = vecdb.connect(f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(vecdb.ServiceUnavailableError, match="cannot reach"):
        db.list_collections()
    db.close()
    with pytest.raises(InvalidArgumentError, match="closed"):
        db.list_collections()
