"""The REST transport: a FastAPI app over a :class:`~vecdb_server.core.ServiceCore`.

JSON bodies are named like the Python arguments; errors are
``{"error": {"code": ..., "message": ...}}`` with the error class's HTTP status.

>>> from fastapi.testclient import TestClient                    # doctest: +SKIP
>>> client = TestClient(create_app(core))                         # doctest: +SKIP
>>> client.get("/healthz").json()                                 # doctest: +SKIP
{'status': 'ok'}
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import StrictStr
from starlette.exceptions import HTTPException as StarletteHTTPException

from vecdb import api
from vecdb.errors import InvalidArgumentError, VecdbError
from vecdb.rpc import codec
from vecdb_server.core import ServiceCore, as_vecdb_error
from vecdb_server.rest_asgi import (
    JSON,
    JsonBodies,
    LimitAndMetrics,
    TooLarge,
    error_response,
    to_json,
)
from vecdb_server.rest_models import (
    PARAMS_DOC,
    CollectionInfo,
    CollectionList,
    Compacted,
    Count,
    CountBody,
    CreateCollectionBody,
    DeleteBody,
    Dropped,
    ExplainBody,
    GetBody,
    Health,
    Plan,
    Records,
    SearchBody,
    SearchResults,
    SqlBody,
    SqlResult,
    UpsertBody,
    errors_doc,
)

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


# --------------------------------------------------------------------------- app


def _docs_assets() -> str:
    """The folder of Swagger UI and ReDoc files that ``fastapi-offline`` ships (so the
    docs pages load nothing from the internet)."""
    return str(resources.files("fastapi_offline") / "static")


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
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        # a bad value is InvalidArgumentError (400) on every transport
        errors = exc.errors()
        for e in errors:
            whole_body = tuple(e.get("loc", ())) == ("body",)
            if e.get("type") == "json_invalid" or (
                whole_body and e.get("type") in ("model_attributes_type", "dict_type")
            ):
                return error_response(
                    InvalidArgumentError("malformed JSON body: expected a JSON object"), 400
                )
        parts = []
        for e in errors[:5]:
            loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
            parts.append(f"{loc or 'body'}: {e.get('msg', 'invalid')}")
        return error_response(InvalidArgumentError("invalid request: " + "; ".join(parts)))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if isinstance(exc, TooLarge):
            return error_response(core.too_large(exc.nbytes))
        code = _HTTP_CODES.get(exc.status_code, "INTERNAL")
        return JSON(
            {"error": {"code": code, "message": str(exc.detail)}},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        return error_response(as_vecdb_error(exc))

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
        return JSON({"status": "unavailable", "reason": reason}, status_code=503)

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
        responses=errors_doc(400, 401, 403, 409, 413),
    )
    def create_collection(body: CreateCollectionBody, _: Any = Depends(write_access)) -> Any:
        return JSON(to_json(run(core.execute, body.to_request())), 201)

    @app.get(
        "/v1/collections",
        tags=["collections"],
        summary="List collection names",
        response_model=CollectionList,
        responses=errors_doc(401),
    )
    def list_collections(_: Any = Depends(read_access)) -> Any:
        return JSON({"collections": run(core.execute, api.ListCollectionsRequest())})

    @app.get(
        "/v1/collections/{name}",
        tags=["collections"],
        summary="Describe a collection",
        response_model=CollectionInfo,
        responses=errors_doc(401, 404),
    )
    def get_collection(name: str, _: Any = Depends(read_access)) -> Any:
        return JSON(to_json(run(core.execute, api.GetCollectionRequest(name))))

    @app.delete(
        "/v1/collections/{name}",
        tags=["collections"],
        summary="Drop a collection and its rows",
        response_model=Dropped,
        responses=errors_doc(400, 401, 403, 404),
    )
    def drop_collection(
        name: str, missing_ok: bool = False, _: Any = Depends(write_access)
    ) -> Any:  # a query string is text: missing_ok=true|false|1|0
        run(core.execute, api.DropCollectionRequest(name, missing_ok=missing_ok))
        return JSON({"dropped": name})

    @app.post(
        "/v1/collections/{name}/compact",
        tags=["collections"],
        summary="Compact a collection's index (drop deleted entries)",
        response_model=Compacted,
        responses=errors_doc(401, 403, 404),
    )
    def compact(name: str, _: Any = Depends(write_access)) -> Any:
        run(core.execute, api.CompactRequest(name))
        return JSON({"compacted": name})

    # -- rows ---------------------------------------------------------------------------

    write_errors = errors_doc(400, 401, 403, 404, 413)

    @app.post(
        "/v1/collections/{name}/upsert",
        tags=["rows"],
        summary="Insert or replace rows (one atomic batch)",
        response_model=Count,
        responses=write_errors,
    )
    def upsert(name: str, body: UpsertBody, _: Any = Depends(write_access)) -> Any:
        return JSON({"count": run(core.execute, body.to_request(name))})

    @app.post(
        "/v1/collections/{name}/add",
        tags=["rows"],
        summary="Insert new rows; an existing id is an error (409)",
        response_model=Count,
        responses=errors_doc(400, 401, 403, 404, 409, 413),
    )
    def add(name: str, body: UpsertBody, _: Any = Depends(write_access)) -> Any:
        return JSON({"count": run(core.execute, body.to_request(name, add=True))})

    @app.post(
        "/v1/collections/{name}/delete",
        tags=["rows"],
        summary="Delete rows by ids or by a where predicate",
        response_model=Count,
        responses=write_errors,
    )
    def delete(name: str, body: DeleteBody, _: Any = Depends(write_access)) -> Any:
        return JSON({"count": run(core.execute, body.to_request(name))})

    read_errors = errors_doc(400, 401, 404, 413)

    @app.post(
        "/v1/collections/{name}/get",
        tags=["rows"],
        summary="Get records by id",
        response_model=Records,
        responses=read_errors,
    )
    def get(name: str, body: GetBody, _: Any = Depends(read_access)) -> Any:
        records = run(core.execute, body.to_request(name))
        return JSON(
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
            Query(description=PARAMS_DOC + ", as JSON text", examples=['{"y": 2020}']),
        ] = None,
        _: Any = Depends(read_access),
    ) -> Any:
        req = api.CountRequest(name, where, _json_param(params))
        return JSON({"count": run(core.execute, req)})

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
        req = body.to_request(name) if body is not None else api.CountRequest(name)
        return JSON({"count": run(core.execute, req)})

    # -- queries ------------------------------------------------------------------------

    @app.post(
        "/v1/collections/{name}/search",
        tags=["queries"],
        summary="Nearest rows to a vector (or a batch), optionally filtered by where",
        response_model=SearchResults,
        responses=read_errors,
    )
    def search(name: str, body: SearchBody, _: Any = Depends(read_access)) -> Any:
        req = body.to_request(name)
        res = run(core.execute, req)
        lists = res if req.batched else [res]
        return JSON(
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
        info = run(core.execute, body.to_request(name))
        return JSON(to_json(info))

    @app.post(
        "/v1/sql",
        tags=["queries"],
        summary="Run one SQL statement (reads need any key, writes the full key)",
        description="JSON by default. With `Accept: " + ARROW_STREAM + "` the answer is "
        "the rows as one Arrow IPC stream, exactly typed; the plan of a vector search is in "
        "the schema's metadata under `vecdb.plan` (JSON).",
        response_model=SqlResult,
        responses={
            **errors_doc(400, 401, 403, 404, 409, 413),
            200: {"content": {ARROW_STREAM: {}}, "description": "the rows"},
        },
    )
    def sql(request: Request, body: SqlBody, token: Any = Depends(any_key)) -> Any:
        read_only = core.authorize_sql(token, body.sql)
        result = run(core.execute, body.to_request(read_only=read_only))
        table = result.to_arrow()
        if ARROW_STREAM in request.headers.get("accept", ""):
            return Response(
                arrow_stream(table, getattr(result, "plan", None)), 200, None, ARROW_STREAM
            )
        cols = [c.to_pylist() for c in table.columns]
        rows = [list(r) for r in zip(*cols, strict=True)] if cols else []
        return JSON({"columns": list(table.column_names), "rows": to_json(rows)})

    app.add_middleware(LimitAndMetrics, core=core)
    app.add_middleware(JsonBodies)
    return app


ARROW_STREAM = "application/vnd.apache.arrow.stream"


def arrow_stream(table: Any, plan: Any = None) -> bytes:
    """``table`` as one Arrow IPC stream; a search plan rides in the schema metadata."""
    import pyarrow as pa

    if plan is not None:
        meta = dict(table.schema.metadata or {})
        meta[b"vecdb.plan"] = codec.plan_to_json(plan).encode()
        table = table.replace_schema_metadata(meta)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


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
