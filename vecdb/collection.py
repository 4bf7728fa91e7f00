"""A collection: one DuckDB table of rows and vectors, and the ANN index derived from it.

Writes go to DuckDB first, in one transaction with a change-log entry, and reach the
in-memory index only after they commit; so an acknowledged write is always durable and an
index can always be caught up or rebuilt from DuckDB. Searches never lose rows to a filter:
the filter becomes an allow-list and a planner picks an exact scan of it or an index search
restricted to it (see :mod:`vecdb.planner`).

>>> import numpy as np, vecdb
>>> db = vecdb.connect()
>>> c = db.create_collection("c", dim=2, metric="l2", columns={"tag": "VARCHAR"})
>>> c.add(ids=[1, 2, 3], vectors=[[0, 0], [1, 0], [5, 5]],
...       rows=[{"tag": "a"}, {"tag": "b"}, {"tag": "a"}])
3
>>> [(h.id, round(h.distance, 3)) for h in c.search([0.9, 0], k=2)]
[(2, 0.1), (1, 0.9)]
>>> [h.row for h in c.search([0.9, 0], k=1, where="tag = $t", params={"t": "a"}, include="*")]
[{'tag': 'a'}]
>>> db.close()
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import duckdb
import numpy as np
import pyarrow as pa

from vecdb import planner
from vecdb._input import (
    MAX_K,
    as_ids,
    as_matrix,
    check_k,
    check_knob,
    normalize,
    rows_to_columns,
    table_to_parts,
)
from vecdb.errors import (
    AlreadyExistsError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    SQLError,
    SQLParseError,
    VecdbError,
)
from vecdb.index import INDEX_TYPES, HnswIndex, VectorIndex
from vecdb.storage.checkpoint import read_checkpoint, write_checkpoint
from vecdb.storage.vectors import VectorStore

if TYPE_CHECKING:
    from vecdb.database import Database

__all__ = ["Collection", "Hit", "Record", "CollectionSpec"]

#: rows written between automatic index checkpoints
CHECKPOINT_EVERY = 50_000
#: dead labels (deleted or replaced) as a share of all labels that triggers compact()
COMPACT_RATIO = 0.3
COMPACT_MIN_DEAD = 2_000
FILTER_CACHE_SIZE = 64


class Hit(NamedTuple):
    """One search result: the row's id, its distance to the query, and requested columns.

    >>> Hit(7, 0.25, None).distance
    0.25
    """

    id: Any
    distance: float
    row: dict[str, Any] | None


class Record(NamedTuple):
    """One stored row, as :meth:`Collection.get` returns it."""

    id: Any
    vector: np.ndarray
    row: dict[str, Any]


#: builds a Hit from a tuple without the Python-level NamedTuple __new__ (hot path)
_new_hit = partial(tuple.__new__, Hit)


@dataclass(frozen=True)
class CollectionSpec:
    """What the catalog remembers about a collection."""

    name: str
    dim: int
    metric: str
    index: str
    index_params: dict[str, Any]
    columns: dict[str, str]
    id_type: str

    def config(self) -> dict[str, Any]:
        """The part of the spec an index checkpoint depends on."""
        return {
            "dim": self.dim,
            "metric": self.metric,
            "index": self.index,
            "index_params": self.index_params,
            "id_type": self.id_type,
        }


class _RWLock:
    """Many readers or one writer, around the in-memory state only.

    Two plain locks (the first reader takes the gate, the last one releases it): cheap enough
    for the search hot path. Readers are preferred; writers only hold it to apply a batch.
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


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def map_duckdb_error(e: Exception, what: str = "statement") -> VecdbError:
    """A DuckDB exception as the vecdb error a caller can act on."""
    msg = str(e)
    if isinstance(e, duckdb.ParserException):
        return SQLParseError(f"{what} does not parse: {msg}")
    if isinstance(e, duckdb.CatalogException):
        return NotFoundError(f"{what}: {msg}")
    if isinstance(e, duckdb.BinderException) and "not found" in msg.lower():
        return NotFoundError(f"{what}: {msg}")
    if isinstance(e, duckdb.ConstraintException):
        if "duplicate key" in msg.lower():
            return AlreadyExistsError(f"{what}: {msg}")
        return InvalidArgumentError(f"{what}: {msg}")  # NOT NULL, CHECK, ...
    if isinstance(
        e, duckdb.ConversionException | duckdb.InvalidInputException | duckdb.TypeMismatchException
    ):
        return InvalidArgumentError(f"{what}: {msg}")
    if isinstance(e, duckdb.BinderException | duckdb.Error):
        return SQLError(f"{what}: {msg}")
    return InternalError(f"{what}: {msg}")


