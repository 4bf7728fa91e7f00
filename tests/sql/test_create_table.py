"""CREATE TABLE keeps every column's type and constraints exactly: for plain tables (DuckDB
runs them) and for collections (the engine creates the table), confined or not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import vecdb
from vecdb.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    PermissionDeniedError,
    UnsupportedQueryError,
)
from vecdb.sql.ddl import check_constraint

#: column definitions every test table shares (after its id)
COLUMNS = (
    "year INTEGER NOT NULL DEFAULT 2000 CHECK (year > 1900), "
    "title VARCHAR UNIQUE, "
    "name VARCHAR COLLATE NOCASE, "
    "price DECIMAL(10,2) DEFAULT 1.5, "
    "tags VARCHAR[], "
    "ts TIMESTAMPTZ, "
    "s STRUCT(x INTEGER, y VARCHAR), "
    "n UBIGINT"
)


def _ddl(db: vecdb.Database, table: str) -> str:
    rows = (
        db._cursor()
        .execute("SELECT sql FROM duckdb_tables() WHERE table_name = ?", [table])
        .fetchall()
    )
    assert len(rows) == 1
    return str(rows[0][0])


def _described(db: vecdb.Database, table: str) -> dict[str, tuple[str, str, object]]:
    """column -> (type, null, default) as DuckDB describes the table."""
    rows = db._cursor().execute(f"DESCRIBE {table}").fetchall()
    return {r[0]: (r[1], r[2], r[4]) for r in rows}


@pytest.mark.parametrize("confined", [False, True])
def test_a_collection_keeps_types_and_constraints_like_a_plain_table(confined: bool) -> None:
    with vecdb.connect(confined=confined) as db:
        db.sql(f"CREATE TABLE plain (id BIGINT PRIMARY KEY, {COLUMNS}, vec FLOAT[2])")
        db.sql(f"CREATE TABLE plain2 (k BIGINT PRIMARY KEY, {COLUMNS})")  # no vectors
        db.sql(f"CREATE TABLE coll (id BIGINT PRIMARY KEY, {COLUMNS}, vec FLOAT[2])")
        assert db.list_collections() == ["coll", "plain"]  # both have id and vec
        db.sql("DROP TABLE plain")
        # a plain table: DuckDB ran it as written (regenerated when confined)
        plain2 = _ddl(db, "plain2")
        for part in ('"year" INTEGER DEFAULT(2000) NOT NULL', "title VARCHAR UNIQUE",
                     '"name" VARCHAR COLLATE NOCASE', "DECIMAL(10,2) DEFAULT(1.5)",
                     'CHECK(("year" > 1900))', "TIMESTAMP WITH TIME ZONE"):  # fmt: skip
            assert part in plain2
        coll = _ddl(db, "coll")
        assert coll.replace("coll(id", "plain2(k").replace(", vec FLOAT[2] NOT NULL", "") == plain2
        described = _described(db, "coll")
        assert {c: v for c, v in described.items() if c not in ("id", "vec")} == {
            c: v for c, v in _described(db, "plain2").items() if c != "k"
        }
        c = db.get_collection("coll")
        assert c.spec.constraints == {
            "year": "NOT NULL DEFAULT 2000 CHECK (year > 1900)",
            "title": "UNIQUE",
            "name": "COLLATE NOCASE",
            "price": "DEFAULT 1.5",
        }


def test_constraints_hold_on_every_write_and_a_failed_write_changes_nothing() -> None:
    with vecdb.connect() as db:
        db.sql(f"CREATE TABLE c (id BIGINT PRIMARY KEY, {COLUMNS}, vec FLOAT[2])")
        db.sql("CREATE INDEX c_vec ON c USING HNSW (vec)")
        c = db.get_collection("c")
        c.add(ids=[1], vectors=[[1, 0]], rows=[{"title": "a"}])
        got = c.get([1], include=["year", "price"])[0].row
        assert got["year"] == 2000 and float(got["price"]) == 1.5  # DEFAULTs filled in
        bad = [
            (AlreadyExistsError, [{"title": "a"}]),  # UNIQUE
            (InvalidArgumentError, [{"year": 1800, "title": "b"}]),  # CHECK
            (InvalidArgumentError, [{"year": None, "title": "c"}]),  # NOT NULL
        ]
        for error, rows in bad:
            with pytest.raises(error):
                c.add(ids=[2], vectors=[[0, 1]], rows=rows)
            assert c.count() == 1
            assert [h.id for h in c.search(np.array([0, 1], np.float32), k=5)] == [1]
        with pytest.raises(AlreadyExistsError):
            db.sql("INSERT INTO c (id, title, vec) VALUES (3, 'a', [0, 1])")
        assert c.count() == 1
        # upsert replaces on the id even with a second key (UNIQUE title)
        c.upsert(ids=[1], vectors=[[0, 1]], rows=[{"year": 2001, "title": "a"}])
        assert c.get([1], include=["year"])[0].row == {"year": 2001}
        c.upsert(ids=[1], vectors=[[0, 1]], rows=[{"title": "a"}])
        assert c.get([1], include=["year"])[0].row == {"year": 2000}  # the DEFAULT again
        db.sql("INSERT INTO c (id, title, vec) VALUES (4, 'd', [0.5, 0.5])")
        hits = db.sql(
            "SELECT id, year FROM c ORDER BY cosine(vec, $q) LIMIT 2", {"q": [0.5, 0.5]}
        ).fetchall()
        assert hits == [(4, 2000), (1, 2000)]


def test_constraints_survive_a_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "d")
    with vecdb.connect(path) as db:
        db.sql(f"CREATE TABLE c (id VARCHAR PRIMARY KEY, {COLUMNS}, vec FLOAT[2])")
        before = db.get_collection("c").spec
        ddl = _ddl(db, "c")
    with vecdb.connect(path) as db:
        c = db.get_collection("c")
        assert c.spec == before and _ddl(db, "c") == ddl
        # the same definition again is the same collection; another is refused
        db.sql(f"CREATE TABLE IF NOT EXISTS c (id VARCHAR PRIMARY KEY, {COLUMNS}, vec FLOAT[2])")
        with pytest.raises(AlreadyExistsError):
            db.sql("CREATE TABLE IF NOT EXISTS c (id VARCHAR PRIMARY KEY, year INTEGER, "
                   "vec FLOAT[2])")  # fmt: skip
        with pytest.raises(InvalidArgumentError):
            c.add(ids=["x"], vectors=[[1, 0]], rows=[{"year": 10}])


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE c (id BIGINT, title VARCHAR PRIMARY KEY, vec FLOAT[2])",
        "CREATE TABLE c (id BIGINT PRIMARY KEY, a INTEGER, b INTEGER, vec FLOAT[2], UNIQUE (a, b))",
        "CREATE TABLE c (id BIGINT PRIMARY KEY, a INTEGER, vec FLOAT[2], CHECK (a > 0))",
        "CREATE TABLE c (id BIGINT PRIMARY KEY, vec FLOAT[2] CHECK (len(vec) = 2))",
        "CREATE TABLE c (id BIGINT PRIMARY KEY DEFAULT 3, vec FLOAT[2])",
    ],
)
def test_constraints_a_collection_cannot_keep_are_refused_not_dropped(sql: str) -> None:
    with vecdb.connect() as db:
        with pytest.raises(UnsupportedQueryError):
            db.sql(sql)
        assert db.list_collections() == []


def test_confined_constraints_reach_nothing_outside() -> None:
    with vecdb.connect(confined=True) as db:
        with pytest.raises(PermissionDeniedError):
            db.sql("CREATE TABLE c (id BIGINT PRIMARY KEY, h VARCHAR DEFAULT getenv('HOME'), "
                   "vec FLOAT[2])")  # fmt: skip
        with pytest.raises(PermissionDeniedError):
            db.sql("CREATE TABLE p (h VARCHAR DEFAULT getenv('HOME'))")
        assert db.sql("SHOW TABLES").fetchall() == []


@pytest.mark.parametrize(
    "text",
    [
        "NOT NULL, evil INTEGER",
        "DEFAULT 1); DROP TABLE x; --",
        "DEFAULT getenv('HOME')",
        "CHECK (x IN (SELECT * FROM read_csv('/etc/passwd')))",
        "PRIMARY KEY",
        "REFERENCES other (id)",
        "",
    ],
)
def test_the_python_api_checks_constraints_too(text: str) -> None:
    with pytest.raises((InvalidArgumentError, PermissionDeniedError)):
        check_constraint(text)
    with vecdb.connect() as db:
        with pytest.raises((InvalidArgumentError, PermissionDeniedError)):
            db.create_collection("c", dim=2, columns={"x": "INTEGER"}, constraints={"x": text})
        assert db.list_collections() == []


def test_the_python_api_takes_constraints() -> None:
    with vecdb.connect() as db:
        c = db.create_collection(
            "c", dim=2, columns={"x": "INTEGER"}, constraints={"x": "default 5 check (x < 9)"}
        )
        assert c.spec.constraints == {"x": "DEFAULT 5 CHECK (x < 9)"}
        c.add(ids=[1], vectors=[[1, 0]])
        assert c.get([1], include=["x"])[0].row == {"x": 5}
        with pytest.raises(InvalidArgumentError):
            c.add(ids=[2], vectors=[[1, 0]], rows=[{"x": 10}])
        with pytest.raises(InvalidArgumentError):
            db.create_collection("d", dim=2, columns={"x": "INTEGER"}, constraints={"y": "UNIQUE"})
