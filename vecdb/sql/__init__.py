"""vecdb's SQL layer: DuckDB SQL where ``ORDER BY cosine(vec, ?) LIMIT k`` is a vector search.

parse -> analyze -> plan -> execute, each a small function over immutable values
(see ``parse.py``, ``analyze.py``, ``plan.py``, ``execute.py``); ``confine.py`` is the
allow-list for untrusted SQL and ``functions.py`` the vector-function table.

>>> import vecdb
>>> db = vecdb.connect()
>>> db.sql("SELECT 1 AS one").fetchall()
[(1,)]
"""

from __future__ import annotations

import sqlglot
from sqlglot.errors import ParseError, TokenError

from vecdb.errors import SQLParseError
from vecdb.sql import confine
from vecdb.sql.execute import explain, run_sql
from vecdb.sql.parse import DIALECT

__all__ = ["run_sql", "explain", "check_predicate"]


def check_predicate(where: str) -> None:
    """Refuse (PermissionDeniedError) a confined WHERE predicate that reaches outside.

    >>> check_predicate("year > 2000 AND title LIKE 'a%'")
    >>> check_predicate("getenv('HOME') = 'x'")
    Traceback (most recent call last):
    ...
    vecdb.errors.PermissionDeniedError: function getenv is not allowed in confined SQL
    """
    try:
        tree = sqlglot.parse_one(f"SELECT 1 WHERE ({where})", read=DIALECT)
    except (ParseError, TokenError) as e:
        raise SQLParseError(f"where does not parse as a SQL predicate: {e}") from None
    confine.check(tree)
