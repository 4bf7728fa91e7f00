"""Request dataclasses <-> ``vecdb.rpc.v1`` messages: one paired codec per operation.

Each gRPC method is one :class:`Rpc` row: the :mod:`vecdb.api` request type it carries and
four functions, the client's ``to_pb`` / ``result_from_pb`` and the server's ``from_pb`` /
``result_to_pb``. The servicer and the remote client are loops over :data:`RPCS`, so a new
argument is written in its request dataclass and in these two functions.

>>> import numpy as np
>>> from vecdb.api import SearchRequest
>>> msg = RPCS["Search"].to_pb(SearchRequest("docs", np.ones(3, np.float32), k=5, where="y > 1"))
>>> back = RPCS["Search"].from_pb(msg)
>>> back.collection, back.query.tolist(), back.k, back.where, back.include
('docs', [1.0, 1.0, 1.0], 5, 'y > 1', None)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from itertools import repeat
from typing import Any

import numpy as np

from vecdb import api
from vecdb.errors import InvalidArgumentError
from vecdb.rpc import codec
from vecdb.rpc.v1 import vecdb_pb2
from vecdb.types import Hit, Record

__all__ = ["Rpc", "RPCS", "BY_REQUEST"]

_CHUNK_BYTES = 2 << 20  # payload per Upsert stream message
_LITTLE = sys.byteorder == "little"
pb: Any = vecdb_pb2  # generated without type stubs
_new_hit = partial(tuple.__new__, Hit)  # Hit from (id, distance, row), no per-field work


@dataclass(frozen=True)
class Rpc:
    """One gRPC method and the paired codecs of its request and result."""

    method: str
    request: type[api.Request]
    pb_request: Any
    pb_response: Any
    to_pb: Callable[..., Any]  # request -> message (a list of messages when client-streaming)
    from_pb: Callable[..., api.Request]  # message (an iterator when client-streaming) -> request
    result_to_pb: Callable[[Any, Any], Any]  # (result, request) -> response (list if streaming)
    result_from_pb: Callable[[Any, Any], Any]  # (response, request) -> result
    client_streaming: bool = False
    server_streaming: bool = False


# --------------------------------------------------------------------------- field helpers


def _put_int(msg: Any, field: str, value: Any) -> None:
    """An optional int64 field (left unset when None)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidArgumentError(f"{field} must be an integer, got {value!r}")
    if not -(2**63) <= int(value) < 2**63:
        raise InvalidArgumentError(f"{field} is out of range: {value!r}")
    setattr(msg, field, int(value))


def _get_int(msg: Any, field: str, default: int | None = None) -> int | None:
    return int(getattr(msg, field)) if msg.HasField(field) else default


def _put_where(msg: Any, where: Any, params: Any) -> None:
    if where is not None:
        if not isinstance(where, str):
            raise InvalidArgumentError("where must be a non-empty SQL predicate string")
        msg.where = where
    if params is not None:
        codec.params_to_pb(params, msg.params)


def _get_where(msg: Any) -> tuple[str | None, Any]:
    where = msg.where if msg.HasField("where") else None
    params = codec.params_from_pb(msg.params) if msg.HasField("params") else None
    return where, params


def _put_text(msg: Any, mode: Any, text: Any, fusion: Any) -> None:
    """The text options of a Search/Explain message (``mode`` "vector" is the default)."""
    if mode != "vector":
        if not isinstance(mode, str) or not mode:
            raise InvalidArgumentError(
                f"mode must be 'vector', 'fulltext' or 'hybrid', got {mode!r}"
            )
        msg.mode = mode
    if text is not None:
        if not isinstance(text, str):
            raise InvalidArgumentError(f"text must be a str, got {type(text).__name__}")
        msg.text = text
    if fusion is not None:
        msg.fusion = codec.json_or_none(fusion)


def _get_text(msg: Any) -> dict[str, Any]:
    return {
        "mode": msg.mode or "vector",
        "text": msg.text if msg.HasField("text") else None,
        "fusion": codec.fusion_from_pb(msg.fusion),
    }


def _empty(msg_type: Any) -> Callable[[Any, Any], Any]:
    return lambda result, req: msg_type()


def _none(resp: Any, req: Any) -> None:
    return None


def _count_to_pb(msg_type: Any) -> Callable[[Any, Any], Any]:
    return lambda n, req: msg_type(count=int(n))


def _count_from_pb(resp: Any, req: Any) -> int:
    return int(resp.count)


# --------------------------------------------------------------------------- collections


