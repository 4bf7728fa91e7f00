"""Confined SQL: every escape attempt is refused and leaves no file behind."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import vecdb
from tests.sql.golden import load
from vecdb.errors import PermissionDeniedError

DENIED = [s for s, expected in load("confine.sql") if expected == "denied"]


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture(scope="module")
def confined(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("confined")
    db = vecdb.connect(str(root / "data"), confined=True)
    db.sql(
        "CREATE TABLE docs (id BIGINT PRIMARY KEY, year INTEGER, title VARCHAR, "
        "tags VARCHAR[], price DOUBLE, vec FLOAT[3])"
    )
    db.sql("INSERT INTO docs VALUES (1, 2000, 'a', ['db'], 1.5, [1, 2, 3])")
    yield db, root / "escape"
    db.close()


def test_at_least_thirty_attempts() -> None:
    assert len(DENIED) >= 30


@pytest.mark.parametrize("statement", DENIED)
def test_escape_is_refused_and_creates_nothing(confined, statement: str) -> None:
    db, tmp = confined
    tmp.mkdir(exist_ok=True)
    before = _files(tmp)
    with pytest.raises(PermissionDeniedError):
        db.sql(statement.replace("{tmp}", str(tmp)))
    assert _files(tmp) == before
    assert not os.path.exists(tmp / "out.csv")


def test_confined_sql_still_searches(confined) -> None:
    db, _ = confined
    rows = db.sql(
        "SELECT id FROM docs ORDER BY cosine(vec, $q) LIMIT 1", {"q": np.ones(3)}
    ).fetchall()
    assert rows == [(1,)]


def test_confined_search_where_is_checked(confined) -> None:
    db, _ = confined
    with pytest.raises(PermissionDeniedError):
        db.get_collection("docs").search(np.ones(3), k=1, where="title = getenv('HOME')")
