"""One request model for every transport: the API as Protocols, each operation as a value.

:class:`DatabaseAPI` and :class:`CollectionAPI` are what ``vecdb.connect()`` returns,
whatever is behind it: the embedded engine, a gRPC or REST server, or Ray shards. Every
operation is also a frozen request dataclass (:class:`SearchRequest`, :class:`WriteRequest`,
...) that knows which key it needs, which service limits it is subject to and how to run on
any database. The server turns each wire message into one of these requests, checks its
limits once and runs it; the remote clients turn each method call into one and send it. So
an argument is added in one dataclass, its codecs and the engine, not in six places.

>>> import vecdb
>>> db = vecdb.connect()
>>> isinstance(db, DatabaseAPI)
True
>>> _ = db.create_collection("docs", dim=2, index="exact")
>>> WriteRequest("docs", ids=[1, 2], vectors=[[1, 0], [0, 1]]).run(db)
2
>>> req = SearchRequest("docs", query=[1.0, 0.1], k=1)
>>> [h.id for h in req.run(db)], req.limits()
([1], (('max_k', 1, 'k'),))
>>> db.close()
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from vecdb.errors import ResourceExhaustedError
from vecdb.result import Result
from vecdb.types import Record

__all__ = [
    "CollectionAPI",
    "DatabaseAPI",
    "Request",
    "CreateCollectionRequest",
    "GetCollectionRequest",
    "ListCollectionsRequest",
    "DropCollectionRequest",
    "WriteRequest",
    "DeleteRequest",
    "GetRequest",
    "CountRequest",
    "CompactRequest",
    "SearchRequest",
    "ExplainRequest",
    "SqlRequest",
    "describe",
    "limit_error",
]


# --------------------------------------------------------------------------- the API


@runtime_checkable
class CollectionAPI(Protocol):
    """A collection, embedded or remote: the same methods, results and errors."""

    name: str
    dim: int
    metric: str

    def describe(self) -> dict[str, Any]: ...

    def add(
        self, ids: Any = None, vectors: Any = None, rows: Any = None, documents: Any = None
    ) -> int: ...

    def upsert(
        self, ids: Any = None, vectors: Any = None, rows: Any = None, documents: Any = None
    ) -> int: ...

    def delete(self, ids: Any = None, where: str | None = None, params: Any = None) -> int: ...

    def get(self, ids: Any, include: Any = None) -> list[Record]: ...

    def count(self, where: str | None = None, params: Any = None) -> int: ...

    def compact(self) -> None: ...

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
    ) -> Any: ...

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
    ) -> dict[str, Any]: ...


@runtime_checkable
class DatabaseAPI(Protocol):
    """A database, embedded or remote (what :func:`vecdb.connect` returns)."""

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
        embedding: Any = None,
        fulltext: Any = False,
    ) -> Any: ...

    def get_collection(self, name: str) -> Any: ...

    def list_collections(self) -> list[str]: ...

    def drop_collection(self, name: str, missing_ok: bool = False) -> None: ...

    def sql(self, query: str, params: Any = None) -> Result: ...

    def close(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: object) -> None: ...


def describe(coll: Any) -> dict[str, Any]:
    """A collection's description (``{name, dim, metric, index, ..., count}``)."""
    return dict(coll.describe())


# --------------------------------------------------------------------------- requests


class Request:
    """One operation, as data. Subclasses are frozen dataclasses.

    ``writes``: needs the full key (None: decided by the statement, for SQL).
    ``deadline``: runs under the request deadline, interrupted past it (reads and SQL;
    a write that started is not cut halfway).
    """

    __slots__ = ()
    op: ClassVar[str]
    writes: ClassVar[bool | None] = False
    deadline: ClassVar[bool] = True

    def limits(self) -> tuple[tuple[str, int, str], ...]:
        """``(limit name, value, what)`` for each service limit this request is subject to;
        the service refuses it when ``value`` is over the configured limit."""
        return ()

    def waits_on_duckdb(self) -> bool:
        """True when running it may wait in DuckDB, where a deadline can interrupt it.

        A request that stays in memory (an unfiltered search) is cheaper to run to its end
        and check the deadline afterwards than to schedule an interrupt for every call.
        """
        return True

    def run(self, db: Any) -> Any:  # pragma: no cover - every subclass defines it
        """Run on ``db`` (any :class:`DatabaseAPI`) and return the method's result."""
        raise NotImplementedError


