"""A remote Database over gRPC with the embedded API: same methods, results and errors.

>>> import vecdb
>>> db = vecdb.connect("grpc://127.0.0.1:50051", api_key="s3cret")    # doctest: +SKIP
>>> docs = db.get_collection("docs")                                  # doctest: +SKIP
>>> docs.search([0.1, 0.2, 0.3], k=3, where="year > 2020")            # doctest: +SKIP
[Hit(id=7, distance=0.01, row=None), ...]
"""

from __future__ import annotations

import functools
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from functools import partial
from itertools import repeat
from typing import Any
from urllib.parse import urlparse

import numpy as np

from vecdb.errors import (
    AlreadyExistsError,
    DatabaseLockedError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    ServiceUnavailableError,
    UnauthenticatedError,
    VecdbError,
    error_from_code,
)
from vecdb.rpc import codec
from vecdb.rpc.v1 import vecdb_pb2 as pb
from vecdb.types import Hit, Record

__all__ = ["connect_remote", "RemoteDatabase", "RemoteCollection", "ServiceUnavailableError"]

ERROR_CODE_KEY = "vecdb-error-code"
_CHUNK_BYTES = 2 << 20  # payload per Upsert stream message
_LITTLE = sys.byteorder == "little"
_new_hit = partial(tuple.__new__, Hit)  # Hit from (id, distance, row), no per-field work


_STATUS_CLASSES: dict[str, type[VecdbError]] = {
    "INVALID_ARGUMENT": InvalidArgumentError,
    "NOT_FOUND": NotFoundError,
    "ALREADY_EXISTS": AlreadyExistsError,
    "PERMISSION_DENIED": PermissionDeniedError,
    "UNAUTHENTICATED": UnauthenticatedError,
    "FAILED_PRECONDITION": DatabaseLockedError,
    "RESOURCE_EXHAUSTED": ResourceExhaustedError,
    "UNAVAILABLE": ServiceUnavailableError,
    "DEADLINE_EXCEEDED": ServiceUnavailableError,
}


def _surrogate_error(e: UnicodeEncodeError) -> InvalidArgumentError:
    """The error the embedded engine gives for text that is not valid Unicode."""
    bad = e.object[e.start : e.end] if isinstance(e.object, str) else "?"
    return InvalidArgumentError(
        f"text has a lone surrogate {bad!r} at position {e.start}; text must be valid "
        "Unicode (decode bytes with errors='replace' or drop it)"
    )


