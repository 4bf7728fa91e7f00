"""Golden files: the plan kind of each statement, the SQL it runs and the predicates it
pushes, and what confinement refuses."""

from __future__ import annotations

import re

import pytest

from tests.sql.conftest import CATALOG
from tests.sql.golden import load
from vecdb.errors import PermissionDeniedError
from vecdb.sql import confine
from vecdb.sql.parse import parse
from vecdb.sql.plan import plan, plan_kind

_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


@pytest.mark.parametrize(("statement", "expected"), load("plan.sql"))
def test_plan_kind(statement: str, expected: str) -> None:
    assert plan_kind(plan(parse(statement), CATALOG)) == expected


@pytest.mark.parametrize(("statement", "expected"), load("confine.sql"))
def test_confine_checker(statement: str, expected: str) -> None:
    text = statement.replace("{tmp}", "/tmp/vecdb-confine")
    if expected == "allowed":
        confine.check(parse(text, confined=True).tree)
    else:
        with pytest.raises(PermissionDeniedError):
            confine.check(parse(text, confined=True).tree)


@pytest.mark.parametrize(("statement", "expected"), load("rewrite.sql"))
def test_rewritten_sql_and_pushed_predicate(statement: str, expected: str) -> None:
    """What DuckDB runs and what each search pushes into its collection, exactly."""
    kind, predicates, sql = (part.strip() for part in expected.split(" | ", 2))
    p = plan(parse(statement), CATALOG)
    pushed = ",".join(s.where_sql or "-" for s in getattr(p, "searches", ())) or "-"
    assert (plan_kind(p), pushed, getattr(p, "sql", "")) == (kind, predicates, sql)
    for step in getattr(p, "searches", ()):
        if step.where is not None:  # parameters of the predicate, as the collection binds them
            assert step.where.params == tuple(
                n for n in dict.fromkeys(_PARAM.findall(step.where.sql))
            )
