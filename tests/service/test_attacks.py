"""The attack corpus (tests/sql/fixtures/attacks.sql) against a live confined server.

Every statement goes over REST and gRPC, every ``where:`` case through count, search and
delete on all three transports. Each must be refused as its line says (or be harmless), and
afterwards: the catalog, the internal tables, every table's rows, DuckDB's settings and the
scratch directory are exactly as before, the index agrees with DuckDB, and the server answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import vecdb
from tests.service.conftest import RestDatabase, running_server
from tests.sql.golden import load
from vecdb.errors import InternalError, PermissionDeniedError, VecdbError

CASES = [(s.replace("\\n", "\n"), e) for s, e in load("attacks.sql")]
STATEMENTS = [(s, e) for s, e in CASES if not s.startswith("where: ")]
WHERES = [(s[len("where: ") :], e) for s, e in CASES if s.startswith("where: ")]


def test_corpus_is_large_and_well_formed() -> None:
    assert len(CASES) >= 100
    assert {e for _, e in CASES} <= {"denied", "refused", "harmless"}


class Target:
    """One live server, its trusted view of the data and its scratch directory."""

    def __init__(self, srv: Any, tmp: Path) -> None:
        self.srv = srv
        self.tmp = tmp
        self.rest = RestDatabase(srv.http_url)
        self.grpc = vecdb.connect(srv.grpc_url)

    def snapshot(self) -> dict[str, Any]:
        cur = self.srv.db._cursor()
        tables = cur.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() ORDER BY 1, 2"
        ).fetchall()
        rows = {
            f"{s}.{t}": cur.execute(f'SELECT * FROM "{s}"."{t}" ORDER BY ALL').fetchall()
            for s, t in tables
        }
        settings = cur.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN "
            "('enable_external_access', 'lock_configuration', 'threads', 'memory_limit')"
        ).fetchall()
        other = cur.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchall()
        index = {
            name: self.srv.db.get_collection(name).count()
            for name in self.srv.db.list_collections()
        }
        files = sorted(str(p.relative_to(self.tmp)) for p in self.tmp.rglob("*"))
        return {
            "tables": tables,
            "rows": rows,
            "settings": settings,
            "views": other,
            "index": index,
            "files": files,
            "databases": cur.execute("SELECT database_name FROM duckdb_databases()").fetchall(),
        }

    def alive(self) -> None:
        assert httpx.get(self.srv.http_url + "/healthz", timeout=5).status_code == 200
        assert self.grpc.sql("SELECT 1 AS one").fetchall() == [(1,)]
        # the shared connection is not wedged in a transaction: a write still commits
        docs = self.grpc.get_collection("docs")
        docs.upsert(ids=[500], vectors=[[0.5, 0.5, 0.5]], rows=[{"year": 1, "title": "probe"}])
        assert docs.delete(ids=[500]) == 1
        for name in self.srv.db.list_collections():
            sql = self.srv.db._cursor().execute(f'SELECT count(*) FROM "{name}"').fetchall()
            assert sql[0][0] == self.srv.db.get_collection(name).count()


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    root = tmp_path_factory.mktemp("attacks")
    tmp = root / "scratch"
    tmp.mkdir()
    with running_server(root / "data") as srv:
        db = srv.db
        docs = db.create_collection(
            "docs", dim=3, metric="cosine", columns={"year": "INTEGER", "title": "VARCHAR"}
        )
        rng = np.random.default_rng(1)
        docs.upsert(
            ids=list(range(1, 21)),
            vectors=rng.normal(size=(20, 3)).astype("float32"),
            rows=[{"year": 2000 + i, "title": f"t{i}"} for i in range(20)],
        )
        db.create_collection("docs2", dim=3, metric="l2")
        t = Target(srv, tmp)
        yield t
        t.grpc.close()
        t.rest.close()


def _outcome(call: Any) -> VecdbError | None:
    try:
        call()
    except VecdbError as e:
        return e
    return None


def _judge(err: VecdbError | None, expected: str, what: str) -> None:
    if expected == "denied":
        assert isinstance(err, PermissionDeniedError), f"{what}: {err!r}"
    elif expected == "refused":
        assert err is not None and not isinstance(err, InternalError), f"{what}: {err!r}"
    else:
        assert not isinstance(err, InternalError), f"{what}: {err!r}"


@pytest.mark.parametrize("statement,expected", STATEMENTS, ids=[s[:60] for s, _ in STATEMENTS])
def test_statement(target: Target, statement: str, expected: str) -> None:
    text = statement.replace("{tmp}", str(target.tmp))
    before = target.snapshot()
    for name, db in (("rest", target.rest), ("grpc", target.grpc)):
        err = _outcome(lambda db=db: db.sql(text).fetchall())
        _judge(err, expected, f"{name}: {statement}")
        assert target.snapshot() == before, f"{name} changed state: {statement}"
    target.alive()


@pytest.mark.parametrize("where,expected", WHERES, ids=[s[:60] for s, _ in WHERES])
def test_where(target: Target, where: str, expected: str) -> None:
    before = target.snapshot()
    q = [1.0, 0.0, 0.0]
    for name, db in (("embedded", target.srv.db), ("grpc", target.grpc), ("rest", target.rest)):
        docs = db.get_collection("docs")
        calls = {
            "count": lambda docs=docs: docs.count(where=where),
            "search": lambda docs=docs: docs.search(q, k=3, where=where),
        }
        if expected != "harmless":  # a harmless predicate would delete real rows
            calls["delete"] = lambda docs=docs: docs.delete(where=where)
        for op, call in calls.items():
            _judge(_outcome(call), expected, f"{name} {op}: {where}")
            assert target.snapshot() == before, f"{name} {op} changed state: {where}"
    target.alive()
