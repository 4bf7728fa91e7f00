"""DDL and DML through SQL keep the index in step: searches agree with exact DuckDB."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vecdb
from vecdb.errors import (
    AlreadyExistsError,
    DimensionMismatchError,
    NotFoundError,
    SQLError,
    SQLParseError,
)

DIM = 8
ops = st.lists(
    st.tuples(
        st.sampled_from(["insert", "update_vec", "update_meta", "delete"]),
        st.integers(0, 60),
        st.integers(0, 2**31),
    ),
    min_size=5,
    max_size=40,
)


def _exact_ids(db: vecdb.Database, q: np.ndarray, where: str, k: int) -> list[int]:
    sql = (
        f"SELECT id FROM c WHERE {where} ORDER BY array_cosine_distance(vec, $q::FLOAT[{DIM}]) "
        f"LIMIT {k}"
    )
    return [r[0] for r in db._cursor().execute(sql, {"q": q}).fetchall()]


@settings(max_examples=25, deadline=None)
@given(ops=ops, seed=st.integers(0, 2**31))
def test_random_dml_then_search_agrees_with_exact(ops, seed) -> None:
    rng = np.random.default_rng(seed)
    with vecdb.connect() as db:
        db.sql(f"CREATE TABLE c (id BIGINT PRIMARY KEY, g INTEGER, vec FLOAT[{DIM}])")
        db.sql("CREATE INDEX c_vec ON c USING HNSW (vec) WITH (metric = 'cosine', m = 8)")
        for i in range(40):
            db.sql("INSERT INTO c VALUES (?, ?, ?)", [i, i % 3, rng.standard_normal(DIM)])
        for op, key, s in ops:
            v = np.random.default_rng(s).standard_normal(DIM)
            if op == "insert":
                db.sql(
                    "INSERT OR REPLACE INTO c VALUES ($id, $g, $v)",
                    {"id": 100 + key, "g": key % 3, "v": v},
                )
            elif op == "update_vec":
                db.sql("UPDATE c SET vec = $v WHERE id = $id", {"v": v, "id": key})
            elif op == "update_meta":
                db.sql("UPDATE c SET g = g + 1 WHERE id % 5 = ?", [key % 5])
            else:
                db.sql("DELETE FROM c WHERE id = ? OR id = ?", [key, 100 + key])
        coll = db.get_collection("c")
        n = db.sql("SELECT count(*) FROM c").fetchone()[0]
        assert coll.count() == n
        for where in ("true", "g = 1", "g >= 2"):
            q = rng.standard_normal(DIM).astype(np.float32)
            got = db.sql(
                f"SELECT id FROM c WHERE {where} ORDER BY cosine(vec, $q) LIMIT 10", {"q": q}
            )
            assert got.plan
            got_ids = [r[0] for r in got.fetchall()]
            want = _exact_ids(db, q, where, 10)
            assert len(got_ids) == len(want)
            if want:
                assert len(set(got_ids) & set(want)) / len(want) >= 0.9
            hits = coll.search(q, k=10, where=None if where == "true" else where)
            assert [h.id for h in hits] == got_ids


def test_ddl_round_trip_and_python_api_interplay() -> None:
    with vecdb.connect() as db:
        db.sql("CREATE TABLE docs (id VARCHAR PRIMARY KEY, title VARCHAR, vec VECTOR(3))")
        docs = db.get_collection("docs")
        assert (docs.dim, docs.id_type, docs.index_kind) == (3, "str", "exact")
        docs.upsert(
            ids=["a", "b"], vectors=[[1, 0, 0], [0, 1, 0]], rows=[{"title": "x"}, {"title": "y"}]
        )
        assert db.sql("SELECT id FROM docs ORDER BY id").fetchall() == [("a",), ("b",)]
        db.sql("CREATE INDEX docs_vec ON docs USING IVF (vec) WITH (metric='l2', nlist=1)")
        assert (docs.index_kind, docs.metric) == ("ivf", "l2")
        r = db.sql(
            "SELECT id, l2(vec, ?) FROM docs ORDER BY l2(vec, ?) LIMIT 1", [[0, 1, 0], [0, 1, 0]]
        )
        assert r.fetchall() == [("b", 0.0)] and r.plan[0]["collection"] == "docs"
        db.sql("DROP INDEX docs_vec")
        assert docs.index_kind == "exact"
        db.sql("INSERT INTO docs SELECT 'c', 'z', [0, 0, 1]::FLOAT[3]")
        assert docs.count() == 3
        db.sql("TRUNCATE docs")
        assert docs.count() == 0
        db.sql("DROP TABLE docs")
        assert db.list_collections() == []


def test_errors_change_nothing() -> None:
    with vecdb.connect() as db:
        db.sql("CREATE TABLE c (id BIGINT PRIMARY KEY, vec FLOAT[2])")
        db.sql("INSERT INTO c VALUES (1, [1, 0])")
        with pytest.raises(AlreadyExistsError):
            db.sql("INSERT INTO c VALUES (2, [0, 1]), (1, [1, 1])")
        with pytest.raises(DimensionMismatchError):
            db.sql("SELECT id FROM c ORDER BY cosine(vec, ?) LIMIT 1", [[1, 0, 0]])
        with pytest.raises(NotFoundError):
            db.sql("SELECT * FROM missing")
        with pytest.raises(SQLError) as info:
            db.sql("SELECT nope FROM c")
        assert "nope" in str(info.value)
        with pytest.raises(SQLParseError) as perr:
            db.sql("SELECT FROM WHERE")
        assert perr.value.errors and "line" in perr.value.errors[0]
        assert db.sql("SELECT id FROM c").fetchall() == [(1,)]
        assert db.get_collection("c").count() == 1


def test_plan_cache_and_explain() -> None:
    with vecdb.connect() as db:
        db.sql("CREATE TABLE c (id BIGINT PRIMARY KEY, g INTEGER, vec FLOAT[2])")
        db.sql("CREATE INDEX i ON c USING HNSW (vec)")
        db.sql("INSERT INTO c SELECT i, i % 2, [cos(i), sin(i)]::FLOAT[2] FROM range(50) t(i)")
        text = "SELECT id FROM c WHERE g = $g ORDER BY cosine(vec, $q) LIMIT 3"
        db.sql(text, {"g": 1, "q": [1, 0]})
        entry = db.sql_state.cache[text]  # the plan cache lives on the Database
        db.sql(text, {"g": 0, "q": [0, 1]})
        assert db.sql_state.cache[text] is entry and entry.plans
        rows = db.sql("EXPLAIN " + text, {"g": 1, "q": [1, 0]}).to_pandas()
        assert rows.loc[0, "strategy"] in ("index", "index+allowlist", "exact-allowlist", "exact")
        assert rows.loc[0, "matching_rows"] == 25
        a = db.sql("EXPLAIN ANALYZE " + text, {"g": 1, "q": [1, 0]}).to_pandas()
        assert a.loc[0, "recall"] == 1.0 and a.loc[0, "time_ms"] > 0
        db.sql("DROP INDEX i")
        assert not entry.plans  # DDL invalidates cached plans
