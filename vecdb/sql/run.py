"""The front door of vecdb's SQL: ``Database.sql`` calls :func:`run_sql`.

parse (cached per text) -> analyze -> rewrite -> plan (cached per text and catalog) ->
execute; EXPLAIN runs the planner's estimates instead (:mod:`vecdb.sql.explain`).

>>> import vecdb
>>> vecdb.connect().sql("SELECT 'a' || 'b' AS ab").fetchall()
[('ab',)]
"""

from __future__ import annotations

from typing import Any

from vecdb.result import Result
from vecdb.sql.execute import check_read_only, execute, get_plan, state_of
from vecdb.sql.explain import run_explain
from vecdb.sql.parse import bind_params
from vecdb.sql.text import bind_text

__all__ = ["run_sql", "explain"]


def run_sql(db: Any, query: str, params: Any = None, read_only: bool = False) -> Result:
    """Run one SQL statement on ``db`` (what ``Database.sql`` calls).

    ``read_only`` (the server's read-only key): only queries, decided from DuckDB's statement
    kind, and DuckDB runs them in a read-only transaction that is always rolled back, so a
    write that got past the classification still cannot change anything.

    >>> import vecdb
    >>> vecdb.connect().sql("SELECT 40 + ? AS x", [2]).fetchall()
    [(42,)]
    """
    state = state_of(db)
    entry = state.entry(query, bool(getattr(db, "confined", False)))
    statement = entry.statement
    if read_only and not statement.read_only:
        check_read_only(statement, None)
    if statement.explain is not None:
        if statement.explain == "analyze" and read_only:
            check_read_only(statement, None)
        return run_explain(db, entry, params, statement.explain == "analyze")
    values = bind_params(statement, params)
    if statement.text_sites:
        bind_text(db, statement.text_sites, values)
    p = get_plan(db, entry, values)
    if read_only:
        check_read_only(statement, p)
    return execute(db, p, values, read_only=read_only)


def explain(db: Any, query: str, params: Any = None, analyze: bool = False) -> Result:
    """``EXPLAIN [ANALYZE] query`` without writing the prefix.

    >>> import vecdb
    >>> explain(vecdb.connect(), "SELECT 1").fetchall()[0][1:3]
    ('duckdb', 'exact')
    """
    prefix = "EXPLAIN ANALYZE " if analyze else "EXPLAIN "
    return run_sql(db, prefix + query, params)
