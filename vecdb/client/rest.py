"""A remote Database over REST (``vecdb.connect("http://host:port")``) with the embedded API.

The same methods, results and errors as embedded and gRPC: each call is one
:mod:`vecdb.api` request, encoded by a row of :data:`ROUTES` (HTTP method, path, JSON body)
and decoded by its result function. SQL rows come back as an Arrow stream, so their types
survive the trip. Needs ``httpx`` (extra ``vecdb[client]``).

>>> import vecdb
>>> db = vecdb.connect("http://127.0.0.1:8080", api_key="s3cret")      # doctest: +SKIP
>>> db.get_collection("docs").search([0.1, 0.2, 0.3], k=3)             # doctest: +SKIP
[Hit(id=7, distance=0.01, row=None), ...]
"""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import os
import ssl
import threading
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlparse

import numpy as np

from vecdb import api
from vecdb.client.base import ClientDatabase
from vecdb.errors import InvalidArgumentError, ServiceUnavailableError, error_from_code
from vecdb.types import Hit, Record

__all__ = ["RestDatabase", "connect_rest", "ROUTES"]

ARROW_STREAM = "application/vnd.apache.arrow.stream"


def connect_rest(
    url: str,
    api_key: str | None = None,
    timeout: float | None = None,
    *,
    root_certificates: bytes | str | os.PathLike[str] | None = None,
) -> RestDatabase:
    """Open a database served at ``http://host:port`` (``https://`` for TLS; a path prefix
    such as ``http://host/vecdb`` is kept). ``api_key`` defaults to ``$VECDB_API_KEY``;
    ``root_certificates`` (PEM bytes or a file path) is the CA to trust for ``https://``."""
    return RestDatabase(url, api_key=api_key, timeout=timeout, root_certificates=root_certificates)


