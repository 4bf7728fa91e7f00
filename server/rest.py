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
from importlib import resources
from typing import Annotated, Any

import numpy as np
from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr
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
#
# Strict types: REST refuses what the embedded API and gRPC refuse ("5" is not a k, true is
# not an id); a JSON integer is still a valid float component.

Float = StrictFloat | StrictInt
Vector = list[Float]
Ids = list[StrictInt] | list[StrictStr]
Params = dict[str, JSONValue] | list[JSONValue] | None
Include = list[StrictStr] | StrictStr | None
_PARAMS_DOC = "values for `$name` (an object) or `?` (a list) placeholders in `where`"
_INCLUDE_DOC = 'columns to return with each row: a list of names or "*" for all'


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateCollectionBody(_Body):
    """``db.create_collection(...)``."""

    name: StrictStr = Field(examples=["docs"])
    dim: StrictInt | None = Field(None, examples=[384], description="required without embedding")
    metric: StrictStr = Field("cosine", examples=["cosine"], description="cosine | l2 | ip")
    index: StrictStr = Field("hnsw", examples=["hnsw"], description="hnsw | ivf | exact")
    index_params: dict[str, JSONValue] | None = Field(None, examples=[{"m": 16}])
    columns: dict[str, StrictStr] | None = Field(None, examples=[{"title": "VARCHAR"}])
    id_type: StrictStr = Field("int", description="int | str")
    exist_ok: StrictBool = False
    embedding: StrictStr | dict[str, JSONValue] | None = Field(
        None,
        examples=["sentence-transformers/all-MiniLM-L6-v2"],
        description="provider spec; the server embeds documents and text queries with it",
    )
    fulltext: StrictBool | dict[str, JSONValue] = Field(False, description="BM25 index on document")


class UpsertBody(_Body):
    """``collection.upsert(ids, vectors, rows)`` (and ``add``)."""

    ids: Ids = Field(examples=[[1, 2]])
    vectors: list[Vector] | None = Field(
        None,
        examples=[[[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]]],
        description="one per id; omit to have the server embed documents",
    )
    rows: list[dict[str, JSONValue] | None] | None = Field(
        None, examples=[[{"title": "a"}, {"title": "b"}]]
    )
    documents: list[StrictStr | None] | None = None


class SearchBody(_Body):
    """``collection.search(...)``: ``vector`` for one query or ``vectors`` for a batch."""

    vector: Vector | None = Field(None, examples=[[0.1, 0.2, 0.3]])
    vectors: list[Vector] | None = None
    query_text: StrictStr | None = Field(None, description="a text query, embedded by the server")
    k: StrictInt = 10
    where: StrictStr | None = Field(None, examples=["year >= $y"])
    params: Params = Field(None, description=_PARAMS_DOC, examples=[{"y": 2020}])
    include: Include = Field(None, description=_INCLUDE_DOC)
    ef: StrictInt | None = None
    nprobe: StrictInt | None = None
    mode: StrictStr | None = Field(None, description="vector | fulltext | hybrid")
    text: StrictStr | None = Field(None, description="keyword text for fulltext/hybrid")
    fusion: StrictStr | dict[str, JSONValue] | None = None


class ExplainBody(_Body):
    """``collection.explain(...)``."""

    vector: Vector | None = Field(None, examples=[[0.1, 0.2, 0.3]])
    query_text: StrictStr | None = None
    k: StrictInt = 10
    where: StrictStr | None = None
    params: Params = Field(None, description=_PARAMS_DOC)
    ef: StrictInt | None = None
    nprobe: StrictInt | None = None
    mode: StrictStr | None = None
    text: StrictStr | None = None
    fusion: StrictStr | dict[str, JSONValue] | None = None


class DeleteBody(_Body):
    """``collection.delete(ids=... | where=...)``."""

    ids: Ids | None = None
    where: StrictStr | None = None
    params: Params = Field(None, description=_PARAMS_DOC)


class GetBody(_Body):
    """``collection.get(ids, include)``."""

    ids: Ids = Field(examples=[[1, 2]])
    include: Include = Field(None, description=_INCLUDE_DOC)


class CountBody(_Body):
    """``collection.count(where, params)``."""

    where: StrictStr | None = Field(None, examples=["year >= $y"])
    params: Params = Field(None, description=_PARAMS_DOC, examples=[{"y": 2020}])


