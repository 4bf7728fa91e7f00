"""One process owns a data directory: an exclusive ``flock`` on ``DIR/.lock``.

The kernel drops the lock when the process dies, so a SIGKILLed owner never leaves a stale
lock behind.

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
from pathlib import Path

from vecdb.errors import DatabaseLockedError

__all__ = ["DirLock"]


class DirLock:
    """An exclusive, non-blocking lock on ``directory/.lock``."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = Path(directory) / ".lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`DatabaseLockedError` naming the owner."""
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
