"""``where=`` predicates: parsed as one expression, checked, and spliced as regenerated text.

A caller's predicate is never pasted into SQL. It is parsed by sqlglot as exactly one
expression (not a statement, not a list of them); confined callers' predicates pass the same
allow-list as confined SQL; the text vecdb splices into its own queries is regenerated from
that tree (comments dropped) and read back by DuckDB as one ``SELECT … WHERE (<predicate>)``.
Compiled predicates are cached by their text, so a repeated filter costs a dict lookup.

>>> p = compile_predicate("year > $y AND title LIKE 'a%'  -- recent")
>>> p.sql, p.params
("year > $y AND title LIKE 'a%'", ('y',))
>>> compile_predicate("1=1) UNION SELECT id FROM docs2 WHERE (1=1")
Traceback (most recent call last):
...
vecdb.errors.SQLParseError: where must be one SQL predicate (e.g. "year > 2020 AND tag = $t"): ...
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from vecdb.errors import InvalidArgumentError, PermissionDeniedError, SQLParseError
from vecdb.sql import confine, verify
from vecdb.sql.parse import DIALECT

__all__ = ["Predicate", "compile_predicate", "pushed_predicate"]

_HINT = 'where must be one SQL predicate (e.g. "year > 2020 AND tag = $t")'

#: top-level nodes that are statements, not predicates
_STATEMENTS: tuple[type[exp.Expression], ...] = (
    exp.Query,
    exp.DDL,
    exp.DML,
    exp.Command,
    exp.Describe,
    exp.Show,
    exp.Pragma,
    exp.Set,
    exp.Use,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.Copy,
    exp.Attach,
    exp.Detach,
)


@dataclass(frozen=True)
class Predicate:
    """A checked predicate.

    Attributes:
        text: the predicate as the caller wrote it (the cache key).
        sql: DuckDB text regenerated from the checked tree; the only text vecdb splices.
        params: names of the ``$name`` parameters it uses (``?`` placeholders stay ``?``).
        confined: it was checked against confined SQL's rules (a confined collection takes
            no other predicate without checking it).
    """

    text: str
    sql: str
    params: tuple[str, ...]
    confined: bool = False


def compile_predicate(where: object, confined: bool = False) -> Predicate:
    """Parse and check ``where``; see the module doc.

    Raises:
        InvalidArgumentError: ``where`` is not a non-empty string.
        SQLParseError: it is not exactly one SQL expression.
        PermissionDeniedError: (confined) it reaches files, settings or internals, or the
            two parsers read it differently.
    """
    if not isinstance(where, str) or not where.strip():
        raise InvalidArgumentError(f"{_HINT}; got {where!r}")
    return _compile(where, confined)


@lru_cache(maxsize=4096)
def _compile(where: str, confined: bool) -> Predicate:
    try:
        trees = [t for t in sqlglot.parse(where, read=DIALECT) if t is not None]
    except (ParseError, TokenError) as e:
        raise SQLParseError(f"{_HINT}: {_first_line(e)}", errors=[]) from None
    if len(trees) != 1 or isinstance(trees[0], _STATEMENTS):
        raise SQLParseError(f"{_HINT}: found a statement or several expressions", errors=[])
    tree = trees[0]
    # DuckDB must read the caller's text, as it would be placed, as one query too; where the
    # parsers disagree (backticks, nested comments, dollar quotes) the predicate is refused
    try:
        original = verify.kinds(f"SELECT 1 WHERE ({where}\n)")
    except SQLParseError:
        original = ()
    if original != ("SELECT",):
        msg = f"{_HINT}: DuckDB does not read it as one predicate"
        raise PermissionDeniedError(msg) if confined else SQLParseError(msg, errors=[])
    sql = tree.sql(dialect=DIALECT, comments=False)
    wrapped = f"SELECT 1 WHERE ({sql})"
    if verify.kinds(wrapped) != ("SELECT",):  # pragma: no cover - sqlglot printed a statement
        raise SQLParseError(f"{_HINT}: it does not read back as one predicate", errors=[])
    try:
        again = sqlglot.parse_one(sql, read=DIALECT)
    except (ParseError, TokenError):
        again = None
    if again != tree:
        msg = f"{_HINT}: it does not read back as the same predicate"
        raise PermissionDeniedError(msg) if confined else SQLParseError(msg, errors=[])
    if confined:
        confine.check(exp.select("1").where(tree.copy()))
        confine.check_duckdb(wrapped)
    params = tuple(dict.fromkeys(str(p.this) for p in tree.find_all(exp.Placeholder) if p.this))
    return Predicate(where, sql, params, confined)


def pushed_predicate(tree: exp.Expression, confined: bool) -> Predicate:
    """The predicate of a checked SQL statement's WHERE (a subtree of a tree that passed the
    statement's checks), as the SQL planner pushes it into a collection's search.

    No parsing or checking here: the text is regenerated from ``tree`` and, for confined
    statements, verified with the rest of the plan's texts (``SELECT 1 WHERE (<sql>)``,
    see :func:`vecdb.sql.plans.texts_of`) before the plan is cached or run.

    >>> import sqlglot
    >>> w = sqlglot.parse_one("SELECT 1 WHERE year > $y /* c */", read="duckdb").args["where"]
    >>> pushed_predicate(w.this, confined=True)
    Predicate(text='year > $y', sql='year > $y', params=('y',), confined=True)
    """
    sql = tree.sql(dialect=DIALECT, comments=False)
    params = tuple(dict.fromkeys(str(p.this) for p in tree.find_all(exp.Placeholder) if p.this))
    return Predicate(sql, sql, params, confined)


def _first_line(e: BaseException) -> str:
    msg = str(e).strip()
    return msg.splitlines()[0] if msg else type(e).__name__
