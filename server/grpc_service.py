"""The gRPC transport: ``vecdb.rpc.v1.Vecdb`` over a :class:`~vecdb_server.core.ServiceCore`.

Handlers receive the request as bytes: the API key is checked first, and only then is the
message decoded by our own deserializer, so that an unauthenticated caller learns nothing from
how its bytes parse, and malformed or oversized messages get a proper ``INVALID_ARGUMENT`` with
a vecdb error code instead of a generic failure. Errors carry the vecdb code in the trailing
metadata key ``vecdb-error-code``.

>>> server = build_grpc_server(core, "127.0.0.1", 0)   # doctest: +SKIP
>>> server.port                                         # doctest: +SKIP
50123
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
import numpy as np
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from vecdb.errors import InvalidArgumentError, PermissionDeniedError, VecdbError
from vecdb.rpc import codec
from vecdb.rpc.v1 import vecdb_pb2 as pb
from vecdb_server.core import ServiceCore, as_vecdb_error
from vecdb_server.health import CoreHealthServicer

log = logging.getLogger("vecdb.server.grpc")

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Vecdb"].full_name
ERROR_CODE_KEY = "vecdb-error-code"

# method -> (request type, response type, client streaming, server streaming, writes)
_METHODS: dict[str, tuple[Any, Any, bool, bool, bool | None]] = {
    "CreateCollection": (pb.CreateCollectionRequest, pb.CollectionInfo, False, False, True),
    "GetCollection": (pb.GetCollectionRequest, pb.CollectionInfo, False, False, False),
    "ListCollections": (pb.ListCollectionsRequest, pb.ListCollectionsResponse, False, False, False),
    "DropCollection": (pb.DropCollectionRequest, pb.DropCollectionResponse, False, False, True),
    "Upsert": (pb.UpsertRequest, pb.UpsertResponse, True, False, True),
    "Delete": (pb.DeleteRequest, pb.DeleteResponse, False, False, True),
    "Get": (pb.GetRequest, pb.GetResponse, False, False, False),
    "Count": (pb.CountRequest, pb.CountResponse, False, False, False),
    "Compact": (pb.CompactRequest, pb.CompactResponse, False, False, True),
    "Search": (pb.SearchRequest, pb.SearchResponse, False, False, False),
    "Explain": (pb.ExplainRequest, pb.ExplainResponse, False, False, False),
    "Sql": (pb.SqlRequest, pb.SqlResponse, False, True, None),  # None: by statement
}


class _BadRequest:
    """Stands in for a request that failed to deserialize or was too large."""

    __slots__ = ("error",)

    def __init__(self, error: VecdbError) -> None:
        self.error = error


def _deserializer(cls: Any, core: ServiceCore) -> Callable[[bytes], Any]:
    limit = core.config.max_message_bytes

    def parse(data: bytes) -> Any:
        if len(data) > limit:
            return _BadRequest(core.too_large(len(data)))
        try:
            return cls.FromString(data)
        except Exception as e:
            return _BadRequest(InvalidArgumentError(f"malformed {cls.__name__} message: {e}"))

    return parse


def _token(context: grpc.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            v = value if isinstance(value, str) else value.decode()
            return v[7:].strip() if v[:7].lower() == "bearer " else v.strip()
    return None


def _timeout(context: grpc.ServicerContext) -> float | None:
    remaining = context.time_remaining()
    return remaining if remaining is not None and remaining < 1e8 else None


def _abort(context: grpc.ServicerContext, err: VecdbError) -> None:
    context.set_trailing_metadata(((ERROR_CODE_KEY, err.code),))
    context.abort(getattr(grpc.StatusCode, err.grpc_status), err.message or err.code)


class VecdbServicer:
    """The handlers; each takes a request message and returns a response message."""

    def __init__(self, core: ServiceCore) -> None:
        self.core = core

    # -- collections ----------------------------------------------------------------

    def CreateCollection(self, req: pb.CreateCollectionRequest, ctx: Any) -> pb.CollectionInfo:
        kwargs: dict[str, Any] = {
            "name": req.name,
            "dim": int(req.dim),
            "metric": req.metric or "cosine",
            "index": req.index or "hnsw",
            "index_params": codec.map_from_pb(req.index_params)
            if req.HasField("index_params")
            else None,
            "columns": {c.name: c.type for c in req.columns} or None,
            "id_type": req.id_type or "int",
            "exist_ok": req.exist_ok,
        }
        if req.embedding:
            kwargs["embedding"] = req.embedding
            if not req.dim:
                kwargs["dim"] = None  # from the model
        if req.fulltext:
            kwargs["fulltext"] = codec.fulltext_from_pb(req.fulltext)
        return _info(self.core.create_collection(**kwargs))

    def GetCollection(self, req: pb.GetCollectionRequest, ctx: Any) -> pb.CollectionInfo:
        return _info(self.core.get_collection(req.name))

    def ListCollections(self, req: Any, ctx: Any) -> pb.ListCollectionsResponse:
        return pb.ListCollectionsResponse(names=self.core.list_collections())

    def DropCollection(self, req: pb.DropCollectionRequest, ctx: Any) -> Any:
        self.core.drop_collection(req.name, missing_ok=req.missing_ok)
        return pb.DropCollectionResponse()

    # -- rows -----------------------------------------------------------------------

    def Upsert(self, requests: Iterator[Any], ctx: Any) -> pb.UpsertResponse:
        name = ""
        mode = pb.UpsertRequest.UPSERT
        id_parts: list[list[Any]] = []
        vec_parts: list[np.ndarray] = []
        row_parts: list[Any] = []
        doc_parts: list[Any] = []
        has_ids = has_vecs = has_rows = False
        total = 0
        for i, req in enumerate(requests):
            if isinstance(req, _BadRequest):
                raise req.error
            if i == 0:
                name, mode = req.collection, req.mode
            elif req.collection and req.collection != name:
                raise InvalidArgumentError("all messages of one Upsert must name one collection")
            if req.HasField("ids"):
                has_ids = True
                part = codec.ids_from_pb(req.ids)
                total += len(part)
                self.core.check_rows(total)
                id_parts.append(part)
            if req.HasField("vectors"):
                has_vecs = True
                v = codec.unpack_vectors(req.vectors)
                if not req.HasField("ids"):
                    total += v.shape[0]
                    self.core.check_rows(total)
                vec_parts.append(v)
            if req.rows:
                has_rows = True
                row_parts.extend(codec.row_from_pb(r) for r in req.rows)
            docs = codec.documents_from_pb(req)
            if docs is not None:
                doc_parts.extend(docs)
        if not name:
            raise InvalidArgumentError("Upsert needs a collection name in its first message")
        ids = [x for part in id_parts for x in part] if has_ids else None
        vectors = None
        if has_vecs:
            dims = {v.shape[1] for v in vec_parts}
            if len(dims) > 1:
                # let the engine report the mismatch with its own message
                vectors = [row.tolist() for v in vec_parts for row in v]
            else:
                vectors = vec_parts[0] if len(vec_parts) == 1 else np.concatenate(vec_parts)
        rows = row_parts if has_rows else None
        documents = doc_parts or None
        n = self.core.write(
            name, ids, vectors, rows, add=mode == pb.UpsertRequest.ADD, documents=documents
        )
        return pb.UpsertResponse(count=n)

    def Delete(self, req: pb.DeleteRequest, ctx: Any) -> pb.DeleteResponse:
        ids = codec.ids_from_pb(req.ids) if req.HasField("ids") else None
        params = codec.params_from_pb(req.params) if req.HasField("params") else None
        n = self.core.delete(req.collection, ids=ids, where=req.where or None, params=params)
        return pb.DeleteResponse(count=n)

    def Get(self, req: pb.GetRequest, ctx: Any) -> pb.GetResponse:
        ids = codec.ids_from_pb(req.ids)
        include = codec.include_from_pb(req)
        records = self.core.get(req.collection, ids, include=include, timeout=_timeout(ctx))
        resp = pb.GetResponse()
        codec.ids_to_pb([r.id for r in records], resp.ids)
        if records:
            codec.pack_vectors(np.stack([np.asarray(r.vector) for r in records]), resp.vectors)
        for r in records:
            codec.row_to_pb(r.row, resp.rows.add())
        return resp

    def Count(self, req: pb.CountRequest, ctx: Any) -> pb.CountResponse:
        params = codec.params_from_pb(req.params) if req.HasField("params") else None
        n = self.core.count(
            req.collection, where=req.where or None, params=params, timeout=_timeout(ctx)
        )
        return pb.CountResponse(count=n)

    def Compact(self, req: pb.CompactRequest, ctx: Any) -> pb.CompactResponse:
        self.core.compact(req.collection)
        return pb.CompactResponse()

    # -- queries --------------------------------------------------------------------

    def Search(self, req: pb.SearchRequest, ctx: Any) -> pb.SearchResponse:
        has = req.HasField
        text_opts = _text_options(req)
        if has("query_text"):
            q: Any = req.query_text
        else:
            q = codec.unpack_vectors(req.queries)
            if req.single:
                if q.shape[0] != 1:
                    raise InvalidArgumentError("single search needs exactly one query vector")
                q = q[0]
        k = int(req.k) if has("k") else 10
        ef = int(req.ef) if has("ef") else None
        if (
            req.single
            and not req.where
            and not has("params")
            and not has("include")
            and not has("nprobe")
            and not text_opts
            and not has("query_text")
        ):
            # the common case: one query, no filter, no rows -> index only, flat response
            ids, dists = self.core.search_plain(req.collection, q, k, ef, _timeout(ctx))
            resp = pb.SearchResponse()
            _fill_result(resp.results.add(), ids, dists)
            return resp
        include = codec.include_from_pb(req)
        res = self.core.search(
            req.collection,
            q,
            k=k,
            where=req.where or None,
            params=codec.params_from_pb(req.params) if has("params") else None,
            include=include,
            ef=ef,
            nprobe=int(req.nprobe) if has("nprobe") else None,
            timeout=_timeout(ctx),
            **text_opts,
        )
        lists = [res] if req.single or has("query_text") else res
        resp = pb.SearchResponse()
        for hits in lists:
            qr = resp.results.add()
            _fill_result(qr, [h[0] for h in hits], [h[1] for h in hits])
            if include is not None:
                for h in hits:
                    codec.row_to_pb(h.row, qr.rows.add())
        return resp

    def Explain(self, req: pb.ExplainRequest, ctx: Any) -> pb.ExplainResponse:
        if req.HasField("query_text"):
            q: Any = req.query_text
        else:
            q = codec.unpack_vectors(req.query)
            if q.shape[0] == 1:
                q = q[0]
        info = self.core.explain(
            req.collection,
            q,
            k=int(req.k) if req.HasField("k") else 10,
            where=req.where or None,
            params=codec.params_from_pb(req.params) if req.HasField("params") else None,
            ef=int(req.ef) if req.HasField("ef") else None,
            nprobe=int(req.nprobe) if req.HasField("nprobe") else None,
            timeout=_timeout(ctx),
            **_text_options(req),
        )
        resp = pb.ExplainResponse()
        codec.map_to_pb(info, resp.info)
        return resp

    def Sql(self, req: pb.SqlRequest, ctx: Any) -> Iterator[pb.SqlResponse]:
        read_only = self.core.authorize_sql(_token(ctx), req.sql)
        params = codec.params_from_pb(req.params) if req.HasField("params") else None
        result = self.core.sql(req.sql, params, timeout=_timeout(ctx), read_only=read_only)
        table = result.to_arrow()
        plan = codec.plan_to_json(getattr(result, "plan", None))
        out = []
        for i, chunk in enumerate(codec.table_to_ipc_messages(table)):
            out.append(pb.SqlResponse(arrow_ipc=chunk, plan_json=plan if i == 0 else ""))
        return iter(out)


def _fill_result(qr: pb.QueryResult, ids: list[Any], dists: list[float]) -> None:
    """Ids and distances of one query's hits into ``qr`` (plain int ids skip the checks)."""
    if all(type(i) is int for i in ids):
        ints = qr.ids.ints
        ints.SetInParent()
        ints.values.extend(ids)
    else:
        codec.ids_to_pb(ids, qr.ids)
    qr.distances.extend(dists)


