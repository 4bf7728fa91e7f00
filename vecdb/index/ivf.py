"""IVF (inverted file) through faiss: IVF-Flat, or IVF-PQ with exact re-ranking.

The index trains itself once the collection holds enough rows (``39 * nlist``, or 10,000
when ``nlist`` is automatic) and searches exactly until then. Filtered searches pass the
allow-list to faiss as an ``IDSelectorBitmap``, so only allowed rows are ever scored.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from vecdb.errors import InvalidArgumentError
from vecdb.index.base import VectorIndex, register
from vecdb.index.exact import exact_topk
from vecdb.index.store import VectorStore
from vecdb.progress import CHUNK_ROWS

__all__ = ["IvfIndex"]


def _faiss() -> Any:
    """The faiss module, imported on first use: ~22 MiB of RSS (its shared library) that a
    process whose collections have no IVF index never needs."""
    import faiss

    return faiss


AUTO_TRAIN_ROWS = 10_000
#: a product quantizer learns this many centroids per sub-vector (8 bits): it needs as many rows
PQ_CENTROIDS = 256


@register
class IvfIndex(VectorIndex):
    """A faiss IVF index. Parameters: ``nlist``, ``nprobe`` (automatic when unset), ``pq``
    (number of product-quantizer sub-vectors; must divide ``dim``)."""

    kind: ClassVar[str] = "ivf"
    knob: ClassVar[str | None] = "nprobe"
    defaults: ClassVar[dict[str, Any]] = {"nlist": None, "nprobe": None, "pq": None}

    def __init__(self, dim: int, metric: str, params: dict[str, Any], store: VectorStore) -> None:
        super().__init__(dim, metric, params, store)
        pq = self.params.get("pq")
        if pq is not None and dim % pq != 0:
            raise InvalidArgumentError(f"ivf 'pq' ({pq}) must divide the dimension ({dim})")
        # Any: faiss's SWIG stubs miss the numpy-accepting wrappers (add_with_ids, remove_ids)
        self._index: Any = None
        self._nlist = 0
        self._trained_at = 0
        self._failed_at = 0  # rows when faiss last refused to train (retry at twice as many)
        self.untrained_reason: str | None = None

    @property
    def trained(self) -> bool:
        return self._index is not None

    def _train_rows(self) -> int:
        nlist = self.params.get("nlist")
        rows = 39 * nlist if nlist else AUTO_TRAIN_ROWS
        return max(rows, PQ_CENTROIDS) if self.params.get("pq") else rows

    def _trainable(self) -> bool:
        n = self.store.n_alive
        return n >= self._train_rows() and n >= 2 * self._failed_at

    def _nprobe(self, knob: int | None) -> int:
        if knob:
            return min(knob, self._nlist)
        if self.params.get("nprobe"):
            return min(self.params["nprobe"], self._nlist)
        return max(1, min(self._nlist, max(8, self._nlist // 8)))

    def _faiss_metric(self) -> int:
        faiss = _faiss()
        return faiss.METRIC_L2 if self.metric == "l2" else faiss.METRIC_INNER_PRODUCT

    def _train(self, progress: Callable[[int], None] | None = None) -> None:
        store = self.store
        live = store.live_labels()
        n = len(live)
        nlist = self.params.get("nlist") or max(16, min(int(4 * math.sqrt(n)), n // 39))
        metric = self._faiss_metric()
        faiss = _faiss()
        quantizer: Any = (
            faiss.IndexFlatL2(self.dim)
            if metric == faiss.METRIC_L2
            else faiss.IndexFlatIP(self.dim)
        )
        pq = self.params.get("pq")
        index: Any
        if pq:
            index = faiss.IndexIVFPQ(quantizer, self.dim, nlist, pq, 8, metric)
        else:
            index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, metric)
        index.own_fields = True
        quantizer.this.disown()
        vectors = store.vectors[live]
        rng = np.random.default_rng(0)
        sample = vectors if n <= 256 * nlist else vectors[rng.choice(n, 256 * nlist, False)]
        try:
            index.train(np.ascontiguousarray(sample))
            step = n if progress is None else CHUNK_ROWS  # chunks only to report them
            for i in range(0, n, max(step, 1)):
                index.add_with_ids(vectors[i : i + step], live[i : i + step])
                if progress is not None:
                    progress(len(live[i : i + step]))
        except RuntimeError as e:  # faiss refused these rows: searches scan exactly meanwhile
            self._failed_at = n
            self.untrained_reason = f"faiss could not train on {n} rows ({e})"
            return
        self._index, self._nlist, self._trained_at = index, nlist, n
        self.untrained_reason = None

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        if self._index is None:
            if self._trainable():
                self._train()
            return
        if self.params.get("nlist") is None and self.store.n_alive > 8 * self._trained_at:
            self._train()  # automatic nlist: re-cluster as the collection grows
            return
        self._index.remove_ids(labels)
        self._index.add_with_ids(vectors, labels)

    def remove(self, labels: np.ndarray) -> None:
        if self._index is not None and len(labels):
            self._index.remove_ids(labels)

    def rebuild(self, progress: Callable[[int], None] | None = None) -> None:
        self._index = None
        self._failed_at = 0
        if self._trainable():
            self._train(progress)

    def _to_distance(self, d: np.ndarray) -> np.ndarray:
        if self.metric == "l2":
            return np.sqrt(np.maximum(d, 0.0))
        if self.metric == "cosine":
            return 1.0 - d
        return -d

    def search(
        self,
        queries: np.ndarray,
        k: int,
        knob: int | None = None,
        allowed: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray] | None:
        if self._index is None:
            return None
        pq = bool(self.params.get("pq"))
        fetch = k * 4 if pq else k
        faiss = _faiss()
        sp = faiss.SearchParametersIVF()
        sp.nprobe = self._nprobe(knob)
        if allowed is not None:
            bits = np.packbits(allowed, bitorder="little")
            sel = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bits))
            sp.sel = sel
        d, labels = self._index.search(queries, fetch, params=sp)
        if pq:
            return self._rerank(queries, labels, k)
        return labels, self._to_distance(d).astype(np.float32, copy=False)

    def _rerank(
        self, queries: np.ndarray, cand: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """PQ distances are approximate: re-measure candidates on the stored vectors."""
        store = self.store
        out_l = np.full((len(queries), k), -1, dtype=np.int64)
        out_d = np.full((len(queries), k), np.inf, dtype=np.float32)
        for i, row in enumerate(cand):
            row = row[row >= 0]
            lab, dist = exact_topk(
                store.vectors[row],
                store.sqnorms[row],
                queries[i : i + 1],
                k,
                self.metric,
                labels=row,
            )
            out_l[i, : lab.shape[1]] = lab[0]
            out_d[i, : lab.shape[1]] = dist[0]
        return out_l, out_d

    def describe(self) -> dict[str, Any]:
        out = dict(self.params)
        out["trained"] = self.trained
        if self.untrained_reason:
            out["untrained_reason"] = self.untrained_reason + "; searches scan exactly"
        if self.trained:
            out["nlist"] = self._nlist
            out["nprobe"] = self._nprobe(None)
        return out

    def save(self, directory: Path) -> list[str]:
        if self._index is None:
            return []
        _faiss().write_index(self._index, str(directory / "ivf.faiss"))
        (directory / "ivf.meta").write_text(f"{self._nlist} {self._trained_at}")
        return ["ivf.faiss", "ivf.meta"]

    def load(self, directory: Path) -> None:
        path = directory / "ivf.faiss"
        if not path.exists():
            self._index = None
            return
        self._index = _faiss().read_index(str(path))
        nlist, trained_at = (directory / "ivf.meta").read_text().split()
        self._nlist, self._trained_at = int(nlist), int(trained_at)
