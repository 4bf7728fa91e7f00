"""One process owns a data directory: an exclusive ``flock`` on ``DIR/.lock``.

The kernel drops the lock when the process dies, so a SIGKILLed owner never leaves a stale
lock behind. Within one process a registry of held directories tells a second open of the
same directory apart from another process's.

>>> import tempfile
>>> d = tempfile.mkdtemp()
>>> lock = DirLock(d); lock.acquire()
>>> DirLock(d).acquire()
Traceback (most recent call last):
...
vecdb.errors.DatabaseLockedError: ...
>>> lock.release()
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

from vecdb.errors import DatabaseLockedError

__all__ = ["DirLock"]

#: directories (resolved) this process holds the lock of
_HELD: set[str] = set()
_HELD_LOCK = threading.Lock()


class DirLock:
    """An exclusive, non-blocking lock on ``directory/.lock``."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = Path(directory) / ".lock"
        self._key = os.path.realpath(directory)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`DatabaseLockedError` naming the owner."""
        with _HELD_LOCK:
            if self._key in _HELD:
                raise DatabaseLockedError(
                    f"the data directory {str(self.path.parent)!r} is already open in this "
                    f"process (pid {os.getpid()}); use the Database that is open, or close it "
                    "(db.close(), or drop every reference to it) before opening it again. To "
                    f"share it between processes, run `vecdb serve --data {self.path.parent}`"
                )
            self._take()
            _HELD.add(self._key)

    def _take(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DatabaseLockedError(
                f"the data directory {str(self.path.parent)!r} is in use by another process "
                f"(pid {owner}). Only one process may open it; to share a database, run "
                f"`vecdb serve --data {self.path.parent}` and connect with "
                f"vecdb.connect('grpc://127.0.0.1:50051')"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
            with _HELD_LOCK:
                _HELD.discard(self._key)
