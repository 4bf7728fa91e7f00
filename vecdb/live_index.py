"""The live index: a collection's in-memory vector store, ANN index and row store.

It is derived state, kept in step with DuckDB by :class:`vecdb.upkeep.Upkeep` (load,
rebuild, checkpoint, compact); :meth:`LiveIndex.apply` adds each committed write. Readers
(:meth:`~LiveIndex.probe`, :meth:`~LiveIndex.search_rows`, :class:`vecdb.live_text.LiveText`)
and writers share one read/write lock (:class:`RWLock`), so a reader never sees half a batch.
Lock order: the collection's write lock (held by every writer, see :mod:`vecdb.collection`)
before this lock's write side; readers take only the read side.

>>> import numpy as np
>>> from vecdb.types import CollectionSpec
>>> live = LiveIndex(CollectionSpec("c", 2, "l2", "hnsw", {}, {}, "int"))
>>> live.apply(np.array([1, 2]), np.array([[0, 0], [3, 4]], np.float32), None)
>>> ids, dists, n = live.probe(np.array([3, 3], np.float32), 1, None)
>>> ids.tolist(), n
([2], 2)
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pyarrow as pa

from vecdb import planner
from vecdb.errors import InvalidArgumentError
from vecdb.fulltext import FullTextIndex, TextConfig
from vecdb.index import INDEX_TYPES, HnswIndex, VectorIndex, VectorStore
from vecdb.planner import AllowList
from vecdb.progress import Progress, chunks, track
from vecdb.row_store import RowStore
from vecdb.types import Candidates, CollectionSpec

__all__ = ["LiveIndex", "RWLock", "Fetched", "new_store", "new_index", "new_fulltext"]

#: rows read with a search: one value list per requested column, and the stored vectors
#: (as the index holds them: unit rows under cosine) when asked for, else None
Fetched = tuple[list[list[Any]], "np.ndarray | None"]

ALLOWLIST_CACHE_SIZE = 64


class RWLock:
    """Many readers or one writer, around the in-memory state only.

    Two plain locks (the first reader takes the gate, the last one releases it): cheap enough
    for the search hot path. Readers are preferred; writers only hold it to apply a batch.

    >>> lock = RWLock()
    >>> with lock.read(), lock.read():
    ...     pass
    >>> with lock.write():
    ...     pass
    """

    def __init__(self) -> None:
        self._count_lock = threading.Lock()
        self._gate = threading.Lock()
        self._readers = 0

    def acquire_read(self) -> None:
        with self._count_lock:
            self._readers += 1
            if self._readers == 1:
                self._gate.acquire()

    def release_read(self) -> None:
        with self._count_lock:
            self._readers -= 1
            if self._readers == 0:
                self._gate.release()

    @contextmanager
    def read(self) -> Iterator[None]:
        self.acquire_read()
        try:
            yield
        finally:
            self.release_read()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._gate:
            yield


def new_store(spec: CollectionSpec, capacity: int) -> VectorStore:
    """An empty vector store for ``spec`` (unit rows under cosine)."""
    return VectorStore(
        spec.dim,
        spec.id_type,  # type: ignore[arg-type]
        capacity=max(capacity, 16),
        normalize=spec.metric == "cosine",
    )


def new_index(spec: CollectionSpec, store: VectorStore) -> VectorIndex:
    """An empty ANN index of ``spec``'s kind over ``store``."""
    return INDEX_TYPES[spec.index](spec.dim, spec.metric, spec.index_params, store)


def new_fulltext(spec: CollectionSpec) -> FullTextIndex | None:
    """An empty full-text index when the collection has one, else None."""
    return None if spec.fulltext is None else FullTextIndex(TextConfig.from_dict(spec.fulltext))


def labels_of(store: VectorStore, ids: np.ndarray) -> np.ndarray:
    """Live labels of ids known to be live (a dict lookup each: O(len(ids)))."""
    get = store.label_of
    return np.fromiter((get(i) for i in ids.tolist()), dtype=np.int64, count=len(ids))


