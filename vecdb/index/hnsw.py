"""HNSW through hnswlib.

Cosine runs in hnswlib's cosine space (it normalizes in C++, so the hot path need not; the
stored vectors are unit already), which returns ``1 - cos``, the cosine distance. Euclidean
comes back squared and is square-rooted; inner product comes back as ``1 - a.b`` and is
shifted to ``-a.b``.
"""

from __future__ import annotations

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

_SPACE = {"cosine": "cosine", "ip": "ip", "l2": "l2"}


@register
class HnswIndex(VectorIndex):
    """A hnswlib graph. Parameters: ``m``, ``ef_construction``, ``ef_search``."""

    kind: ClassVar[str] = "hnsw"
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

    def rebuild(self, progress: Callable[[int], None] | None = None) -> None:
        store = self.store
        live = store.live_labels()
        self._index = self._new(max(store.n_labels, 1024))
        step = len(live) if progress is None else CHUNK_ROWS  # chunks only to report them
        for i in range(0, len(live), max(step, 1)):
            part = live[i : i + step]
            self._index.add_items(store.vectors[part], part)
            if progress is not None:
                progress(len(part))

    def _convert(self, d: np.ndarray) -> np.ndarray:
        if self.metric == "l2":
            return np.sqrt(np.maximum(d, 0.0))
        if self.metric == "ip":
            return d - 1.0
        return d

    def search_one(
        self, query: np.ndarray, k: int, ef: int | None = None
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The unfiltered single-query hot path: no conversions beyond the metric."""
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
        self._index.save_index(str(directory / "hnsw.bin"))
        return ["hnsw.bin"]

    def load(self, directory: Path) -> None:
        idx = hnswlib.Index(space=_SPACE[self.metric], dim=self.dim)
        idx.load_index(str(directory / "hnsw.bin"), max_elements=max(self.store.n_labels, 1024))
        if idx.get_current_count() != self.store.n_labels:
            raise ValueError("hnsw checkpoint and vector store disagree on the label count")
        idx.set_ef(self.params["ef_search"])
        self._index = idx
