"""The in-memory mirror of a collection's vectors, addressed by *label*.

A label is a dense integer slot (0, 1, 2, ...) that the ANN index knows a vector by. The store
maps user ids to labels and back, keeps the vectors (unit-normalized under cosine) for exact
scans of allow-lists, and remembers which labels are dead (deleted or replaced). It is derived
state: DuckDB holds the truth, the store is checkpointed beside the index and rebuilt from
DuckDB when needed.

>>> import numpy as np
>>> s = VectorStore(dim=2, id_type="int")
>>> s.upsert(np.array([7, 9]), np.eye(2, dtype=np.float32)).tolist()
[0, 1]
>>> s.remove(np.array([7])).tolist(), s.n_alive
([0], 1)
>>> s.labels_for_ids(np.array([9, 7]))
array([ 1, -1])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vecdb.types import IdType

__all__ = ["VectorStore"]


#: rows normalized or copied per step when storing a batch (bounds the temporaries to ~8 MB)
_CHUNK_BYTES = 8 << 20


class VectorStore:
    """Vectors, ids and liveness by label, plus the id -> label map.

    With ``normalize`` (the cosine metric) the store keeps unit rows: it normalizes what it is
    given, a chunk at a time, straight into its own array, so a write holds no normalized
    copy of the whole batch.
    """

    def __init__(
        self, dim: int, id_type: IdType, capacity: int = 1024, normalize: bool = False
    ) -> None:
        self.dim = dim
        self.id_type = id_type
        self.normalize = normalize
        capacity = max(capacity, 16)
        self.vectors = np.zeros((capacity, dim), dtype=np.float32)
        self.ids: np.ndarray = np.zeros(capacity, dtype=np.int64 if id_type == "int" else object)
        self.alive = np.zeros(capacity, dtype=bool)
        self.sqnorms = np.zeros(capacity, dtype=np.float32)  # |v|^2, for l2 scans
        self.n_labels = 0  # labels handed out so far (live or dead)
        #: false after :meth:`load` of a checkpoint whose vectors live in the index file
        self.vectors_loaded = True
        self.n_alive = 0
        self._label_of: dict[Any, int] = {}
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None  # (ids, labels), int ids

    # ---- capacity -------------------------------------------------------------------------
    def _reserve(self, n_more: int) -> None:
        need = self.n_labels + n_more
        cap = len(self.alive)
        if need <= cap:
            return
        new_cap = max(need, cap * 2)
        vec = np.zeros((new_cap, self.dim), dtype=np.float32)
        vec[: self.n_labels] = self.vectors[: self.n_labels]
        ids = np.zeros(new_cap, dtype=self.ids.dtype)
        ids[: self.n_labels] = self.ids[: self.n_labels]
        alive = np.zeros(new_cap, dtype=bool)
        alive[: self.n_labels] = self.alive[: self.n_labels]
        sq = np.zeros(new_cap, dtype=np.float32)
        sq[: self.n_labels] = self.sqnorms[: self.n_labels]
        self.vectors, self.ids, self.alive, self.sqnorms = vec, ids, alive, sq

    # ---- lookups --------------------------------------------------------------------------
    def label_of(self, id_: Any) -> int | None:
        """The live label of one id, or ``None``."""
        return self._label_of.get(id_)

    def contains(self, ids: np.ndarray) -> np.ndarray:
        """A bool array: which of ``ids`` are live."""
        get = self._label_of.get
        return np.fromiter((get(i) is not None for i in ids.tolist()), dtype=bool, count=len(ids))

    def labels_for_ids(self, ids: np.ndarray) -> np.ndarray:
        """Labels of ``ids`` (int64), ``-1`` where an id is not live. Vectorized for int ids."""
        if len(ids) == 0:
            return np.zeros(0, dtype=np.int64)
        if self.id_type == "int":
            if self._sorted is None:
                labels = np.fromiter(self._label_of.values(), dtype=np.int64)
                keys = np.fromiter(self._label_of.keys(), dtype=np.int64)
                order = np.argsort(keys, kind="stable")
                self._sorted = (keys[order], labels[order])
            keys, labels = self._sorted
            ids = np.asarray(ids, dtype=np.int64)
            if len(keys) == 0:
                return np.full(len(ids), -1, dtype=np.int64)
            pos = np.searchsorted(keys, ids)
            pos[pos >= len(keys)] = 0
            hit = keys[pos] == ids
            return np.where(hit, labels[pos], -1)
        get = self._label_of.get
        return np.fromiter((get(i, -1) for i in ids.tolist()), dtype=np.int64, count=len(ids))

    def live_labels(self) -> np.ndarray:
        """All live labels, ascending."""
        return np.flatnonzero(self.alive[: self.n_labels])

    def take(self, labels: np.ndarray) -> np.ndarray:
        """The vectors at ``labels``: a view (no copy) when they are one ascending run, as
        the labels of new rows and of a compacted store are; else a gathered copy.

        >>> s = VectorStore(dim=2, id_type="int")
        >>> _ = s.upsert(np.array([1, 2, 3]), np.ones((3, 2), np.float32))
        >>> np.shares_memory(s.take(np.array([0, 1, 2])), s.vectors)
        True
        """
        n = len(labels)
        if n and int(labels[-1]) - int(labels[0]) == n - 1:
            if n < 3 or bool((np.diff(labels) == 1).all()):
                return self.vectors[int(labels[0]) : int(labels[0]) + n]
        return self.vectors[labels]

    def vectors_nbytes(self) -> int:
        """Bytes of the vector array (its capacity, as allocated)."""
        return int(self.vectors.nbytes)

    # ---- writes ---------------------------------------------------------------------------
    def upsert(self, ids: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """Store vectors under ids; a live id keeps its label. Returns the labels used."""
        n = len(ids)
        self._reserve(n)
        labels = np.empty(n, dtype=np.int64)
        get = self._label_of.get
        nxt = self.n_labels
        id_list = ids.tolist()
        for j, id_ in enumerate(id_list):
            lab = get(id_)
            if lab is None:
                lab = nxt
                nxt += 1
                self._label_of[id_] = lab
                self.n_alive += 1
            labels[j] = lab
        self.n_labels = nxt
        self._put(labels, vectors)
        self.ids[labels] = id_list if self.id_type == "str" else ids
        self.alive[labels] = True
        self._sorted = None
        return labels

    def _put(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Write rows (normalized when the store normalizes) a chunk at a time."""
        step = max(1, _CHUNK_BYTES // (4 * self.dim))
        for start in range(0, len(labels), step):
            lab = labels[start : start + step]
            v = np.asarray(vectors[start : start + step], dtype=np.float32)
            sq = np.einsum("ij,ij->i", v, v)
            if self.normalize:
                v = v / np.sqrt(sq)[:, None]
                sq = np.einsum("ij,ij->i", v, v)
            self.vectors[lab] = v
            self.sqnorms[lab] = sq

    def remove(self, ids: np.ndarray) -> np.ndarray:
        """Kill the labels of ``ids`` (missing ids are ignored). Returns the labels killed."""
        pop = self._label_of.pop
        labels = [lab for lab in (pop(i, None) for i in ids.tolist()) if lab is not None]
        out = np.asarray(labels, dtype=np.int64)
        self.alive[out] = False
        self.n_alive -= len(out)
        self._sorted = None
        return out

    @property
    def n_dead(self) -> int:
        return self.n_labels - self.n_alive

    # ---- persistence ----------------------------------------------------------------------
    def save(self, directory: Path, vectors: bool = True) -> list[str]:
        """Write vectors.npy, ids.npy, alive.npy; returns the file names.

        Without ``vectors`` (the index file holds every vector) vectors.npy holds the vectors
        kept outside the index: none, a ``(0, dim)`` array; :meth:`load` then leaves the
        vectors for the caller to restore from the index file."""
        n = self.n_labels
        files = ["vectors.npy", "ids.npy", "alive.npy"]
        kept = self.vectors[:n] if vectors else np.zeros((0, self.dim), dtype=np.float32)
        np.save(directory / "vectors.npy", kept)
        ids = self.ids[:n]
        if self.id_type == "str":
            ids = ids.astype(str) if n else np.zeros(0, dtype="<U1")
        np.save(directory / "ids.npy", ids)
        np.save(directory / "alive.npy", self.alive[:n])
        return files

    @classmethod
    def load(
        cls, directory: Path, dim: int, id_type: IdType, normalize: bool = False
    ) -> VectorStore:
        """Read what :meth:`save` wrote. When vectors.npy holds no rows the vectors are left
        zero and ``vectors_loaded`` false: the caller fills them from the index file (see
        :meth:`set_vectors`)."""
        ids = np.load(directory / "ids.npy", allow_pickle=False)
        alive = np.load(directory / "alive.npy", allow_pickle=False)
        n = len(alive)
        if len(ids) != n:
            raise ValueError("vector store files disagree on their row count")
        store = cls(dim, id_type, capacity=max(n, 16), normalize=normalize)
        vectors = np.load(directory / "vectors.npy", mmap_mode="r", allow_pickle=False)
        if vectors.dtype != np.float32 or vectors.shape not in ((n, dim), (0, dim)):
            raise ValueError("vector store files disagree on their row count")
        store.vectors_loaded = len(vectors) == n
        if n and store.vectors_loaded:
            store.set_vectors(np.arange(n), vectors)
        del vectors
        store.ids[:n] = ids.tolist() if id_type == "str" else ids
        store.alive[:n] = alive
        store.n_labels = n
        live = np.flatnonzero(alive)
        store.n_alive = len(live)
        keys = store.ids[live].tolist()
        store._label_of = dict(zip(keys, live.tolist()))
        return store

    def set_vectors(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Fill the vectors at ``labels`` as stored already (no normalization), a chunk at a
        time (``vectors`` may be a memory map or a strided view into a file)."""
        step = max(1, _CHUNK_BYTES // (4 * self.dim))
        for start in range(0, len(labels), step):
            lab = labels[start : start + step]
            v = np.ascontiguousarray(vectors[start : start + step], dtype=np.float32)
            self.vectors[lab] = v
            self.sqnorms[lab] = np.einsum("ij,ij->i", v, v)
