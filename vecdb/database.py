"""The database: a catalog of collections over one DuckDB file and its index checkpoints.

>>> import vecdb
>>> with vecdb.connect() as db:
...     _ = db.create_collection("a", dim=2)
...     _ = db.create_collection("b", dim=3, metric="l2", index="exact")
...     db.list_collections()
['a', 'b']
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Literal

import duckdb

from vecdb._input import check_name
from vecdb.collection import Collection, CollectionSpec, _q, map_duckdb_error
from vecdb.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    NotFoundError,
    VecdbError,
)
from vecdb.index import INDEX_TYPES
from vecdb.storage.checkpoint import remove_checkpoints
from vecdb.storage.lock import DirLock

__all__ = ["Database", "connect"]

Metric = Literal["cosine", "l2", "ip"]
IndexKind = Literal["hnsw", "ivf", "exact"]
IdType = Literal["int", "str"]
METRICS = ("cosine", "l2", "ip")

_CATALOG_DDL = """
CREATE SCHEMA IF NOT EXISTS _vecdb;
CREATE TABLE IF NOT EXISTS _vecdb.collections (
    name VARCHAR PRIMARY KEY,
    dim INTEGER NOT NULL,
    metric VARCHAR NOT NULL,
    index_kind VARCHAR NOT NULL,
    index_params VARCHAR NOT NULL,
    columns VARCHAR NOT NULL,
    id_type VARCHAR NOT NULL,
    seq BIGINT NOT NULL
);
"""


def connect(
    path: str | os.PathLike[str] | None = None,
    *,
    confined: bool = False,
    api_key: str | None = None,
    timeout: float | None = None,
    root_certificates: bytes | str | os.PathLike[str] | None = None,
) -> Any:
    """Open a database: in memory (``None`` or ``":memory:"``), a directory, or a server.

    ``"grpc://host:port"`` (``grpcs://`` for TLS) returns a remote database with the same API
    (``api_key`` and ``timeout`` apply to it; ``root_certificates``, PEM bytes or a file
    path, is the CA a ``grpcs://`` server's certificate is checked against).
    ``confined=True`` refuses SQL that reaches files, the network, extensions or settings,
    as the server does.

    >>> import vecdb
    >>> db = vecdb.connect()
    >>> db.path is None
    True
    >>> db.close()
    """
    if isinstance(path, str) and path.startswith(("grpc://", "grpcs://")):
        from vecdb.client import connect_remote

        return connect_remote(
            path, api_key=api_key, timeout=timeout, root_certificates=root_certificates
        )
    return Database(path, confined=confined)


class Database:
    """Collections of vectors and rows in one DuckDB database; see :func:`connect`."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, confined: bool = False):
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
        try:
            self._con = duckdb.connect(target)
            self._con.execute(_CATALOG_DDL)
            if confined:
                self._con.execute("SET enable_external_access = false")
                self._con.execute("SET lock_configuration = true")
            self._collections: dict[str, Collection] = {}
            for row in self._con.execute(
                "SELECT name, dim, metric, index_kind, index_params, columns, id_type, seq "
                "FROM _vecdb.collections ORDER BY name"
            ).fetchall():
                spec = CollectionSpec(
                    name=row[0],
                    dim=row[1],
                    metric=row[2],
                    index=row[3],
                    index_params=json.loads(row[4]),
                    columns=dict(json.loads(row[5])),
                    id_type=row[6],
                )
                coll = Collection(self, spec, seq=row[7])
                coll._load()
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

    def _check_open(self) -> None:
        if self._closed:
            raise InvalidArgumentError("the database is closed; open it again with vecdb.connect")

    def _confine_predicate(self, where: str) -> None:
        from vecdb.sql import check_predicate

        check_predicate(where)

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
        check_name("collection", name)
        if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= 65_536:
            raise InvalidArgumentError(f"dim must be an integer from 1 to 65536, got {dim!r}")
        if metric not in METRICS:
            raise InvalidArgumentError(f"metric must be one of {list(METRICS)}, got {metric!r}")
        if index not in INDEX_TYPES:
            raise InvalidArgumentError(f"index must be one of {sorted(INDEX_TYPES)}, got {index!r}")
        if id_type not in ("int", "str"):
            raise InvalidArgumentError(f"id_type must be 'int' or 'str', got {id_type!r}")
        if index_params is not None and not isinstance(index_params, dict):
            raise InvalidArgumentError("index_params must be a dict")
        params = INDEX_TYPES[index].check_params(index_params or {})
        cols: dict[str, str] = {}
        for cname, ctype in (columns or {}).items():
            check_name("column", cname)
            if cname.lower() in ("id", "vec"):
                raise InvalidArgumentError(
                    f"column name {cname!r} is reserved for the id and the vector"
                )
            if not isinstance(ctype, str) or not ctype.strip() or ";" in ctype:
                raise InvalidArgumentError(f"column {cname!r} needs a DuckDB type string")
            cols[cname] = ctype.strip()
        spec = CollectionSpec(name, dim, metric, index, params, cols, id_type)
        with self._catalog_lock:
            existing = self._collections.get(name)
            if existing is not None:
                if exist_ok and existing._spec == spec:
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
            id_sql = "BIGINT" if id_type == "int" else "VARCHAR"
            col_sql = "".join(f", {_q(c)} {t}" for c, t in cols.items())
            cur = self._cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                cur.execute(
                    f"CREATE TABLE {_q(name)} (id {id_sql} PRIMARY KEY{col_sql}, "
                    f"vec FLOAT[{dim}] NOT NULL)"
                )
                cur.execute(f"CREATE TABLE _vecdb.{_q('log_' + name)} (seq BIGINT, id {id_sql})")
                cur.execute(
                    "INSERT INTO _vecdb.collections VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
                    [
                        name,
                        dim,
                        metric,
                        index,
                        json.dumps(params),
                        json.dumps(list(cols.items())),
                        id_type,
                    ],
                )
                cur.execute("COMMIT")
            except duckdb.Error as e:
                cur.execute("ROLLBACK")
                if isinstance(e, duckdb.CatalogException) and "already exists" in str(e):
                    raise AlreadyExistsError(
                        f"a table named {name!r} already exists in the database; "
                        "pick another collection name"
                    ) from e
                err = map_duckdb_error(e, f"create_collection {name!r}")
                if not isinstance(err, InvalidArgumentError):
                    err = InvalidArgumentError(str(err))
                raise err from e
            coll = Collection(self, spec, seq=0)
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
            with coll._write_lock:
                cur = self._cursor()
                cur.execute("BEGIN TRANSACTION")
                try:
                    cur.execute(f"DROP TABLE {_q(name)}")
                    cur.execute(f"DROP TABLE _vecdb.{_q('log_' + name)}")
                    cur.execute("DELETE FROM _vecdb.collections WHERE name = ?", [name])
                    cur.execute("COMMIT")
                except duckdb.Error as e:
                    cur.execute("ROLLBACK")
                    raise map_duckdb_error(e, f"drop_collection {name!r}") from e
                coll._dropped = True
                del self._collections[name]
                d = coll._index_dir()
                if d is not None:
                    remove_checkpoints(d)

    def _set_index(
        self, coll: Collection, index: str, metric: str | None, params: dict[str, Any] | None
    ) -> None:
        if index not in INDEX_TYPES:
            raise InvalidArgumentError(f"index must be one of {sorted(INDEX_TYPES)}, got {index!r}")
        metric = metric or coll.metric
        if metric not in METRICS:
            raise InvalidArgumentError(f"metric must be one of {list(METRICS)}, got {metric!r}")
        checked = INDEX_TYPES[index].check_params(params or {})
        spec = CollectionSpec(
            coll.name, coll.dim, metric, index, checked, coll._spec.columns, coll.id_type
        )
        with coll._write_lock:
            if metric == "cosine" and coll.metric != "cosine":
                # cosine needs non-zero vectors; check before changing anything
                live = coll.store.live_labels()
                if len(live) and (coll.store.sqnorms[live] == 0).any():
                    raise InvalidArgumentError(
                        "the collection holds zero vectors, which have no cosine distance"
                    )
            self._cursor().execute(
                "UPDATE _vecdb.collections SET metric = ?, index_kind = ?, index_params = ? "
                "WHERE name = ?",
                [metric, index, json.dumps(checked), coll.name],
            )
            old_metric = coll.metric
            coll._spec = spec
            if old_metric != metric:
                coll._rebuild_from_duckdb(self._cursor())  # vectors are prepared per metric
                coll.checkpoint()
            else:
                coll.compact()

    # ---- SQL -----------------------------------------------------------------------------
    def sql(self, query: str, params: Any = None) -> Any:
        """Run SQL; ``ORDER BY cosine(vec, ?) LIMIT k`` is a filtered vector search.

        >>> import vecdb
        >>> db = vecdb.connect()
        >>> db.sql("SELECT 1 + 1 AS two").fetchall()
        [(2,)]
        """
        self._check_open()
        from vecdb.sql import run_sql

        return run_sql(self, query, params)

    # ---- lifecycle -----------------------------------------------------------------------
    def checkpoint(self) -> None:
        """Write every collection's index checkpoint now (close() does this too)."""
        self._check_open()
        self._checkpoint_changed(best_effort=False)

    def _checkpoint_changed(self, best_effort: bool) -> None:
        for coll in list(self._collections.values()):
            if coll._ckpt_seq == coll._seq:
                continue
            try:
                coll.checkpoint()
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
