"""HNSW through hnswlib.

Cosine runs in hnswlib's inner-product space over the unit rows the store holds, which
returns ``1 - a.b = 1 - cos``, the cosine distance. (hnswlib's cosine space would normalize
the rows again, with its own rounding: the index's copy would then differ in the last bits
from the store's, and the store could not be restored from the index file bit for bit.)
Queries reach :meth:`HnswIndex.search` unit already; :meth:`HnswIndex.search_one` normalizes.
Euclidean comes back squared and is square-rooted; inner product comes back as ``1 - a.b``
and is shifted to ``-a.b``.
"""

from __future__ import annotations

import math
import mmap
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import hnswlib
import numpy as np

from vecdb.index.base import VectorIndex, register
from vecdb.index.store import VectorStore
from vecdb.progress import CHUNK_ROWS

__all__ = ["HnswIndex"]

_SPACE = {"cosine": "ip", "ip": "ip", "l2": "l2"}


@register
class HnswIndex(VectorIndex):
    """A hnswlib graph. Parameters: ``m``, ``ef_construction``, ``ef_search``."""

    kind: ClassVar[str] = "hnsw"
    holds_vectors: ClassVar[bool] = True
    knob: ClassVar[str | None] = "ef"
    defaults: ClassVar[dict[str, Any]] = {"m": 16, "ef_construction": 200, "ef_search": 64}

    def __init__(self, dim: int, metric: str, params: dict[str, Any], store: VectorStore) -> None:
        super().__init__(dim, metric, params, store)
        self._ef_lock = threading.Lock()
        self._index = self._new(1024)

    def _new(self, capacity: int) -> hnswlib.Index:
        idx = hnswlib.Index(space=_SPACE[self.metric], dim=self.dim)
        idx.init_index(
            max_elements=max(capacity, 16),
            M=self.params["m"],
            ef_construction=self.params["ef_construction"],
            random_seed=100,
        )
        idx.set_ef(self.params["ef_search"])
        return idx

    def _fit(self, top_label: int) -> None:
        cap = self._index.get_max_elements()
        if top_label >= cap:
            self._index.resize_index(max(top_label + 1, cap * 2))

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        if len(labels) == 0:
            return
        self._fit(int(labels.max()))
        self._index.add_items(vectors, labels)

    def remove(self, labels: np.ndarray) -> None:
        for lab in labels.tolist():
            try:
                self._index.mark_deleted(lab)
            except RuntimeError:
                pass  # never added (e.g. replayed delete of a row the checkpoint lacks)

    def reserve(self, n: int) -> None:
        """Make room for labels below ``n`` at once (growing by doubling copies the graph)."""
        self._fit(n - 1)

    def rebuild(self, progress: Callable[[int], None] | None = None) -> None:
        store = self.store
        live = store.live_labels()
        self._index = self._new(max(store.n_labels, 1024))
        step = len(live) if progress is None else CHUNK_ROWS  # chunks only to report them
        for i in range(0, len(live), max(step, 1)):
            part = live[i : i + step]
            self._index.add_items(store.take(part), part)  # a view when every label is live
            if progress is not None:
                progress(len(part))

    def _convert(self, d: np.ndarray) -> np.ndarray:
        if self.metric == "l2":
            return np.sqrt(np.maximum(d, 0.0))
        if self.metric == "ip":
            return d - 1.0
        return d

    def search_one(
        self, query: np.ndarray, k: int, ef: int | None = None, norm2: float | None = None
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The unfiltered single-query hot path: no conversions beyond the metric.

        A cosine query is made unit here (``norm2`` is ``query·query`` when the caller has it;
        it must be finite and non-zero): one division, the fewest numpy calls of the ways
        tried (rescaling the ``k`` distances instead takes three, and each numpy call right
        after an HNSW probe costs several µs with the caches cold).
        """
        if self.metric == "cosine":
            if norm2 is None:
                norm2 = float(query.dot(query))
            query = query / math.sqrt(norm2)  # a Python float divides a float32 array as float32
        if ef is not None and ef != self.params["ef_search"]:
            return self.search(query[None, :], k, ef)
        try:
            labels, d = self._index.knn_query(query, k=k)
        except RuntimeError:
            return None
        if self.metric == "cosine":
            return labels, d
        return labels, self._convert(d)

    def search(
        self,
        queries: np.ndarray,
        k: int,
        knob: int | None = None,
        allowed: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray] | None:
        idx = self._index
        filt = None
        if allowed is not None:
            filt = allowed.__getitem__  # hnswlib calls it once per visited node
        ef = knob or self.params["ef_search"]
        try:
            if ef != self.params["ef_search"]:
                with self._ef_lock:
                    idx.set_ef(ef)  # hnswlib searches with max(ef, k)
                    try:
                        labels, d = idx.knn_query(queries, k=k, filter=filt)
                    finally:
                        idx.set_ef(self.params["ef_search"])
            else:
                labels, d = idx.knn_query(queries, k=k, filter=filt)
        except RuntimeError:
            return None  # fewer than k reachable: the caller falls back to an exact scan
        return labels.astype(np.int64, copy=False), self._convert(d)

    def save(self, directory: Path) -> list[str]:
        """Write ``hnsw.bin``; the store then reads its vectors from that file (memory-mapped)
        instead of keeping its own copy in RAM."""
        path = directory / "hnsw.bin"
        self._index.save_index(str(path))
        labels, _ = _scan_saved(path, self.dim, sqnorms=False)
        self.store.map_file(labels, map_saved(path, self.dim))
        return ["hnsw.bin"]

    def read_vectors(self, directory: Path) -> None:
        """Point the store's vectors at the saved ``hnsw.bin`` (a checkpoint keeps them once,
        in the index file; see :func:`saved_vectors`), memory-mapped, not copied."""
        path = directory / "hnsw.bin"
        labels, sq = _scan_saved(path, self.dim, sqnorms=True)
        store = self.store
        store.map_file(labels, map_saved(path, self.dim), sq)
        check = labels[:: max(1, len(labels) // 3)][:4]
        alive = store.alive[check]
        check = check[alive]
        if len(check):  # the parse agrees with hnswlib's own reading
            got = self._index.get_items(check.astype(np.uint64))
            if not np.array_equal(np.asarray(got, np.float32), store.vectors[check]):
                raise ValueError("hnsw checkpoint vectors do not read back as hnswlib reads them")

    def load(self, directory: Path) -> None:
        idx = hnswlib.Index(space=_SPACE[self.metric], dim=self.dim)
        idx.load_index(str(directory / "hnsw.bin"), max_elements=max(self.store.n_labels, 1024))
        if idx.get_current_count() != self.store.n_labels:
            raise ValueError("hnsw checkpoint and vector store disagree on the label count")
        idx.set_ef(self.params["ef_search"])
        self._index = idx


#: hnswlib's saveIndex header: offsetLevel0, max_elements, cur_element_count,
#: size_data_per_element, label_offset, offsetData (size_t), maxlevel (int), enterpoint (uint),
#: maxM, maxM0, M (size_t), mult (double), ef_construction (size_t); then level 0 data
_HEADER = np.dtype(
    [
        ("offset_level0", "<u8"),
        ("max_elements", "<u8"),
        ("count", "<u8"),
        ("size_per_element", "<u8"),
        ("label_offset", "<u8"),
        ("offset_data", "<u8"),
        ("maxlevel", "<i4"),
        ("enterpoint", "<u4"),
        ("max_m", "<u8"),
        ("max_m0", "<u8"),
        ("m", "<u8"),
        ("mult", "<f8"),
        ("ef_construction", "<u8"),
    ]
)


def saved_vectors(path: Path, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The labels and vectors in an hnswlib index file, as memory-mapped strided views.

    Level 0 of the file is ``count`` fixed-size records, each holding links, the vector
    (``dim`` float32 at ``offset_data``) and the label (at ``label_offset``). Reading them
    this way costs no copy of the graph (hnswlib's ``get_items`` copies row by row, ~50 µs
    a row). Raises ``ValueError`` when the header does not fit the file or ``dim``.
    """
    level0, off_data, off_label = _level0(np.memmap(path, dtype=np.uint8, mode="r"), dim)
    vectors = level0[:, off_data : off_data + 4 * dim].view(np.float32)
    labels = level0[:, off_label : off_label + 8].view(np.uint64)[:, 0].astype(np.int64)
    return labels, vectors


