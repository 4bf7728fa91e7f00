"""vecdb's SQL layer: DuckDB SQL where ``ORDER BY cosine(vec, ?) LIMIT k`` is a vector search.

parse -> analyze -> rewrite -> plan -> execute, each a small function over immutable
values (``parse.py``, ``analyze.py``, ``rewrite.py``, ``plan.py`` with ``ddl.py``, making
one of the plan dataclasses of ``plans.py``; ``execute.py`` with ``steps.py`` and
``explain.py``; ``run.py`` is the front door and ``cache.py`` the plan cache a Database
keeps). ``confine.py`` is the allow-list for untrusted SQL, ``verify.py`` DuckDB's own
reading of the texts vecdb runs, ``predicate.py`` the checked ``where=`` predicates and
``functions.py`` the vector-function table.

>>> import vecdb
>>> db = vecdb.connect()
>>> db.sql("SELECT 1 AS one").fetchall()
[(1,)]
"""

from __future__ import annotations

from vecdb.sql.predicate import Predicate, compile_predicate
from vecdb.sql.run import explain, run_sql

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
