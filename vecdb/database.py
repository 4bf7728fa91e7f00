"""The database: a catalog of collections over one DuckDB file and its index checkpoints.

>>> import vecdb
>>> with vecdb.connect() as db:
...     _ = db.create_collection("a", dim=2)
...     _ = db.create_collection("b", dim=3, metric="l2", index="exact")
...     db.list_collections()
['a', 'b']
"""

from __future__ import annotations

import dataclasses
import os
import threading
import weakref
from pathlib import Path
from typing import Any

import duckdb

from vecdb._input import check_spec
from vecdb.collection import Collection, CollectionContext
from vecdb.embed import CallableEmbedding, resolve, stored_spec
from vecdb.errors import (
    AlreadyExistsError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    VecdbError,
    from_duckdb,
)
from vecdb.live_index import LiveIndex
from vecdb.progress import Progress, check_progress
from vecdb.result import Result
from vecdb.sql import run_sql
from vecdb.sql.cache import SqlState
from vecdb.storage.checkpoint import remove_checkpoints
from vecdb.storage.crash import crash_point
from vecdb.storage.session import Session
from vecdb.storage.table import CatalogEntry, CollectionTable, create_catalog, read_catalog
from vecdb.text import DOCUMENT, check_fulltext
from vecdb.types import IdType, IndexKind, Metric

__all__ = ["Database"]


