"""Golden files: the plan kind of each statement, and what confinement refuses."""

from __future__ import annotations

import pytest

from tests.sql.conftest import CATALOG
from tests.sql.golden import load
from vecdb.errors import PermissionDeniedError
from vecdb.sql import confine
from vecdb.sql.parse import parse
from vecdb.sql.plan import plan, plan_kind


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
