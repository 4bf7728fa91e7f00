"""The interface every index backend implements, and the registry that names them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from vecdb.errors import InvalidArgumentError
from vecdb.index.store import VectorStore

__all__ = ["VectorIndex", "INDEX_TYPES", "register"]

#: name -> class; filled by :func:`register`.
INDEX_TYPES: dict[str, type[VectorIndex]] = {}


def register(cls: type[VectorIndex]) -> type[VectorIndex]:
    """Class decorator: make an index backend available under ``cls.kind``."""
    INDEX_TYPES[cls.kind] = cls
    return cls


class VectorIndex:
    """An approximate (or exact) nearest-neighbour index over a :class:`VectorStore`.

    Vectors arrive prepared: unit-normalized under the cosine metric. Searches return
    ``(labels, distances)`` of shape ``(nq, k)``, nearest first, with label ``-1`` where the
    index found fewer than ``k``; distances are the metric's own (cosine distance, Euclidean
    distance, negative inner product). An index may answer ``None`` when it cannot serve a
    search (an IVF index not trained yet): the caller then scans exactly.
    """

    kind: ClassVar[str] = ""
    #: the index keeps every vector and :meth:`read_vectors` restores the store's from its
    #: saved files, so checkpoints need no separate copy of the vectors
    holds_vectors: ClassVar[bool] = False
    #: name of the per-call accuracy knob ("ef", "nprobe") or None
    knob: ClassVar[str | None] = None
    #: accepted ``index_params`` keys and their defaults
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, dim: int, metric: str, params: dict[str, Any], store: VectorStore) -> None:
        self.dim = dim
        self.metric = metric
        self.params = {**self.defaults, **params}
        self.store = store

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        """Reject unknown or ill-typed parameters; return the full parameter dict."""
        unknown = set(params) - set(cls.defaults)
        if unknown:
            raise InvalidArgumentError(
                f"unknown index_params {sorted(unknown)} for index '{cls.kind}'; "
                f"accepted: {sorted(cls.defaults)}"
            )
        out = dict(cls.defaults)
        for key, value in params.items():
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise InvalidArgumentError(
                    f"index_params['{key}'] must be a positive integer, got {value!r}"
                )
            out[key] = int(value)
        return out

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Insert vectors under labels; a label already present is replaced."""
        raise NotImplementedError

    def reserve(self, n: int) -> None:
        """Make room for labels below ``n`` before a large add (optional)."""

    def read_vectors(self, directory: Path) -> None:
        """Give the store its vectors from the saved index (only when :attr:`holds_vectors`):
        HNSW memory-maps its file instead of copying the rows into RAM."""
        raise NotImplementedError

    def remove(self, labels: np.ndarray) -> None:
        """Forget labels (may only mark them deleted)."""
        raise NotImplementedError

    def search(
        self,
        queries: np.ndarray,
        k: int,
        knob: int | None = None,
        allowed: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Nearest ``k`` labels to each query; ``allowed`` is a bool array over labels."""
        raise NotImplementedError

    def rebuild(self, progress: Callable[[int], None] | None = None) -> None:
        """Build from scratch from the store's live vectors; ``progress(n)`` (when given) is
        called as each chunk of ``n`` vectors is indexed (:mod:`vecdb.progress`)."""
        raise NotImplementedError

    def save(self, directory: Path) -> list[str]:
        """Write the index files into ``directory``; return their names."""
        return []

    def load(self, directory: Path) -> None:
        """Read what :meth:`save` wrote (the store is already loaded)."""

    def describe(self) -> dict[str, Any]:
        """Effective parameters, for EXPLAIN and describe()."""
        return dict(self.params)
