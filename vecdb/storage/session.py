"""One open DuckDB database: its connection, a cursor per thread, and its directory lock.

A :class:`~vecdb.database.Database` and its collections share the session, which points at
none of them; the Database's finalizer closes it when the Database is garbage collected, so
the directory can be opened again.

>>> s = Session(None, confined=False)
>>> s.cursor().execute("SELECT 42").fetchall()
[(42,)]
>>> s.close(); s.closed
True
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from vecdb.errors import InvalidArgumentError
from vecdb.storage.lock import DirLock

__all__ = ["Session", "DEFAULT_MEMORY_LIMIT"]

#: DuckDB's memory cap for a database on disk unless ``memory_limit=`` says otherwise.
#: DuckDB's own default is 80 % of RAM, and it keeps every block it has touched cached up to
#: that cap: a 100k x 384 build left ~150 MB of table blocks (the vectors again) and ~250 MB
#: of insert buffers resident. Searches never read the vectors from DuckDB (the index and row
#: store answer them), so a small cache costs little; DuckDB spills larger sorts and joins to
#: ``<db>.tmp``. Measured in benchmarks/README.md ("Memory at the size of the data").
DEFAULT_MEMORY_LIMIT = "256MB"
#: what :meth:`Session.release_cache` shrinks DuckDB's cache to for a moment after a bulk write
RELEASE_TO = "32MB"


class Session:
    """The DuckDB connection of a database in ``root`` (in memory when ``None``)."""

    def __init__(self, root: Path | None, confined: bool, memory_limit: str | None = None) -> None:
        self.closed = False
        self._confined = confined
        self._release_lock = threading.Lock()
        #: the cap as configured (restored after release_cache), and as DuckDB spells it
        self._limit: str | None = None
        self._limit_shown: str | None = None
        self._local = threading.local()
        self._lock: DirLock | None = None
        target = ":memory:"
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
            self._lock = DirLock(root)
            self._lock.acquire()
            target = str(root / "vecdb.duckdb")
        try:
            config: dict[str, Any] = {}
            if memory_limit is None and root is not None:
                config["memory_limit"] = DEFAULT_MEMORY_LIMIT  # in memory, nothing can spill
            elif memory_limit is not None:
                config["memory_limit"] = str(memory_limit)
            try:
                self.con = duckdb.connect(target, config=config)
            except duckdb.Error as e:
                if memory_limit is None:
                    raise
                raise InvalidArgumentError(
                    f"memory_limit={memory_limit!r} is not a size DuckDB accepts "
                    f"(write it like '1GB' or '512MB'): {e}"
                ) from e
            if root is not None and "memory_limit" in config:
                self._limit = config["memory_limit"]
                self._limit_shown = self._current_limit(self.con)
            if confined:
                self.con.execute("SET enable_external_access = false")
                self.con.execute("SET lock_configuration = true")
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection for the calling thread (DuckDB connections are not shared)."""
        cur = getattr(self._local, "cur", None)
        if cur is None:
            if self.closed:
                raise InvalidArgumentError(
                    "the database is closed; open it again with vecdb.connect"
                )
            cur = self.con.cursor()
            self._local.cur = cur
        return cur

    @staticmethod
    def _current_limit(cur: duckdb.DuckDBPyConnection) -> str:
        return str(cur.execute("SELECT current_setting('memory_limit')").fetchone()[0])  # type: ignore[index]

    def release_cache(self) -> None:
        """Let DuckDB drop the table blocks a bulk write left in its cache, keeping its cap.

        DuckDB keeps every block it wrote or read cached up to ``memory_limit`` and evicts
        only when it needs room; after a bulk write those are the new rows -- vectors that
        searches never read back from DuckDB. Lowering the cap evicts them (DuckDB's own
        advice), so the cap is set to :data:`RELEASE_TO` and straight back (see
        :meth:`lowered_cap` for when it is left alone).
        """
        with self.lowered_cap():
            pass

    @contextmanager
    def lowered_cap(self) -> Iterator[None]:
        """Run the body with DuckDB's cap at :data:`RELEASE_TO` (evicting its cache), then
        restore the configured cap. For short maintenance statements whose DuckDB checkpoint
        would otherwise read a bulk write back into the cache up to the full cap.

        Left alone (the body runs under the usual cap): in memory (nothing can be evicted),
        when confined (the configuration is locked), when SQL has changed ``memory_limit``
        since the connection was opened, and when DuckDB cannot evict that far (blocks
        pinned by running queries). Concurrent queries run under the lowered cap meanwhile
        (DuckDB spills what it can).
        """
        if self._limit is None or self._confined or self.closed:
            yield
            return
        with self._release_lock:  # two writers must not restore each other's lowered cap
            cur = self.cursor()
            try:
                if self._current_limit(cur) != self._limit_shown:
                    lowered = False
                else:
                    cur.execute(f"SET memory_limit = '{RELEASE_TO}'")
                    lowered = True
            except duckdb.Error:
                lowered = False  # DuckDB could not evict down to it: the cap is unchanged
            try:
                yield
            finally:
                if lowered:
                    cur.execute(f"SET memory_limit = '{self._limit}'")

    def is_closed(self) -> bool:
        return self.closed

    def close(self) -> None:
        """Close DuckDB and release the directory (idempotent)."""
        if self.closed:
            return
        self.closed = True
        try:
            self.con.close()
        finally:
            if self._lock is not None:
                self._lock.release()