def limit_error(limit: str, value: int, what: str, allowed: int) -> ResourceExhaustedError:
    """The error for a request over a service limit (the same words on every transport).

    >>> limit_error("max_k", 5000, "k", 1000).message
    'k=5000 is over the limit max_k=1000'
    """
    if limit == "max_k":
        return ResourceExhaustedError(f"k={value} is over the limit max_k={allowed}", limit=limit)
    return ResourceExhaustedError(
        f"{value} {what} in one request is over the limit {limit}={allowed}", limit=limit
    )


def _rows_in(x: Any) -> int:
    """How many rows ``x`` holds (a sequence, an array or a table); 0 for None."""
    if x is None:
        return 0
    n = getattr(x, "num_rows", None)
    if n is not None:
        return int(n)
    shape = getattr(x, "shape", None)
    if shape is not None:
        return int(shape[0]) if len(shape) >= 1 else 0
    try:
        return len(x)
    except TypeError:
        return 0


@dataclass(frozen=True, slots=True)
class CreateCollectionRequest(Request):
    """``db.create_collection(...)``; the result is the new collection's description."""

    op: ClassVar[str] = "create_collection"
    writes: ClassVar[bool | None] = True
    deadline: ClassVar[bool] = False

    name: str
    dim: int | None = None
    metric: str = "cosine"
    index: str = "hnsw"
    index_params: dict[str, Any] | None = None
    columns: dict[str, str] | None = None
    id_type: str = "int"
    exist_ok: bool = False
    embedding: Any = None
    fulltext: Any = False

    def run(self, db: Any) -> dict[str, Any]:
        text: dict[str, Any] = {}  # only when asked for: not every database has text
        if self.embedding is not None:
            text["embedding"] = self.embedding
        if self.fulltext is not False:
            text["fulltext"] = self.fulltext
        return describe(
            db.create_collection(
                self.name,
                dim=self.dim,
                metric=self.metric,
                index=self.index,
                index_params=self.index_params,
                columns=self.columns,
                id_type=self.id_type,
                exist_ok=self.exist_ok,
                **text,
            )
        )


@dataclass(frozen=True, slots=True)
class GetCollectionRequest(Request):
    """``db.get_collection(name)``; the result is its description."""

    op: ClassVar[str] = "get_collection"
    name: str

    def run(self, db: Any) -> dict[str, Any]:
        return describe(db.get_collection(self.name))


@dataclass(frozen=True, slots=True)
class ListCollectionsRequest(Request):
    """``db.list_collections()``."""

    op: ClassVar[str] = "list_collections"

    def run(self, db: Any) -> list[str]:
        return list(db.list_collections())


@dataclass(frozen=True, slots=True)
class DropCollectionRequest(Request):
    """``db.drop_collection(name, missing_ok)``."""

    op: ClassVar[str] = "drop_collection"
    writes: ClassVar[bool | None] = True
    deadline: ClassVar[bool] = False
    name: str
    missing_ok: bool = False

    def run(self, db: Any) -> None:
        db.drop_collection(self.name, missing_ok=self.missing_ok)


@dataclass(frozen=True, slots=True)
class WriteRequest(Request):
    """``collection.upsert(...)``, or ``add`` with ``add=True``: one atomic batch."""

    op: ClassVar[str] = "write"
    writes: ClassVar[bool | None] = True
    deadline: ClassVar[bool] = False
    collection: str
    ids: Any = None
    vectors: Any = None
    rows: Any = None
    documents: Any = None
    add: bool = False

    def limits(self) -> tuple[tuple[str, int, str], ...]:
        n = _rows_in(self.ids) if self.ids is not None else _rows_in(self.vectors)
        docs = _rows_in(self.documents)
        return (("max_batch_rows", n, "rows"), ("max_batch_rows", docs, "documents"))

    def run(self, db: Any) -> int:
        coll = db.get_collection(self.collection)
        fn = coll.add if self.add else coll.upsert
        if self.documents is None:  # collections without text need not know the argument
            return int(fn(ids=self.ids, vectors=self.vectors, rows=self.rows))
        return int(fn(ids=self.ids, vectors=self.vectors, rows=self.rows, documents=self.documents))


@dataclass(frozen=True, slots=True)
class DeleteRequest(Request):
    """``collection.delete(ids=... | where=..., params)``."""

    op: ClassVar[str] = "delete"
    writes: ClassVar[bool | None] = True
    deadline: ClassVar[bool] = False
    collection: str
    ids: Any = None
    where: str | None = None
    params: Any = None

    def limits(self) -> tuple[tuple[str, int, str], ...]:
        return (("max_batch_rows", _rows_in(self.ids), "ids"),)

    def run(self, db: Any) -> int:
        coll = db.get_collection(self.collection)
        return int(coll.delete(ids=self.ids, where=self.where, params=self.params))


