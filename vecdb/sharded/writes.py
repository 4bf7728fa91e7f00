"""Writes on a sharded collection: checked whole on the router, split by id, applied per shard.

:func:`write_batch` checks a write as one node does (the same errors, before any shard is
called), embeds the documents that came without a vector *on the router* (once, with the
collection's embedding function; an embedding error writes nothing anywhere), and returns
the ids and one Arrow table with ``id``, every column (``document`` included) and ``vec``.
The router splits that table by the owner of each id and sends each shard its rows in one
call; each shard's part is atomic (one DuckDB transaction), and
:func:`vecdb.sharded.merge.settle` names the shards that applied when a part fails.

>>> from vecdb.types import CollectionSpec
>>> spec = CollectionSpec("c", 2, "l2", "exact", {}, {"document": "VARCHAR"}, "int",
...                       fulltext={"k1": 1.2})
>>> ids, table = write_batch(spec, None, [1, 2], [[0, 1], [1, 0]], None, ["a b", None])
>>> table.column_names, table.column("document").to_pylist()
(['id', 'document', 'vec'], ['a b', None])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from vecdb._input import as_batch, as_ids, normalize
from vecdb.errors import InvalidArgumentError
from vecdb.text import DOCUMENT, check_documents
from vecdb.types import CollectionSpec

__all__ = ["write_batch"]

Embed = Callable[[list[str]], np.ndarray]


def with_documents(
    spec: CollectionSpec, embed: Embed | None, ids: Any, vectors: Any, documents: Any
) -> tuple[Any, list[str | None]]:
    """The vectors to write (embedding the documents that have none) and the documents."""
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


def write_batch(
    spec: CollectionSpec, embed: Embed | None, ids: Any, vectors: Any, rows: Any, documents: Any
) -> tuple[np.ndarray, pa.Table]:
    """A write checked whole: the ids and the Arrow table the shards take (see the module)."""
    docs = None
    if documents is not None:
        vectors, docs = with_documents(spec, embed, ids, vectors, documents)
    id_arr, mat, table = as_batch(ids, vectors, rows, spec)
    if spec.metric == "cosine":
        normalize(mat)  # a zero vector has no cosine: refuse it before any shard writes
    if docs is not None:
        if rows is not None and any(r and DOCUMENT in r for r in rows):
            raise InvalidArgumentError(
                "pass each document once: in documents= or as rows' 'document', not both"
            )
        pos = table.column_names.index(DOCUMENT)
        table = table.set_column(pos, DOCUMENT, pa.array(docs, pa.string()))
    return id_arr, table
