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

from vecdb._input import as_batch, normalize
from vecdb.errors import InvalidArgumentError
from vecdb.text import DOCUMENT
from vecdb.types import CollectionSpec
from vecdb.writes import with_documents

__all__ = ["write_batch"]

Embed = Callable[[list[str]], np.ndarray]


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