class Database:
    """Collections of vectors and rows in one DuckDB database; see :func:`vecdb.connect`.

    A collection that cannot be opened (a damaged catalog row, a definition this version
    rejects) does not stop the others: it is listed, :meth:`get_collection` names what is
    wrong with it, and :meth:`drop_collection` removes it. Once neither the Database nor any of
    its collections is referenced, garbage collection releases the directory as :meth:`close`
    does (without writing index checkpoints: the next open replays the change log).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        confined: bool = False,
        memory_limit: str | None = None,
        progress: Progress = None,
    ):
        self.confined = confined
        progress = check_progress(progress)
        self._catalog_lock = threading.RLock()
        self._root: Path | None = None
        if path is not None and str(path) != ":memory:":
            self._root = Path(path)
        self.path: str | None = None if self._root is None else str(self._root)
        if self._root is not None and (self._root / "vecdb-shards.json").exists():
            # the layout file of vecdb.sharded: its data lives in DIR/shard-<i>, not here
            raise InvalidArgumentError(
                f"{self._root} holds a sharded database; open it with "
                "vecdb.connect(path, shards=N) (N as recorded in vecdb-shards.json)"
            )
        self._session = Session(self._root, confined, memory_limit)
        self._release = weakref.finalize(self, self._session.close)
        session = self._session
        self._ctx = CollectionContext(
            session.cursor, self._root, confined, session.is_closed, owner=self, progress=progress
        )
        #: the plan cache and the SQL names of indexes (persisted in the catalog)
        self.sql_state = SqlState(session.cursor)
        self._collections: dict[str, Collection] = {}
        self._broken: dict[str, str] = {}  # name -> why it could not be opened
        try:
            create_catalog(session.con)
            for entry in read_catalog(session.con):
                self._open(entry)
        except BaseException:
            self._release()
            raise

    def _open(self, entry: CatalogEntry) -> None:
        try:
            if entry.spec is None:
                raise InvalidArgumentError(entry.error or "unreadable catalog row")
            s = entry.spec
            spec = dataclasses.replace(
                check_spec(
                    s.name,
                    s.dim,
                    s.metric,
                    s.index,
                    s.index_params,
                    s.columns,
                    s.id_type,
                    s.constraints,
                ),
                embedding=s.embedding,
                fulltext=s.fulltext,
            )
            LiveIndex.check_spec(spec)
            coll = Collection(self._ctx, spec, entry.seq)
            coll.load()
        except (VecdbError, duckdb.Error, OSError, ValueError, RuntimeError) as e:
            self._broken[entry.name] = f"{type(e).__name__}: {e}"
            return
        self._collections[entry.name] = coll

    # ---- plumbing ------------------------------------------------------------------------
    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection for the calling thread (DuckDB connections are not shared)."""
        return self._session.cursor()

    def _check_open(self) -> None:
        if self._session.closed:
            raise InvalidArgumentError("the database is closed; open it again with vecdb.connect")

    # ---- catalog -------------------------------------------------------------------------
    def create_collection(
        self,
        name: str,
        dim: int | None = None,
        metric: Metric = "cosine",
        index: IndexKind = "hnsw",
        index_params: dict[str, Any] | None = None,
        columns: dict[str, str] | None = None,
        id_type: IdType = "int",
        exist_ok: bool = False,
        embedding: Any = None,
        fulltext: Any = False,
        *,
        constraints: dict[str, str] | None = None,
    ) -> Collection:
        """Create a collection: a table ``name(id, *columns, vec FLOAT[dim])`` and its index.

        With ``exist_ok=True`` an existing collection of the same definition is returned.

        ``embedding`` (a provider spec such as ``"sentence-transformers/all-MiniLM-L6-v2"``,
        ``"ollama/<model>"``, ``"openai/<model>"``, a spec dict, or any callable
        ``list[str] -> (n, dim)``; see :mod:`vecdb.embed`) embeds documents and text
        queries; ``dim`` is then taken from the model when not given. ``fulltext=True`` (or a
        dict of :class:`vecdb.fulltext.TextConfig` options) keeps a BM25 index over the
        documents. Either adds a ``document VARCHAR`` column. The provider spec (never a key)
        and the full-text options are stored in the catalog; a plain callable cannot be, so
        after reopening pass it again: ``db.get_collection(name, embedding=fn)``.

        ``constraints`` gives columns SQL constraints (``NOT NULL``, ``DEFAULT``, ``CHECK``,
        ``UNIQUE``, ``COLLATE``), as ``CREATE TABLE`` does; DuckDB enforces them on every
        write (a violating batch writes nothing). A DEFAULT fills a column a batch leaves out.

        >>> import vecdb
        >>> db = vecdb.connect()
        >>> t = db.create_collection("t", embedding=lambda ts: [[1.0, len(t)] for t in ts],
        ...                          fulltext=True)
        >>> t.dim, t.columns
        (2, {'document': 'VARCHAR'})

        >>> import vecdb
        >>> db = vecdb.connect()
        >>> db.create_collection("docs", dim=4, metric="l2", index="ivf",
        ...                      index_params={"nlist": 8}, columns={"title": "VARCHAR"})
        Collection('docs', dim=4, metric='l2', index='ivf')
        """
        self._check_open()
        fn = None
        if embedding is not None:
            fn = resolve(embedding, dim=dim)
            if dim is None:
                dim = fn.dim  # known by the provider, or a one-text probe
            elif isinstance(fn, CallableEmbedding):
                fn(["vecdb dimension probe"])  # a local function: check its dim now
        elif dim is None:
            raise InvalidArgumentError("dim is required (or pass embedding= to take it from)")
        ft = check_fulltext(fulltext)
        spec = check_spec(name, dim, metric, index, index_params, columns, id_type, constraints)
        if fn is not None or ft is not None:
            if any(c.lower() == DOCUMENT for c in spec.columns):
                raise InvalidArgumentError(
                    "column name 'document' is reserved for the text of collections with "
                    "embedding= or fulltext=; rename it"
                )
            spec = dataclasses.replace(
                spec,
                columns={DOCUMENT: "VARCHAR", **spec.columns},
                embedding=None if fn is None else stored_spec(fn),
                fulltext=ft,
            )
        LiveIndex.check_spec(spec)  # the backend's own checks, before anything is written
        with self._catalog_lock:
            if name in self._broken:
                raise AlreadyExistsError(
                    f"collection {name!r} exists but could not be opened "
                    f"({self._broken[name]}); drop it with drop_collection({name!r}) first"
                )
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
            crash_point("create.begin")
            cur = self._cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                CollectionTable.create(cur, spec)
                crash_point("create.in_txn")
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
            crash_point("create.committed")
            coll = Collection(self._ctx, spec, seq=0, embedding=fn)
            self._collections[name] = coll
            return coll

    def get_collection(self, name: str, embedding: Any = None) -> Collection:
        """The collection called ``name``, or :class:`NotFoundError`.

        ``embedding`` gives the collection its embedding function again: needed after
        reopening a collection created with a plain callable (which cannot be saved), or to
        pass options a spec does not keep (an ``api_key``).
        """
        self._check_open()
        coll = self._collections.get(name)
        if coll is None and name in self._broken:
            raise InternalError(
                f"collection {name!r} could not be opened ({self._broken[name]}); the other "
                f"collections work. Drop it with drop_collection({name!r}) and create it again"
            )
        if coll is None:
            raise NotFoundError(
                f"collection {name!r} does not exist; existing: {self.list_collections()}"
            )
        if embedding is not None:
            coll.set_embedding_function(embedding)
        return coll

    def list_collections(self) -> list[str]:
        """Names of all collections, sorted."""
        self._check_open()
        return sorted([*self._collections, *self._broken])

    def drop_collection(self, name: str, missing_ok: bool = False) -> None:
        """Delete a collection, its rows and its index files."""
        self._check_open()
        with self._catalog_lock:
            coll = self._collections.get(name)
            if coll is None and name in self._broken:
                self._drop_broken(name)
                return
            if coll is None:
                if missing_ok:
                    return
                raise NotFoundError(f"collection {name!r} does not exist")
            coll.drop()
            del self._collections[name]

    def _drop_broken(self, name: str) -> None:
        cur = self._cursor()
        cur.execute("BEGIN TRANSACTION")
        try:
            CollectionTable.drop_storage(cur, name)
            cur.execute("COMMIT")
        except duckdb.Error as e:
            cur.execute("ROLLBACK")
            raise from_duckdb(e, f"drop_collection {name!r}") from e
        del self._broken[name]
        if self._root is not None:
            remove_checkpoints(self._root / "index" / name)

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
        if self._session.closed:
            return
        try:
            if self._root is not None:
                self._checkpoint_changed(best_effort=True)
        finally:
            self._release()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.path or ":memory:"
        return f"Database({where!r}, collections={len(self._collections)})"
