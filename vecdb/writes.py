"""The write path of one collection, and its embedding function.

A write goes to DuckDB first, in one transaction with its change-log entry, and reaches the
live index only after it commits, under the collection's write lock; so an acknowledged
write is durable and the index can always be caught up or rebuilt from DuckDB. Documents
without a vector are embedded before anything is written: an embedding error writes nothing.

>>> import vecdb
>>> c = vecdb.connect().create_collection("c", dim=1, index="exact")
>>> c._writes.write([1, 2], [[1], [2]], None, None, replace=False), c.count()
(2, 2)
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from vecdb._input import as_batch, as_ids, check_index
from vecdb.embed import EmbeddingFunction, from_spec, resolve
from vecdb.errors import AlreadyExistsError, InvalidArgumentError
from vecdb.storage.crash import crash_point
from vecdb.storage.table import CollectionTable
from vecdb.text import DOCUMENT, check_documents
from vecdb.types import CollectionSpec
from vecdb.upkeep import Upkeep

__all__ = ["Writes", "with_documents"]


class Writes:
    """Writes, deletes, DML, compaction and index changes of one collection.

    Every change runs under ``lock`` (the collection's write lock): the DuckDB transaction,
    then the live index's update and its ``upkeep``. ``predicate`` checks a ``where`` (as
    reads do).
    """

    def __init__(
        self,
        upkeep: Upkeep,
        table: CollectionTable,
        lock: threading.RLock,
        check_open: Callable[[], None],
        predicate: Callable[[Any], str],
        embedding: EmbeddingFunction | None = None,
    ) -> None:
        self._upkeep = upkeep
        self._live = upkeep.live
        self._table = table
        self._lock = lock
        self._check_open = check_open
        self._predicate = predicate
        self._embedding = embedding

    # ---- the embedding function --------------------------------------------------------
    @property
    def embedding_function(self) -> EmbeddingFunction | None:
        """:attr:`vecdb.Collection.embedding_function` (rebuilt from the spec on first use)."""
        spec = self._live.spec
        if self._embedding is None and spec.embedding is not None:
            self._embedding = from_spec(spec.embedding, dim=spec.dim, collection=spec.name)
        return self._embedding

    def set_embedding_function(self, embedding: Any) -> None:
        """:meth:`vecdb.Collection.set_embedding_function`."""
        spec = self._live.spec
        if spec.embedding is None:
            raise InvalidArgumentError(
                f"collection {spec.name!r} was created without an embedding function; "
                "create a new collection with embedding= to embed documents"
            )
        self._embedding = resolve(embedding, dim=spec.dim)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Vectors of ``texts`` by the collection's embedding function."""
        fn = self.embedding_function
        if fn is None:
            raise InvalidArgumentError(
                f"collection {self._live.spec.name!r} has no embedding function, so texts "
                "cannot be embedded: pass vectors (or create the collection with embedding=...)"
            )
        return fn(texts)

    # ---- writes ------------------------------------------------------------------------
    def write(self, ids: Any, vectors: Any, rows: Any, documents: Any, *, replace: bool) -> int:
        """:meth:`vecdb.Collection.upsert` (``replace``) or ``add``: one atomic batch."""
        self._check_open()
        docs = None
        if documents is not None:
            vectors, docs = with_documents(self._live.spec, self.embed, ids, vectors, documents)
        id_arr, mat, batch = as_batch(ids, vectors, rows, self._live.spec)
        if docs is not None:
            if rows is not None and any(r and DOCUMENT in r for r in rows):
                raise InvalidArgumentError(
                    "pass each document once: in documents= or as rows' 'document', not both"
                )
            pos = batch.column_names.index(DOCUMENT)
            batch = batch.set_column(pos, DOCUMENT, pa.array(docs, pa.string()))
        texts = batch.column(DOCUMENT).to_pylist() if self._live.fulltext is not None else None
        prepared = self._live.prepare(mat)
        if len(id_arr) == 0:
            return 0
        with self._lock:
            self._check_open()
            if not replace and (exists := self._live.store.contains(id_arr)).any():
                shown = id_arr[exists][:5].tolist()
                raise AlreadyExistsError(
                    f"ids already exist: {shown}; use upsert() to replace them"
                )
            stored = self._table.write(batch, replace=replace, progress=self._live.progress)
            self._live.apply(id_arr, prepared, None, stored, texts)
            self._upkeep.after_write(len(id_arr), self._table)
        return len(id_arr)

    def delete(self, ids: Any, where: Any, params: Any) -> int:
        """:meth:`vecdb.Collection.delete`."""
        self._check_open()
        if (ids is None) == (where is None):
            raise InvalidArgumentError("pass exactly one of ids= or where=")
        if ids is not None:
            id_list = as_ids(ids, self._live.spec.id_type).tolist()
            sql = self._table.delete_sql("id IN (SELECT unnest($__ids))")
            return len(self.execute_dml(sql, {"__ids": id_list}, "ids")) if id_list else 0
        sql = self._table.delete_sql(self._predicate(where))
        return len(self.execute_dml(sql, params, "where"))

    def execute_dml(self, sql: str, params: Any = None, what: str | None = None) -> list[Any]:
        """:meth:`vecdb.Collection.execute_dml`."""
        self._check_open()
        with self._lock:
            touched, current = self._table.execute_dml(sql, params, self._live.prepare, what)
            if current is not None:
                self._live.apply(*current, self._upkeep.texts_of(self._table, current[0]))
                self._upkeep.after_write(len(touched), self._table)
        return touched

    def compact(self) -> None:
        """:meth:`vecdb.Collection.compact`."""
        self._check_open()
        with self._lock:
            self._upkeep.compact(self._table)

    def set_index(
        self,
        index: str,
        metric: str | None,
        index_params: Any,
        sql_name: tuple[str, bool] | None = None,
    ) -> None:
        """:meth:`vecdb.Collection.set_index`: the spec changes only if the new index was
        built (it is checkpointed at once)."""
        self._check_open()
        old = self._live.spec
        metric, index, params = check_index(metric or old.metric, index, index_params)
        spec = dataclasses.replace(old, metric=metric, index=index, index_params=params)
        with self._lock:
            self._upkeep.reconfigure(spec, self._table)  # raises before any change if it must
            crash_point("set_index.rebuilt")
            self._table.save_index_spec(spec, sql_name)
            crash_point("set_index.committed")
            self._upkeep.checkpoint(self._table)