def _text_options(req: Any) -> dict[str, Any]:
    """mode/text/fusion of a Search or Explain request, only those that were set."""
    out: dict[str, Any] = {}
    if req.mode:
        out["mode"] = req.mode
    if req.HasField("text"):
        out["text"] = req.text
    if req.fusion:
        out["fusion"] = codec.fusion_from_pb(req.fusion)
    return out


def _info(d: dict[str, Any]) -> pb.CollectionInfo:
    info = pb.CollectionInfo(
        name=str(d.get("name", "")),
        dim=int(d.get("dim", 0)),
        metric=str(d.get("metric", "")),
        index=str(d.get("index", "")),
        id_type=str(d.get("id_type", "int")),
        count=int(d.get("count", 0) or 0),
        embedding=codec.json_or_none(d.get("embedding")),
        fulltext=codec.json_or_none(d.get("fulltext")),
    )
    codec.map_to_pb(dict(d.get("index_params") or {}), info.index_params)
    for cname, ctype in (d.get("columns") or {}).items():
        info.columns.add(name=cname, type=str(ctype))
    return info


def _wrap(core: ServiceCore, method: str, fn: Callable[..., Any], writes: bool | None) -> Any:
    """Auth, error mapping and metrics around one handler.

    Kept lean on purpose (it runs on every call): no metadata scan when auth is off, one
    clock pair, one metrics update.
    """
    req_type, _, client_streaming, server_streaming, _ = _METHODS[method]
    parse = _deserializer(req_type, core)
    config = core.config
    observe = core.metrics.observe
    clock = time.perf_counter

    def handler(request: Any, context: grpc.ServicerContext) -> Any:
        t0 = clock()
        status = "OK"
        try:
            # the key first: the message is still undecoded bytes here
            full = core.authenticate(_token(context)) if config.auth_enabled else True
            if client_streaming:
                request = map(parse, request)
            else:
                request = parse(request)
                if isinstance(request, _BadRequest):
                    raise request.error
            if not full and writes:
                raise PermissionDeniedError("the read-only key may not write or change the schema")
            if server_streaming:
                return iter(list(fn(request, context)))
            return fn(request, context)
        except Exception as exc:
            err = as_vecdb_error(exc)
            status = err.grpc_status
            _abort(context, err)
        finally:
            observe("grpc", method, status, clock() - t0)

    return handler