class SqlBody(_Body):
    """``db.sql(sql, params)``."""

    sql: StrictStr = Field(examples=["SELECT id FROM docs LIMIT 3"])
    params: Params = Field(None, description="values for `$name` or `?` placeholders")


# --------------------------------------------------------------------------- answers
#
# Routes return their JSON directly (no second validation pass); these models document it.


class ErrorDetail(BaseModel):
    """What went wrong: the error class's wire name and a message saying what to change."""

    code: str = Field(examples=["NOT_FOUND"])
    message: str = Field(examples=["collection 'docs' does not exist"])


class ErrorResponse(BaseModel):
    """Every error answer: ``{"error": {"code", "message"}}``."""

    error: ErrorDetail


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    reason: str | None = Field(default=None, examples=["disk full: 0 bytes free under data/"])


class CollectionInfo(BaseModel):
    """A collection's definition and row count (``collection.describe()``)."""

    name: str
    dim: int
    metric: str
    index: str
    index_params: dict[str, JSONValue]
    columns: dict[str, str]
    id_type: str
    count: int


class CollectionList(BaseModel):
    collections: list[str] = Field(examples=[["docs"]])


class Dropped(BaseModel):
    dropped: str = Field(examples=["docs"])


class Compacted(BaseModel):
    compacted: str = Field(examples=["docs"])


class Count(BaseModel):
    """Rows written, deleted or counted."""

    count: int


class RecordOut(BaseModel):
    id: int | str
    vector: list[float]
    row: dict[str, JSONValue] | None


class Records(BaseModel):
    """Found records in the order asked; missing ids are left out."""

    records: list[RecordOut]


class HitOut(BaseModel):
    id: int | str
    distance: float | None = Field(description="the metric's distance; smaller is nearer")
    row: dict[str, JSONValue] | None = Field(description="the included columns, or null")


class SearchResults(BaseModel):
    """One list of hits per query vector (one list for ``vector``), nearest first."""

    results: list[list[HitOut]]


class Plan(BaseModel):
    """How a search runs (``collection.explain()``); more keys may appear."""

    model_config = ConfigDict(extra="allow")

    strategy: str = Field(examples=["exact-allowlist"])
    estimated_rows: int
    matching_rows: int
    total_rows: int
    k: int
    candidates: int
    index: str
    index_params: dict[str, JSONValue]
    fallbacks: int


class SqlResult(BaseModel):
    columns: list[str] = Field(examples=[["id", "title"]])
    rows: list[list[JSONValue]] = Field(examples=[[[1, "intro"]]])