def _create_to_pb(r: api.CreateCollectionRequest) -> Any:
    dim, embedding = r.dim, r.embedding
    if dim is None and embedding is None:
        raise InvalidArgumentError("dim is required (or pass embedding= to take it from)")
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, (int, np.integer))):
        raise InvalidArgumentError(f"dim must be a positive integer, got {dim!r}")
    if embedding is not None and not isinstance(embedding, (str, dict)):
        raise InvalidArgumentError(
            "a remote collection's embedding is a provider spec the server can load "
            "(e.g. 'sentence-transformers/all-MiniLM-L6-v2'), not a Python callable"
        )
    for what in ("name", "metric", "index", "id_type"):
        if not isinstance(getattr(r, what), str):
            raise InvalidArgumentError(f"{what} must be a string, got {getattr(r, what)!r}")
    msg = pb.CreateCollectionRequest(
        name=r.name,
        dim=int(dim or 0),
        metric=r.metric,
        index=r.index,
        id_type=r.id_type,
        exist_ok=bool(r.exist_ok),
        embedding=codec.json_or_none(embedding),
        fulltext="" if r.fulltext is False else codec.json_or_none(r.fulltext),
    )
    if r.index_params is not None:
        if not isinstance(r.index_params, dict):
            raise InvalidArgumentError("index_params must be a dict")
        codec.map_to_pb(r.index_params, msg.index_params)
    if r.columns:
        if not isinstance(r.columns, dict) or not all(
            isinstance(n, str) and isinstance(t, str) for n, t in r.columns.items()
        ):
            raise InvalidArgumentError("columns must be a dict of name -> DuckDB type")
        for cname, ctype in r.columns.items():
            msg.columns.add(name=cname, type=ctype)
    return msg


def _create_from_pb(msg: Any) -> api.CreateCollectionRequest:
    return api.CreateCollectionRequest(
        name=msg.name,
        dim=int(msg.dim) if msg.dim or not msg.embedding else None,  # None: from the model
        metric=msg.metric or "cosine",
        index=msg.index or "hnsw",
        index_params=codec.map_from_pb(msg.index_params) if msg.HasField("index_params") else None,
        columns={c.name: c.type for c in msg.columns} or None,
        id_type=msg.id_type or "int",
        exist_ok=msg.exist_ok,
        embedding=msg.embedding or None,
        fulltext=codec.fulltext_from_pb(msg.fulltext),
    )


def info_to_pb(d: dict[str, Any], req: Any = None) -> Any:
    """A collection's description dict as :class:`CollectionInfo`."""
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


def info_from_pb(info: Any, req: Any = None) -> dict[str, Any]:
    """:class:`CollectionInfo` back as the description dict ``describe()`` returns."""
    return {
        "name": info.name,
        "dim": int(info.dim),
        "metric": info.metric,
        "index": info.index,
        "index_params": codec.map_from_pb(info.index_params),
        "columns": {c.name: c.type for c in info.columns},
        "id_type": info.id_type,
        "embedding": json.loads(info.embedding) if info.embedding else None,
        "fulltext": json.loads(info.fulltext) if info.fulltext else None,
        "count": int(info.count),
    }


# --------------------------------------------------------------------------- writes