def method_handlers(core: ServiceCore) -> dict[str, grpc.RpcMethodHandler]:
    """The ``vecdb.rpc.v1.Vecdb`` handlers by method name, with safe deserializers."""
    servicer = VecdbServicer(core)
    handlers = {}
    for name, (_req_t, resp_t, cstream, sstream, writes) in _METHODS.items():
        fn = _wrap(core, name, getattr(servicer, name), writes)
        # no request_deserializer: handlers get bytes and decode them after the key check
        kw = {"response_serializer": resp_t.SerializeToString}
        if cstream and not sstream:
            handlers[name] = grpc.stream_unary_rpc_method_handler(fn, **kw)
        elif sstream and not cstream:
            handlers[name] = grpc.unary_stream_rpc_method_handler(fn, **kw)
        else:
            handlers[name] = grpc.unary_unary_rpc_method_handler(fn, **kw)
    return handlers


def generic_handler(core: ServiceCore) -> grpc.GenericRpcHandler:
    """The ``vecdb.rpc.v1.Vecdb`` service as a generic handler with safe deserializers."""
    return grpc.method_handlers_generic_handler(SERVICE_NAME, method_handlers(core))


class GrpcServer:
    """A started gRPC server with health and reflection; ``port`` is the bound port."""

    def __init__(
        self,
        core: ServiceCore,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: tuple[bytes, bytes] | None = None,
    ) -> None:
        cfg = core.config
        # gRPC's own hard cap sits above ours so that a moderately oversized message reaches
        # our deserializer and gets a LIMIT_EXCEEDED answer naming max_message_bytes.
        hard_cap = min(2**31 - 1, cfg.max_message_bytes * 2 + (1 << 20))
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=cfg.grpc_workers, thread_name_prefix="grpc"),
            options=[
                ("grpc.max_receive_message_length", hard_cap),
                ("grpc.max_send_message_length", -1),
                ("grpc.so_reuseport", 0),
            ],
        )
        # registered methods: core matches the path, no per-call generic-handler lookup
        self.server.add_registered_method_handlers(SERVICE_NAME, method_handlers(core))
        self.health = CoreHealthServicer(core)  # NOT_SERVING while core.health() fails
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self.server
        )
        address = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
        if tls is not None:
            cert, key = tls
            creds = grpc.ssl_server_credentials(((key, cert),))
            self.port = self.server.add_secure_port(address, creds)
        else:
            self.port = self.server.add_insecure_port(address)
        if not self.port:
            raise OSError(f"cannot bind gRPC to {address}")
        self.host = host

    def start(self) -> GrpcServer:
        """Start serving and mark the services healthy."""
        self.server.start()
        for svc in ("", SERVICE_NAME):
            self.health.set(svc, health_pb2.HealthCheckResponse.SERVING)
        return self

    def stop(self, grace: float) -> None:
        """Refuse new calls, let in-flight ones finish (up to ``grace`` seconds)."""
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()


__all__ = [
    "GrpcServer",
    "VecdbServicer",
    "generic_handler",
    "method_handlers",
    "ERROR_CODE_KEY",
    "SERVICE_NAME",
]