def _text_checked(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Text that protobuf cannot encode (a lone surrogate) raises InvalidArgumentError, as
    embedded, instead of UnicodeEncodeError."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UnicodeEncodeError as e:
            raise _surrogate_error(e) from None

    return call


def _raise_from_rpc(e: Any) -> None:
    """Re-raise a grpc.RpcError as the VecdbError the server meant."""
    code = None
    try:
        for key, value in e.trailing_metadata() or ():
            if key == ERROR_CODE_KEY:
                code = value if isinstance(value, str) else value.decode()
    except Exception:
        code = None
    details = e.details() if hasattr(e, "details") else str(e)
    if code:
        raise error_from_code(code, details or "") from None
    status = e.code().name if hasattr(e, "code") and e.code() is not None else "INTERNAL"
    cls = _STATUS_CLASSES.get(status, InternalError)
    raise cls(f"{status}: {details}") from None


CACert = bytes | str | os.PathLike[str]


def load_root_certificates(ca: CACert | None) -> bytes | None:
    """PEM bytes of the CA certificate(s) to trust: given as bytes, or a file path.

    >>> load_root_certificates(b"-----BEGIN CERTIFICATE-----...")[:27]
    b'-----BEGIN CERTIFICATE-----'
    """
    if ca is None:
        return None
    if isinstance(ca, (bytes, bytearray, memoryview)):
        data = bytes(ca)
    elif isinstance(ca, (str, os.PathLike)):
        try:
            with open(ca, "rb") as f:
                data = f.read()
        except OSError as e:
            raise InvalidArgumentError(
                f"cannot read root_certificates file {os.fspath(ca)!r} ({e.strerror}); pass "
                "the path of a PEM CA certificate, or its bytes"
            ) from None
    else:
        raise InvalidArgumentError(
            f"root_certificates must be PEM bytes or a file path, got {type(ca).__name__}"
        )
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise InvalidArgumentError(
            "root_certificates is not a PEM certificate (no '-----BEGIN CERTIFICATE-----'); "
            "pass the CA certificate the server's --tls-cert was signed with (for a "
            "self-signed certificate, that file itself)"
        )
    return data


def connect_remote(
    url: str,
    api_key: str | None = None,
    timeout: float | None = None,
    *,
    root_certificates: CACert | None = None,
    options: list[tuple[str, Any]] | None = None,
) -> RemoteDatabase:
    """Open a remote database at ``grpc://host:port`` (``grpcs://`` for TLS).

    ``api_key`` defaults to ``$VECDB_API_KEY``; ``timeout`` (seconds) applies to every call.
    ``root_certificates`` (``grpcs://`` only) is the CA to trust, as PEM bytes or a file path
    (a self-signed server certificate is its own CA); without it the system's CAs are used.

    >>> db = connect_remote("grpc://127.0.0.1:50051")   # doctest: +SKIP
    >>> db.list_collections()                            # doctest: +SKIP
    ['docs']
    >>> db = connect_remote("grpcs://localhost:50051", root_certificates="ca.pem")  # doctest: +SKIP
    """
    return RemoteDatabase(
        url, api_key=api_key, timeout=timeout, root_certificates=root_certificates, options=options
    )


class RemoteDatabase:
    """The remote twin of :class:`vecdb.Database`; see :func:`connect_remote`."""

    confined = True

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        timeout: float | None = None,
        root_certificates: CACert | None = None,
        options: list[tuple[str, Any]] | None = None,
    ) -> None:
        import grpc

        from vecdb.rpc.v1 import vecdb_pb2_grpc

        parsed = urlparse(url)
        if parsed.scheme not in ("grpc", "grpcs") or not parsed.hostname or not parsed.port:
            raise InvalidArgumentError(
                f"expected grpc://host:port or grpcs://host:port, got {url!r}"
            )
        host = parsed.hostname
        target = f"[{host}]:{parsed.port}" if ":" in host else f"{host}:{parsed.port}"
        opts = [
            ("grpc.max_receive_message_length", -1),
            ("grpc.max_send_message_length", -1),
            *(options or []),
        ]
        if root_certificates is not None and parsed.scheme != "grpcs":
            raise InvalidArgumentError(
                "root_certificates is for TLS: connect to grpcs://host:port (the server runs "
                "with --tls-cert/--tls-key)"
            )
        if parsed.scheme == "grpcs":
            ca = load_root_certificates(root_certificates)
            creds = grpc.ssl_channel_credentials(root_certificates=ca)
            self._channel = grpc.secure_channel(target, creds, options=opts)
        else:
            self._channel = grpc.insecure_channel(target, options=opts)
        self._stub = vecdb_pb2_grpc.VecdbStub(self._channel)
        self._grpc = grpc
        key = api_key if api_key is not None else os.environ.get("VECDB_API_KEY")
        self._metadata = (("authorization", f"Bearer {key}"),) if key else ()
        self.timeout = timeout
        self.path = url
        self._closed = False
        self._lock = threading.Lock()

    # -- plumbing -------------------------------------------------------------------

    def _call(self, method: str, request: Any, stream: bool = False) -> Any:
        """Invoke one RPC (``request`` may be an iterator for client streaming); with
        ``stream=True`` collect the server-streamed replies. gRPC errors become the
        VecdbError the server named."""
        if self._closed:
            raise InvalidArgumentError("the database is closed; open it again with vecdb.connect")
        try:
            reply = getattr(self._stub, method)(
                request, timeout=self.timeout, metadata=self._metadata
            )
            return list(reply) if stream else reply
        except self._grpc.RpcError as e:
            _raise_from_rpc(e)

    # -- catalog --------------------------------------------------------------------

    @_text_checked
    def create_collection(
        self,
        name: str,
        dim: int | None = None,
        metric: str = "cosine",
        index: str = "hnsw",
        index_params: dict[str, Any] | None = None,
        columns: dict[str, str] | None = None,
        id_type: str = "int",
        exist_ok: bool = False,
        embedding: str | dict[str, Any] | None = None,
        fulltext: bool | dict[str, Any] = False,
    ) -> RemoteCollection:
        """Create a collection on the server (see :meth:`vecdb.Database.create_collection`).

        ``embedding`` is a provider spec (a string or dict, not a callable): the server
        embeds documents and text queries with it, so it must be able to reach the model."""
        if dim is None and embedding is None:
            raise InvalidArgumentError("dim is required (or pass embedding= to take it from)")
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, (int, np.integer))):
            raise InvalidArgumentError(f"dim must be a positive integer, got {dim!r}")
        if embedding is not None and not isinstance(embedding, (str, dict)):
            raise InvalidArgumentError(
                "a remote collection's embedding is a provider spec the server can load "
                "(e.g. 'sentence-transformers/all-MiniLM-L6-v2'), not a Python callable"
            )
        for what, v in (("name", name), ("metric", metric), ("index", index), ("id_type", id_type)):
            if not isinstance(v, str):
                raise InvalidArgumentError(f"{what} must be a string, got {v!r}")
        req = pb.CreateCollectionRequest(
            name=name,
            dim=int(dim or 0),
            metric=metric,
            index=index,
            id_type=id_type,
            exist_ok=exist_ok,
            embedding=codec.json_or_none(embedding),
            fulltext="" if fulltext is False else codec.json_or_none(fulltext),
        )
        if fulltext is True:
            req.fulltext = "true"
        if index_params is not None:
            if not isinstance(index_params, dict):
                raise InvalidArgumentError("index_params must be a dict")
            codec.map_to_pb(index_params, req.index_params)
        if columns:
            if not isinstance(columns, dict):
                raise InvalidArgumentError("columns must be a dict of name -> DuckDB type")
            for cname, ctype in columns.items():
                if not isinstance(cname, str) or not isinstance(ctype, str):
                    raise InvalidArgumentError("columns must be a dict of name -> DuckDB type")
                req.columns.add(name=cname, type=ctype)
        return RemoteCollection(self, self._call("CreateCollection", req))

    @_text_checked
    def get_collection(self, name: str) -> RemoteCollection:
        """A collection by name (NotFoundError when missing)."""
        return RemoteCollection(
            self, self._call("GetCollection", pb.GetCollectionRequest(name=name))
        )

    def list_collections(self) -> list[str]:
        """Collection names, sorted."""
        return list(self._call("ListCollections", pb.ListCollectionsRequest()).names)

    @_text_checked
    def drop_collection(self, name: str, missing_ok: bool = False) -> None:
        """Drop a collection and its rows."""
        self._call("DropCollection", pb.DropCollectionRequest(name=name, missing_ok=missing_ok))

    @_text_checked
    def sql(self, query: str, params: Any = None) -> Any:
        """Run confined SQL on the server; rows arrive as Arrow and come back as a Result."""
        from vecdb.result import Result

        if not isinstance(query, str):
            raise InvalidArgumentError("query must be a SQL string")
        req = pb.SqlRequest(sql=query)
        if params is not None:
            codec.params_to_pb(params, req.params)
        msgs = self._call("Sql", req, stream=True)
        table = codec.ipc_messages_to_table([m.arrow_ipc for m in msgs])
        plan = codec.plan_from_json(msgs[0].plan_json) if msgs else None
        return Result(table, plan=plan)

    # -- lifecycle ------------------------------------------------------------------

    def close(self) -> None:
        """Close the channel (the server's database stays open)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._channel.close()

    def __enter__(self) -> RemoteDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RemoteDatabase({self.path!r})"


class RemoteCollection:
    """The remote twin of :class:`vecdb.Collection`."""

    def __init__(self, db: RemoteDatabase, info: pb.CollectionInfo) -> None:
        self._db = db
        self._set_info(info)

    def _set_info(self, info: pb.CollectionInfo) -> None:
        self.name = info.name
        self.dim = int(info.dim)
        self.metric = info.metric
        self.index = info.index
        self.index_kind = info.index
        self.index_params = codec.map_from_pb(info.index_params)
        self.columns = {c.name: c.type for c in info.columns}
        self.id_type = info.id_type
        self._count = int(info.count)
        self.embedding = json.loads(info.embedding) if info.embedding else None
        self.fulltext = json.loads(info.fulltext) if info.fulltext else None

    def describe(self) -> dict[str, Any]:
        """``{name, dim, metric, index, index_params, columns, id_type, count}``, fresh."""
        info = self._db._call("GetCollection", pb.GetCollectionRequest(name=self.name))
        self._set_info(info)
        return {
            "name": self.name,
            "dim": self.dim,
            "metric": self.metric,
            "index": self.index,
            "index_params": dict(self.index_params),
            "columns": dict(self.columns),
            "id_type": self.id_type,
            "embedding": self.embedding,
            "fulltext": self.fulltext,
            "count": self._count,
        }

    def __repr__(self) -> str:
        return f"RemoteCollection({self.name!r}, dim={self.dim}, metric={self.metric!r})"

    # -- writes ---------------------------------------------------------------------

    def add(
        self, ids: Any = None, vectors: Any = None, rows: Any = None, documents: Any = None
    ) -> int:
        """Insert new rows; AlreadyExistsError if an id exists (nothing is written).
        Documents without vectors are embedded by the server."""
        return self._write(ids, vectors, rows, pb.UpsertRequest.ADD, documents)

    def upsert(
        self, ids: Any = None, vectors: Any = None, rows: Any = None, documents: Any = None
    ) -> int:
        """Insert or replace rows, streamed to the server and applied as one atomic batch."""
        return self._write(ids, vectors, rows, pb.UpsertRequest.UPSERT, documents)

    @_text_checked
    def _write(self, ids: Any, vectors: Any, rows: Any, mode: int, documents: Any = None) -> int:
        if documents is not None:
            if isinstance(documents, str):
                raise InvalidArgumentError("documents must be a list of strings, one per id")
            documents = list(documents)
            if vectors is not None and any(v is None for v in vectors):
                raise InvalidArgumentError(
                    "a remote write takes vectors for all rows or none (the server embeds "
                    "documents when vectors is None)"
                )
        if _is_table(ids):
            if vectors is not None or rows is not None:
                raise InvalidArgumentError("pass either a table or ids/vectors/rows, not both")
            ids, vectors, rows = _split_table(ids)
        if rows is not None and not isinstance(rows, (list, tuple)):
            raise InvalidArgumentError("rows must be a list of dicts")
        arr = None
        if vectors is not None:
            arr = codec.as_float32_matrix(vectors)
            if arr.ndim != 2 and not (arr.ndim == 1 and arr.size == 0):
                raise InvalidArgumentError(
                    f"vectors must be 2-dimensional (n, {self.dim}), got shape {arr.shape}"
                )
            if arr.ndim == 1:
                arr = arr.reshape(0, self.dim)
        if ids is not None and not isinstance(ids, np.ndarray):
            if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
                raise InvalidArgumentError("ids must be a list of int or str")
            ids = list(ids)
        n = len(ids) if ids is not None else (arr.shape[0] if arr is not None else 0)
        row_bytes = (arr.shape[1] * 4 if arr is not None else 0) + (64 if rows else 0) + 16
        if documents is not None:
            row_bytes += 256 + max((len(d) for d in documents if d), default=0)
        step = max(1, _CHUNK_BYTES // row_bytes)
        name = self.name
        rows_list = list(rows) if rows is not None else None

        def messages() -> Iterator[pb.UpsertRequest]:
            total = max(n, arr.shape[0] if arr is not None else 0, len(rows_list or ()))
            start = 0
            first = True
            while first or start < total:
                end = start + step
                req = pb.UpsertRequest(mode=mode)
                if first:
                    req.collection = name
                if ids is not None:
                    codec.ids_to_pb(ids[start:end], req.ids)
                if arr is not None:
                    codec.pack_vectors(arr[start:end], req.vectors)
                if rows_list is not None:
                    for r in rows_list[start:end]:
                        codec.row_to_pb(r, req.rows.add())
                if documents is not None:
                    codec.documents_to_pb(documents[start:end], req)
                yield req
                first = False
                start = end

        # encode eagerly so that a bad value raises here, not inside the gRPC stream
        reqs = list(messages())
        return int(self._db._call("Upsert", iter(reqs)).count)

    @_text_checked
    def delete(self, ids: Any = None, where: str | None = None, params: Any = None) -> int:
        """Delete by ids or by predicate; returns the number deleted."""
        req = pb.DeleteRequest(collection=self.name)
        if ids is not None:
            codec.ids_to_pb(ids, req.ids)
        if where is not None:
            if not isinstance(where, str):
                raise InvalidArgumentError("where must be a non-empty SQL predicate string")
            req.where = where if where.strip() else " "
        if params is not None:
            codec.params_to_pb(params, req.params)
        return int(self._db._call("Delete", req).count)

    def compact(self) -> None:
        """Compact the collection's index on the server."""
        self._db._call("Compact", pb.CompactRequest(collection=self.name))

    # -- reads ----------------------------------------------------------------------

    @_text_checked
    def get(self, ids: Any, include: Any = None) -> list[Any]:
        """Records by id, in the order asked; missing ids are left out."""
        req = pb.GetRequest(collection=self.name)
        codec.ids_to_pb(ids, req.ids)
        if include is not None:
            codec.include_to_pb(include, req.include)
        resp = self._db._call("Get", req)
        got = codec.ids_from_pb(resp.ids)
        vecs = codec.unpack_vectors(resp.vectors) if got else np.zeros((0, self.dim), np.float32)
        return [
            Record(i, vecs[j], codec.row_from_pb(resp.rows[j]) if j < len(resp.rows) else {})
            for j, i in enumerate(got)
        ]

    @_text_checked
    def count(self, where: str | None = None, params: Any = None) -> int:
        """Number of rows (matching ``where`` when given)."""
        req = pb.CountRequest(collection=self.name)
        if where is not None:
            if not isinstance(where, str):
                raise InvalidArgumentError("where must be a non-empty SQL predicate string")
            req.where = where if where.strip() else " "  # empty means unset on the wire
        if params is not None:
            codec.params_to_pb(params, req.params)
        return int(self._db._call("Count", req).count)

    def search(
        self,
        query: Any,
        k: int = 10,
        where: str | None = None,
        params: Any = None,
        include: Any = None,
        ef: int | None = None,
        nprobe: int | None = None,
        mode: str | None = None,
        text: str | None = None,
        fusion: Any = None,
    ) -> list[Any]:
        """The ``k`` nearest rows: a list of Hit for a 1-D query, one list per row for 2-D.

        A str query is embedded by the server; ``mode``, ``text`` and ``fusion`` as in
        :meth:`vecdb.Collection.search`."""
        if isinstance(query, str):
            req = pb.SearchRequest(collection=self.name, single=True, query_text=query)
            return self._search(
                req, True, k, where, params, include, ef, nprobe, mode, text, fusion
            )
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
        req = pb.SearchRequest(collection=self.name, single=q.ndim == 1)
        vb = req.queries
        if q.ndim == 1:
            vb.dim = q.shape[0]
            vb.n = 1
            vb.packed_f32 = q.tobytes() if _LITTLE else q.astype("<f4").tobytes()
        else:
            codec.pack_vectors(q, vb)
        return self._search(
            req, q.ndim == 1, k, where, params, include, ef, nprobe, mode, text, fusion
        )

    def _search(
        self,
        req: Any,
        single: bool,
        k: Any,
        where: Any,
        params: Any,
        include: Any,
        ef: Any,
        nprobe: Any,
        mode: Any,
        text: Any,
        fusion: Any,
    ) -> list[Any]:
        _set_text(req, mode, text, fusion)
        _set_int(req, "k", k)
        try:
            if where is not None:
                if not isinstance(where, str):
                    raise InvalidArgumentError("where must be a non-empty SQL predicate string")
                req.where = where if where.strip() else " "
            if params is not None:
                codec.params_to_pb(params, req.params)
            if include is not None:
                codec.include_to_pb(include, req.include)
        except UnicodeEncodeError as e:
            raise _surrogate_error(e) from None
        _set_int(req, "ef", ef)
        _set_int(req, "nprobe", nprobe)
        resp = self._db._call("Search", req)
        out = []
        for qr in resp.results:
            ids = qr.ids.ints.values if qr.ids.HasField("ints") else codec.ids_from_pb(qr.ids)
            if qr.rows:
                rows = [codec.row_from_pb(r) for r in qr.rows]
                out.append(list(map(_new_hit, zip(ids, qr.distances, rows, strict=False))))
            else:
                out.append(list(map(_new_hit, zip(ids, qr.distances, repeat(None)))))
        return out[0] if single else out

    @_text_checked
    def explain(
        self,
        query: Any,
        k: int = 10,
        where: str | None = None,
        params: Any = None,
        ef: int | None = None,
        nprobe: int | None = None,
        mode: str | None = None,
        text: str | None = None,
        fusion: Any = None,
    ) -> dict[str, Any]:
        """The plan a search would use: strategy, estimated/matching rows, index params."""
        req = pb.ExplainRequest(collection=self.name)
        if isinstance(query, str):
            req.query_text = query
        else:
            codec.pack_vectors(codec.as_float32_matrix(query, "query"), req.query)
        _set_text(req, mode, text, fusion)
        _set_int(req, "k", k)
        if where is not None:
            if not isinstance(where, str):
                raise InvalidArgumentError("where must be a non-empty SQL predicate string")
            req.where = where if where.strip() else " "
        if params is not None:
            codec.params_to_pb(params, req.params)
        _set_int(req, "ef", ef)
        _set_int(req, "nprobe", nprobe)
        return codec.map_from_pb(self._db._call("Explain", req).info)