def map_saved(path: Path, dim: int) -> np.ndarray:
    """The vectors of an hnswlib index file as a read-only, strided ``(count, dim)`` view of
    a fresh memory map, advised for random access: its pages enter this process's RSS (as
    file-backed pages the kernel may drop) only when read."""
    with open(path, "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    if hasattr(mm, "madvise") and hasattr(mmap, "MADV_RANDOM"):
        mm.madvise(mmap.MADV_RANDOM)  # gathers read a few rows: no read-ahead around them
    level0, off_data, _ = _level0(np.frombuffer(mm, dtype=np.uint8), dim)
    return level0[:, off_data : off_data + 4 * dim].view(np.float32)


#: bytes read per step by _scan_saved (bounds its buffer)
_SCAN_BYTES = 4 << 20


def _scan_saved(path: Path, dim: int, sqnorms: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The labels of an hnswlib index file in record order (and each vector's squared norm,
    with ``sqnorms``). Read with plain reads into a small buffer, not through a map: pages
    of a map that were read would count in this process's RSS while it lasts (the whole
    file, for a moment, at every checkpoint)."""
    with open(path, "rb") as f:
        head = np.frombuffer(f.read(_HEADER.itemsize), dtype=np.uint8)
        size_of_file = os.fstat(f.fileno()).st_size
        count, size, off_data, off_label = _layout(head, size_of_file, dim)
        labels = np.empty(count, dtype=np.int64)
        sq = np.empty(count, dtype=np.float32) if sqnorms else None
        step = max(1, _SCAN_BYTES // size)
        raw = bytearray(step * size)
        buf = np.frombuffer(raw, dtype=np.uint8)
        for start in range(0, count, step):
            n = min(step, count - start)
            got = f.readinto(memoryview(raw)[: n * size])
            if got != n * size:
                raise ValueError("hnsw checkpoint is shorter than its header says")
            rec = buf[: n * size].reshape(n, size)
            labels[start : start + n] = rec[:, off_label : off_label + 8].view(np.uint64)[:, 0]
            if sq is not None:
                v = rec[:, off_data : off_data + 4 * dim].view(np.float32)
                sq[start : start + n] = np.einsum("ij,ij->i", v, v)
    return labels, sq


def _level0(mm: np.ndarray, dim: int) -> tuple[np.ndarray, int, int]:
    """The ``(count, size_per_element)`` byte records of level 0 of a mapped file, the
    vector's offset in a record and the label's."""
    count, size, off_data, off_label = _layout(mm[: _HEADER.itemsize], len(mm), dim)
    start = _HEADER.itemsize
    return mm[start : start + count * size].reshape(count, size), off_data, off_label


def _layout(head: np.ndarray, file_size: int, dim: int) -> tuple[int, int, int, int]:
    """Records, record size, vector offset and label offset from the header bytes;
    ``ValueError`` when the header does not fit the file or ``dim``."""
    if len(head) < _HEADER.itemsize:
        raise ValueError("hnsw checkpoint is shorter than its header")
    h = head[: _HEADER.itemsize].view(_HEADER)[0]
    count, size, off_data, off_label = (
        int(h["count"]),
        int(h["size_per_element"]),
        int(h["offset_data"]),
        int(h["label_offset"]),
    )
    if (
        int(h["offset_level0"]) != 0
        or size <= 0
        or off_data + 4 * dim > size
        or off_label + 8 > size
        or _HEADER.itemsize + count * size > file_size
    ):
        raise ValueError("hnsw checkpoint header does not match the file or the dimension")
    return count, size, off_data, off_label