@dataclass(frozen=True, slots=True)
class GetRequest(Request):
    """``collection.get(ids, include)``."""

    op: ClassVar[str] = "get"
    collection: str
    ids: Any = None
    include: Any = None

    def limits(self) -> tuple[tuple[str, int, str], ...]:
        return (("max_batch_rows", _rows_in(self.ids), "ids"),)

    def run(self, db: Any) -> list[Record]:
        coll = db.get_collection(self.collection)
        if self.include is None:
            return list(coll.get(self.ids))
        return list(coll.get(self.ids, include=self.include))


@dataclass(frozen=True, slots=True)
class CountRequest(Request):
    """``collection.count(where, params)``."""

    op: ClassVar[str] = "count"
    collection: str
    where: str | None = None
    params: Any = None

    def run(self, db: Any) -> int:
        coll = db.get_collection(self.collection)
        if self.where is None and self.params is None:
            return int(coll.count())
        return int(coll.count(where=self.where, params=self.params))


@dataclass(frozen=True, slots=True)
class CompactRequest(Request):
    """``collection.compact()``."""

    op: ClassVar[str] = "compact"
    writes: ClassVar[bool | None] = True
    deadline: ClassVar[bool] = False
    collection: str

    def run(self, db: Any) -> None:
        db.get_collection(self.collection).compact()


def _text_options(mode: str, text: str | None, fusion: Any) -> dict[str, Any]:
    """The text options worth passing on (a plain vector search passes none)."""
    out: dict[str, Any] = {}
    if mode != "vector":
        out["mode"] = mode
    if text is not None:
        out["text"] = text
    if fusion is not None:
        out["fusion"] = fusion
    return out


@dataclass(frozen=True, slots=True)
class SearchRequest(Request):
    """``collection.search(...)``: ``query`` is one vector, a matrix (a batch) or a text."""

    op: ClassVar[str] = "search"
    collection: str
    query: Any
    k: int = 10
    where: str | None = None
    params: Any = None
    include: Any = None
    ef: int | None = None
    nprobe: int | None = None
    mode: str = "vector"
    text: str | None = None
    fusion: Any = None

    def limits(self) -> tuple[tuple[str, int, str], ...]:
        k = self.k if isinstance(self.k, int) and not isinstance(self.k, bool) else 0
        if getattr(self.query, "ndim", 1) == 2:
            return (("max_k", k, "k"), ("max_batch_rows", _rows_in(self.query), "query vectors"))
        return (("max_k", k, "k"),)

    @property
    def batched(self) -> bool:
        """True when the query is a matrix: the result is one list of hits per row."""
        return getattr(self.query, "ndim", 1) == 2

    def waits_on_duckdb(self) -> bool:
        # only a filter reaches DuckDB (its allow-list); the index, the row store, the
        # full-text index and the embedding function are in memory or outside DuckDB
        return self.where is not None

    def run(self, db: Any) -> Any:
        return db.get_collection(self.collection).search(
            self.query,
            k=self.k,
            where=self.where,
            params=self.params,
            include=self.include,
            ef=self.ef,
            nprobe=self.nprobe,
            **_text_options(self.mode, self.text, self.fusion),
        )


@dataclass(frozen=True, slots=True)
class ExplainRequest(Request):
    """``collection.explain(...)``: the plan a search would use."""

    op: ClassVar[str] = "explain"
    collection: str
    query: Any
    k: int = 10
    where: str | None = None
    params: Any = None
    ef: int | None = None
    nprobe: int | None = None
    mode: str = "vector"
    text: str | None = None
    fusion: Any = None

    def limits(self) -> tuple[tuple[str, int, str], ...]:
        k = self.k if isinstance(self.k, int) and not isinstance(self.k, bool) else 0
        return (("max_k", k, "k"),)

    def run(self, db: Any) -> dict[str, Any]:
        return dict(
            db.get_collection(self.collection).explain(
                self.query,
                k=self.k,
                where=self.where,
                params=self.params,
                ef=self.ef,
                nprobe=self.nprobe,
                **_text_options(self.mode, self.text, self.fusion),
            )
        )


@dataclass(frozen=True, slots=True)
class SqlRequest(Request):
    """``db.sql(sql, params)``; ``read_only`` runs it as the read-only key must."""

    op: ClassVar[str] = "sql"
    writes: ClassVar[bool | None] = None  # decided by the statement's kind
    sql: str
    params: Any = None
    read_only: bool = False

    def run(self, db: Any) -> Result:
        if self.read_only:
            return db.sql(self.sql, self.params, read_only=True)
        return db.sql(self.sql, self.params)