def _write_to_pb(r: api.WriteRequest) -> list[Any]:
    """A write as a stream of messages of about 2 MB each (encoded eagerly, so that a bad
    value raises here and not inside the gRPC stream)."""
    ids, arr, rows, documents = r.ids, r.vectors, r.rows, r.documents
    mode = pb.UpsertRequest.ADD if r.add else pb.UpsertRequest.UPSERT
    n = max(len(ids) if ids is not None else 0, arr.shape[0] if arr is not None else 0)
    n = max(n, len(rows or ()), len(documents or ()))
    row_bytes = (arr.shape[1] * 4 if arr is not None else 0) + (64 if rows else 0) + 16
    if documents is not None:
        row_bytes += 256 + max((len(d) for d in documents if d), default=0)
    step = max(1, _CHUNK_BYTES // row_bytes)
    out = []
    for start in range(0, max(n, 1), step):
        end = start + step
        msg = pb.UpsertRequest(mode=mode)
        if start == 0:
            msg.collection = r.collection
        if ids is not None:
            codec.ids_to_pb(ids[start:end], msg.ids)
        if arr is not None:
            codec.pack_vectors(arr[start:end], msg.vectors)
        if rows is not None:
            for row in rows[start:end]:
                codec.row_to_pb(row, msg.rows.add())
        if documents is not None:
            codec.documents_to_pb(documents[start:end], msg)
        out.append(msg)
    return out


def write_from_pb(messages: Iterable[Any], max_rows: int | None = None) -> api.WriteRequest:
    """One write from its stream of messages; with ``max_rows``, a stream that grows past it
    is refused as soon as it does (before the rest is read)."""
    name = ""
    add = False
    id_parts: list[list[Any]] = []
    vec_parts: list[np.ndarray] = []
    rows: list[Any] = []
    docs: list[Any] = []
    has_ids = has_vecs = has_rows = False
    total = 0
    for i, msg in enumerate(messages):
        if i == 0:
            name, add = msg.collection, msg.mode == pb.UpsertRequest.ADD
        elif msg.collection and msg.collection != name:
            raise InvalidArgumentError("all messages of one Upsert must name one collection")
        if msg.HasField("ids"):
            has_ids = True
            part = codec.ids_from_pb(msg.ids)
            total += len(part)
            id_parts.append(part)
        if msg.HasField("vectors"):
            has_vecs = True
            v = codec.unpack_vectors(msg.vectors)
            if not msg.HasField("ids"):
                total += v.shape[0]
            vec_parts.append(v)
        if max_rows is not None and total > max_rows:
            raise api.limit_error("max_batch_rows", total, "rows", max_rows)
        if msg.rows:
            has_rows = True
            rows.extend(codec.row_from_pb(x) for x in msg.rows)
        part_docs = codec.documents_from_pb(msg)
        if part_docs is not None:
            docs.extend(part_docs)
    if not name:
        raise InvalidArgumentError("Upsert needs a collection name in its first message")
    vectors: Any = None
    if has_vecs:
        if len({v.shape[1] for v in vec_parts}) > 1:
            # let the engine report the mismatch with its own message
            vectors = [row.tolist() for v in vec_parts for row in v]
        else:
            vectors = vec_parts[0] if len(vec_parts) == 1 else np.concatenate(vec_parts)
    return api.WriteRequest(
        name,
        ids=[x for part in id_parts for x in part] if has_ids else None,
        vectors=vectors,
        rows=rows if has_rows else None,
        documents=docs or None,
        add=add,
    )


def _delete_to_pb(r: api.DeleteRequest) -> Any:
    msg = pb.DeleteRequest(collection=r.collection)
    if r.ids is not None:
        codec.ids_to_pb(r.ids, msg.ids)
    _put_where(msg, r.where, r.params)
    return msg


def _delete_from_pb(msg: Any) -> api.DeleteRequest:
    where, params = _get_where(msg)
    ids = codec.ids_from_pb(msg.ids) if msg.HasField("ids") else None
    return api.DeleteRequest(msg.collection, ids=ids, where=where, params=params)


# --------------------------------------------------------------------------- reads


def _get_to_pb(r: api.GetRequest) -> Any:
    msg = pb.GetRequest(collection=r.collection)
    codec.ids_to_pb(r.ids, msg.ids)
    if r.include is not None:
        codec.include_to_pb(r.include, msg.include)
    return msg


def _get_from_pb(msg: Any) -> api.GetRequest:
    return api.GetRequest(
        msg.collection, ids=codec.ids_from_pb(msg.ids), include=codec.include_from_pb(msg)
    )


def _records_to_pb(records: list[Record], req: Any) -> Any:
    resp = pb.GetResponse()
    codec.ids_to_pb([r.id for r in records], resp.ids)
    if records:
        codec.pack_vectors(np.stack([np.asarray(r.vector) for r in records]), resp.vectors)
    for r in records:
        codec.row_to_pb(r.row, resp.rows.add())
    return resp


def _records_from_pb(resp: Any, req: Any) -> list[Record]:
    got = codec.ids_from_pb(resp.ids)
    if not got:
        return []
    vecs = codec.unpack_vectors(resp.vectors)
    rows = resp.rows
    return [
        Record(i, vecs[j], (codec.row_from_pb(rows[j]) or {}) if j < len(rows) else {})
        for j, i in enumerate(got)
    ]


def _count_req_to_pb(r: api.CountRequest) -> Any:
    msg = pb.CountRequest(collection=r.collection)
    _put_where(msg, r.where, r.params)
    return msg


def _count_req_from_pb(msg: Any) -> api.CountRequest:
    where, params = _get_where(msg)
    return api.CountRequest(msg.collection, where=where, params=params)


def _query_to_pb(query: Any, msg: Any, field: str) -> bool:
    """Put a search's query into ``msg``; True when it is a single vector or a text."""
    if isinstance(query, str):
        msg.query_text = query
        return True
    if (
        type(query) is np.ndarray
        and query.dtype == np.float32
        and query.ndim == 1
        and query.flags.c_contiguous
    ):
        q = query  # the common case: no conversion, no copy
    else:
        q = codec.as_float32_matrix(query, "query")
        if q.ndim not in (1, 2):
            raise InvalidArgumentError(
                f"query must be a vector of floats or a matrix of them, got shape {q.shape}"
            )
    vb = getattr(msg, field)
    if q.ndim == 1:
        vb.dim, vb.n = q.shape[0], 1
        vb.packed_f32 = q.tobytes() if _LITTLE else q.astype("<f4").tobytes()
        return True
    codec.pack_vectors(q, vb)
    return False


def _search_to_pb(r: api.SearchRequest) -> Any:
    msg = pb.SearchRequest(collection=r.collection)
    msg.single = _query_to_pb(r.query, msg, "queries")
    _put_int(msg, "k", r.k)
    _put_where(msg, r.where, r.params)
    if r.include is not None:
        codec.include_to_pb(r.include, msg.include)
    _put_int(msg, "ef", r.ef)
    _put_int(msg, "nprobe", r.nprobe)
    _put_text(msg, r.mode, r.text, r.fusion)
    return msg


def _search_from_pb(msg: Any) -> api.SearchRequest:
    if msg.HasField("query_text"):
        q: Any = msg.query_text
    else:
        q = codec.unpack_vectors(msg.queries)
        if msg.single:
            if q.shape[0] != 1:
                raise InvalidArgumentError("single search needs exactly one query vector")
            q = q[0]
    where, params = _get_where(msg)
    return api.SearchRequest(
        msg.collection,
        q,
        k=_get_int(msg, "k", 10),  # type: ignore[arg-type]
        where=where,
        params=params,
        include=codec.include_from_pb(msg),
        ef=_get_int(msg, "ef"),
        nprobe=_get_int(msg, "nprobe"),
        **_get_text(msg),
    )


def _hits_to_pb(result: Any, req: api.SearchRequest) -> Any:
    resp = pb.SearchResponse()
    for hits in result if req.batched else (result,):
        qr = resp.results.add()
        ids = [h[0] for h in hits]
        if all(type(i) is int for i in ids):  # plain int ids skip the checks
            ints = qr.ids.ints
            ints.SetInParent()
            ints.values.extend(ids)
        else:
            codec.ids_to_pb(ids, qr.ids)
        qr.distances.extend([h[1] for h in hits])
        if req.include is not None:
            for h in hits:
                codec.row_to_pb(h[2], qr.rows.add())
    return resp


def _hits_from_pb(resp: Any, req: api.SearchRequest) -> Any:
    out = []
    for qr in resp.results:
        ids = qr.ids.ints.values if qr.ids.HasField("ints") else codec.ids_from_pb(qr.ids)
        if qr.rows:
            rows = [codec.row_from_pb(r) for r in qr.rows]
            out.append(list(map(_new_hit, zip(ids, qr.distances, rows, strict=False))))
        else:
            out.append(list(map(_new_hit, zip(ids, qr.distances, repeat(None)))))
    if req.batched:
        return out
    return out[0] if out else []


def _explain_to_pb(r: api.ExplainRequest) -> Any:
    msg = pb.ExplainRequest(collection=r.collection)
    if isinstance(r.query, str):
        msg.query_text = r.query
    else:
        codec.pack_vectors(codec.as_float32_matrix(r.query, "query"), msg.query)
    _put_int(msg, "k", r.k)
    _put_where(msg, r.where, r.params)
    _put_int(msg, "ef", r.ef)
    _put_int(msg, "nprobe", r.nprobe)
    _put_text(msg, r.mode, r.text, r.fusion)
    return msg


def _explain_from_pb(msg: Any) -> api.ExplainRequest:
    if msg.HasField("query_text"):
        q: Any = msg.query_text
    else:
        q = codec.unpack_vectors(msg.query)
        if q.shape[0] == 1:
            q = q[0]
    where, params = _get_where(msg)
    return api.ExplainRequest(
        msg.collection,
        q,
        k=_get_int(msg, "k", 10),  # type: ignore[arg-type]
        where=where,
        params=params,
        ef=_get_int(msg, "ef"),
        nprobe=_get_int(msg, "nprobe"),
        **_get_text(msg),
    )


def _sql_to_pb(r: api.SqlRequest) -> Any:
    if not isinstance(r.sql, str):
        raise InvalidArgumentError("query must be a SQL string")
    msg = pb.SqlRequest(sql=r.sql)
    if r.params is not None:
        codec.params_to_pb(r.params, msg.params)
    return msg


def _sql_from_pb(msg: Any) -> api.SqlRequest:
    params = codec.params_from_pb(msg.params) if msg.HasField("params") else None
    return api.SqlRequest(msg.sql, params)


def _result_to_pb(result: Any, req: Any) -> list[Any]:
    plan = codec.plan_to_json(getattr(result, "plan", None))
    chunks = codec.table_to_ipc_messages(result.to_arrow())
    return [
        pb.SqlResponse(arrow_ipc=chunk, plan_json=plan if i == 0 else "")
        for i, chunk in enumerate(chunks)
    ]


def _result_from_pb(messages: Iterator[Any], req: Any) -> Any:
    from vecdb.result import Result

    msgs = list(messages)
    table = codec.ipc_messages_to_table([m.arrow_ipc for m in msgs])
    return Result(table, plan=codec.plan_from_json(msgs[0].plan_json) if msgs else None)


# --------------------------------------------------------------------------- the table


def _unary(
    method: str,
    request: type[api.Request],
    to_pb: Callable[..., Any],
    from_pb: Callable[..., api.Request],
    result_to_pb: Callable[[Any, Any], Any],
    result_from_pb: Callable[[Any, Any], Any],
    **kw: Any,
) -> Rpc:
    pb_req = getattr(pb, f"{method}Request")
    pb_resp = {"CreateCollection": pb.CollectionInfo, "GetCollection": pb.CollectionInfo}.get(
        method
    ) or getattr(pb, f"{method}Response")
    return Rpc(method, request, pb_req, pb_resp, to_pb, from_pb, result_to_pb, result_from_pb, **kw)


_ROWS = [
    _unary(
        "CreateCollection",
        api.CreateCollectionRequest,
        _create_to_pb,
        _create_from_pb,
        info_to_pb,
        info_from_pb,
    ),
    _unary(
        "GetCollection",
        api.GetCollectionRequest,
        lambda r: pb.GetCollectionRequest(name=r.name),
        lambda m: api.GetCollectionRequest(m.name),
        info_to_pb,
        info_from_pb,
    ),
    _unary(
        "ListCollections",
        api.ListCollectionsRequest,
        lambda r: pb.ListCollectionsRequest(),
        lambda m: api.ListCollectionsRequest(),
        lambda names, req: pb.ListCollectionsResponse(names=names),
        lambda resp, req: list(resp.names),
    ),
    _unary(
        "DropCollection",
        api.DropCollectionRequest,
        lambda r: pb.DropCollectionRequest(name=r.name, missing_ok=bool(r.missing_ok)),
        lambda m: api.DropCollectionRequest(m.name, missing_ok=m.missing_ok),
        _empty(pb.DropCollectionResponse),
        _none,
    ),
    _unary(
        "Upsert",
        api.WriteRequest,
        _write_to_pb,
        write_from_pb,
        _count_to_pb(pb.UpsertResponse),
        _count_from_pb,
        client_streaming=True,
    ),
    _unary(
        "Delete",
        api.DeleteRequest,
        _delete_to_pb,
        _delete_from_pb,
        _count_to_pb(pb.DeleteResponse),
        _count_from_pb,
    ),
    _unary("Get", api.GetRequest, _get_to_pb, _get_from_pb, _records_to_pb, _records_from_pb),
    _unary(
        "Count",
        api.CountRequest,
        _count_req_to_pb,
        _count_req_from_pb,
        _count_to_pb(pb.CountResponse),
        _count_from_pb,
    ),
    _unary(
        "Compact",
        api.CompactRequest,
        lambda r: pb.CompactRequest(collection=r.collection),
        lambda m: api.CompactRequest(m.collection),
        _empty(pb.CompactResponse),
        _none,
    ),
    _unary("Search", api.SearchRequest, _search_to_pb, _search_from_pb, _hits_to_pb, _hits_from_pb),
    _unary(
        "Explain",
        api.ExplainRequest,
        _explain_to_pb,
        _explain_from_pb,
        lambda info, req: pb.ExplainResponse(info=codec.map_to_pb(info)),
        lambda resp, req: codec.map_from_pb(resp.info),
    ),
    _unary(
        "Sql",
        api.SqlRequest,
        _sql_to_pb,
        _sql_from_pb,
        _result_to_pb,
        _result_from_pb,
        server_streaming=True,
    ),
]

#: the gRPC methods by name, in the order of the service definition
RPCS: dict[str, Rpc] = {r.method: r for r in _ROWS}
#: the same rows by request type (what the remote client looks up)
BY_REQUEST: dict[type[api.Request], Rpc] = {r.request: r for r in _ROWS}
