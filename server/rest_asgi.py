"""The REST app's plumbing below the routes: JSON out, and two pure ASGI middlewares.

:class:`LimitAndMetrics` checks the API key before any byte of the body is read, refuses a
body over ``max_message_bytes`` with 413 while it streams in, and records request metrics;
:class:`JsonBodies` reads every body as JSON whatever its content type says.

>>> to_json({"v": np.float32(0.5), "d": _dt.date(2024, 1, 2), "x": float("nan")})
{'v': 0.5, 'd': '2024-01-02', 'x': None}
"""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import math
import time
import uuid
from typing import Any

import numpy as np
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from vecdb.errors import VecdbError
from vecdb_server.core import ServiceCore

__all__ = [
    "JSON",
    "JsonBodies",
    "LimitAndMetrics",
    "TooLarge",
    "error_response",
    "to_json",
    "OPEN_PATHS",
]


# --------------------------------------------------------------------------- JSON out


def to_json(v: Any) -> Any:
    """A value from the engine as plain JSON (numpy -> lists, dates -> ISO text, NaN -> null).

    >>> to_json({"v": np.float32(0.5), "d": _dt.date(2024, 1, 2), "x": float("nan")})
    {'v': 0.5, 'd': '2024-01-02', 'x': None}
    """
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, np.ndarray):
        return [to_json(x) for x in v.tolist()]
    if isinstance(v, np.generic):
        return to_json(v.item())
    if isinstance(v, dict):
        return {str(k): to_json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_json(x) for x in v]
    if isinstance(v, (_dt.date, _dt.time, _dt.datetime)):
        return v.isoformat()
    if isinstance(v, (decimal.Decimal, uuid.UUID)):
        return str(v)
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode("latin-1")
    if isinstance(v, _dt.timedelta):
        return v.total_seconds()
    return str(v)


class JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode()


def error_response(err: VecdbError, status: int | None = None) -> JSONResponse:
    return JSON({"error": err.to_dict()}, status_code=status or err.http_status)


# --------------------------------------------------------------------------- middleware


class LimitAndMetrics:
    """Pure ASGI middleware: body-size limit (413) and request metrics by route template."""

    def __init__(self, app: Any, core: ServiceCore) -> None:
        self.app = app
        self.core = core

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status_box = [500]
        limit = self.core.config.max_message_bytes
        started = [False]

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
                started[0] = True
            await send(message)

        try:
            refusal = self._unauthenticated(scope)
            if refusal is not None:
                await self._send_error(refusal, send_wrapper)
                return
            length = content_length(scope)
            if length is not None and length > limit:
                await self._too_large(length, send_wrapper)
                return
            seen = [0]

            async def receive_wrapper() -> dict:
                message = await receive()
                if message["type"] == "http.request":
                    seen[0] += len(message.get("body", b""))
                    if seen[0] > limit:
                        raise TooLarge(seen[0])
                return message

            try:
                await self.app(scope, receive_wrapper, send_wrapper)
            except TooLarge as e:
                if not started[0]:
                    await self._too_large(e.nbytes, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.core.metrics.observe(
                "rest",
                f"{scope.get('method', '')} {path}",
                str(status_box[0]),
                time.perf_counter() - t0,
            )

    def _unauthenticated(self, scope: dict) -> VecdbError | None:
        """The key is checked here, before any byte of the body is read or decoded.

        ``/healthz`` and the API docs are open; ``/metrics`` is open only with
        ``metrics_public``. Which key may do what is decided later, per route.
        """
        config = self.core.config
        if not config.auth_enabled:
            return None
        path = scope.get("path", "")
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            return None
        if path == "/metrics" and config.metrics_public:
            return None
        try:
            self.core.authenticate(bearer_token(scope))
        except VecdbError as e:
            return e
        return None

    async def _send_error(self, err: VecdbError, send: Any) -> None:
        resp = error_response(err)
        if err.http_status == 401:
            resp.headers["www-authenticate"] = "Bearer"
        await resp({"type": "http"}, None, send)  # type: ignore[arg-type]  # never reads

    async def _too_large(self, nbytes: int, send: Any) -> None:
        await self._send_error(self.core.too_large(nbytes), send)


class TooLarge(StarletteHTTPException):
    """A body over the limit, found while reading it. An HTTPException, so that FastAPI's
    body reader passes it on (it turns other exceptions into 400) to the 413 handler."""

    def __init__(self, nbytes: int) -> None:
        super().__init__(413, f"request of {nbytes} bytes is too large")
        self.nbytes = nbytes


OPEN_PATHS = frozenset({"/healthz", "/docs", "/redoc", "/openapi.json"})
OPEN_PREFIXES = ("/docs/", "/docs-assets/", "/static/")


def bearer_token(scope: dict) -> str | None:
    """The key from ``Authorization: Bearer KEY`` (scheme case-insensitive, spaces trimmed).

    >>> bearer_token({"headers": [(b"authorization", b"bearer   k1 ")]})
    'k1'
    """
    for k, v in scope.get("headers") or ():
        if k == b"authorization":
            value = v.decode("latin-1").strip()
            scheme, _, rest = value.partition(" ")
            return rest.strip() if scheme.lower() == "bearer" else None
    return None


def content_length(scope: dict) -> int | None:
    for k, v in scope.get("headers") or ():
        if k == b"content-length":
            try:
                return int(v)
            except ValueError:
                return None
    return None


class JsonBodies:
    """Pure ASGI middleware: a request body is JSON whatever its content type says.

    ``curl -d '{...}'`` sends ``application/x-www-form-urlencoded`` and some clients send
    no content type at all; every vecdb route takes JSON, so both are read as JSON (the
    gRPC and embedded APIs have no such header to get wrong).
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("method") in ("POST", "PUT", "PATCH"):
            headers = [(k, v) for k, v in scope.get("headers") or () if k != b"content-type"]
            ctype = next((v for k, v in scope.get("headers") or () if k == b"content-type"), b"")
            if b"json" not in ctype.lower():
                scope = dict(scope, headers=[*headers, (b"content-type", b"application/json")])
        await self.app(scope, receive, send)
