"""The REST bodies and answers: each body validates JSON into one :mod:`vecdb.api` request.

Strict types: REST refuses what the embedded API and gRPC refuse ("5" is not a k, true is
not an id); a JSON integer is still a valid float component. The answer models document the
JSON the routes return (the routes write it directly, without a second validation pass).

>>> SearchBody.model_validate({"vector": [1, 0], "k": 3}).to_request("docs").k
3
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from vecdb import api
from vecdb.errors import InvalidArgumentError

JSONValue = Any

# --------------------------------------------------------------------------- bodies

Float = StrictFloat | StrictInt
Vector = list[Float]
Ids = list[StrictInt] | list[StrictStr]
Params = dict[str, JSONValue] | list[JSONValue] | None
Include = list[StrictStr] | StrictStr | None
PARAMS_DOC = "values for `$name` (an object) or `?` (a list) placeholders in `where`"
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

    def to_request(self) -> api.CreateCollectionRequest:
        return api.CreateCollectionRequest(**self.model_dump())


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

    def to_request(self, name: str, add: bool = False) -> api.WriteRequest:
        vectors = _vectors(self.vectors)
        return api.WriteRequest(name, self.ids, vectors, self.rows, self.documents, add=add)


class SearchBody(_Body):
    """``collection.search(...)``: ``vector`` for one query or ``vectors`` for a batch."""

    vector: Vector | None = Field(None, examples=[[0.1, 0.2, 0.3]])
    vectors: list[Vector] | None = None
    query_text: StrictStr | None = Field(None, description="a text query, embedded by the server")
    k: StrictInt = 10
    where: StrictStr | None = Field(None, examples=["year >= $y"])
    params: Params = Field(None, description=PARAMS_DOC, examples=[{"y": 2020}])
    include: Include = Field(None, description=_INCLUDE_DOC)
    ef: StrictInt | None = None
    nprobe: StrictInt | None = None
    mode: StrictStr | None = Field(None, description="vector | fulltext | hybrid")
    text: StrictStr | None = Field(None, description="keyword text for fulltext/hybrid")
    fusion: StrictStr | dict[str, JSONValue] | None = None

    def to_request(self, name: str) -> api.SearchRequest:
        given = [x is not None for x in (self.vector, self.vectors, self.query_text)]
        if sum(given) != 1:
            raise InvalidArgumentError(
                "give exactly one of 'vector' (one query), 'vectors' or 'query_text'"
            )
        query: Any = self.query_text
        if self.vector is not None:
            query = _vectors([self.vector])[0]  # type: ignore[index]
        elif self.vectors is not None:
            query = _vectors(self.vectors)
        return api.SearchRequest(
            name,
            query,
            k=self.k,
            where=self.where,
            params=self.params,
            include=self.include,
            ef=self.ef,
            nprobe=self.nprobe,
            mode="vector" if self.mode is None else self.mode,
            text=self.text,
            fusion=self.fusion,
        )


class ExplainBody(_Body):
    """``collection.explain(...)``."""

    vector: Vector | None = Field(None, examples=[[0.1, 0.2, 0.3]])
    query_text: StrictStr | None = None
    k: StrictInt = 10
    where: StrictStr | None = None
    params: Params = Field(None, description=PARAMS_DOC)
    ef: StrictInt | None = None
    nprobe: StrictInt | None = None
    mode: StrictStr | None = None
    text: StrictStr | None = None
    fusion: StrictStr | dict[str, JSONValue] | None = None

    def to_request(self, name: str) -> api.ExplainRequest:
        if (self.vector is None) == (self.query_text is None):
            raise InvalidArgumentError("give exactly one of 'vector' or 'query_text'")
        query: Any = self.query_text
        if query is None:
            query = _vectors([self.vector])[0]  # type: ignore[list-item,index]
        return api.ExplainRequest(
            name,
            query,
            k=self.k,
            where=self.where,
            params=self.params,
            ef=self.ef,
            nprobe=self.nprobe,
            mode="vector" if self.mode is None else self.mode,
            text=self.text,
            fusion=self.fusion,
        )


class DeleteBody(_Body):
    """``collection.delete(ids=... | where=...)``."""

    ids: Ids | None = None
    where: StrictStr | None = None
    params: Params = Field(None, description=PARAMS_DOC)

    def to_request(self, name: str) -> api.DeleteRequest:
        return api.DeleteRequest(name, self.ids, self.where, self.params)


class GetBody(_Body):
    """``collection.get(ids, include)``."""

    ids: Ids = Field(examples=[[1, 2]])
    include: Include = Field(None, description=_INCLUDE_DOC)

    def to_request(self, name: str) -> api.GetRequest:
        return api.GetRequest(name, self.ids, self.include)


class CountBody(_Body):
    """``collection.count(where, params)``."""

    where: StrictStr | None = Field(None, examples=["year >= $y"])
    params: Params = Field(None, description=PARAMS_DOC, examples=[{"y": 2020}])

    def to_request(self, name: str) -> api.CountRequest:
        return api.CountRequest(name, self.where, self.params)


class SqlBody(_Body):
    """``db.sql(sql, params)``."""

    sql: StrictStr = Field(examples=["SELECT id FROM docs LIMIT 3"])
    params: Params = Field(None, description="values for `$name` or `?` placeholders")

    def to_request(self, read_only: bool = False) -> api.SqlRequest:
        return api.SqlRequest(self.sql, self.params, read_only=read_only)


# --------------------------------------------------------------------------- answers


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


def errors_doc(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, all ``ErrorResponse``."""
    return {c: {"model": ErrorResponse, "description": _ERROR_TEXT[c]} for c in codes}


def _vectors(v: list[list[float]] | None) -> np.ndarray | None:
    """JSON vectors as float32 (ragged input is left as lists for the engine to reject)."""
    if v is None:
        return None
    try:
        with np.errstate(over="ignore"):  # out-of-range floats become inf; the engine rejects
            return np.asarray(v, dtype=np.float32)
    except (ValueError, TypeError):
        raise InvalidArgumentError("vectors must all have the same length") from None