def _set_text(req: Any, mode: Any, text: Any, fusion: Any) -> None:
    """The text options of a Search/Explain request (left unset when None)."""
    if mode is not None:
        if not isinstance(mode, str) or not mode:
            raise InvalidArgumentError(
                f"mode must be 'vector', 'fulltext' or 'hybrid', got {mode!r}"
            )
        req.mode = mode
    if text is not None:
        if not isinstance(text, str):
            raise InvalidArgumentError(f"text must be a str, got {type(text).__name__}")
        req.text = text
    if fusion is not None:
        req.fusion = codec.json_or_none(fusion)


def _set_int(req: Any, field: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidArgumentError(f"{field} must be an integer, got {value!r}")
    if not -(2**63) <= int(value) < 2**63:
        raise InvalidArgumentError(f"{field} is out of range: {value!r}")
    setattr(req, field, int(value))


def _is_table(x: Any) -> bool:
    mod = type(x).__module__.split(".")[0]
    return mod in ("pandas", "pyarrow", "polars") and hasattr(x, "columns")


def _split_table(table: Any) -> tuple[list[Any], np.ndarray, list[dict[str, Any]] | None]:
    import pyarrow as pa

    mod = type(table).__module__.split(".")[0]
    if mod == "pandas":
        tbl = pa.Table.from_pandas(table, preserve_index=False)
    elif mod == "polars":
        tbl = table.to_arrow()
    elif isinstance(table, pa.RecordBatch):
        tbl = pa.Table.from_batches([table])
    else:
        tbl = table
    names = list(tbl.column_names)
    if "id" not in names or "vec" not in names:
        raise InvalidArgumentError(f"a table needs 'id' and 'vec' columns, got {names}")
    ids = tbl.column("id").to_pylist()
    vec_col = tbl.column("vec").combine_chunks()
    if pa.types.is_fixed_size_list(vec_col.type):
        vecs = vec_col.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
        vecs = vecs.reshape(len(vec_col), vec_col.type.list_size)
    else:
        vecs = codec.as_float32_matrix(vec_col.to_pylist())
    others = [c for c in names if c not in ("id", "vec")]
    rows = tbl.select(others).to_pylist() if others else None
    return ids, vecs, rows
