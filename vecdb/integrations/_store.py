"""What the LangChain and LlamaIndex stores share: opening the database and the collection,
writing texts with JSON metadata, reading hits back, and filters.

A store's collection has string ids, a ``document`` column (the text) and a JSON column
``metadata`` (each document's metadata, any JSON-serialisable dict, read back with its
types), plus any typed columns chosen at creation (``metadata_columns={"year": "INTEGER"}``)
that copy those metadata keys for fast filtering and plain SQL. The collection is created on
the first write, when the embedding dimension is known; an existing one is reused.

>>> s = StoreCore(None, "t", {"index": "exact"})
>>> s.write(["a"], [[1.0, 0.0]], ["hello"], [{"n": 1, "tags": ["x"]}], replace=True)
>>> s.fetch(["a"])[0]
('a', 'hello', {'n': 1, 'tags': ['x']}, None)
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

import vecdb
from vecdb.errors import InvalidArgumentError, NotFoundError
from vecdb.integrations._filters import (
    METADATA,
    Where,
    quote_identifier,
    translate_dict,
)

__all__ = ["StoreCore", "open_database", "DOCUMENT", "METADATA"]

DOCUMENT = "document"
_RESERVED = {"id", "vec", DOCUMENT, METADATA}


def open_database(db: Any) -> tuple[Any, bool]:
    """(database, owned): a path or URL is opened (and owned: closed with the store), an
    open database is used as is, None opens an in-memory one."""
    if db is None:
        return vecdb.connect(), True
    if isinstance(db, (str, os.PathLike)):
        return vecdb.connect(db), True
    if hasattr(db, "create_collection") and hasattr(db, "get_collection"):
        return db, False
    raise InvalidArgumentError(
        "db must be a path, a 'grpc://host:port' or 'http://host:port' URL, an open vecdb "
        f"database, or None (in memory); got {type(db).__name__}"
    )


def dumps_metadata(metadata: Any) -> str:
    if metadata is None:
        return "{}"
    if not isinstance(metadata, Mapping):
        raise InvalidArgumentError(f"metadata must be a dict, got {type(metadata).__name__}")
    try:
        return json.dumps(metadata, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(
            f"metadata must be JSON-serialisable (strings, numbers, booleans, None, lists and "
            f"dicts of them) to round-trip with its types: {e}"
        ) from e


def loads_many(texts: list[Any]) -> list[dict[str, Any]]:
    """Each row's metadata (one JSON parse for the whole list when all are objects)."""
    if texts and all(type(t) is str and t[:1] == "{" for t in texts):
        out: list[dict[str, Any]] = json.loads("[" + ",".join(texts) + "]")
        return out
    return [loads_metadata(t) for t in texts]


def loads_metadata(text: Any) -> dict[str, Any]:
    if text is None:
        return {}
    if isinstance(text, (dict, list)):
        return dict(text) if isinstance(text, dict) else {}
    out = json.loads(text)
    return out if isinstance(out, dict) else {}


