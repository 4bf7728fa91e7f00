"""The in-memory mirror of a collection's vectors, addressed by *label*.

A label is a dense integer slot (0, 1, 2, ...) that the ANN index knows a vector by. The store
maps user ids to labels and back, keeps the vectors (unit-normalized under cosine) for exact
scans of allow-lists, and remembers which labels are dead (deleted or replaced). It is derived
state: DuckDB holds the truth, the store is checkpointed beside the index and rebuilt from
DuckDB when needed.

Where the vectors live: in RAM, one row per label (``vectors`` is then a plain array), until
:meth:`VectorStore.map_file` hands the store a checkpoint's index file that holds them (an
HNSW checkpoint: :func:`vecdb.index.hnsw.saved_vectors`). From then on the rows come from that
file through a read-only memory map -- page cache the kernel can drop, not heap -- and only
rows written since (new labels, replaced vectors) are kept in RAM, in the *tail*;
``vectors`` is then a :class:`MappedVectors`, which gathers by label from both.

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

__all__ = ["VectorStore", "MappedVectors"]


#: rows normalized or copied per step when storing a batch (bounds the temporaries to ~8 MB)
_CHUNK_BYTES = 8 << 20


class MappedVectors:
    """The vectors by label when most of them are in a memory-mapped file: ``vectors[key]``
    (a slice or an array of labels) gathers the rows into a new array, taking each label's
    row from the RAM tail when it has one there, else from the file.

    ``base`` is the file's ``(records, dim)`` view, ``row[label]`` its record (-1: none),
    ``slot[label]`` the label's row in ``tail`` (-1: none), ``n`` the labels handed out.

    >>> base = np.arange(6, dtype=np.float32).reshape(3, 2)
    >>> v = MappedVectors(base, np.array([2, 0, 1]), np.array([-1, 0, -1]),
    ...                   np.full((1, 2), 9, np.float32), 3)
    >>> v[np.array([0, 1, 2])].tolist()
    [[4.0, 5.0], [9.0, 9.0], [2.0, 3.0]]
    """

    __slots__ = ("base", "row", "slot", "tail", "n", "dim")

    def __init__(
        self, base: np.ndarray, row: np.ndarray, slot: np.ndarray, tail: np.ndarray, n: int
    ) -> None:
        self.base, self.row, self.slot, self.tail, self.n = base, row, slot, tail, n
        self.dim = base.shape[1]

    def __len__(self) -> int:
        return self.n

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.dim)

    dtype = np.dtype(np.float32)

    @property
    def nbytes(self) -> int:
        """Bytes held in RAM (the tail); the mapped file is page cache, not counted."""
        return int(self.tail.nbytes)

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, slice):
            labels = np.arange(*key.indices(self.n))
        else:
            labels = np.asarray(key)
            if labels.dtype == bool:
                labels = np.flatnonzero(labels)
            labels = labels.astype(np.int64, copy=False)
        slots = self.slot[labels]
        in_tail = slots >= 0
        if in_tail.all():
            return self.tail[slots]
        out = np.empty((len(labels), self.dim), dtype=np.float32)
        out[in_tail] = self.tail[slots[in_tail]]
        in_file = ~in_tail
        out[in_file] = self.base[self.row[labels[in_file]]]
        return out


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
        #: the rows in RAM: row ``label`` while nothing is mapped, else row ``_slot[label]``
        self._tail = np.zeros((capacity, dim), dtype=np.float32)
        self._slot: np.ndarray | None = None  # per label: its tail row, -1 (mapped only)
        self._row: np.ndarray | None = None  # per label: its record in the file, -1
        self._base: np.ndarray | None = None  # the mapped file's (records, dim) view
        self._n_tail = 0  # tail rows in use (mapped only)
        #: what :attr:`vectors` returns: the tail itself, or a MappedVectors over file + tail
        self._view: np.ndarray | MappedVectors = self._tail
        self.ids: np.ndarray = np.zeros(capacity, dtype=np.int64 if id_type == "int" else object)
        self.alive = np.zeros(capacity, dtype=bool)
        self.sqnorms = np.zeros(capacity, dtype=np.float32)  # |v|^2, for l2 scans
        self.n_labels = 0  # labels handed out so far (live or dead)
        #: false after :meth:`load` of a checkpoint whose vectors live in the index file
        self.vectors_loaded = True
        self.n_alive = 0
        self._label_of: dict[Any, int] = {}
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None  # (ids, labels), int ids

    @property
    def vectors(self) -> Any:
        """The vectors by label: ``vectors[labels]``, ``vectors[:n]``. A plain array while
        they are all in RAM (indexing a run of labels then gives a view), else a
        :class:`MappedVectors` (indexing gathers a copy)."""
        return self._view

    @property
    def mapped(self) -> bool:
        """Whether most vectors are read from a memory-mapped index file."""
        return self._base is not None

    # ---- capacity -------------------------------------------------------------------------
    def _reserve(self, n_more: int) -> None:
        need = self.n_labels + n_more
        if self._slot is not None:  # mapped: tail rows are handed out by _slots_for
            self._reserve_labels(need)
            return
        cap = len(self.alive)
        if need <= cap:
            return
        new_cap = max(need, cap * 2)
        vec = np.zeros((new_cap, self.dim), dtype=np.float32)
        vec[: self.n_labels] = self._tail[: self.n_labels]
        self._tail = self._view = vec
        self._grow_labels(new_cap)

    def _reserve_labels(self, need: int) -> None:
        cap = len(self.alive)
        if need > cap:
            self._grow_labels(max(need, cap * 2))

    def _grow_labels(self, new_cap: int) -> None:
        """Grow the per-label arrays (ids, liveness, norms, and when mapped row/slot)."""
        ids = np.zeros(new_cap, dtype=self.ids.dtype)
        ids[: self.n_labels] = self.ids[: self.n_labels]
        alive = np.zeros(new_cap, dtype=bool)
        alive[: self.n_labels] = self.alive[: self.n_labels]
        sq = np.zeros(new_cap, dtype=np.float32)
        sq[: self.n_labels] = self.sqnorms[: self.n_labels]
        self.ids, self.alive, self.sqnorms = ids, alive, sq
        if self._slot is not None and self._row is not None and self._base is not None:
            slot = np.full(new_cap, -1, dtype=np.int64)
            slot[: self.n_labels] = self._slot[: self.n_labels]
            row = np.full(new_cap, -1, dtype=np.int64)
            row[: self.n_labels] = self._row[: self.n_labels]
            self._slot, self._row = slot, row
            self._refresh_view()

    def _slots_for(self, labels: np.ndarray) -> np.ndarray:
        """Mapped: the tail rows of ``labels``, handing out new ones (in order) to labels
        that have none yet, so a batch of new labels gets one ascending run."""
        assert self._slot is not None
        slots = self._slot[labels]
        new = slots < 0
        n_new = int(new.sum())
        if n_new:
            need = self._n_tail + n_new
            if need > len(self._tail):
                tail = np.zeros((max(need, 2 * len(self._tail)), self.dim), dtype=np.float32)
                tail[: self._n_tail] = self._tail[: self._n_tail]
                self._tail = tail
            slots[new] = np.arange(self._n_tail, need)
            self._slot[labels[new]] = slots[new]
            self._n_tail = need
            self._refresh_view()
        return slots

    def _refresh_view(self) -> None:
        assert self._base is not None and self._row is not None and self._slot is not None
        self._view = MappedVectors(self._base, self._row, self._slot, self._tail, self.n_labels)

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
        view = self._view
        rows = labels
        if isinstance(view, MappedVectors):  # rows written since the file: one run in the tail
            rows = view.slot[labels]
            if not (rows >= 0).all():
                return view[labels]
            view = view.tail
        n = len(rows)
        if n and int(rows[-1]) - int(rows[0]) == n - 1:
            if n < 3 or bool((np.diff(rows) == 1).all()):
                return view[int(rows[0]) : int(rows[0]) + n]
        return view[rows]

    def vectors_nbytes(self) -> int:
        """Bytes of the vectors held in RAM (the array's capacity, as allocated); rows read
        from a mapped file are not counted."""
        return int(self._tail.nbytes)

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
        if self._slot is not None:
            self._refresh_view()  # n_labels changed
        self._put(labels, vectors)
        self.ids[labels] = id_list if self.id_type == "str" else ids
        self.alive[labels] = True
        self._sorted = None
        return labels

    def _put(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Write rows (normalized when the store normalizes) a chunk at a time."""
        rows = labels if self._slot is None else self._slots_for(labels)
        step = max(1, _CHUNK_BYTES // (4 * self.dim))
        for start in range(0, len(labels), step):
            lab = labels[start : start + step]
            v = np.asarray(vectors[start : start + step], dtype=np.float32)
            sq = np.einsum("ij,ij->i", v, v)
            if self.normalize:
                v = v / np.sqrt(sq)[:, None]
                sq = np.einsum("ij,ij->i", v, v)
            self._tail[rows[start : start + step]] = v
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
        time (``vectors`` may be a memory map or a strided view into a file). Only before
        :meth:`map_file`."""
        assert self._slot is None, "set_vectors on a mapped store"
        step = max(1, _CHUNK_BYTES // (4 * self.dim))
        for start in range(0, len(labels), step):
            lab = labels[start : start + step]
            v = np.ascontiguousarray(vectors[start : start + step], dtype=np.float32)
            self._tail[lab] = v
            self.sqnorms[lab] = np.einsum("ij,ij->i", v, v)

    def map_file(
        self, labels: np.ndarray, base: np.ndarray, sqnorms: np.ndarray | None = None
    ) -> None:
        """Read the vectors from now on from ``base``, a memory-mapped ``(records, dim)``
        view of an index file holding every label's current row (record ``i`` is label
        ``labels[i]``, whose squared norm is ``sqnorms[i]``; ``None`` keeps the store's
        own, which match when the file was just written from this store), and drop the RAM
        rows.

        Safe while readers run (they hold the old view, which stays valid); the caller
        excludes writers. Raises ``ValueError`` when the file does not hold every label.

        >>> s = VectorStore(dim=2, id_type="int")
        >>> _ = s.upsert(np.array([5, 6]), np.array([[1, 0], [0, 2]], np.float32))
        >>> file = np.array([[0, 2], [1, 0]], np.float32)  # label 1, then label 0
        >>> s.map_file(np.array([1, 0]), file, np.array([4, 1], np.float32))
        >>> s.mapped, s.vectors_nbytes(), s.vectors[np.array([0, 1])].tolist()
        (True, 0, [[1.0, 0.0], [0.0, 2.0]])
        """
        n = self.n_labels
        if len(labels) != n or base.shape != (n, self.dim):
            raise ValueError("the index file and the vector store disagree on the labels")
        if n and (labels.min() < 0 or labels.max() >= n):
            raise ValueError("the index file and the vector store disagree on the labels")
        cap = len(self.alive)
        row = np.full(cap, -1, dtype=np.int64)
        row[labels] = np.arange(n)
        if n and (row[:n] < 0).any():
            raise ValueError("the index file holds a label twice")
        sq = self.sqnorms
        if sqnorms is not None:
            if len(sqnorms) != n:
                raise ValueError("the index file and the vector store disagree on the labels")
            sq = sq.copy()
            sq[labels] = sqnorms
        tail = np.zeros((0, self.dim), dtype=np.float32)
        slot = np.full(cap, -1, dtype=np.int64)
        view = MappedVectors(base, row, slot, tail, n)
        # one assignment each; readers read `_view` once per call and `sqnorms` per call
        self._base, self._row, self._slot, self._tail, self._n_tail = base, row, slot, tail, 0
        self.sqnorms = sq
        self._view = view
