"""Property: what confinement accepts is exactly what DuckDB executes.

Statements are generated from pieces that the two parsers may read differently: backtick
identifiers, nested block comments, line comments, ``$tag$`` and ``$$`` quotes, E-strings,
double-quoted identifiers and semicolons. Whatever a confined database accepts must reach
DuckDB as one statement of the kind that was checked, a text that passes the confinement
rules on DuckDB's own parse tree; internal tables must be unchanged whatever happens.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vecdb
from vecdb.errors import InternalError, VecdbError
from vecdb.sql import confine, verify
from vecdb.sql.parse import parse

PIECES = [
    "SELECT 1",
    "SELECT a FROM t",
    "DELETE FROM t",
    "INSERT INTO t VALUES (7)",
    "SELECT * FROM _vecdb.collections",
    "SELECT * FROM pg_settings",
    "DROP TABLE _vecdb.collections",
    "AS",
    "`--`",
    "`/*`",
    "`;`",
    "/* x */",
    "/* /* */",
    "*/",
    "-- c\n",
    "$t$ ; $t$",
    "$$",
    "$t$",
    "'a;b'",
    "E'\\''",
    "'",
    '"x;y"',
    ";",
    ",",
    "(",
    ")",
    "\n",
    "WHERE a = 1",
    "UNION SELECT name FROM _vecdb.collections",
]


class Recorder:
    """A cursor proxy that records every text sent to DuckDB."""

    def __init__(self, cur: Any, log: list[str]) -> None:
        self._cur = cur
        self._log = log

    def execute(self, text: str, *a: Any, **kw: Any) -> Any:
        self._log.append(text)
        return self._cur.execute(text, *a, **kw)

    def sql(self, text: str, *a: Any, **kw: Any) -> Any:
        self._log.append(text)
        return self._cur.sql(text, *a, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cur, name)


@pytest.fixture(scope="module")
def confined_db() -> Any:
    db = vecdb.connect(confined=True)
    db.sql("CREATE TABLE t (a INTEGER)")
    db.sql("INSERT INTO t VALUES (1), (2)")
    db.create_collection("docs", dim=2)
    yield db
    db.close()


def _internals(db: Any) -> Any:
    cur = db._cursor()
    return (
        cur.execute("SELECT * FROM _vecdb.collections ORDER BY ALL").fetchall(),
        cur.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() "
            "WHERE schema_name = '_vecdb' OR table_name = 'docs' ORDER BY ALL"
        ).fetchall(),
        cur.execute("SELECT * FROM _vecdb.log_docs ORDER BY ALL").fetchall(),
    )


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=8))
def test_accepted_is_exactly_what_runs(confined_db: Any, pieces: list[str]) -> None:
    db = confined_db
    text = " ".join(pieces)
    before = _internals(db)
    log: list[str] = []
    real = db._cursor()
    db._cursor = lambda: Recorder(real, log)
    try:
        db.sql(text).fetchall()
        accepted = True
    except VecdbError as e:
        assert not isinstance(e, InternalError), f"{text!r}: {e!r}"
        accepted = False
    finally:
        del db._cursor
    assert _internals(db) == before, text
    if not accepted or not log:
        return
    checked = parse(text, confined=True)
    ran = [s for s in log if s not in ("BEGIN TRANSACTION READ ONLY", "ROLLBACK")]
    assert len(ran) == 1, (text, ran)
    assert verify.kinds(ran[0]) == (checked.kind,), (text, ran)
    confine.check_duckdb(ran[0])
    confine.check(parse(ran[0], confined=True).tree)
    assert "--" not in ran[0] and "/*" not in ran[0], (text, ran)
