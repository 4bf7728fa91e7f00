"""Progress of long work: bulk writes, index builds, rebuilds at open and ``compact()``.

Every long operation asks :func:`track` for a task, feeds it ``update(n)`` as chunks finish
and closes it. What the task shows depends on the ``progress`` option the database was opened
with (``vecdb.connect(path, progress=...)``):

* ``None`` (the default, "auto"): a :mod:`tqdm.auto` bar (a widget in notebooks, text in a
  terminal) that stays quiet when stderr is not a terminal, and appears only when the work
  has lasted more than :data:`AUTO_DELAY_S` seconds. The environment variable
  ``VECDB_PROGRESS=0`` turns it off, ``VECDB_PROGRESS=1`` forces it on (as ``True``);
* ``True``: a bar on stderr from the start, terminal or not;
* ``False``: nothing;
* ``"log"``: no bar; lines on the ``vecdb.progress`` logger (INFO) at the start, every
  :data:`LOG_EVERY_S` seconds or 10 %, and at the end -- what ``vecdb serve`` uses.
  ``VECDB_PROGRESS=0`` silences it too.

Work on fewer than :data:`MIN_ITEMS` rows never reports progress, so small calls pay one
comparison and nothing else.

>>> task = track(False, "docs: indexing", 1_000_000)
>>> with task:
...     task.update(500_000)
>>> task.done
500000
>>> import logging, sys
>>> to_stdout = logging.StreamHandler(sys.stdout)
>>> log.addHandler(to_stdout); log.setLevel(logging.INFO)
>>> with track("log", "docs: indexing", 20_000) as task:
...     task.update(20_000)      # doctest: +ELLIPSIS
vecdb: docs: indexing: 0/20000 rows
vecdb: docs: indexing: 20000/20000 rows (100%)...
>>> log.removeHandler(to_stdout); log.setLevel(logging.NOTSET)
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Literal, Union

from vecdb.errors import InvalidArgumentError

__all__ = [
    "Progress",
    "Task",
    "track",
    "check_progress",
    "chunks",
    "MIN_ITEMS",
    "CHUNK_ROWS",
]

#: what ``progress=`` accepts: None (auto), True, False, or "log"
Progress = Union[bool, None, Literal["log"]]  # noqa: UP007 - a runtime alias (py3.10)

#: work on fewer rows than this reports nothing
MIN_ITEMS = 10_000
#: rows per chunk when long work is split so that its progress is real
CHUNK_ROWS = 10_000
#: in auto mode a bar appears only after this many seconds (quick work stays silent)
AUTO_DELAY_S = 1.0
#: in "log" mode, at most one line per this many seconds (besides each 10 % step)
LOG_EVERY_S = 5.0
#: ... and no two lines closer than this
LOG_MIN_GAP_S = 1.0

log = logging.getLogger("vecdb.progress")


def check_progress(progress: Any) -> Progress:
    """The ``progress=`` option, checked.

    >>> check_progress(None), check_progress("log")
    (None, 'log')
    >>> check_progress("yes")
    Traceback (most recent call last):
    ...
    vecdb.errors.InvalidArgumentError: progress must be True, False, None (auto) or 'log', got 'yes'
    """
    if progress is None or isinstance(progress, bool) or progress == "log":
        return progress
    raise InvalidArgumentError(
        f"progress must be True, False, None (auto) or 'log', got {progress!r}"
    )


def _mode(progress: Progress) -> str:
    """ "off", "bar" (forced), "auto" or "log", after the VECDB_PROGRESS variable."""
    env = os.environ.get("VECDB_PROGRESS", "").strip().lower()
    if progress is False:
        return "off"
    if progress is True:
        return "bar"
    if env in ("0", "false", "no", "off"):
        return "off"
    if progress == "log":
        return "log"
    if env in ("1", "true", "yes", "on"):
        return "bar"
    return "auto"


class Task:
    """A unit of long work that reports nothing (the base of the bar and log tasks)."""

    def __init__(self, desc: str = "", total: int = 0, unit: str = "rows") -> None:
        self.desc, self.total, self.unit = desc, total, unit
        self.done = 0

    def update(self, n: int) -> None:
        """``n`` more items are done."""
        self.done += n

    def close(self) -> None:
        """The work is over (also on error)."""

    def __enter__(self) -> Task:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _BarTask(Task):
    def __init__(self, desc: str, total: int, unit: str, forced: bool) -> None:
        super().__init__(desc, total, unit)
        from tqdm.auto import tqdm

        self._bar = tqdm(
            total=total,
            desc=f"vecdb: {desc}",
            unit=unit.rstrip("s") or "it",
            unit_scale=True,
            disable=False if forced else None,  # None: quiet when stderr is not a terminal
            delay=0 if forced else AUTO_DELAY_S,
            leave=forced,
            dynamic_ncols=True,
        )

    def update(self, n: int) -> None:
        super().update(n)
        self._bar.update(n)

    def close(self) -> None:
        self._bar.close()


class _LogTask(Task):
    def __init__(self, desc: str, total: int, unit: str) -> None:
        super().__init__(desc, total, unit)
        self._t0 = self._last = time.monotonic()
        self._step = 0  # the last 10 % step logged
        self._closed = False
        log.info("vecdb: %s: 0/%d %s", desc, total, unit)

    def update(self, n: int) -> None:
        super().update(n)
        now = time.monotonic()
        step = 10 * self.done // max(self.total, 1)
        gap = now - self._last
        if gap >= LOG_EVERY_S or (step > self._step and gap >= LOG_MIN_GAP_S):
            self._line(now)
        self._step = max(self._step, step)

    def _line(self, now: float, end: str = "") -> None:
        self._last = now
        pct = 100 * self.done // max(self.total, 1)
        log.info(
            "vecdb: %s: %d/%d %s (%d%%)%s", self.desc, self.done, self.total, self.unit, pct, end
        )

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            now = time.monotonic()
            self._line(now, f" in {now - self._t0:.1f}s")


def track(progress: Progress, desc: str, total: int, unit: str = "rows") -> Task:
    """A task for ``total`` items of work named ``desc``, shown as ``progress`` says (see the
    module docs); a silent :class:`Task` when ``total < MIN_ITEMS`` or progress is off."""
    if total < MIN_ITEMS:
        return Task(desc, total, unit)
    mode = _mode(progress)
    if mode == "off":
        return Task(desc, total, unit)
    if mode == "log":
        return _LogTask(desc, total, unit)
    return _BarTask(desc, total, unit, forced=mode == "bar")


def chunks(n: int, task: Task, size: int = CHUNK_ROWS) -> list[slice]:
    """Slices that cut ``n`` rows into chunks for ``task``: one slice when the task is silent
    (no reporting, so no reason to split), else ``size`` rows each.

    >>> chunks(25_000, Task())
    [slice(0, 25000, None)]
    """
    if type(task) is Task or n <= size:
        return [slice(0, n)]
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]
