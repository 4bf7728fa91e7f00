"""The value types every layer shares: search hits, stored records, a collection's spec.

They sit below everything else (they import nothing of vecdb), so the engine, the remote
client and the server can all use them without importing one another.

>>> spec = CollectionSpec("docs", 3, "cosine", "hnsw", {"m": 16}, {"year": "INTEGER"}, "int")
>>> spec.config()["index"], Hit(7, 0.25, None).distance
('hnsw', 0.25)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, NamedTuple, get_args

import numpy as np

__all__ = [
    "Metric",
    "IndexKind",
    "IdType",
    "METRICS",
    "ID_TYPES",
    "Hit",
    "Record",
    "CollectionSpec",
    "Candidates",
    "new_hit",
]

Metric = Literal["cosine", "l2", "ip"]
IndexKind = Literal["hnsw", "ivf", "exact"]
IdType = Literal["int", "str"]
METRICS: tuple[str, ...] = get_args(Metric)
ID_TYPES: tuple[str, ...] = get_args(IdType)


class Hit(NamedTuple):
    """One search result: the row's id, its distance to the query, and requested columns.

    >>> Hit(7, 0.25, None).distance
    0.25
    """

    id: Any
    distance: float
    row: dict[str, Any] | None


class Record(NamedTuple):
    """One stored row, as ``Collection.get`` returns it."""

    id: Any
    vector: np.ndarray
    row: dict[str, Any]


class Candidates(NamedTuple):
    """A search's ids and exact distances per query, and how it ran (the plan info)."""

    ids: list[np.ndarray]
    distances: list[np.ndarray]
    plan: dict[str, Any]


#: builds a Hit from an ``(id, distance, row)`` tuple without NamedTuple's __new__ (hot path)
new_hit = partial(tuple.__new__, Hit)


@dataclass(frozen=True)
class CollectionSpec:
    """What the catalog remembers about a collection."""

    name: str
    dim: int
    metric: str
    index: str
    index_params: dict[str, Any]
    columns: dict[str, str]
    id_type: str
    #: the embedding function's persisted spec (``vecdb.embed.stored_spec``), or None
    embedding: dict[str, Any] | None = None
    #: the full-text configuration (``vecdb.fulltext.TextConfig.to_dict``), or None (no index)
    fulltext: dict[str, Any] | None = None
    #: column -> its constraints (``NOT NULL``, ``DEFAULT``, ``CHECK``, ``UNIQUE``,
    #: ``COLLATE``) as checked SQL text (``vecdb.sql.ddl.check_constraint``), e.g. from
    #: ``CREATE TABLE``
    constraints: dict[str, str] = field(default_factory=dict)

    @property
    def has_text(self) -> bool:
        """Whether the collection has a ``document`` column (an embedding or full text)."""
        return self.embedding is not None or self.fulltext is not None

    def config(self) -> dict[str, Any]:
        """The part of the spec an index checkpoint depends on."""
        out = {
            "dim": self.dim,
            "metric": self.metric,
            "index": self.index,
            "index_params": self.index_params,
            "id_type": self.id_type,
        }
        if self.fulltext is not None:  # absent otherwise: older checkpoints stay valid
            out["fulltext"] = self.fulltext
        return out
