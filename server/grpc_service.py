"""The gRPC transport: ``vecdb.rpc.v1.Vecdb`` over a :class:`~vecdb_server.core.ServiceCore`.

Every method is one row of :data:`vecdb.rpc.messages.RPCS`: the handler decodes the message
into its :mod:`vecdb.api` request dataclass and runs it with ``ServiceCore.execute``.
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

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from vecdb.api import SqlRequest
from vecdb.errors import InvalidArgumentError, PermissionDeniedError, VecdbError
from vecdb.rpc.messages import RPCS, Rpc
from vecdb.rpc.v1 import vecdb_pb2 as pb
from vecdb_server.core import ServiceCore, as_vecdb_error

log = logging.getLogger("vecdb.server.grpc")

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Vecdb"].full_name
ERROR_CODE_KEY = "vecdb-error-code"


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


def _handler(core: ServiceCore, rpc: Rpc) -> Callable[[Any, grpc.ServicerContext], Any]:
    """One method: key check, decode into the request dataclass, execute, encode; with
    error mapping and metrics.

    Kept lean on purpose (it runs on every call): no metadata scan when auth is off, one
    clock pair, one metrics update.
    """
    parse = _deserializer(rpc.pb_request, core)
    config = core.config
    observe = core.metrics.observe
    clock = time.perf_counter
    method, from_pb, result_to_pb = rpc.method, rpc.from_pb, rpc.result_to_pb
    writes = rpc.request.writes
    max_rows = config.max_batch_rows

    def decoded(messages: Any) -> Iterator[Any]:
        for m in messages:
            if isinstance(m, _BadRequest):
                raise m.error
            yield m

    def handler(request: Any, context: grpc.ServicerContext) -> Any:
        t0 = clock()
        status = "OK"
        try:
            # the key first: the message is still undecoded bytes here
            token = _token(context) if config.auth_enabled else None
            full = core.authenticate(token) if config.auth_enabled else True
            if rpc.client_streaming:
                req = from_pb(decoded(map(parse, request)), max_rows=max_rows)
            else:
                msg = parse(request)
                if isinstance(msg, _BadRequest):
                    raise msg.error
                req = from_pb(msg)
            if isinstance(req, SqlRequest):  # the statement decides what the key may do
                if not full and core.authorize_sql(token, req.sql):
                    req = dataclasses.replace(req, read_only=True)
            elif writes and not full:
                raise PermissionDeniedError("the read-only key may not write or change the schema")
            result = core.execute(req, _timeout(context))
            reply = result_to_pb(result, req)
            return iter(reply) if rpc.server_streaming else reply
        except Exception as exc:
            err = as_vecdb_error(exc)
            status = err.grpc_status
            _abort(context, err)
        finally:
            observe("grpc", method, status, clock() - t0)

    return handler


def method_handlers(core: ServiceCore) -> dict[str, grpc.RpcMethodHandler]:
    """The ``vecdb.rpc.v1.Vecdb`` handlers by method name, with safe deserializers."""
    handlers = {}
    for name, rpc in RPCS.items():
        fn = _handler(core, rpc)
        # no request_deserializer: handlers get bytes and decode them after the key check
        kw = {"response_serializer": rpc.pb_response.SerializeToString}
        if rpc.client_streaming:
            handlers[name] = grpc.stream_unary_rpc_method_handler(fn, **kw)
        elif rpc.server_streaming:
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
        self.health = health.HealthServicer()
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
    "generic_handler",
    "method_handlers",
    "ERROR_CODE_KEY",
    "SERVICE_NAME",
]
