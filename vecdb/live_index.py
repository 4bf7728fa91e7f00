"""The live index: a collection's in-memory vector store and ANN index, in step with DuckDB.

It is derived state. :meth:`LiveIndex.load` brings it up to DuckDB (checkpoint + replay of
the change log, or a rebuild), :meth:`LiveIndex.apply` adds each committed write, and
:meth:`LiveIndex.checkpoint` saves it so that the next open replays little. Readers
(:meth:`probe`, :meth:`search`) and :meth:`apply` share a read/write lock, so a reader never
sees half a batch.

>>> import numpy as np
>>> from vecdb.types import Candidates, CollectionSpec
>>> live = LiveIndex(CollectionSpec("c", 2, "l2", "hnsw", {}, {}, "int"), directory=None)
>>> live.apply(np.array([1, 2]), np.array([[0, 0], [3, 4]], np.float32), None)
>>> ids, dists, n = live.probe(np.array([3, 3], np.float32), 1, None)
>>> ids.tolist(), n
([2], 2)
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from vecdb import planner
from vecdb.errors import InvalidArgumentError
from vecdb.fulltext import CorpusStats, FullTextIndex, TextConfig
from vecdb.index import INDEX_TYPES, HnswIndex, VectorIndex, VectorStore
from vecdb.planner import AllowList
from vecdb.progress import Progress, Task, chunks, track
from vecdb.row_store import RowStore
from vecdb.storage.checkpoint import read_checkpoint, remove_checkpoints, write_checkpoint
from vecdb.storage.crash import crash_point
from vecdb.storage.table import CollectionTable
from vecdb.types import Candidates, CollectionSpec

__all__ = ["LiveIndex", "RWLock", "Fetched"]

#: rows read with a search: one value list per requested column, and the stored vectors
#: (as the index holds them: unit rows under cosine) when asked for, else None
Fetched = tuple[list[list[Any]], "np.ndarray | None"]

log = logging.getLogger("vecdb")

#: rows written between automatic index checkpoints
CHECKPOINT_EVERY = 50_000
#: dead labels (deleted or replaced) as a share of all labels that triggers compact()
COMPACT_RATIO = 0.3
COMPACT_MIN_DEAD = 2_000
ALLOWLIST_CACHE_SIZE = 64
#: rows per step when rebuilding from DuckDB or compacting (bounds the temporaries)
REBUILD_BATCH_ROWS = 16_384


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


class LiveIndex:
    """Vector store + ANN index + their read/write lock, and the allow-lists cached over them.

    Writers (apply, load, compact, checkpoint) must be serialized by the caller; see
    :class:`vecdb.collection.Collection` for the lock order. ``directory`` is where
    checkpoints go (``None`` in memory).
    """

    def __init__(
        self,
        spec: CollectionSpec,
        directory: Path | None,
        row_types: dict[str, pa.DataType] | None = None,
        progress: Progress = None,
    ) -> None:
        self.spec = spec
        #: how long work (rebuilds, bulk writes, compaction) reports progress: vecdb.progress
        self.progress = progress
        #: each column's Arrow type as DuckDB returns it (the row store's schema)
        self.row_types = dict(row_types or {})
        self.directory = directory
        self.rw = RWLock()
        self.version = 0  # bumped by every change of the store: allow-lists are per version
        self.ckpt_seq = -1  # the write sequence the last checkpoint covers
        self._rows_since_ckpt = 0
        self._allow: OrderedDict[Any, tuple[int, AllowList]] = OrderedDict()
        store = self._new_store(1024)
        self._swap(store, self._new_index(store), RowStore(self.row_types), self._new_fulltext())

    def _new_fulltext(self) -> FullTextIndex | None:
        """An empty full-text index when the collection has one, else None."""
        cfg = self.spec.fulltext
        return None if cfg is None else FullTextIndex(TextConfig.from_dict(cfg))

    def _new_store(self, capacity: int) -> VectorStore:
        spec = self.spec
        return VectorStore(
            spec.dim,
            spec.id_type,  # type: ignore[arg-type]
            capacity=max(capacity, 16),
            normalize=spec.metric == "cosine",
        )

    def _new_index(self, store: VectorStore) -> VectorIndex:
        spec = self.spec
        return INDEX_TYPES[spec.index](spec.dim, spec.metric, spec.index_params, store)

    def _swap(
        self,
        store: VectorStore,
        index: VectorIndex,
        rows: RowStore,
        fulltext: FullTextIndex | None,
    ) -> None:
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

    # ---- loading ---------------------------------------------------------------------------
    def load(self, table: CollectionTable) -> None:
        """Come up to DuckDB: load the checkpoint and replay newer writes, or rebuild."""
        directory = self.directory
        ck = read_checkpoint(directory, self.spec.config()) if directory else None
        if ck is not None:
            try:
                seq, path = ck
                store = VectorStore.load(
                    path,
                    self.spec.dim,
                    self.spec.id_type,  # type: ignore[arg-type]
                    normalize=self.spec.metric == "cosine",
                )
                index = self._new_index(store)
                index.load(path)
                if not store.vectors_loaded:
                    index.read_vectors(path)  # kept once, in the index's own file
                rows = RowStore(self.row_types, capacity=store.n_labels)
                if self.row_types:  # rows written after the checkpoint come with the replay
                    for ids, _, tbl in table.scan(vectors=False):
                        get = store.label_of
                        labels = np.fromiter(
                            (-1 if (lab := get(i)) is None else lab for i in ids.tolist()),
                            dtype=np.int64,
                            count=len(ids),
                        )
                        known = labels >= 0
                        rows.put(labels[known], tbl.filter(pa.array(known)))
                ft = None
                if self.spec.fulltext is not None:  # damaged: DamagedCheckpointError (ValueError)
                    ft = FullTextIndex.load(path, TextConfig.from_dict(self.spec.fulltext))
                self._swap(store, index, rows, ft)
                changed = table.changed_since(seq)
                if len(changed):
                    found, vectors, gone, stored = self._prepared(table.current(changed))
                    self.apply(found, vectors, gone, stored, self.texts_of(table, found))
                self.ckpt_seq = seq
                if table.count() == self.store.n_alive:
                    return
            except (OSError, ValueError, RuntimeError):
                pass  # unreadable checkpoint: rebuild below
        self.rebuild(table)
        if directory is not None and self.store.n_alive:
            try:
                self.checkpoint(table)
            except OSError as e:  # e.g. a full disk: the index is whole in memory; retried later
                log.warning("vecdb: could not checkpoint %s after a rebuild: %s", self.spec.name, e)

    def _prepared(
        self, current: tuple[np.ndarray, np.ndarray, np.ndarray, pa.Table]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, pa.Table]:
        ids, vectors, gone, rows = current
        return ids, self.prepare(vectors), gone, rows

    @staticmethod
    def _labels_of(store: VectorStore, ids: np.ndarray) -> np.ndarray:
        """Live labels of ids known to be live (a dict lookup each: O(len(ids)))."""
        get = store.label_of
        return np.fromiter((get(i) for i in ids.tolist()), dtype=np.int64, count=len(ids))

    def rebuild(self, table: CollectionTable) -> None:
        """Build the store and index afresh from every row in DuckDB."""
        n = table.count()
        name = self.spec.name
        store = self._new_store(n)
        rows = RowStore(self.row_types, capacity=max(n, 16))
        with track(self.progress, f"{name}: loading", n) as task:
            for ids, vecs, tbl in table.scan(batch_rows=REBUILD_BATCH_ROWS):
                assert vecs is not None
                rows.put(store.upsert(ids, self.prepare(vecs)), tbl)
                task.update(len(ids))
        index = self._new_index(store)
        self._build(index, store.n_alive)
        ft = self._new_fulltext()
        if ft is not None:
            with track(self.progress, f"{name}: full-text indexing", n) as task:

                def batches() -> Iterator[tuple[np.ndarray, list[Any]]]:
                    for ids, docs in table.scan_documents():
                        yield store.labels_for_ids(self._id_array(ids)), docs
                        task.update(len(ids))

                ft = FullTextIndex.build(batches(), ft.config)
        with self.rw.write():
            self._swap(store, index, rows, ft)

    def _build(self, index: VectorIndex, n: int) -> None:
        """``index.rebuild()`` over the store's ``n`` live rows, reporting its progress."""
        with track(self.progress, f"{self.spec.name}: indexing", n) as task:
            index.rebuild(task.update if type(task) is not Task else None)
            task.update(n - task.done)  # an exact index has nothing to build

    def _id_array(self, ids: list[Any]) -> np.ndarray:
        return np.asarray(ids, dtype=object if self.spec.id_type == "str" else np.int64)

    def texts_of(self, table: CollectionTable, ids: np.ndarray) -> list[str | None] | None:
        """The documents of ``ids`` as DuckDB holds them now (None without full text)."""
        if self.fulltext is None or len(ids) == 0:
            return None
        docs = table.documents(ids.tolist())
        return [docs.get(i) for i in ids.tolist()]

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
                    self.rows.put(self._labels_of(self.store, row_ids), rows)
                if ft is not None:
                    ft.upsert(labels, texts)  # type: ignore[arg-type]
            self.version += 1
            self._allow.clear()

    def after_write(self, n_rows: int, table: CollectionTable) -> None:
        """Compact when many entries are dead, else checkpoint every CHECKPOINT_EVERY rows."""
        self._rows_since_ckpt += n_rows
        store = self.store
        if store.n_dead >= COMPACT_MIN_DEAD and store.n_dead > COMPACT_RATIO * store.n_labels:
            self.compact(table)
        elif self._rows_since_ckpt >= CHECKPOINT_EVERY:
            self.checkpoint(table)

    def compact(self, table: CollectionTable, save: bool = True) -> None:
        """Rebuild the index over live rows only, reclaiming deleted entries; checkpoint it
        (unless ``save`` is false)."""
        old = self.store
        live = old.live_labels()
        store = self._new_store(len(live))
        step = REBUILD_BATCH_ROWS
        for start in range(0, len(live), step):  # bounded temporaries, not a copy of all
            part = live[start : start + step]
            store.upsert(old.ids[part], old.take(part))
        rows = self.rows.compacted(live)
        index = self._new_index(store)
        self._build(index, len(live))
        with self.rw.write():
            ft = self.fulltext
            if ft is not None:
                ft.relabel(live)  # the new store's label i is the old live[i]
            self._swap(store, index, rows, ft)
        if save:
            self.checkpoint(table)

    def reconfigure(self, spec: CollectionSpec, table: CollectionTable) -> None:
        """Switch metric/index/parameters: rebuild (from DuckDB if the metric changed); on any
        error nothing changes. The caller records the spec and checkpoints."""
        old_metric = self.spec.metric
        if spec.metric == "cosine" and old_metric != "cosine":
            live = self.store.live_labels()  # cosine needs non-zero vectors
            if len(live) and (self.store.sqnorms[live] == 0).any():
                raise InvalidArgumentError(
                    "the collection holds zero vectors, which have no cosine distance"
                )
        self.check_spec(spec)
        old_spec, self.spec = self.spec, spec
        try:
            if old_metric != spec.metric:
                self.rebuild(table)  # vectors are prepared per metric
            else:
                self.compact(table, save=False)
        except BaseException:
            self.spec = old_spec  # the store and index were not swapped: nothing changed
            raise

    @staticmethod
    def check_spec(spec: CollectionSpec) -> None:
        """Build an empty index of ``spec``: raises on parameters the backend rejects, so that
        callers can check a spec before they write anything."""
        store = VectorStore(spec.dim, spec.id_type, capacity=16)  # type: ignore[arg-type]
        INDEX_TYPES[spec.index](spec.dim, spec.metric, spec.index_params, store)

    def checkpoint(self, table: CollectionTable) -> None:
        """Save store and index covering every committed write; trim the covered log."""
        if self.directory is None:
            return
        with self.rw.read():
            seq = table.seq

            def save(path: Path) -> list[str]:
                # an index that holds the vectors saves them once, in its own file
                files = self.store.save(path, vectors=not self.index.holds_vectors)
                files += self.index.save(path)
                if self.fulltext is not None:
                    files += self.fulltext.save(path)
                return files

            write_checkpoint(self.directory, seq, self.spec.config(), save)
            self.ckpt_seq = seq
            self._rows_since_ckpt = 0
            table.trim_log(seq)
            crash_point("checkpoint.log_trimmed")

    def remove_files(self) -> None:
        """Delete the checkpoints (on drop)."""
        if self.directory is not None:
            remove_checkpoints(self.directory)

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

    def search(
        self,
        queries: np.ndarray,
        k: int,
        knob: int | None,
        allow_key: Any = None,
        matching_ids: Callable[[], np.ndarray] | None = None,
    ) -> Candidates:
        """Ids and distances per query, and the plan info, through :func:`planner.search`.

        With ``matching_ids`` (the ids a filter matches, read from DuckDB) the search is
        restricted to them; their allow-list is cached under ``allow_key`` until the next write.
        """
        return self.search_rows(queries, k, knob, allow_key, matching_ids)[0]

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
        """:meth:`search`, and per query the hits' ``columns`` (and stored vectors) read from
        the row store under the same read lock: the rows of exactly the ids returned."""
        rw = self.rw
        rw.acquire_read()  # not `with rw.read()`: a generator context costs ~2 µs a call
        try:
            allow = None
            if matching_ids is not None:
                allow = self._allowlist(allow_key, matching_ids)
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

    def _allowlist(self, key: Any, matching_ids: Callable[[], np.ndarray]) -> AllowList:
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

    def search_text(
        self,
        query: str,
        k: int,
        allow_key: Any = None,
        matching_ids: Callable[[], np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """BM25 search: the ``k`` best ids and their scores, and the plan info.

        With ``matching_ids`` only those rows are ranked (the same cached allow-list as the
        vector search uses), so the result holds ``min(k, matching rows that contain a query
        term)`` ids."""
        ft = self.fulltext
        if ft is None:
            raise InvalidArgumentError(
                f"collection {self.spec.name!r} has no full-text index; create it with "
                "fulltext=True to search by keywords"
            )
        with self.rw.read():
            allow = None if matching_ids is None else self._allowlist(allow_key, matching_ids)
            labels, scores = ft.search(query, k, None if allow is None else allow.labels)
            ids = self.store.ids[labels]
            info = {
                "strategy": "fulltext",
                "engine": "bm25",
                "matching_rows": len(ft) if allow is None else len(allow.labels),
                "total_rows": self.store.n_alive,
                "documents": len(ft),
                "k": k,
                "candidates": len(ids),
            }
        return ids, scores, info

    def text_stats(self, query: str) -> CorpusStats:
        """The full-text index's BM25 statistics for ``query`` (a sharded collection sums
        its shards' to score with global IDF)."""
        ft = self.fulltext
        if ft is None:
            raise InvalidArgumentError(
                f"collection {self.spec.name!r} has no full-text index; create it with "
                "fulltext=True to search by keywords"
            )
        with self.rw.read():
            return ft.term_stats(query)

    def text_scores(self, query: str, ids: np.ndarray) -> np.ndarray:
        """BM25 scores of given ids for ``query`` (0 where none); NaN without an index."""
        ft = self.fulltext
        if ft is None or len(ids) == 0:
            return np.full(len(ids), np.nan)
        with self.rw.read():
            labels = self.store.labels_for_ids(ids)
            out = np.zeros(len(ids))
            ok = labels >= 0
            if ok.any():
                out[ok] = ft.score(query, labels[ok])
        return out

    def text_matches(
        self,
        query: str,
        allow_key: Any = None,
        matching_ids: Callable[[], np.ndarray] | None = None,
    ) -> np.ndarray:
        """Ids of every (matching) row whose document contains a query term."""
        ft = self.fulltext
        if ft is None:
            return self.store.ids[:0]
        with self.rw.read():
            allow = None if matching_ids is None else self._allowlist(allow_key, matching_ids)
            labels = ft.matches(query, None if allow is None else allow.labels)
            return self.store.ids[labels]