class RestDatabase(ClientDatabase):
    """The remote twin of :class:`vecdb.Database` over REST; see :func:`connect_rest`."""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        timeout: float | None = None,
        root_certificates: bytes | str | os.PathLike[str] | None = None,
    ) -> None:
        import httpx

        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise InvalidArgumentError(
                f"expected http://host:port or https://host:port, got {url!r}"
            )
        verify: Any = True
        if root_certificates is not None:
            if parsed.scheme != "https":
                raise InvalidArgumentError(
                    "root_certificates is for TLS: connect to https://host:port"
                )
            from vecdb.client.remote import load_root_certificates

            pem = load_root_certificates(root_certificates)
            verify = ssl.create_default_context(cadata=pem.decode() if pem else None)
        key = api_key if api_key is not None else os.environ.get("VECDB_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(
            base_url=url.rstrip("/"), headers=headers, timeout=timeout, verify=verify
        )
        self._httpx = httpx
        self.timeout = timeout
        self.path = url
        self._closed = False
        self._lock = threading.Lock()

    def execute(self, req: api.Request) -> Any:
        """Send ``req`` as its route says and decode the answer; an error body becomes the
        VecdbError the server named."""
        if self._closed:
            raise InvalidArgumentError("the database is closed; open it again with vecdb.connect")
        method, path, body, decode = ROUTES[type(req)](req)
        kw: dict[str, Any] = {}
        if body is not None:
            kw["content"] = json.dumps(body, default=_json_default, allow_nan=True)
            kw["headers"] = {"Content-Type": "application/json"}
        if isinstance(req, api.SqlRequest):
            kw.setdefault("headers", {})["Accept"] = f"{ARROW_STREAM}, application/json"
        try:
            r = self._http.request(method, path, **kw)
        except self._httpx.TimeoutException as e:
            raise ServiceUnavailableError(f"the server did not answer in time: {e}") from None
        except self._httpx.TransportError as e:
            raise ServiceUnavailableError(
                f"cannot reach the vecdb server at {self.path}: {e}"
            ) from None
        if r.status_code >= 400:
            _raise_from_body(r)
        if r.headers.get("content-type", "").startswith(ARROW_STREAM):
            return _result_from_arrow(r.content)
        return decode(r.json(), req)

    def close(self) -> None:
        """Close the HTTP connections (the server's database stays open)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._http.close()


def _raise_from_body(r: Any) -> None:
    try:
        err = r.json()["error"]
        code, message = err["code"], err["message"]
    except (ValueError, KeyError, TypeError):
        raise ServiceUnavailableError(
            f"HTTP {r.status_code} from the server without a vecdb error body: {r.text[:200]}"
        ) from None
    raise error_from_code(code, message) from None


def _json_default(o: Any) -> Any:
    """Values json cannot write: numpy as lists and numbers, dates as ISO text."""
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, (_dt.date, _dt.time)):
        return o.isoformat()
    if isinstance(o, (decimal.Decimal, uuid.UUID)):
        return str(o)
    if isinstance(o, (tuple, set, frozenset)):
        return list(o)
    raise InvalidArgumentError(f"cannot send a value of type {type(o).__name__}")


def _result_from_arrow(data: bytes) -> Any:
    import pyarrow as pa

    from vecdb.result import Result

    table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
    meta = table.schema.metadata or {}
    plan = json.loads(meta[b"vecdb.plan"]) if b"vecdb.plan" in meta else None
    if plan is not None:
        rest = {k: v for k, v in meta.items() if k != b"vecdb.plan"}
        table = table.replace_schema_metadata(rest or None)
    return Result(table, plan=plan)


# --------------------------------------------------------------------------- the routes

Decode = Callable[[Any, Any], Any]


def _coll(name: str, op: str = "") -> str:
    path = f"/v1/collections/{quote(name, safe='')}"
    return f"{path}/{op}" if op else path


def _given(**fields: Any) -> dict[str, Any]:
    """A JSON body of the fields that are set (None means "not given")."""
    return {k: v for k, v in fields.items() if v is not None}


def _count(data: Any, req: Any) -> int:
    return int(data["count"])


def _nothing(data: Any, req: Any) -> None:
    return None


def _info(data: Any, req: Any) -> dict[str, Any]:
    return dict(data)


def _records(data: Any, req: Any) -> list[Record]:
    return [
        Record(r["id"], np.asarray(r["vector"], dtype=np.float32), r["row"])
        for r in data["records"]
    ]


def _rows(data: Any, req: Any) -> Any:
    """A JSON SQL answer (a server that does not send Arrow) as a Result."""
    import pyarrow as pa

    from vecdb.result import Result

    cols = data["columns"]
    arrays = [pa.array([row[i] for row in data["rows"]]) for i in range(len(cols))]
    return Result(pa.Table.from_arrays(arrays, names=cols))


def _hits(data: Any, req: api.SearchRequest) -> Any:
    lists = [[Hit(h["id"], h["distance"], h["row"]) for h in hits] for hits in data["results"]]
    if req.batched:
        return lists
    return lists[0] if lists else []


def _query(query: Any) -> dict[str, Any]:
    if isinstance(query, str):
        return {"query_text": query}
    q = np.asarray(query)
    return {"vectors" if q.ndim == 2 else "vector": q}


def _search(r: api.SearchRequest) -> tuple[str, str, Any, Decode]:
    body = _query(r.query) | _given(
        k=r.k,
        where=r.where,
        params=r.params,
        include=r.include,
        ef=r.ef,
        nprobe=r.nprobe,
        text=r.text,
        fusion=r.fusion,
    )
    if r.mode != "vector":
        body["mode"] = r.mode
    return "POST", _coll(r.collection, "search"), body, _hits


def _explain(r: api.ExplainRequest) -> tuple[str, str, Any, Decode]:
    q = r.query if isinstance(r.query, str) else np.asarray(r.query, dtype=np.float32)
    if not isinstance(q, str) and q.ndim == 2 and q.shape[0] == 1:
        q = q[0]
    body = _query(q) | _given(
        k=r.k, where=r.where, params=r.params, ef=r.ef, nprobe=r.nprobe, text=r.text
    )
    body |= _given(fusion=r.fusion)
    if r.mode != "vector":
        body["mode"] = r.mode
    return "POST", _coll(r.collection, "explain"), body, _info


def _write(r: api.WriteRequest) -> tuple[str, str, Any, Decode]:
    body = {"ids": r.ids} | _given(vectors=r.vectors, rows=r.rows, documents=r.documents)
    return "POST", _coll(r.collection, "add" if r.add else "upsert"), body, _count


def _create(r: api.CreateCollectionRequest) -> tuple[str, str, Any, Decode]:
    body = {
        "name": r.name,
        "dim": r.dim,
        "metric": r.metric,
        "index": r.index,
        "index_params": r.index_params,
        "columns": r.columns,
        "id_type": r.id_type,
        "exist_ok": r.exist_ok,
        "embedding": r.embedding,
        "fulltext": r.fulltext,
    }
    if r.embedding is not None and not isinstance(r.embedding, (str, dict)):
        raise InvalidArgumentError(
            "a remote collection's embedding is a provider spec the server can load "
            "(e.g. 'sentence-transformers/all-MiniLM-L6-v2'), not a Python callable"
        )
    return "POST", "/v1/collections", body, _info


def _drop(r: api.DropCollectionRequest) -> tuple[str, str, Any, Decode]:
    flag = "true" if r.missing_ok else "false"
    return "DELETE", f"{_coll(r.name)}?missing_ok={flag}", None, _nothing


#: request type -> (HTTP method, path, JSON body or None, result decoder)
ROUTES: dict[type[api.Request], Callable[[Any], tuple[str, str, Any, Decode]]] = {
    api.CreateCollectionRequest: _create,
    api.GetCollectionRequest: lambda r: ("GET", _coll(r.name), None, _info),
    api.ListCollectionsRequest: lambda r: (
        "GET",
        "/v1/collections",
        None,
        lambda d, _: list(d["collections"]),
    ),
    api.DropCollectionRequest: _drop,
    api.WriteRequest: _write,
    api.DeleteRequest: lambda r: (
        "POST",
        _coll(r.collection, "delete"),
        _given(ids=r.ids, where=r.where, params=r.params),
        _count,
    ),
    api.GetRequest: lambda r: (
        "POST",
        _coll(r.collection, "get"),
        {"ids": r.ids} | _given(include=r.include),
        _records,
    ),
    api.CountRequest: lambda r: (
        "POST",
        _coll(r.collection, "count"),
        _given(where=r.where, params=r.params),
        _count,
    ),
    api.CompactRequest: lambda r: ("POST", _coll(r.collection, "compact"), {}, _nothing),
    api.SearchRequest: _search,
    api.ExplainRequest: _explain,
    api.SqlRequest: lambda r: ("POST", "/v1/sql", _given(sql=r.sql, params=r.params), _rows),
}