class StoreCore:
    """A collection used as a document store (see the module docstring)."""

    def __init__(
        self,
        db: Any,
        collection: str,
        create_kwargs: Mapping[str, Any] | None = None,
        metadata_columns: Mapping[str, str] | None = None,
    ) -> None:
        if not isinstance(collection, str) or not collection:
            raise InvalidArgumentError("collection must be a non-empty name")
        self.db, self._owned = open_database(db)
        self.name = collection
        self.create_kwargs = dict(create_kwargs or {})
        for bad in ("dim", "columns", "id_type", "embedding", "name"):
            if bad in self.create_kwargs:
                raise InvalidArgumentError(
                    f"{bad}= is set by the store (the dimension comes from the embeddings, "
                    "ids are strings, metadata lives in a JSON column); use metadata_columns= "
                    "for typed columns"
                )
        self.metadata_columns = dict(metadata_columns or {})
        for key in self.metadata_columns:
            if key.lower() in _RESERVED:
                raise InvalidArgumentError(f"metadata column name {key!r} is reserved; rename it")
        self._lock = threading.Lock()
        self.coll: Any = None
        self.typed: dict[str, str] = {}
        self.has_fulltext = False
        self.metric = str(self.create_kwargs.get("metric", "cosine"))
        self._open_existing()

    # ---- the collection -------------------------------------------------------------------
    def _open_existing(self) -> None:
        try:
            coll = self.db.get_collection(self.name)
        except NotFoundError:
            return
        self._adopt(coll)

    def _adopt(self, coll: Any) -> None:
        info = coll.describe()
        cols = info["columns"]
        if DOCUMENT not in cols or METADATA not in cols or info["id_type"] != "str":
            raise InvalidArgumentError(
                f"collection {self.name!r} exists but was not made by a vecdb store (it needs "
                "string ids and document and metadata columns); use another collection name"
            )
        self.typed = {k: v for k, v in cols.items() if k not in _RESERVED}
        self.has_fulltext = info.get("fulltext") is not None
        self.metric = info["metric"]
        self.coll = coll

    def ensure(self, dim: int) -> Any:
        """The collection, created for vectors of ``dim`` on first use."""
        if self.coll is not None:
            return self.coll
        with self._lock:
            if self.coll is None:
                kw = dict(self.create_kwargs)
                columns = {METADATA: "JSON", **self.metadata_columns}
                if not kw.get("fulltext"):
                    columns = {DOCUMENT: "VARCHAR", **columns}
                coll = self.db.create_collection(
                    self.name, dim=dim, columns=columns, id_type="str", exist_ok=True, **kw
                )
                self._adopt(coll)
        return self.coll

    def refresh(self) -> Any:
        """The collection if it exists now (another process or store may have created it)."""
        if self.coll is None:
            self._open_existing()
        return self.coll

    # ---- writes ---------------------------------------------------------------------------
    def write(
        self,
        ids: Sequence[str],
        vectors: Any,
        texts: Sequence[str | None],
        metadatas: Sequence[Any],
        replace: bool,
    ) -> None:
        """Write rows: text, JSON metadata and the typed copies. A repeated id keeps its last
        occurrence; ``replace`` upserts (otherwise the ids must be new)."""
        if not ids:
            return
        mat = np.asarray(vectors, dtype=np.float32)
        if len(set(ids)) != len(ids):
            last = {i: j for j, i in enumerate(ids)}
            keep = sorted(last.values())
            ids = [ids[j] for j in keep]
            mat = mat[keep]
            texts = [texts[j] for j in keep]
            metadatas = [metadatas[j] for j in keep]
        coll = self.ensure(int(mat.shape[1]))
        typed = self.typed
        rows = []
        for text, meta in zip(texts, metadatas):
            row = {DOCUMENT: text, METADATA: dumps_metadata(meta)}
            if typed and meta:
                for key in typed:
                    if key in meta:
                        row[key] = meta[key]
            rows.append(row)
        if replace:
            coll.upsert(ids=list(ids), vectors=mat, rows=rows)
        else:
            coll.add(ids=list(ids), vectors=mat, rows=rows)

    def delete(self, ids: Sequence[str] | None = None, where: Where | None = None) -> int:
        coll = self.refresh()
        if coll is None:
            return 0
        if ids is not None:
            return int(coll.delete(ids=list(ids))) if len(ids) else 0
        assert where is not None
        return int(coll.delete(where=where.sql, params=where.params or None))

    def clear(self) -> None:
        """Drop the collection (it is created again on the next write)."""
        with self._lock:
            self.db.drop_collection(self.name, missing_ok=True)
            self.coll = None

    # ---- reads ----------------------------------------------------------------------------
    def where(self, flt: Any) -> Where | None:
        """A filter as a predicate: a vecdb ``where`` string (as is), a dict, or None."""
        if flt is None:
            return None
        if isinstance(flt, str):
            return Where(flt, {})
        if isinstance(flt, Where):
            return flt
        if isinstance(flt, Mapping):
            return translate_dict(flt, self.typed) if flt else None
        raise InvalidArgumentError(
            f"filter must be a vecdb where string or a dict, got {type(flt).__name__}"
        )

    def fetch(self, ids: Sequence[str], vectors: bool = False) -> list[tuple[Any, ...]]:
        """(id, text, metadata, vector or None) for the ids that exist, in the order asked."""
        coll = self.refresh()
        if coll is None or not ids:
            return []
        recs = coll.get(list(ids), include=[DOCUMENT, METADATA])
        metas = loads_many([r.row.get(METADATA) for r in recs])
        return [
            (r.id, r.row.get(DOCUMENT), meta, r.vector if vectors else None)
            for r, meta in zip(recs, metas)
        ]

    def search(
        self,
        vector: Any,
        k: int,
        where: Where | None = None,
        mode: str = "vector",
        text: str | None = None,
        vectors: bool = False,
        fusion: Any = None,
    ) -> list[tuple[Any, float, str | None, dict[str, Any], Any]]:
        """(id, distance or score, text, metadata, vector or None), best first."""
        coll = self.refresh()
        if coll is None or k <= 0:
            return []
        include = [DOCUMENT, METADATA, "vec"] if vectors else [DOCUMENT, METADATA]
        kw: dict[str, Any] = {}
        if where is not None:
            kw["where"] = where.sql
            if where.params:
                kw["params"] = where.params
        if mode != "vector":
            kw["mode"] = mode
            kw["text"] = text
            if fusion is not None:
                kw["fusion"] = fusion
        query = text if vector is None else np.asarray(vector, dtype=np.float32)
        hits = coll.search(query, k=int(k), include=include, **kw)
        metas = loads_many([h.row[METADATA] for h in hits])
        return [
            (h.id, h.distance, h.row[DOCUMENT], meta, h.row["vec"] if vectors else None)
            for h, meta in zip(hits, metas)
        ]

    def ids_where(self, where: Where) -> list[Any]:
        """Every id matching ``where`` (through SQL on the collection's table)."""
        coll = self.refresh()
        if coll is None:
            return []
        res = self.db.sql(
            f"SELECT id FROM {quote_identifier(self.name)} WHERE {where.sql}", where.params or None
        )
        rows = res.fetchall() if hasattr(res, "fetchall") else res
        return [r[0] for r in rows]

    def close(self) -> None:
        if self._owned:
            self.db.close()