class LiveIndex:
    """Vector store + ANN index + row store + full-text index, their read/write lock, and
    the allow-lists cached over them.

    Writers (:meth:`apply`, and :class:`vecdb.upkeep.Upkeep`'s load, compact and
    checkpoint) must be serialized by the caller (the collection's write lock).
    """

    def __init__(
        self,
        spec: CollectionSpec,
        row_types: dict[str, pa.DataType] | None = None,
        progress: Progress = None,
    ) -> None:
        self.spec = spec
        #: how long work (rebuilds, bulk writes, compaction) reports progress: vecdb.progress
        self.progress = progress
        #: each column's Arrow type as DuckDB returns it (the row store's schema)
        self.row_types = dict(row_types or {})
        self.rw = RWLock()
        self.version = 0  # bumped by every change of the store: allow-lists are per version
        self._allow: OrderedDict[Any, tuple[int, AllowList]] = OrderedDict()
        store = new_store(spec, 1024)
        self.swap(store, new_index(spec, store), RowStore(self.row_types), new_fulltext(spec))

    def swap(
        self,
        store: VectorStore,
        index: VectorIndex,
        rows: RowStore,
        fulltext: FullTextIndex | None,
    ) -> None:
        """Put in new parts, built together. Call under ``rw.write()`` once readers may use
        this index."""
        self.store, self.index, self.rows = store, index, rows
        #: the BM25 index over ``document``, keyed by the store's labels (None without one)
        self.fulltext = fulltext
        #: the index when it is HNSW (what :meth:`probe` serves), else None
        self.hot: HnswIndex | None = index if isinstance(index, HnswIndex) else None
        self.version += 1
        self._allow.clear()

    def prepare(self, vectors: np.ndarray, what: str = "vectors") -> np.ndarray:
        """Vectors checked for the metric (cosine refuses zero rows), not copied: the store
        normalizes them into its own array as it takes them (no whole-batch copy)."""
        if self.spec.metric == "cosine" and len(vectors):
            zero = np.flatnonzero(np.einsum("ij,ij->i", vectors, vectors) == 0)
            if len(zero):
                raise InvalidArgumentError(
                    f"{what}[{int(zero[0])}] is the zero vector, which has no cosine distance; "
                    "store a non-zero vector or use metric='l2'"
                )
        return vectors

    @staticmethod
    def check_spec(spec: CollectionSpec) -> None:
        """Build an empty index of ``spec``: raises on parameters the backend rejects, so that
        callers can check a spec before they write anything."""
        store = VectorStore(spec.dim, spec.id_type, capacity=16)  # type: ignore[arg-type]
        new_index(spec, store)

    # ---- writes ----------------------------------------------------------------------------
    def apply(
        self,
        ids: np.ndarray,
        prepared: np.ndarray,
        gone: np.ndarray | None,
        rows: pa.Table | None = None,
        texts: list[str | None] | None = None,
    ) -> None:
        """Apply committed changes to the store, the indexes and the row store, atomically
        for readers. ``prepared`` are the vectors as :meth:`prepare` checked them (the store
        normalizes them under cosine and the index is fed the store's rows). ``rows`` holds
        the written rows' id and columns as DuckDB stored them
        (any order); a row it lacks keeps its old values. ``texts`` are the documents of
        ``ids`` (required with a full-text index; None leaves a row out of full-text search)."""
        ft = self.fulltext
        if ft is not None and len(ids) and (texts is None or len(texts) != len(ids)):
            raise InvalidArgumentError("internal: a full-text collection needs every document")
        with self.rw.write():
            if gone is not None and len(gone):
                killed = self.store.remove(gone)
                self.index.remove(killed)
                self.rows.clear(killed)
                if ft is not None:
                    ft.delete(killed)
            if len(ids):
                labels = self.store.upsert(ids, prepared)
                # what the store holds (unit rows under cosine): a view for new rows
                with track(self.progress, f"{self.spec.name}: indexing", len(ids)) as task:
                    for part in chunks(len(ids), task):
                        self.index.add(labels[part], self.store.take(labels[part]))
                        task.update(part.stop - part.start)
                if rows is not None and self.row_types:
                    row_ids = rows.column("id").to_numpy(zero_copy_only=False)
                    self.rows.put(labels_of(self.store, row_ids), rows)
                if ft is not None:
                    ft.upsert(labels, texts)  # type: ignore[arg-type]
            self.version += 1
            self._allow.clear()

    # ---- reads -----------------------------------------------------------------------------
    def probe(
        self, query: np.ndarray, k: int, ef: int | None
    ) -> tuple[np.ndarray, np.ndarray, int] | None:
        """Unfiltered single query on an HNSW index: no planner, no copies, no DuckDB.

        Returns ids, distances and the live row count, or ``None`` to send the call down the
        general path (a zero or non-finite query, an index that cannot answer), which then
        raises or falls back as usual.
        """
        norm2 = float(query.dot(query))
        if not 0.0 < norm2 < math.inf:
            return None
        rw = self.rw
        rw.acquire_read()
        try:
            store, index = self.store, self.hot  # swapped together under the write lock
            n = store.n_alive
            kk = k if k <= n else n
            if kk == 0 or index is None:
                return None
            res = index.search_one(query, kk, ef, norm2)
            if res is None:
                return None
            labels, dists = res
            # hnswlib labels are uint64; viewed as int64 the gather is ~5x cheaper
            return store.ids[labels[0].view(np.int64)], dists[0], n
        finally:
            rw.release_read()

    def probe_plan(self, k: int, found: int, n: int) -> dict[str, Any]:
        """The plan info of a :meth:`probe` (what the planner would report for it)."""
        return {
            "strategy": "index",
            "estimated_rows": n,
            "matching_rows": n,
            "total_rows": n,
            "k": k,
            "candidates": found,
            "index": "hnsw",
            "index_params": self.index.describe(),
            "fallbacks": 0,
        }

    def search_rows(
        self,
        queries: np.ndarray,
        k: int,
        knob: int | None,
        allow_key: Any = None,
        matching_ids: Callable[[], np.ndarray] | None = None,
        columns: list[str] | None = None,
        vectors: bool = False,
    ) -> tuple[Candidates, list[Fetched]]:
        """Ids and distances per query and the plan info, through :func:`planner.search`;
        and per query the hits' ``columns`` (and stored vectors) read from the row store
        under the same read lock: the rows of exactly the ids returned.

        With ``matching_ids`` (the ids a filter matches, read from DuckDB) the search is
        restricted to them; their allow-list is cached under ``allow_key`` until the next write.
        """
        rw = self.rw
        rw.acquire_read()  # not `with rw.read()`: a generator context costs ~2 µs a call
        try:
            allow = None
            if matching_ids is not None:
                allow = self.allowlist(allow_key, matching_ids)
            labels, dists, info = planner.search(self.store, self.index, queries, k, allow, knob)
            ids_all = self.store.ids
            ids = [ids_all[row] for row in labels]
            fetched: list[Fetched] = []
            if columns or vectors:
                fetched = [self._fetch(lab, columns or [], vectors) for lab in labels]
        finally:
            rw.release_read()
        return Candidates(ids, dists, info), fetched

    def _fetch(self, labels: np.ndarray, columns: list[str], vectors: bool) -> Fetched:
        """Columns (and stored vectors) at ``labels``; call under the read lock."""
        labels = np.asarray(labels).view(np.int64) if labels.dtype == np.uint64 else labels
        vecs = self.store.vectors[labels] if vectors else None
        return self.rows.take(labels, columns), vecs

    def probe_rows(
        self, query: np.ndarray, k: int, ef: int | None, columns: list[str], vectors: bool
    ) -> tuple[np.ndarray, np.ndarray, int, Fetched] | None:
        """:meth:`probe` with the hits' rows from the same snapshot (see :meth:`search_rows`)."""
        norm2 = float(query.dot(query))
        if not 0.0 < norm2 < math.inf:
            return None
        with self.rw.read():
            store, index = self.store, self.hot
            n = store.n_alive
            kk = k if k <= n else n
            if kk == 0 or index is None:
                return None
            res = index.search_one(query, kk, ef, norm2)
            if res is None:
                return None
            labels = res[0][0].view(np.int64)
            return store.ids[labels], res[1][0], n, self._fetch(labels, columns, vectors)

    def get_rows(
        self, ids: list[Any], columns: list[str], vectors: bool
    ) -> tuple[list[Any], Fetched]:
        """The live ids among ``ids`` (in order) and their rows, from one snapshot."""
        with self.rw.read():
            get = self.store.label_of
            pairs = [(i, lab) for i in ids if (lab := get(i)) is not None]
            labels = np.fromiter((p[1] for p in pairs), dtype=np.int64, count=len(pairs))
            return [p[0] for p in pairs], self._fetch(labels, columns, vectors)

    def allowlist(self, key: Any, matching_ids: Callable[[], np.ndarray]) -> AllowList:
        """The allow-list of the ids ``matching_ids()`` returns, cached under ``key`` until
        the store changes; call under the read lock."""
        cache = self._allow
        hit = cache.get(key)
        version = self.version
        if hit is not None and hit[0] == version:
            try:
                cache.move_to_end(key)
            except KeyError:  # evicted by a concurrent reader meanwhile; still valid
                pass
            return hit[1]
        labels = self.store.labels_for_ids(matching_ids())
        allow = AllowList(labels[labels >= 0])
        cache[key] = (version, allow)
        while len(cache) > ALLOWLIST_CACHE_SIZE:
            try:
                cache.popitem(last=False)
            except KeyError:  # emptied by a concurrent reader
                break
        return allow
