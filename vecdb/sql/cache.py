"""A database's SQL state: its plan cache and the SQL names of its collections' indexes.

One :class:`SqlState` lives on each :class:`~vecdb.Database` (``db.sql_state``). Statements
are parsed (and, for confined callers, checked) once per text; their plans are kept per
text and per the lengths of vector parameters the catalog does not fix, and dropped when DDL
may have changed what they read. Index names are persisted in the catalog
(``_vecdb.index_names``) when the state has a DuckDB cursor, so ``DROP INDEX name`` works
after a reopen.

>>> s = SqlState()
>>> e = s.entry("SELECT 1", confined=False)
>>> s.entry("SELECT 1", confined=False) is e, e.statement.kind
(True, 'SELECT')
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vecdb.sql import confine
from vecdb.sql.parse import Statement, parse
from vecdb.sql.plans import Plan
from vecdb.storage.table import indexed_by, name_index

__all__ = ["SqlState", "Entry", "PLAN_CACHE_SIZE"]

PLAN_CACHE_SIZE = 512


@dataclass
class Entry:
    """A cached statement and its plans (key: lengths of unresolved vector parameters),
    each with the catalog snapshot it was made against."""

    statement: Statement
    plans: dict[tuple[tuple[str, int], ...], tuple[Plan, tuple[Any, ...]]] = field(
        default_factory=dict
    )


class SqlState:
    """The plan cache and index names of one database (see the module doc).

    ``cursor`` gives the calling thread's DuckDB connection for persisted index names;
    without one (a database that is not backed by DuckDB here) they live in this process.
    """

    def __init__(self, cursor: Callable[[], Any] | None = None) -> None:
        self.lock = threading.Lock()
        self.cache: OrderedDict[str, Entry] = OrderedDict()
        self._cursor = cursor
        self._names: dict[str, str] = {}

    def entry(self, text: str, confined: bool) -> Entry:
        """The cached statement of ``text``; parsed (and checked) on first sight."""
        with self.lock:
            hit = self.cache.get(text)
            if hit is not None:
                self.cache.move_to_end(text)
                return hit
        statement = parse(text, confined=confined)
        if confined:
            confine.check(statement.tree)
        entry = Entry(statement)
        with self.lock:
            self.cache[text] = entry
            if len(self.cache) > PLAN_CACHE_SIZE:
                self.cache.popitem(last=False)
        return entry

    def invalidate(self) -> None:
        """Forget every plan (statements stay parsed): the schema may have changed."""
        with self.lock:
            for entry in self.cache.values():
                entry.plans.clear()

    # ---- index names -------------------------------------------------------------------
    def name_index(self, name: str, collection: str | None) -> None:
        """Record (or, with None, forget) that ``collection``'s index is called ``name``."""
        if self._cursor is not None:
            name_index(self._cursor(), name, collection)
        elif collection is None:
            self._names.pop(name.lower(), None)
        else:
            self._names[name.lower()] = collection

    def index_target(self, name: str, collections: Mapping[str, Any]) -> str | None:
        """The collection (among ``collections``, name -> collection) whose vector index is
        called ``name``: as recorded, else ``<collection>`` or ``<collection>_vec``, else
        the one collection whose name prefixes it."""
        if self._cursor is not None:
            target = indexed_by(self._cursor(), name)
        else:
            target = self._names.get(name.lower())
        if target in collections:
            return target
        low = name.lower()
        indexed = [c for c in collections.values() if c.index_kind != "exact"]
        exact = [c.name for c in indexed if low in (c.name.lower(), f"{c.name.lower()}_vec")]
        if len(exact) == 1:
            return str(exact[0])
        prefixed = [c.name for c in indexed if low.startswith(c.name.lower() + "_")]
        return str(prefixed[0]) if len(prefixed) == 1 else None