_ERROR_TEXT = {
    400: "Invalid argument: a bad value, wrong dimension, bad predicate or SQL",
    401: "Missing or invalid API key (`Authorization: Bearer KEY`)",
    403: "The key may not do this (the read-only key writing, or SQL outside the confinement)",
    404: "No such collection or column",
    409: "Already exists (a collection name, or an id given to add)",
    413: "Over a limit: max_message_bytes, max_k, max_batch_rows or request_timeout_s",
}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, all ``ErrorResponse``."""
    return {c: {"model": ErrorResponse, "description": _ERROR_TEXT[c]} for c in codes}


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


class _TooLarge(StarletteHTTPException):
    """A body over the limit, found while reading it. An HTTPException, so that FastAPI's
    body reader passes it on (it turns other exceptions into 400) to the 413 handler."""

    def __init__(self, nbytes: int) -> None:
        super().__init__(413, f"request of {nbytes} bytes is too large")
        self.nbytes = nbytes


_OPEN_PATHS = frozenset({"/healthz", "/docs", "/redoc", "/openapi.json"})
_OPEN_PREFIXES = ("/docs/", "/docs-assets/", "/static/")


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


def _docs_assets() -> str:
    """The folder of Swagger UI and ReDoc files that ``fastapi-offline`` ships (so the
    docs pages load nothing from the internet)."""
    return str(resources.files("fastapi_offline") / "static")


class _JsonBodies:
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


def create_app(core: ServiceCore) -> FastAPI:
    """The REST app over ``core``: OpenAPI at ``/openapi.json``, Swagger UI at ``/docs`` and
    ReDoc at ``/redoc``, both served from local files (no CDN)."""
    app = FastAPI(
        title="vecdb",
        version="1",
        description="Vectors and their metadata in one database. Errors are "
        '`{"error": {"code", "message"}}` with the status of the error class; send the API '
        "key as `Authorization: Bearer KEY`. Bodies are JSON (with or without a content type).",
        docs_url=None,
        redoc_url=None,
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
        # a bad value is InvalidArgumentError (400) on every transport
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
        return _error_response(InvalidArgumentError("invalid request: " + "; ".join(parts)))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if isinstance(exc, _TooLarge):
            return _error_response(core.too_large(exc.nbytes))
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

    # -- docs (local assets) ----------------------------------------------------------

    app.mount("/docs-assets", StaticFiles(directory=_docs_assets()), name="docs-assets")

    def _root(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = _root(request)
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title="vecdb API",
            swagger_js_url=f"{root}/docs-assets/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/docs-assets/swagger-ui.css",
            swagger_favicon_url=f"{root}/docs-assets/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = _root(request)
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title="vecdb API",
            redoc_js_url=f"{root}/docs-assets/redoc.standalone.js",
            redoc_favicon_url=f"{root}/docs-assets/favicon.png",
            with_google_fonts=False,
        )

    def openapi() -> dict[str, Any]:
        # validation errors answer 400 ErrorResponse (documented per route), never 422
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            for path in spec.get("paths", {}).values():
                for op in path.values():
                    op.get("responses", {}).pop("422", None)
            schemas = spec.get("components", {}).get("schemas", {})
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    # -- health & metrics -------------------------------------------------------------

    @app.get(
        "/healthz",
        tags=["ops"],
        summary="Health: 200 ok, or 503 with the reason (always open)",
        response_model=Health,
        response_model_exclude_none=True,
        responses={503: {"model": Health, "description": "unavailable, with the reason"}},
    )
    def healthz() -> Any:
        ok, reason = core.health()
        if ok:
            return {"status": "ok"}
        return _JSON({"status": "unavailable", "reason": reason}, status_code=503)

    @app.get(
        "/metrics",
        tags=["ops"],
        response_class=PlainTextResponse,
        summary="Prometheus metrics (text exposition format)",
    )
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(
            core.metrics.render(core.collection_rows()),
            media_type="text/plain; version=0.0.4; charset=utf-8",
        )

    # -- collections ------------------------------------------------------------------

    @app.post(
        "/v1/collections",
        tags=["collections"],
        status_code=201,
        summary="Create a collection",
        response_model=CollectionInfo,
        responses=_errors(400, 401, 403, 409, 413),
    )
    def create_collection(body: CreateCollectionBody, _: Any = Depends(write_access)) -> Any:
        return _JSON(to_json(run(core.create_collection, **body.model_dump())), 201)

    @app.get(
        "/v1/collections",
        tags=["collections"],
        summary="List collection names",
        response_model=CollectionList,
        responses=_errors(401),
    )
    def list_collections(_: Any = Depends(read_access)) -> Any:
        return _JSON({"collections": run(core.list_collections)})

    @app.get(
        "/v1/collections/{name}",
        tags=["collections"],
        summary="Describe a collection",
        response_model=CollectionInfo,
        responses=_errors(401, 404),
    )
    def get_collection(name: str, _: Any = Depends(read_access)) -> Any:
        return _JSON(to_json(run(core.get_collection, name)))

    @app.delete(
        "/v1/collections/{name}",
        tags=["collections"],
        summary="Drop a collection and its rows",
        response_model=Dropped,
        responses=_errors(400, 401, 403, 404),
    )
    def drop_collection(
        name: str, missing_ok: bool = False, _: Any = Depends(write_access)
    ) -> Any:  # a query string is text: missing_ok=true|false|1|0
        run(core.drop_collection, name, missing_ok=missing_ok)
        return _JSON({"dropped": name})

    @app.post(
        "/v1/collections/{name}/compact",
        tags=["collections"],
        summary="Compact a collection's index (drop deleted entries)",
        response_model=Compacted,
        responses=_errors(401, 403, 404),
    )
    def compact(name: str, _: Any = Depends(write_access)) -> Any:
        run(core.compact, name)
        return _JSON({"compacted": name})

    # -- rows ---------------------------------------------------------------------------

    write_errors = _errors(400, 401, 403, 404, 413)

    @app.post(
        "/v1/collections/{name}/upsert",
        tags=["rows"],
        summary="Insert or replace rows (one atomic batch)",
        response_model=Count,
        responses=write_errors,
    )
    def upsert(name: str, body: UpsertBody, _: Any = Depends(write_access)) -> Any:
        n = run(
            core.write, name, body.ids, _vectors(body.vectors), body.rows, documents=body.documents
        )
        return _JSON({"count": n})

    @app.post(
        "/v1/collections/{name}/add",
        tags=["rows"],
        summary="Insert new rows; an existing id is an error (409)",
        response_model=Count,
        responses=_errors(400, 401, 403, 404, 409, 413),
    )
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

    @app.post(
        "/v1/collections/{name}/delete",
        tags=["rows"],
        summary="Delete rows by ids or by a where predicate",
        response_model=Count,
        responses=write_errors,
    )
    def delete(name: str, body: DeleteBody, _: Any = Depends(write_access)) -> Any:
        n = run(core.delete, name, ids=body.ids, where=body.where, params=body.params)
        return _JSON({"count": n})

    read_errors = _errors(400, 401, 404, 413)

    @app.post(
        "/v1/collections/{name}/get",
        tags=["rows"],
        summary="Get records by id",
        response_model=Records,
        responses=read_errors,
    )
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

    @app.get(
        "/v1/collections/{name}/count",
        tags=["rows"],
        summary="Count rows, optionally matching where (params as JSON text)",
        response_model=Count,
        responses=read_errors,
    )
    def count(
        name: str,
        where: Annotated[StrictStr | None, Query(examples=["year >= $y"])] = None,
        params: Annotated[
            StrictStr | None,
            Query(description=_PARAMS_DOC + ", as JSON text", examples=['{"y": 2020}']),
        ] = None,
        _: Any = Depends(read_access),
    ) -> Any:
        return _JSON({"count": run(core.count, name, where=where, params=_json_param(params))})

    @app.post(
        "/v1/collections/{name}/count",
        tags=["rows"],
        summary="Count rows matching where, with params in the body",
        response_model=Count,
        responses=read_errors,
    )
    def count_post(
        name: str,
        body: Annotated[CountBody | None, Body()] = None,
        _: Any = Depends(read_access),
    ) -> Any:
        where, params = (body.where, body.params) if body is not None else (None, None)
        return _JSON({"count": run(core.count, name, where=where, params=params)})

    # -- queries ------------------------------------------------------------------------

    @app.post(
        "/v1/collections/{name}/search",
        tags=["queries"],
        summary="Nearest rows to a vector (or a batch), optionally filtered by where",
        response_model=SearchResults,
        responses=read_errors,
    )
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

    @app.post(
        "/v1/collections/{name}/explain",
        tags=["queries"],
        summary="How a search would run: strategy, matching rows, index parameters",
        response_model=Plan,
        responses=read_errors,
    )
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

    @app.post(
        "/v1/sql",
        tags=["queries"],
        summary="Run one SQL statement (reads need any key, writes the full key)",
        response_model=SqlResult,
        responses=_errors(400, 401, 403, 404, 409, 413),
    )
    def sql(body: SqlBody, token: Any = Depends(any_key)) -> Any:
        read_only = core.authorize_sql(token, body.sql)
        result = run(core.sql, body.sql, body.params, read_only=read_only)
        table = result.to_arrow()
        cols = [c.to_pylist() for c in table.columns]
        rows = [list(r) for r in zip(*cols, strict=True)] if cols else []
        return _JSON({"columns": list(table.column_names), "rows": to_json(rows)})

    app.add_middleware(_LimitAndMetrics, core=core)
    app.add_middleware(_JsonBodies)
    return app


def _json_param(text: str | None) -> Any:
    """``params`` from a query string: JSON text of an object or a list."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        raise InvalidArgumentError(
            'params must be JSON text: an object ({"y": 2020}) or a list ([2020])'
        ) from None
    if not isinstance(value, (dict, list)):
        raise InvalidArgumentError("params must be a JSON object or list")
    return value


def _vectors(v: list[list[float]] | None) -> np.ndarray | None:
    """JSON vectors as float32 (ragged input is left as lists for the engine to reject)."""
    if v is None:
        return None
    try:
        with np.errstate(over="ignore"):  # out-of-range floats become inf; the engine rejects
            return np.asarray(v, dtype=np.float32)
    except (ValueError, TypeError):
        raise InvalidArgumentError("vectors must all have the same length") from None
