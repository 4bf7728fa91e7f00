"""The database: a catalog of collections over one DuckDB file and its index checkpoints.

>>> import vecdb
>>> with vecdb.connect() as db:
...     _ = db.create_collection("a", dim=2)
...     _ = db.create_collection("b", dim=3, metric="l2", index="exact")
...     db.list_collections()
['a', 'b']
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import duckdb

from vecdb._input import check_spec
from vecdb.collection import Collection, CollectionContext
from vecdb.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    NotFoundError,
    VecdbError,
    from_duckdb,
)
from vecdb.live_index import LiveIndex
from vecdb.result import Result
from vecdb.sql import run_sql
from vecdb.storage.checkpoint import remove_checkpoints
from vecdb.storage.lock import DirLock
from vecdb.storage.table import CollectionTable, create_catalog, read_catalog
from vecdb.types import IdType, IndexKind, Metric

__all__ = ["Database"]


class Database:
    """Collections of vectors and rows in one DuckDB database; see :func:`vecdb.connect`."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        confined: bool = False,
        memory_limit: str | None = None,
    ):
        self.confined = confined
        self._closed = False
        self._lock: DirLock | None = None
        self._local = threading.local()
        self._catalog_lock = threading.RLock()
        if path is None or str(path) == ":memory:":
            self._root: Path | None = None
            self.path: str | None = None
            target = ":memory:"
        else:
            self._root = Path(path)
            self._root.mkdir(parents=True, exist_ok=True)
            self.path = str(self._root)
            self._lock = DirLock(self._root)
            self._lock.acquire()
            target = str(self._root / "vecdb.duckdb")
        self._ctx = CollectionContext(self._cursor, self._root, confined, self._is_closed)
        try:
            config: dict[str, Any] = {}
            if memory_limit is not None:
                config["memory_limit"] = str(memory_limit)
            try:
                self._con = duckdb.connect(target, config=config)
            except duckdb.Error as e:
                if memory_limit is None:
                    raise
                raise InvalidArgumentError(
                    f"memory_limit={memory_limit!r} is not a size DuckDB accepts "
                    f"(write it like '1GB' or '512MB'): {e}"
                ) from e
            create_catalog(self._con)
            if confined:
                self._con.execute("SET enable_external_access = false")
                self._con.execute("SET lock_configuration = true")
            self._collections: dict[str, Collection] = {}
            for spec, seq in read_catalog(self._con):
                coll = Collection(self._ctx, spec, seq)
                coll.load()
                self._collections[spec.name] = coll
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise

    # ---- plumbing ------------------------------------------------------------------------
    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection for the calling thread (DuckDB connections are not shared)."""
        cur = getattr(self._local, "cur", None)
        if cur is None:
            self._check_open()
            cur = self._con.cursor()
            self._local.cur = cur
        return cur

    def _is_closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise InvalidArgumentError("the database is closed; open it again with vecdb.connect")

    # ---- catalog -------------------------------------------------------------------------
    def create_collection(
        self,
        name: str,
        dim: int,
        metric: Metric = "cosine",
        index: IndexKind = "hnsw",
        index_params: dict[str, Any] | None = None,
        columns: dict[str, str] | None = None,
        id_type: IdType = "int",
        exist_ok: bool = False,
    ) -> Collection:
        """Create a collection: a table ``name(id, *columns, vec FLOAT[dim])`` and its index.

        With ``exist_ok=True`` an existing collection of the same definition is returned.

        >>> import vecdb
        >>> db = vecdb.connect()
        >>> db.create_collection("docs", dim=4, metric="l2", index="ivf",
        ...                      index_params={"nlist": 8}, columns={"title": "VARCHAR"})
        Collection('docs', dim=4, metric='l2', index='ivf')
        """
        self._check_open()
        spec = check_spec(name, dim, metric, index, index_params, columns, id_type)
        LiveIndex.check_spec(spec)  # the backend's own checks, before anything is written
        with self._catalog_lock:
            existing = self._collections.get(name)
            if existing is not None:
                if exist_ok and existing.spec == spec:
                    return existing
                if exist_ok:
                    raise AlreadyExistsError(
                        f"collection {name!r} exists with a different definition "
                        f"({existing.describe()}); drop it or use another name"
                    )
                raise AlreadyExistsError(
                    f"collection {name!r} already exists; use get_collection({name!r}) or "
                    "exist_ok=True"
                )
            if self._root is not None:
                # a crash inside an earlier drop_collection can leave that collection's
                # checkpoint behind; it must never be mistaken for this new one's
                remove_checkpoints(self._root / "index" / name)
            cur = self._cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                CollectionTable.create(cur, spec)
                cur.execute("COMMIT")
            except duckdb.Error as e:
                cur.execute("ROLLBACK")
                if isinstance(e, duckdb.CatalogException) and "already exists" in str(e):
                    raise AlreadyExistsError(
                        f"a table named {name!r} already exists in the database; "
                        "pick another collection name"
                    ) from e
                err = from_duckdb(e, f"create_collection {name!r}")
                if not isinstance(err, InvalidArgumentError):
                    err = InvalidArgumentError(str(err))
                raise err from e
            coll = Collection(self._ctx, spec, seq=0)
            self._collections[name] = coll
            return coll

    def get_collection(self, name: str) -> Collection:
        """The collection called ``name``, or :class:`NotFoundError`."""
        self._check_open()
        coll = self._collections.get(name)
        if coll is None:
            raise NotFoundError(
                f"collection {name!r} does not exist; existing: {self.list_collections()}"
            )
        return coll

    def list_collections(self) -> list[str]:
        """Names of all collections, sorted."""
        self._check_open()
        return sorted(self._collections)

    def drop_collection(self, name: str, missing_ok: bool = False) -> None:
        """Delete a collection, its rows and its index files."""
        self._check_open()
        with self._catalog_lock:
            coll = self._collections.get(name)
            if coll is None:
                if missing_ok:
                    return
                raise NotFoundError(f"collection {name!r} does not exist")
            coll.drop()
            del self._collections[name]

    # ---- SQL -----------------------------------------------------------------------------
    def sql(self, query: str, params: Any = None, *, read_only: bool = False) -> Result:
        """Run SQL; ``ORDER BY cosine(vec, ?) LIMIT k`` is a filtered vector search.

        ``read_only=True`` refuses anything but queries (decided from DuckDB's statement
        kind) and runs them in a read-only transaction that is rolled back.

        >>> import vecdb
        >>> db = vecdb.connect()
        >>> db.sql("SELECT 1 + 1 AS two").fetchall()
        [(2,)]
        """
        self._check_open()
        return run_sql(self, query, params, read_only=read_only)

    # ---- lifecycle -----------------------------------------------------------------------
    def checkpoint(self) -> None:
        """Write every collection's index checkpoint now (close() does this too)."""
        self._check_open()
        self._checkpoint_changed(best_effort=False)

    def _checkpoint_changed(self, best_effort: bool) -> None:
        for coll in list(self._collections.values()):
            try:
                coll.checkpoint(if_changed=True)
            except (OSError, VecdbError, duckdb.Error):
                if not best_effort:
                    raise  # on close, the index is rebuilt from DuckDB on the next open

    def close(self) -> None:
        """Checkpoint the indexes, close DuckDB and release the directory lock (idempotent)."""
        if self._closed:
            return
        try:
            if self._root is not None:
                self._checkpoint_changed(best_effort=True)
            self._con.close()
        finally:
            self._closed = True
            if self._lock is not None:
                self._lock.release()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.path or ":memory:"
        return f"Database({where!r}, collections={len(self._collections)})"
