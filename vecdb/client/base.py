"""The remote API, written once: every method builds a :mod:`vecdb.api` request and hands it
to its transport's ``execute`` (gRPC in :mod:`vecdb.client.remote`, REST in
:mod:`vecdb.client.rest`). Results and errors are those of the embedded engine.

A transport subclasses :class:`ClientDatabase` and implements ``execute(request)``: encode,
send, decode the result or raise the :class:`~vecdb.errors.VecdbError` the server named.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vecdb import api
from vecdb.errors import InvalidArgumentError
from vecdb.result import Result
from vecdb.rpc.codec import as_float32_matrix
from vecdb.types import Record

__all__ = ["ClientDatabase", "ClientCollection"]


class ClientDatabase:
    """A database behind a server: the methods of :class:`vecdb.Database`."""

    confined = True
    path: str

    def execute(self, req: api.Request) -> Any:  # pragma: no cover - transports define it
        """Send one request and return its result (the transport's one job)."""
        raise NotImplementedError

    # -- catalog --------------------------------------------------------------------

    def create_collection(
        self,
        name: str,
        dim: int | None = None,
        metric: Any = "cosine",
        index: Any = "hnsw",
        index_params: dict[str, Any] | None = None,
        columns: dict[str, str] | None = None,
        id_type: Any = "int",
        exist_ok: bool = False,
        embedding: str | dict[str, Any] | None = None,
        fulltext: bool | dict[str, Any] = False,
    ) -> ClientCollection:
        """Create a collection on the server (see :meth:`vecdb.Database.create_collection`).

        ``embedding`` is a provider spec (a string or dict, not a callable): the server
        embeds documents and text queries with it, so it must be able to reach the model."""
        req = api.CreateCollectionRequest(
            name,
            dim=dim,
            metric=metric,
            index=index,
            index_params=index_params,
            columns=columns,
            id_type=id_type,
            exist_ok=exist_ok,
            embedding=embedding,
            fulltext=fulltext,
        )
        return ClientCollection(self, self.execute(req))

    def get_collection(self, name: str) -> ClientCollection:
        """A collection by name (NotFoundError when missing)."""
        return ClientCollection(self, self.execute(api.GetCollectionRequest(name)))

    def list_collections(self) -> list[str]:
        """Collection names, sorted."""
        return list(self.execute(api.ListCollectionsRequest()))

    def drop_collection(self, name: str, missing_ok: bool = False) -> None:
        """Drop a collection and its rows."""
        self.execute(api.DropCollectionRequest(name, missing_ok=missing_ok))

    def sql(self, query: str, params: Any = None) -> Result:
        """Run confined SQL on the server; the rows come back as a :class:`Result`."""
        if not isinstance(query, str):
            raise InvalidArgumentError("query must be a SQL string")
        return self.execute(api.SqlRequest(query, params))

    # -- lifecycle ------------------------------------------------------------------

    def close(self) -> None:  # pragma: no cover - transports define it
        """Close the connection (the server's database stays open)."""
        raise NotImplementedError

    def __enter__(self) -> ClientDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"


class ClientCollection:
    """A collection behind a server: the methods of :class:`vecdb.Collection`."""

    def __init__(self, db: ClientDatabase, info: dict[str, Any]) -> None:
        self._db = db
        self._set_info(info)

    def _set_info(self, info: dict[str, Any]) -> None:
        self.name: str = info["name"]
        self.dim: int = int(info["dim"])
        self.metric: str = info["metric"]
        self.index = self.index_kind = info["index"]
        self.index_params = dict(info.get("index_params") or {})
        self.columns = dict(info.get("columns") or {})
        self.id_type = info.get("id_type", "int")
        self.embedding = info.get("embedding")
        self.fulltext = info.get("fulltext")
        self._info = dict(info)

    def describe(self) -> dict[str, Any]:
        """``{name, dim, metric, index, index_params, columns, id_type, ..., count}``, fresh."""
        self._set_info(self._db.execute(api.GetCollectionRequest(self.name)))
        return dict(self._info)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, dim={self.dim}, metric={self.metric!r})"

    # -- writes ---------------------------------------------------------------------

    def add(
        self, ids: Any = None, vectors: Any = None, rows: Any = None, documents: Any = None
    ) -> int:
        """Insert new rows; AlreadyExistsError if an id exists (nothing is written).
        Documents without vectors are embedded by the server."""
        return self._write(ids, vectors, rows, documents, add=True)

    def upsert(
        self, ids: Any = None, vectors: Any = None, rows: Any = None, documents: Any = None
    ) -> int:
        """Insert or replace rows, sent to the server and applied as one atomic batch."""
        return self._write(ids, vectors, rows, documents, add=False)

    def _write(self, ids: Any, vectors: Any, rows: Any, documents: Any, add: bool) -> int:
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
        if rows is not None:
            if not isinstance(rows, (list, tuple)):
                raise InvalidArgumentError("rows must be a list of dicts")
            rows = list(rows)
        arr = None
        if vectors is not None:
            arr = as_float32_matrix(vectors)
            if arr.ndim == 1 and arr.size == 0:
                arr = arr.reshape(0, self.dim)
            if arr.ndim != 2:
                raise InvalidArgumentError(
                    f"vectors must be 2-dimensional (n, {self.dim}), got shape {arr.shape}"
                )
        if ids is not None and not isinstance(ids, np.ndarray):
            if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
                raise InvalidArgumentError("ids must be a list of int or str")
            ids = list(ids)
        req = api.WriteRequest(self.name, ids, arr, rows, documents, add=add)
        return int(self._db.execute(req))

    def delete(self, ids: Any = None, where: str | None = None, params: Any = None) -> int:
        """Delete by ids or by predicate; returns the number deleted."""
        return int(self._db.execute(api.DeleteRequest(self.name, ids, where, params)))

    def compact(self) -> None:
        """Compact the collection's index on the server."""
        self._db.execute(api.CompactRequest(self.name))

    # -- reads ----------------------------------------------------------------------

    def get(self, ids: Any, include: Any = None) -> list[Record]:
        """Records by id, in the order asked; missing ids are left out."""
        return self._db.execute(api.GetRequest(self.name, ids, include))

    def count(self, where: str | None = None, params: Any = None) -> int:
        """Number of rows (matching ``where`` when given)."""
        return int(self._db.execute(api.CountRequest(self.name, where, params)))

    def search(
        self,
        query: Any,
        k: int = 10,
        where: str | None = None,
        params: Any = None,
        include: Any = None,
        ef: int | None = None,
        nprobe: int | None = None,
        mode: str = "vector",
        text: str | None = None,
        fusion: Any = None,
    ) -> Any:
        """The ``k`` nearest rows: a list of Hit for a 1-D query, one list per row for 2-D.

        A str query is embedded by the server; ``mode``, ``text`` and ``fusion`` as in
        :meth:`vecdb.Collection.search`."""
        if not isinstance(query, (str, np.ndarray)):
            query = as_float32_matrix(query, "query")
        if isinstance(query, np.ndarray) and query.ndim not in (1, 2):
            raise InvalidArgumentError(
                f"query must be a vector of floats or a matrix of them, got shape {query.shape}"
            )
        req = api.SearchRequest(
            self.name, query, k, where, params, include, ef, nprobe, mode, text, fusion
        )
        return self._db.execute(req)

    def explain(
        self,
        query: Any,
        k: int = 10,
        where: str | None = None,
        params: Any = None,
        ef: int | None = None,
        nprobe: int | None = None,
        mode: str = "vector",
        text: str | None = None,
        fusion: Any = None,
    ) -> dict[str, Any]:
        """The plan a search would use: strategy, estimated/matching rows, index params."""
        req = api.ExplainRequest(self.name, query, k, where, params, ef, nprobe, mode, text, fusion)
        return dict(self._db.execute(req))


def _is_table(x: Any) -> bool:
    mod = type(x).__module__.split(".")[0]
    return mod in ("pandas", "pyarrow", "polars") and hasattr(x, "columns")


def _split_table(table: Any) -> tuple[list[Any], np.ndarray, list[dict[str, Any]] | None]:
    """A pandas/Arrow/Polars table with ``id`` and ``vec`` columns as (ids, vectors, rows)."""
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
        vecs = as_float32_matrix(vec_col.to_pylist())
    others = [c for c in names if c not in ("id", "vec")]
    rows = tbl.select(others).to_pylist() if others else None
    return ids, vecs, rows
