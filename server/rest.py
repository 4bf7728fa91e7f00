"""The REST transport: a FastAPI app over a :class:`~vecdb_server.core.ServiceCore`.

JSON bodies are named like the Python arguments; errors are
``{"error": {"code": ..., "message": ...}}`` with the error class's HTTP status.

>>> from fastapi.testclient import TestClient                    # doctest: +SKIP
>>> client = TestClient(create_app(core))                         # doctest: +SKIP
>>> client.get("/healthz").json()                                 # doctest: +SKIP
{'status': 'ok'}
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
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from vecdb.errors import InvalidArgumentError, VecdbError
from vecdb_server.core import ServiceCore, as_vecdb_error

__all__ = ["create_app"]

_bearer = HTTPBearer(auto_error=False, description="The API key: `Authorization: Bearer KEY`.")

_HTTP_CODES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    409: "ALREADY_EXISTS",
    413: "LIMIT_EXCEEDED",
    415: "INVALID_ARGUMENT",
    422: "INVALID_ARGUMENT",
}

Scalar = int | float | str | bool | None
JSONValue = Any


# --------------------------------------------------------------------------- bodies


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateCollectionBody(_Body):
    """``db.create_collection(...)``."""

    name: str = Field(examples=["docs"])
    dim: int | None = Field(None, examples=[384], description="required without embedding")
    metric: str = Field("cosine", examples=["cosine"], description="cosine | l2 | ip")
    index: str = Field("hnsw", examples=["hnsw"], description="hnsw | ivf | exact")
    index_params: dict[str, JSONValue] | None = None
    columns: dict[str, str] | None = Field(None, examples=[{"title": "VARCHAR"}])
    id_type: str = Field("int", description="int | str")
    exist_ok: bool = False
    embedding: str | dict[str, JSONValue] | None = Field(
        None,
        examples=["sentence-transformers/all-MiniLM-L6-v2"],
        description="provider spec; the server embeds documents and text queries with it",
    )
    fulltext: bool | dict[str, JSONValue] = Field(False, description="BM25 index on document")


class UpsertBody(_Body):
    """``collection.upsert(ids, vectors, rows)``."""

    ids: list[int] | list[str]
    vectors: list[list[float]] | None = None
    rows: list[dict[str, JSONValue]] | None = None
    documents: list[str | None] | None = None


class SearchBody(_Body):
    """``collection.search(...)``: ``vector`` for one query or ``vectors`` for a batch."""

    vector: list[float] | None = None
    vectors: list[list[float]] | None = None
    query_text: str | None = Field(None, description="a text query, embedded by the server")
    k: int = 10
    where: str | None = None
    params: dict[str, JSONValue] | list[JSONValue] | None = None
    include: list[str] | str | None = None
    ef: int | None = None
    nprobe: int | None = None
    mode: str | None = Field(None, description="vector | fulltext | hybrid")
    text: str | None = Field(None, description="keyword text for fulltext/hybrid")
    fusion: str | dict[str, JSONValue] | None = None


class ExplainBody(_Body):
    """``collection.explain(...)``."""

    vector: list[float] | None = None
    query_text: str | None = None
    k: int = 10
    where: str | None = None
    params: dict[str, JSONValue] | list[JSONValue] | None = None
    ef: int | None = None
    nprobe: int | None = None
    mode: str | None = None
    text: str | None = None
    fusion: str | dict[str, JSONValue] | None = None


class DeleteBody(_Body):
    """``collection.delete(ids=... | where=...)``."""

    ids: list[int] | list[str] | None = None
    where: str | None = None
    params: dict[str, JSONValue] | list[JSONValue] | None = None


class GetBody(_Body):
    """``collection.get(ids, include)``."""

    ids: list[int] | list[str]
    include: list[str] | str | None = None


class SqlBody(_Body):
    """``db.sql(sql, params)``."""

    sql: str = Field(examples=["SELECT id FROM docs LIMIT 3"])
    params: dict[str, JSONValue] | list[JSONValue] | None = None


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


class _JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode()


def _error_response(err: VecdbError, status: int | None = None) -> JSONResponse:
    return _JSON({"error": err.to_dict()}, status_code=status or err.http_status)


# --------------------------------------------------------------------------- middleware


class _LimitAndMetrics:
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
            length = _content_length(scope)
            if length is not None and length > limit:
                await self._too_large(length, send_wrapper)
                return
            seen = [0]

            async def receive_wrapper() -> dict:
                message = await receive()
                if message["type"] == "http.request":
                    seen[0] += len(message.get("body", b""))
                    if seen[0] > limit:
                        raise _TooLarge(seen[0])
                return message

            try:
                await self.app(scope, receive_wrapper, send_wrapper)
            except _TooLarge as e:
                if not started[0]:
                    await self._too_large(e.args[0], send_wrapper)
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
        if path in _OPEN_PATHS or path.startswith(_OPEN_PREFIXES):
            return None
        if path == "/metrics" and config.metrics_public:
            return None
        try:
            self.core.authenticate(_bearer_token(scope))
        except VecdbError as e:
            return e
        return None

    async def _send_error(self, err: VecdbError, send: Any) -> None:
        resp = _error_response(err)
        if err.http_status == 401:
            resp.headers["www-authenticate"] = "Bearer"
        await resp({"type": "http"}, None, send)

    async def _too_large(self, nbytes: int, send: Any) -> None:
        await self._send_error(self.core.too_large(nbytes), send)


class _TooLarge(Exception):
    pass


_OPEN_PATHS = frozenset({"/healthz", "/docs", "/redoc", "/openapi.json"})
_OPEN_PREFIXES = ("/docs/", "/static/")


def _bearer_token(scope: dict) -> str | None:
    """The key from ``Authorization: Bearer KEY`` (scheme case-insensitive, spaces trimmed).

    >>> _bearer_token({"headers": [(b"authorization", b"bearer   k1 ")]})
    'k1'
    """
    for k, v in scope.get("headers") or ():
        if k == b"authorization":
            value = v.decode("latin-1").strip()
            scheme, _, rest = value.partition(" ")
            return rest.strip() if scheme.lower() == "bearer" else None
    return None


def _content_length(scope: dict) -> int | None:
    for k, v in scope.get("headers") or ():
        if k == b"content-length":
            try:
                return int(v)
            except ValueError:
                return None
    return None


# --------------------------------------------------------------------------- app


def create_app(core: ServiceCore) -> FastAPI:
    """The REST app over ``core``; OpenAPI at ``/openapi.json``, docs at ``/docs``."""
    app = FastAPI(
        title="vecdb",
        version="1",
        description="Vectors and their metadata in one database. Errors are "
        '`{"error": {"code", "message"}}`; send the API key as `Authorization: Bearer KEY`.',
    )

    def _token(cred: HTTPAuthorizationCredentials | None) -> str | None:
        return cred.credentials.strip() if cred is not None else None

    # The key checks are async on purpose: they are a constant-time compare, and a sync
    # dependency would cost every request an extra hop through the thread pool.
    async def read_access(
        cred: HTTPAuthorizationCredentials | None = Depends(_bearer),
    ) -> str | None:
        core.authorize(_token(cred), write=False)
        return _token(cred)

    async def write_access(
        cred: HTTPAuthorizationCredentials | None = Depends(_bearer),
    ) -> str | None:
        core.authorize(_token(cred), write=True)
        return _token(cred)

    async def any_key(cred: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> str | None:
        return _token(cred)

    @app.exception_handler(VecdbError)
    async def _vecdb_error(request: Request, exc: VecdbError) -> Response:
        return _error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        for e in errors:
            whole_body = tuple(e.get("loc", ())) == ("body",)
            if e.get("type") == "json_invalid" or (
                whole_body and e.get("type") in ("model_attributes_type", "dict_type")
            ):
                return _error_response(
                    InvalidArgumentError("malformed JSON body: expected a JSON object"), 400
                )
        parts = []
        for e in errors[:5]:
            loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
            parts.append(f"{loc or 'body'}: {e.get('msg', 'invalid')}")
        return _error_response(InvalidArgumentError("invalid request: " + "; ".join(parts)), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "INTERNAL")
        return _JSON(
            {"error": {"code": code, "message": str(exc.detail)}},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        return _error_response(as_vecdb_error(exc))

    def run(fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except VecdbError:
            raise
        except Exception as exc:  # engine bugs and unwrapped bad input
            raise as_vecdb_error(exc) from exc

    # -- health & metrics -------------------------------------------------------------

    @app.get("/healthz", tags=["ops"], summary="Liveness: always open")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse, summary="Prometheus")
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(
            core.metrics.render(core.collection_rows()),
            media_type="text/plain; version=0.0.4; charset=utf-8",
        )

    # -- collections ------------------------------------------------------------------

    @app.post("/v1/collections", tags=["collections"], status_code=201)
    def create_collection(body: CreateCollectionBody, _: Any = Depends(write_access)) -> Any:
        return _JSON(to_json(run(core.create_collection, **body.model_dump())), 201)

    @app.get("/v1/collections", tags=["collections"])
    def list_collections(_: Any = Depends(read_access)) -> Any:
        return _JSON({"collections": run(core.list_collections)})

    @app.get("/v1/collections/{name}", tags=["collections"])
    def get_collection(name: str, _: Any = Depends(read_access)) -> Any:
        return _JSON(to_json(run(core.get_collection, name)))

    @app.delete("/v1/collections/{name}", tags=["collections"])
    def drop_collection(name: str, missing_ok: bool = False, _: Any = Depends(write_access)) -> Any:
        run(core.drop_collection, name, missing_ok=missing_ok)
        return _JSON({"dropped": name})

    # -- rows ---------------------------------------------------------------------------

    @app.post("/v1/collections/{name}/upsert", tags=["rows"])
    def upsert(name: str, body: UpsertBody, _: Any = Depends(write_access)) -> Any:
        n = run(
            core.write, name, body.ids, _vectors(body.vectors), body.rows, documents=body.documents
        )
        return _JSON({"count": n})

    @app.post("/v1/collections/{name}/add", tags=["rows"])
    def add(name: str, body: UpsertBody, _: Any = Depends(write_access)) -> Any:
        n = run(
            core.write,
            name,
            body.ids,
            _vectors(body.vectors),
            body.rows,
            add=True,
            documents=body.documents,
        )
        return _JSON({"count": n})

    @app.post("/v1/collections/{name}/delete", tags=["rows"])
    def delete(name: str, body: DeleteBody, _: Any = Depends(write_access)) -> Any:
        n = run(core.delete, name, ids=body.ids, where=body.where, params=body.params)
        return _JSON({"count": n})

    @app.post("/v1/collections/{name}/get", tags=["rows"])
    def get(name: str, body: GetBody, _: Any = Depends(read_access)) -> Any:
        records = run(core.get, name, body.ids, include=body.include)
        return _JSON(
            {
                "records": [
                    {"id": to_json(r.id), "vector": to_json(r.vector), "row": to_json(r.row)}
                    for r in records
                ]
            }
        )

    @app.get("/v1/collections/{name}/count", tags=["rows"])
    def count(name: str, where: str | None = None, _: Any = Depends(read_access)) -> Any:
        return _JSON({"count": run(core.count, name, where=where)})

    # -- queries ------------------------------------------------------------------------

    @app.post("/v1/collections/{name}/search", tags=["queries"])
    def search(name: str, body: SearchBody, _: Any = Depends(read_access)) -> Any:
        given = [x is not None for x in (body.vector, body.vectors, body.query_text)]
        if sum(given) != 1:
            raise InvalidArgumentError(
                "give exactly one of 'vector' (one query), 'vectors' or 'query_text'"
            )
        single = body.vectors is None
        if body.query_text is not None:
            query: Any = body.query_text
        else:
            q = _vectors([body.vector] if body.vector is not None else body.vectors)
            query = q[0] if single else q  # type: ignore[index]
        res = run(
            core.search,
            name,
            query,
            k=body.k,
            where=body.where,
            params=body.params,
            include=body.include,
            ef=body.ef,
            nprobe=body.nprobe,
            mode=body.mode,
            text=body.text,
            fusion=body.fusion,
        )
        lists = [res] if single else res
        return _JSON(
            {
                "results": [
                    [
                        {
                            "id": to_json(h.id),
                            "distance": to_json(h.distance),
                            "row": to_json(h.row),
                        }
                        for h in hits
                    ]
                    for hits in lists
                ]
            }
        )

    @app.post("/v1/collections/{name}/explain", tags=["queries"])
    def explain(name: str, body: ExplainBody, _: Any = Depends(read_access)) -> Any:
        if (body.vector is None) == (body.query_text is None):
            raise InvalidArgumentError("give exactly one of 'vector' or 'query_text'")
        q: Any = body.query_text
        if q is None:
            q = _vectors([body.vector])[0]  # type: ignore[list-item,index]
        info = run(
            core.explain,
            name,
            q,
            k=body.k,
            where=body.where,
            params=body.params,
            ef=body.ef,
            nprobe=body.nprobe,
            mode=body.mode,
            text=body.text,
            fusion=body.fusion,
        )
        return _JSON(to_json(info))

    @app.post("/v1/sql", tags=["queries"])
    def sql(body: SqlBody, token: Any = Depends(any_key)) -> Any:
        read_only = core.authorize_sql(token, body.sql)
        result = run(core.sql, body.sql, body.params, read_only=read_only)
        table = result.to_arrow()
        cols = [c.to_pylist() for c in table.columns]
        rows = [list(r) for r in zip(*cols, strict=True)] if cols else []
        return _JSON({"columns": list(table.column_names), "rows": to_json(rows)})

    app.add_middleware(_LimitAndMetrics, core=core)
    return app


def _vectors(v: list[list[float]] | None) -> np.ndarray | None:
    """JSON vectors as float32 (ragged input is left as lists for the engine to reject)."""
    if v is None:
        return None
    try:
        with np.errstate(over="ignore"):  # out-of-range floats become inf; the engine rejects
            return np.asarray(v, dtype=np.float32)
    except (ValueError, TypeError):
        raise InvalidArgumentError("vectors must all have the same length") from None