class _Filter:
    """A predicate's allow-list, valid while the collection's version is unchanged."""

    __slots__ = ("labels", "bitmap", "sub_vectors", "sub_sqnorms")

    def __init__(self, labels: np.ndarray) -> None:
        self.labels = labels
        self.bitmap: np.ndarray | None = None
        self.sub_vectors: np.ndarray | None = None
        self.sub_sqnorms: np.ndarray | None = None


class Collection:
    """Vectors with metadata rows; get one from :meth:`vecdb.Database.create_collection`.

    >>> import vecdb
    >>> db = vecdb.connect()
    >>> docs = db.create_collection("docs", dim=3)
    >>> docs.upsert(ids=[1], vectors=[[1, 2, 3]])
    1
    >>> docs.count(), docs.get([1])[0].vector.tolist()
    (1, [1.0, 2.0, 3.0])
    >>> db.close()
    """

    def __init__(self, db: Database, spec: CollectionSpec, seq: int) -> None:
        self._db = db
        self._spec = spec
        self._seq = seq
        self._ckpt_seq = -1
        self._rows_since_ckpt = 0
        self._rw = _RWLock()
        self._write_lock = threading.RLock()
        self._version = 0
        self._filters: OrderedDict[Any, tuple[int, _Filter]] = OrderedDict()
        self._table = _q(spec.name)
        self._log = f"_vecdb.{_q('log_' + spec.name)}"
        self._col_types = dict(spec.columns)
        self._dropped = False
        self.store = VectorStore(spec.dim, spec.id_type)  # type: ignore[arg-type]
        self.index = INDEX_TYPES[spec.index](spec.dim, spec.metric, spec.index_params, self.store)

    # ---- properties ----------------------------------------------------------------------
    @property
    def index(self) -> VectorIndex:
        """The live index object (replaced on compact, rebuild and set_index)."""
        return self._index

    @index.setter
    def index(self, value: VectorIndex) -> None:
        self._index = value
        self._hot: HnswIndex | None = value if isinstance(value, HnswIndex) else None

    @property
    def name(self) -> str:
        return self._spec.name

    @property
    def dim(self) -> int:
        return self._spec.dim

    @property
    def metric(self) -> str:
        return self._spec.metric

    @property
    def index_kind(self) -> str:
        """The ANN index backend: ``"hnsw"``, ``"ivf"`` or ``"exact"``."""
        return self._spec.index

    @property
    def index_params(self) -> dict[str, Any]:
        return self.index.describe()

    @property
    def columns(self) -> dict[str, str]:
        return dict(self._spec.columns)

    @property
    def id_type(self) -> str:
        return self._spec.id_type

    def describe(self) -> dict[str, Any]:
        """The collection's definition and row count.

        >>> import vecdb
        >>> vecdb.connect().create_collection("d", dim=2, index="exact").describe()["index"]
        'exact'
        """
        return {
            "name": self.name,
            "dim": self.dim,
            "metric": self.metric,
            "index": self.index_kind,
            "index_params": self.index_params,
            "columns": self.columns,
            "id_type": self.id_type,
            "count": self.count(),
        }

    def __repr__(self) -> str:
        return (
            f"Collection({self.name!r}, dim={self.dim}, metric={self.metric!r}, "
            f"index={self.index_kind!r})"
        )

    def _check_open(self) -> None:
        if self._dropped:
            raise NotFoundError(f"collection {self.name!r} was dropped")
        self._db._check_open()

    # ---- loading -------------------------------------------------------------------------
    def _index_dir(self) -> Path | None:
        root = self._db._root
        return None if root is None else root / "index" / self.name

    def _load(self) -> None:
        """Bring the in-memory store and index up to DuckDB: checkpoint + catch-up, or rebuild."""
        cur = self._db._cursor()
        directory = self._index_dir()
        ck = read_checkpoint(directory, self._spec.config()) if directory else None
        if ck is not None:
            try:
                seq, path = ck
                self.store = VectorStore.load(path, self.dim, self.id_type)  # type: ignore[arg-type]
                self.index = INDEX_TYPES[self.index_kind](
                    self.dim, self.metric, self._spec.index_params, self.store
                )
                self.index.load(path)
                self._catch_up(cur, seq)
                self._ckpt_seq = seq
                n = cur.execute(f"SELECT count(*) FROM {self._table}").fetchall()[0][0]
                if n == self.store.n_alive:
                    return
            except (OSError, ValueError, RuntimeError):
                pass  # unreadable checkpoint: rebuild below
        self._rebuild_from_duckdb(cur)
        if directory is not None and self.store.n_alive:
            self.checkpoint()

    def _catch_up(self, cur: duckdb.DuckDBPyConnection, since: int) -> None:
        changed = cur.execute(
            f"SELECT DISTINCT id FROM {self._log} WHERE seq > ?", [since]
        ).fetchnumpy()["id"]
        if len(changed):
            self._resync(cur, np.asarray(changed))

    def _resync(self, cur: duckdb.DuckDBPyConnection, ids: np.ndarray) -> None:
        """Make the in-memory state of ``ids`` match DuckDB (present -> upsert, absent -> drop)."""
        self._apply(*self._read_current(cur, ids))

    def _read_current(
        self, cur: duckdb.DuckDBPyConnection, ids: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What DuckDB now holds for ``ids``: the present ids with their prepared (checked,
        normalized under cosine) vectors, and the ids that are gone."""
        tbl = _arrow(
            cur,
            f"SELECT id, vec FROM {self._table} WHERE id IN (SELECT unnest($ids))",
            {"ids": ids.tolist()},
        )
        found_ids, vectors = self._arrow_vectors(tbl)
        prepared = self._prepare(as_matrix(vectors, self.dim))
        present = set(found_ids.tolist())
        gone = np.asarray([i for i in ids.tolist() if i not in present], dtype=ids.dtype)
        return found_ids, prepared, gone

    def _arrow_vectors(self, tbl: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        ids = tbl.column("id").to_numpy(zero_copy_only=False)
        if self.id_type == "str":
            ids = ids.astype(object)
        vec = tbl.column("vec").combine_chunks()
        if len(vec) == 0:
            return ids, np.zeros((0, self.dim), dtype=np.float32)
        flat = vec.values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        return ids, flat.reshape(len(vec), self.dim)

    def _prepare(self, vectors: np.ndarray) -> np.ndarray:
        return normalize(vectors) if self.metric == "cosine" else vectors

    def _rebuild_from_duckdb(self, cur: duckdb.DuckDBPyConnection) -> None:
        n = cur.execute(f"SELECT count(*) FROM {self._table}").fetchall()[0][0]
        show = n >= 100_000 and sys.stderr.isatty()
        t0 = time.perf_counter()
        store = VectorStore(self.dim, self.id_type, capacity=max(n, 16))  # type: ignore[arg-type]
        reader = cur.sql(f"SELECT id, vec FROM {self._table}").to_arrow_reader(100_000)
        done = 0
        for batch in reader:
            ids, vecs = self._arrow_vectors(pa.Table.from_batches([batch]))
            store.upsert(ids, self._prepare(vecs))
            done += len(ids)
            if show:
                print(f"\rvecdb: loading {self.name}: {done}/{n} rows", end="", file=sys.stderr)
        self.store = store
        self.index = INDEX_TYPES[self.index_kind](
            self.dim, self.metric, self._spec.index_params, store
        )
        if show:
            print(f"\rvecdb: indexing {self.name}: {n} rows ...", end="", file=sys.stderr)
        self.index.rebuild()
        if show:
            print(f" done in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        self._version += 1

    def checkpoint(self) -> None:
        """Write the index and vector store to disk, covering every write so far."""
        directory = self._index_dir()
        if directory is None or self._dropped:
            return
        with self._write_lock, self._rw.read():
            seq = self._seq

            def save(path: Path) -> list[str]:
                return self.store.save(path) + self.index.save(path)

            write_checkpoint(directory, seq, self._spec.config(), save)
            self._ckpt_seq = seq
            self._rows_since_ckpt = 0
            self._db._cursor().execute(f"DELETE FROM {self._log} WHERE seq <= ?", [seq])

    # ---- writes --------------------------------------------------------------------------
    def add(self, ids: Any = None, vectors: Any = None, rows: Any = None) -> int:
        """Insert new rows; an id that already exists is an error and nothing is written.

        ``ids`` may instead be a pandas/Arrow/Polars table with ``id`` and ``vec`` columns.

        >>> import vecdb
        >>> c = vecdb.connect().create_collection("c", dim=2, index="exact")
        >>> c.add([1], [[1, 0]]); c.add([1], [[0, 1]])
        Traceback (most recent call last):
        ...
        vecdb.errors.AlreadyExistsError: ids already exist: [1]; use upsert() to replace them
        1
        """
        return self._write(ids, vectors, rows, replace=False)

    def upsert(self, ids: Any = None, vectors: Any = None, rows: Any = None) -> int:
        """Insert rows, replacing any row with the same id (vector and all columns).

        >>> import vecdb
        >>> c = vecdb.connect().create_collection("c", dim=2, index="exact")
        >>> c.upsert([1], [[1, 0]]), c.upsert([1], [[0, 1]]), c.count()
        (1, 1, 1)
        """
        return self._write(ids, vectors, rows, replace=True)

    def _write(self, ids: Any, vectors: Any, rows: Any, *, replace: bool) -> int:
        self._check_open()
        table_cols: dict[str, Any] = {}
        if (
            ids is not None
            and not isinstance(ids, (list, tuple, np.ndarray, range))
            and (hasattr(ids, "columns") or hasattr(ids, "column_names"))
        ):
            if vectors is not None or rows is not None:
                raise InvalidArgumentError("pass either a table or ids/vectors/rows, not both")
            ids, vectors, table_cols = table_to_parts(ids, self._col_types)
        id_arr = as_ids(ids, self.id_type)
        if vectors is None:
            raise InvalidArgumentError("vectors are required: one vector per id")
        mat = as_matrix(vectors, self.dim)
        if len(mat) != len(id_arr):
            raise InvalidArgumentError(
                f"got {len(id_arr)} ids but {len(mat)} vectors; pass one vector per id"
            )
        prepared = self._prepare(mat)
        cols = table_cols or rows_to_columns(rows, len(id_arr), self._col_types)
        if len(id_arr) == 0:
            return 0
        arrays: dict[str, Any] = {
            "id": pa.array(id_arr.tolist() if self.id_type == "str" else id_arr)
        }
        for name in self._col_types:
            value = cols.get(name)
            if value is None:
                arrays[name] = pa.nulls(len(id_arr))
            elif isinstance(value, pa.Array):
                arrays[name] = value
            else:
                try:
                    arrays[name] = pa.array(value)
                except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as e:
                    raise InvalidArgumentError(
                        f"column {name!r} ({self._col_types[name]}) has values of mixed or "
                        f"unsupported types: {e}"
                    ) from e
        arrays["vec"] = pa.FixedSizeListArray.from_arrays(pa.array(mat.reshape(-1)), self.dim)
        batch = pa.table(arrays)
        with self._write_lock:
            self._check_open()
            if not replace:
                exists = self.store.contains(id_arr)
                if exists.any():
                    shown = id_arr[exists][:5].tolist()
                    raise AlreadyExistsError(
                        f"ids already exist: {shown}; use upsert() to replace them"
                    )
            names = ", ".join(_q(c) for c in batch.column_names)
            verb = "INSERT OR REPLACE" if replace else "INSERT"
            cur = self._db._cursor()
            cur.register("__vecdb_in", batch)
            try:
                with self._transaction("write") as (cur, seq):
                    cur.execute(
                        f"{verb} INTO {self._table} ({names}) SELECT {names} FROM __vecdb_in"
                    )
                    cur.execute(f"INSERT INTO {self._log} SELECT {seq}, id FROM __vecdb_in")
            finally:
                cur.unregister("__vecdb_in")
            self._apply(id_arr, prepared, None)
            self._after_write(len(id_arr))
        return len(id_arr)

    @contextmanager
    def _transaction(self, what: str) -> Iterator[tuple[duckdb.DuckDBPyConnection, int]]:
        """A DuckDB transaction that also advances the collection's write sequence."""
        cur = self._db._cursor()
        seq = self._seq + 1
        cur.execute("BEGIN TRANSACTION")
        try:
            yield cur, seq
            cur.execute("UPDATE _vecdb.collections SET seq = ? WHERE name = ?", [seq, self.name])
            cur.execute("COMMIT")
        except BaseException as e:
            cur.execute("ROLLBACK")
            if isinstance(e, duckdb.Error):
                raise map_duckdb_error(e, what) from e
            raise
        self._seq = seq

    def _apply(self, ids: np.ndarray, prepared: np.ndarray, gone: np.ndarray | None) -> None:
        """Apply committed changes to the in-memory store and index, atomically for readers."""
        with self._rw.write():
            if gone is not None and len(gone):
                killed = self.store.remove(gone)
                self.index.remove(killed)
            if len(ids):
                labels = self.store.upsert(ids, prepared)
                self.index.add(labels, prepared)
            self._version += 1
            self._filters.clear()

    def _after_write(self, n_rows: int) -> None:
        self._rows_since_ckpt += n_rows
        store = self.store
        if store.n_dead >= COMPACT_MIN_DEAD and store.n_dead > COMPACT_RATIO * store.n_labels:
            self.compact()
        elif self._rows_since_ckpt >= CHECKPOINT_EVERY:
            self.checkpoint()

    def delete(self, ids: Any = None, where: str | None = None, params: Any = None) -> int:
        """Delete rows by id or by a SQL predicate; returns how many rows were deleted.

        >>> import vecdb
        >>> c = vecdb.connect().create_collection("c", dim=1, index="exact",
        ...                                       columns={"y": "INTEGER"})
        >>> c.add([1, 2, 3], [[1], [2], [3]], [{"y": 1}, {"y": 2}, {"y": 3}])
        3
        >>> c.delete(ids=[1]), c.delete(where="y >= $min", params={"min": 3}), c.count()
        (1, 1, 1)
        """
        self._check_open()
        if (ids is None) == (where is None):
            raise InvalidArgumentError("pass exactly one of ids= or where=")
        if ids is not None:
            id_arr = as_ids(ids, self.id_type)
            if len(id_arr) == 0:
                return 0
            sql = f"DELETE FROM {self._table} WHERE id IN (SELECT unnest($__ids)) RETURNING id"
            args: Any = {"__ids": id_arr.tolist()}
        else:
            pred = self._check_predicate(where)
            sql = f"DELETE FROM {self._table} WHERE ({pred}) RETURNING id"
            args = params
        return len(self._execute_dml(sql, args))

    def _execute_dml(self, sql: str, params: Any = None) -> list[Any]:
        """Run one INSERT/UPDATE/DELETE on this collection's table ending in ``RETURNING id``.

        Atomic: the touched rows are validated, logged and committed together, then the index
        follows. Returns the touched ids (for the SQL layer and delete()).
        """
        self._check_open()
        with self._write_lock:
            with self._transaction("statement") as (cur, seq):
                touched = cur.execute(sql, params).fetchall()
                ids = np.asarray(
                    [t[0] for t in touched], dtype=object if self.id_type == "str" else np.int64
                )
                current = None
                if len(ids):
                    current = self._read_current(cur, ids)  # validates before the commit
                    cur.execute(
                        f"INSERT INTO {self._log} SELECT {seq}, unnest($ids)",
                        {"ids": ids.tolist()},
                    )
            if current is not None:
                self._apply(*current)
                self._after_write(len(ids))
        return ids.tolist()

    def compact(self) -> None:
        """Rebuild the index over live rows only, reclaiming deleted entries; checkpoint it."""
        self._check_open()
        with self._write_lock:
            old = self.store
            live = old.live_labels()
            store = VectorStore(self.dim, self.id_type, capacity=max(len(live), 16))  # type: ignore[arg-type]
            store.upsert(old.ids[live], old.vectors[live])
            index = INDEX_TYPES[self.index_kind](
                self.dim, self.metric, self._spec.index_params, store
            )
            index.rebuild()
            with self._rw.write():
                self.store, self.index = store, index
                self._version += 1
                self._filters.clear()
            self.checkpoint()

    def set_index(
        self, index: str, metric: str | None = None, index_params: dict[str, Any] | None = None
    ) -> None:
        """Switch the ANN index (rebuilt from the stored vectors).

        >>> import vecdb
        >>> c = vecdb.connect().create_collection("c", dim=2, index="exact")
        >>> c.set_index("hnsw", index_params={"m": 8}); c.index_kind
        'hnsw'
        """
        self._check_open()
        self._db._set_index(self, index, metric, index_params)

    # ---- reads ---------------------------------------------------------------------------
    def count(self, where: str | None = None, params: Any = None) -> int:
        """Number of rows (matching ``where`` when given)."""
        self._check_open()
        if where is None:
            return self.store.n_alive
        pred = self._check_predicate(where)
        try:
            return int(
                self._db._cursor()
                .execute(f"SELECT count(*) FROM {self._table} WHERE ({pred})", params)
                .fetchall()[0][0]
            )
        except duckdb.Error as e:
            raise map_duckdb_error(e, "where") from e

    def get(self, ids: Any, include: Any = None) -> list[Record]:
        """Rows by id, in the order asked; ids that do not exist are left out.

        >>> import vecdb
        >>> c = vecdb.connect().create_collection("c", dim=2, index="exact")
        >>> _ = c.add([5], [[1, 2]])
        >>> [(r.id, r.vector.tolist(), r.row) for r in c.get([5, 6])]
        [(5, [1.0, 2.0], {})]
        """
        self._check_open()
        id_arr = as_ids(ids, self.id_type)
        cols = self._include(include if include is not None else "*")
        select = ", ".join(["id", "vec", *(_q(c) for c in cols)])
        tbl = _arrow(
            self._db._cursor(),
            f"SELECT {select} FROM {self._table} WHERE id IN (SELECT unnest($ids))",
            {"ids": id_arr.tolist()},
        )
        got_ids, vectors = self._arrow_vectors(tbl)
        col_data = [tbl.column(c).to_pylist() for c in cols]
        by_id = {
            i: Record(i, vectors[j], {c: col_data[n][j] for n, c in enumerate(cols)})
            for j, i in enumerate(got_ids.tolist())
        }
        return [by_id[i] for i in id_arr.tolist() if i in by_id]

    def _include(self, include: Any) -> list[str]:
        if include is None:
            return []
        if include == "*":
            return list(self._col_types)
        if isinstance(include, str):
            include = [include]
        out = []
        for c in include:
            if c not in self._col_types:
                raise NotFoundError(
                    f"unknown column {c!r} in include; the collection's columns are "
                    f"{list(self._col_types)}"
                )
            out.append(c)
        return out

    def _check_predicate(self, where: Any) -> str:
        """The DuckDB text of ``where``, regenerated from its checked parse tree."""
        from vecdb.sql.predicate import compile_predicate

        return compile_predicate(where, confined=self._db.confined).sql

    def _filter(self, where: str, params: Any) -> _Filter:
        key = (where, _freeze(params))
        hit = self._filters.get(key)
        version = self._version
        if hit is not None and hit[0] == version:
            try:
                self._filters.move_to_end(key)
            except KeyError:  # evicted by a concurrent reader meanwhile; still valid
                pass
            return hit[1]
        pred = self._check_predicate(where)
        try:
            res = (
                self._db._cursor()
                .execute(f"SELECT id FROM {self._table} WHERE ({pred})", params)
                .fetchnumpy()["id"]
            )
        except duckdb.Error as e:
            raise map_duckdb_error(e, "where") from e
        labels = self.store.labels_for_ids(np.asarray(res))
        labels = np.sort(labels[labels >= 0])
        f = _Filter(labels)
        self._filters[key] = (version, f)
        while len(self._filters) > FILTER_CACHE_SIZE:
            try:
                self._filters.popitem(last=False)
            except KeyError:  # emptied by a concurrent reader
                break
        return f

    def _prep_queries(self, query: Any) -> tuple[np.ndarray, bool]:
        try:
            arr = np.asarray(query, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise InvalidArgumentError(
                f"query must be a vector of floats or a matrix of them ({e})"
            ) from e
        single = arr.ndim == 1
        q = as_matrix(arr[None, :] if single else arr, self.dim, "query")
        if self.metric == "cosine":
            q = normalize(q, "query")
        return q, single

    def search(
        self,
        query: Any,
        k: int = 10,
        where: str | None = None,
        params: Any = None,
        include: Any = None,
        ef: int | None = None,
        nprobe: int | None = None,
    ) -> list[Hit] | list[list[Hit]]:
        """The ``k`` nearest rows to ``query`` (among rows matching ``where``).

        A 1-D query returns a list of :class:`Hit`; a 2-D matrix returns one list per row.
        Each list holds ``min(k, matching rows)`` hits, nearest first. ``include`` names the
        columns to return in ``Hit.row`` (``"*"`` for all); by default rows are not fetched.
        ``ef`` (hnsw) and ``nprobe`` (ivf) trade speed for recall on this call only.

        >>> import vecdb
        >>> c = vecdb.connect().create_collection("c", dim=2, metric="l2", index="exact",
        ...                                       columns={"y": "INTEGER"})
        >>> _ = c.add([1, 2], [[0, 0], [3, 4]], [{"y": 2020}, {"y": 2024}])
        >>> c.search([0, 0], k=5, where="y > 2021", include=["y"])
        [Hit(id=2, distance=5.0, row={'y': 2024})]
        """
        if (
            where is None
            and include is None
            and self._hot is not None
            and (ef is None or type(ef) is int and ef > 0)
            and type(query) is np.ndarray
            and query.dtype == np.float32
            and query.ndim == 1
            and type(k) is int
            and 0 < k <= MAX_K
            and query.shape[0] == self._spec.dim
        ):
            hits = self._search_hot(query, k, ef)
            if hits is not None:
                return hits
        self._check_open()
        q, single = self._prep_queries(query)
        k = check_k(k)
        knob = check_knob("ef", ef) if self.index_kind == "hnsw" else None
        if self.index_kind == "ivf":
            knob = check_knob("nprobe", nprobe)
        cols = self._include(include)
        ids, dists, _ = self._run(q, k, where, params, knob)
        rows = self._fetch_rows(ids, cols) if cols else None
        out = []
        for id_row, d_row in zip(ids, dists):
            id_list = id_row.tolist()
            d_list = d_row.tolist()
            if rows is None:
                out.append([Hit(i, d, None) for i, d in zip(id_list, d_list)])
            else:
                out.append([Hit(i, d, rows.get(i)) for i, d in zip(id_list, d_list)])
        return out[0] if single else out

    def _probe_hot(
        self, query: np.ndarray, k: int, ef: int | None
    ) -> tuple[np.ndarray, np.ndarray, int] | None:
        """Unfiltered single query on an HNSW index: no planner, no copies, no DuckDB.

        Returns ids, distances and the live row count, or ``None`` to send the call down the
        general path (bad input, closed database, an index that cannot answer), which then
        raises or falls back as usual.
        """
        norm2 = float(query.dot(query))
        if not 0.0 < norm2 < math.inf or self._dropped or self._db._closed:
            return None
        rw = self._rw
        rw.acquire_read()
        try:
            store, index = self.store, self._hot  # swapped together under the write lock
            n = store.n_alive
            kk = k if k <= n else n
            if kk == 0 or index is None:
                return None
            res = index.search_one(query, kk, ef)
            if res is None:
                return None
            labels, dists = res
            # hnswlib labels are uint64; viewed as int64 the gather is ~5x cheaper
            return store.ids[labels[0].view(np.int64)], dists[0], n
        finally:
            rw.release_read()

    def _search_hot(self, query: np.ndarray, k: int, ef: int | None) -> list[Hit] | None:
        """:meth:`search` for the hot path (see :meth:`_probe_hot`), as Hit tuples."""
        res = self._probe_hot(query, k, ef)
        if res is None:
            return None
        return list(map(_new_hit, zip(res[0].tolist(), res[1].tolist(), repeat(None))))

    def explain(
        self,
        query: Any,
        k: int = 10,
        where: str | None = None,
        params: Any = None,
        ef: int | None = None,
        nprobe: int | None = None,
    ) -> dict[str, Any]:
        """How :meth:`search` would run this query: strategy, matching rows, parameters."""
        self._check_open()
        q, _ = self._prep_queries(query)
        knob = check_knob("ef", ef) if self.index_kind == "hnsw" else check_knob("nprobe", nprobe)
        _, _, info = self._run(q, check_k(k), where, params, knob)
        return info

    def _search_plan(
        self,
        queries: np.ndarray,
        k: int,
        where: str | None = None,
        params: Any = None,
        ef: int | None = None,
        nprobe: int | None = None,
    ) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, Any]]:
        """Hook for the SQL layer: ids and exact distances per query, and the plan info."""
        hot = self._hot
        if (
            where is None
            and hot is not None
            and type(queries) is np.ndarray
            and queries.dtype == np.float32
            and queries.shape == (1, self._spec.dim)
        ):
            res = self._search_plan_hot(queries[0], k, ef)
            if res is not None:
                return res
        self._check_open()
        q, _ = self._prep_queries(queries)
        knob = ef if self.index_kind == "hnsw" else nprobe
        return self._run(q, k, where, params, knob)

    def _search_plan_hot(
        self, query: np.ndarray, k: int, ef: int | None
    ) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, Any]] | None:
        """``_search_plan`` for one unfiltered query on HNSW, without the planner."""
        res = self._probe_hot(query, k, ef)
        if res is None:
            return None
        ids, dists, n = res
        info = {
            "strategy": "index",
            "estimated_rows": n,
            "matching_rows": n,
            "total_rows": n,
            "k": k,
            "candidates": len(ids),
            "index": "hnsw",
            "index_params": self.index.describe(),
            "fallbacks": 0,
        }
        return [ids], [dists], info

    def _run(
        self, q: np.ndarray, k: int, where: str | None, params: Any, knob: int | None
    ) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, Any]]:
        with self._rw.read():
            f = self._filter(where, params) if where is not None else None
            labels, dists, info = planner.search(self.store, self.index, q, k, f, knob)
            ids_all = self.store.ids
            ids = [ids_all[row] for row in labels]
        return ids, dists, info

    def _fetch_rows(self, ids: list[np.ndarray], cols: list[str]) -> dict[Any, dict[str, Any]]:
        flat = [i for row in ids for i in row.tolist()]
        if not flat:
            return {}
        select = ", ".join(["id", *(_q(c) for c in cols)])
        tbl = _arrow(
            self._db._cursor(),
            f"SELECT {select} FROM {self._table} WHERE id IN (SELECT unnest($ids))",
            {"ids": flat},
        )
        got = tbl.column("id").to_pylist()
        data = [tbl.column(c).to_pylist() for c in cols]
        return {i: {c: data[n][j] for n, c in enumerate(cols)} for j, i in enumerate(got)}


def _arrow(cur: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> pa.Table:
    """Run a query and take its rows as Arrow (no extra copy, unlike execute().to_arrow)."""
    return cur.sql(sql, params=params).to_arrow_table()


def _freeze(params: Any) -> Any:
    if params is None:
        return None
    if isinstance(params, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in params.items()))
    if isinstance(params, (list, tuple)):
        return tuple(_freeze(v) for v in params)
    if isinstance(params, np.ndarray):
        return (params.dtype.str, params.shape, params.tobytes())
    try:
        hash(params)
    except TypeError:
        return json.dumps(params, default=str, sort_keys=True)
    return params
