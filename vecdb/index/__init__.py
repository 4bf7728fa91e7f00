"""ANN index backends behind one small interface, chosen from a registry by name.

>>> from vecdb.index import INDEX_TYPES
>>> sorted(INDEX_TYPES)
['exact', 'hnsw', 'ivf']
"""

from __future__ import annotations

from vecdb.index.base import INDEX_TYPES, VectorIndex
from vecdb.index.exact import ExactIndex, exact_topk
from vecdb.index.hnsw import HnswIndex
from vecdb.index.ivf import IvfIndex
from vecdb.index.store import VectorStore

__all__ = [
    "INDEX_TYPES",
    "VectorIndex",
    "ExactIndex",
    "HnswIndex",
    "IvfIndex",
    "VectorStore",
    "exact_topk",
]