Embed = Callable[[list[str]], np.ndarray]


def with_documents(
    spec: CollectionSpec, embed: Embed | None, ids: Any, vectors: Any, documents: Any
) -> tuple[Any, list[str | None]]:
    """The vectors to write (embedding the documents that have none) and the documents;
    shared by one collection and the sharded router (which embeds once, for all shards)."""
    if not spec.has_text:
        raise InvalidArgumentError(
            f"collection {spec.name!r} has no document column; create it with "
            "embedding=... or fulltext=True to store documents"
        )
    n = len(as_ids(ids, spec.id_type)) if ids is not None else None
    docs = check_documents(documents, n)
    if vectors is None:
        missing = list(range(len(docs)))
    elif isinstance(vectors, (list, tuple)) and any(v is None for v in vectors):
        missing = [i for i, v in enumerate(vectors) if v is None]
    else:
        return vectors, docs
    if any(docs[i] is None for i in missing):
        raise InvalidArgumentError(
            "a row with neither a vector nor a document cannot be embedded; pass one of them"
        )
    if embed is None:
        raise InvalidArgumentError(
            f"collection {spec.name!r} has no embedding function, so texts cannot be "
            "embedded: pass vectors (or create the collection with embedding=...)"
        )
    embedded = embed([docs[i] for i in missing])  # type: ignore[misc]
    if vectors is None:
        return embedded, docs
    out = list(vectors)
    for j, i in enumerate(missing):
        out[i] = embedded[j]
    return out, docs
