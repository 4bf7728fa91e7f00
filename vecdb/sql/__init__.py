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

from vecdb.sql.execute import explain, run_sql
from vecdb.sql.predicate import Predicate, compile_predicate

__all__ = ["run_sql", "explain", "check_predicate", "compile_predicate", "Predicate"]


def check_predicate(where: str) -> None:
    """Refuse (PermissionDeniedError) a confined WHERE predicate that reaches outside.

    >>> check_predicate("year > 2000 AND title LIKE 'a%'")
    >>> check_predicate("getenv('HOME') = 'x'")
    Traceback (most recent call last):
    ...
    vecdb.errors.PermissionDeniedError: function getenv is not allowed in confined SQL
    """
    compile_predicate(where, confined=True)
