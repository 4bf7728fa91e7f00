"""Upkeep of a live index: loading it from DuckDB and its checkpoints, rebuilding,
compacting, switching its kind, and checkpointing it.

The live index (:class:`vecdb.live_index.LiveIndex`) is derived state. :meth:`Upkeep.load`
brings it up to DuckDB at open (the checkpoint and a replay of the newer change log, or a
rebuild from every row), :meth:`Upkeep.after_write` compacts or checkpoints as writes pile
up, and :meth:`Upkeep.checkpoint` saves it so that the next open replays little. Every
method here writes and must run under the collection's write lock (see
:mod:`vecdb.collection`); new parts are built aside and swapped in under the live index's
write lock, so readers keep searching meanwhile.

>>> import numpy as np, vecdb
>>> c = vecdb.connect().create_collection("c", dim=2, metric="l2", index="hnsw")
>>> c.add([1, 2, 3], [[0, 0], [1, 0], [5, 5]]), c.delete(ids=[2])
(3, 1)
>>> c._upkeep.compact(c._table); c.store.n_labels, c.search([1, 0], k=1)[0].id
(2, 1)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from vecdb.errors import InvalidArgumentError
from vecdb.fulltext import FullTextIndex, TextConfig
from vecdb.index import VectorIndex, VectorStore
from vecdb.live_index import LiveIndex, new_fulltext, new_index, new_store
from vecdb.progress import Task, track
from vecdb.row_store import RowStore
from vecdb.storage.checkpoint import read_checkpoint, remove_checkpoints, write_checkpoint
from vecdb.storage.crash import crash_point
from vecdb.storage.table import CollectionTable
from vecdb.types import CollectionSpec

__all__ = ["Upkeep"]

log = logging.getLogger("vecdb")

#: rows written between automatic index checkpoints
CHECKPOINT_EVERY = 50_000
#: dead labels (deleted or replaced) as a share of all labels that triggers compact()
COMPACT_RATIO = 0.3
COMPACT_MIN_DEAD = 2_000
#: rows per step when rebuilding from DuckDB or compacting (bounds the temporaries)
REBUILD_BATCH_ROWS = 16_384


class Upkeep:
    """Keeps ``live`` in step with DuckDB and with its checkpoints under ``directory``
    (``None`` in memory: nothing is saved)."""

    def __init__(self, live: LiveIndex, directory: Path | None) -> None:
        self.live = live
        self.directory = directory
        self.ckpt_seq = -1  # the write sequence the last checkpoint covers
        self._rows_since_ckpt = 0

    # ---- loading ---------------------------------------------------------------------------
    def load(self, table: CollectionTable) -> None:
        """Come up to DuckDB: load the checkpoint and replay newer writes, or rebuild."""
        live, spec, directory = self.live, self.live.spec, self.directory
        ck = read_checkpoint(directory, spec.config()) if directory else None
        if ck is not None:
            try:
                seq, path = ck
                store = VectorStore.load(
                    path,
                    spec.dim,
                    spec.id_type,  # type: ignore[arg-type]
                    normalize=spec.metric == "cosine",
                )
                index = new_index(spec, store)
                index.load(path)
                if not store.vectors_loaded:
                    index.read_vectors(path)  # kept once, in the index's own file
                rows = RowStore(live.row_types, capacity=store.n_labels)
                if live.row_types:  # rows written after the checkpoint come with the replay
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
                if spec.fulltext is not None:  # damaged: DamagedCheckpointError (ValueError)
                    ft = FullTextIndex.load(path, TextConfig.from_dict(spec.fulltext))
                live.swap(store, index, rows, ft)
                changed = table.changed_since(seq)
                if len(changed):
                    found, vectors, gone, stored = table.current(changed)
                    vectors = live.prepare(vectors)
                    live.apply(found, vectors, gone, stored, self.texts_of(table, found))
                self.ckpt_seq = seq
                if table.count() == live.store.n_alive:
                    return
            except (OSError, ValueError, RuntimeError):
                pass  # unreadable checkpoint: rebuild below
        self.rebuild(table)
        if directory is not None and live.store.n_alive:
            try:
                self.checkpoint(table)
            except OSError as e:  # e.g. a full disk: the index is whole in memory; retried later
                log.warning("vecdb: could not checkpoint %s after a rebuild: %s", spec.name, e)

    def rebuild(self, table: CollectionTable) -> None:
        """Build the store and index afresh from every row in DuckDB."""
        live, spec = self.live, self.live.spec
        n = table.count()
        store = new_store(spec, n)
        rows = RowStore(live.row_types, capacity=max(n, 16))
        with track(live.progress, f"{spec.name}: loading", n) as task:
            for ids, vecs, tbl in table.scan(batch_rows=REBUILD_BATCH_ROWS):
                assert vecs is not None
                rows.put(store.upsert(ids, live.prepare(vecs)), tbl)
                task.update(len(ids))
        index = new_index(spec, store)
        self._build(index, store.n_alive)
        ft = new_fulltext(spec)
        if ft is not None:
            id_dtype = object if spec.id_type == "str" else np.int64
            with track(live.progress, f"{spec.name}: full-text indexing", n) as task:

                def batches() -> Iterator[tuple[np.ndarray, list[Any]]]:
                    for ids, docs in table.scan_documents():
                        yield store.labels_for_ids(np.asarray(ids, dtype=id_dtype)), docs
                        task.update(len(ids))

                ft = FullTextIndex.build(batches(), ft.config)
        with live.rw.write():
            live.swap(store, index, rows, ft)

    def _build(self, index: VectorIndex, n: int) -> None:
        """``index.rebuild()`` over the store's ``n`` live rows, reporting its progress."""
        with track(self.live.progress, f"{self.live.spec.name}: indexing", n) as task:
            index.rebuild(task.update if type(task) is not Task else None)
            task.update(n - task.done)  # an exact index has nothing to build

    def texts_of(self, table: CollectionTable, ids: np.ndarray) -> list[str | None] | None:
        """The documents of ``ids`` as DuckDB holds them now (None without full text)."""
        if self.live.fulltext is None or len(ids) == 0:
            return None
        docs = table.documents(ids.tolist())
        return [docs.get(i) for i in ids.tolist()]

    # ---- after writes ----------------------------------------------------------------------
    def after_write(self, n_rows: int, table: CollectionTable) -> None:
        """Compact when many entries are dead, else checkpoint every CHECKPOINT_EVERY rows."""
        self._rows_since_ckpt += n_rows
        store = self.live.store
        if store.n_dead >= COMPACT_MIN_DEAD and store.n_dead > COMPACT_RATIO * store.n_labels:
            self.compact(table)
        elif self._rows_since_ckpt >= CHECKPOINT_EVERY:
            self.checkpoint(table)

    def compact(self, table: CollectionTable, save: bool = True) -> None:
        """Rebuild the index over live rows only, reclaiming deleted entries; checkpoint it
        (unless ``save`` is false)."""
        live = self.live
        old = live.store
        alive = old.live_labels()
        store = new_store(live.spec, len(alive))
        step = REBUILD_BATCH_ROWS
        for start in range(0, len(alive), step):  # bounded temporaries, not a copy of all
            part = alive[start : start + step]
            store.upsert(old.ids[part], old.take(part))
        rows = live.rows.compacted(alive)
        index = new_index(live.spec, store)
        self._build(index, len(alive))
        with live.rw.write():
            ft = live.fulltext
            if ft is not None:
                ft.relabel(alive)  # the new store's label i is the old alive[i]
            live.swap(store, index, rows, ft)
        if save:
            self.checkpoint(table)

    def reconfigure(self, spec: CollectionSpec, table: CollectionTable) -> None:
        """Switch metric/index/parameters: rebuild (from DuckDB if the metric changed); on any
        error nothing changes. The caller records the spec and checkpoints."""
        live = self.live
        old_metric = live.spec.metric
        if spec.metric == "cosine" and old_metric != "cosine":
            alive = live.store.live_labels()  # cosine needs non-zero vectors
            if len(alive) and (live.store.sqnorms[alive] == 0).any():
                raise InvalidArgumentError(
                    "the collection holds zero vectors, which have no cosine distance"
                )
        LiveIndex.check_spec(spec)
        old_spec, live.spec = live.spec, spec
        try:
            if old_metric != spec.metric:
                self.rebuild(table)  # vectors are prepared per metric
            else:
                self.compact(table, save=False)
        except BaseException:
            live.spec = old_spec  # the store and index were not swapped: nothing changed
            raise

    # ---- on disk ---------------------------------------------------------------------------
    def checkpoint(self, table: CollectionTable) -> None:
        """Save store and index covering every committed write; trim the covered log."""
        directory, live = self.directory, self.live
        if directory is None:
            return
        with live.rw.read():
            seq = table.seq

            def save(path: Path) -> list[str]:
                # an index that holds the vectors saves them once, in its own file
                files = live.store.save(path, vectors=not live.index.holds_vectors)
                files += live.index.save(path)
                if live.fulltext is not None:
                    files += live.fulltext.save(path)
                return files

            write_checkpoint(directory, seq, live.spec.config(), save)
            self.ckpt_seq = seq
            self._rows_since_ckpt = 0
            table.trim_log(seq)
            crash_point("checkpoint.log_trimmed")

    def remove_files(self) -> None:
        """Delete the checkpoints (on drop)."""
        if self.directory is not None:
            remove_checkpoints(self.directory)
