"""Rows at index speed (issue #11): hits, get() and direct SQL read the row store, and what
they return equals DuckDB's own answer, from the same snapshot as the ids."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import vecdb

COLUMNS = {"name": "VARCHAR", "bucket": "INTEGER", "score": "DOUBLE", "tags": "VARCHAR[]"}


def _rows(ids: np.ndarray, rng: np.random.Generator) -> list[dict]:
    return [
        {
            "name": None if i % 7 == 0 else f"n{i}",
            "bucket": int(rng.integers(0, 100)),
            "score": float(rng.random()),
            "tags": [f"t{i % 3}"] if i % 2 else None,
        }
        for i in ids.tolist()
    ]


def _make(db, metric: str, index: str, n: int = 600, dim: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    params = {"ef_search": 400} if index == "hnsw" else None  # exact answers: an oracle
    c = db.create_collection(
        "c", dim=dim, metric=metric, index=index, columns=COLUMNS, index_params=params
    )
    ids = np.arange(n)
    c.add(ids, rng.normal(size=(n, dim)).astype(np.float32), _rows(ids, rng))
    return c, rng


def _duckdb_rows(db, ids: list, cols: list[str]) -> dict:
    sel = ", ".join(["id", *cols])
    got = db.sql(f"SELECT {sel} FROM c WHERE id IN (SELECT unnest($ids))", {"ids": ids})
    return {r[0]: dict(zip(cols, r[1:])) for r in got.fetchall()}


@pytest.mark.parametrize("metric,index", [("cosine", "hnsw"), ("l2", "exact"), ("ip", "ivf")])
def test_search_include_equals_duckdb(metric: str, index: str) -> None:
    with vecdb.connect() as db:
        c, rng = _make(db, metric, index)
        # writes after the bulk load: upsert replaces rows, SQL UPDATE/DELETE change them
        c.upsert([3, 4], rng.normal(size=(2, 8)), [{"name": "re3"}, {"bucket": 7}])
        db.sql("UPDATE c SET name = 'upd' WHERE bucket < 10")
        c.delete(where="bucket = 50")
        for where in (None, "bucket < 30", "name LIKE 'n1%'"):
            q = rng.normal(size=8).astype(np.float32)
            hits = c.search(q, k=15, where=where, include="*")
            want = _duckdb_rows(db, [h.id for h in hits], list(COLUMNS))
            assert hits and all(h.row == want[h.id] for h in hits)
            one = c.search(q, k=5, where=where, include=["score"])
            assert [h.row for h in one] == [{"score": want[h.id]["score"]} for h in one]
        recs = c.get([5, 3, 99999, 4])
        want = _duckdb_rows(db, [5, 3, 4], list(COLUMNS))
        assert [r.id for r in recs] == [5, 3, 4]
        assert all(r.row == want[r.id] for r in recs)


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_include_vec_returns_vectors_as_written(metric: str) -> None:
    with vecdb.connect() as db:
        c, rng = _make(db, metric, "hnsw", n=200)
        hits = c.search(rng.normal(size=8), k=5, include=["vec", "name"])
        stored = {
            r[0]: np.asarray(r[1], np.float32) for r in db.sql("SELECT id, vec FROM c").fetchall()
        }
        for h in hits:
            assert set(h.row) == {"vec", "name"}
            np.testing.assert_array_equal(h.row["vec"], stored[h.id])
        for r in c.get([h.id for h in hits]):
            np.testing.assert_array_equal(r.vector, stored[r.id])


def test_rows_survive_reopen_and_compact(tmp_path) -> None:
    with vecdb.connect(tmp_path) as db:
        c, rng = _make(db, "l2", "hnsw", n=300)
        c.checkpoint()
        c.upsert([1], rng.normal(size=(1, 8)), [{"name": "after-checkpoint"}])
    with vecdb.connect(tmp_path) as db:
        c = db.get_collection("c")
        assert c.get([1])[0].row["name"] == "after-checkpoint"
        c.delete(where="id < 200")
        c.compact()
        hits = c.search(np.zeros(8), k=50, include="*")
        want = _duckdb_rows(db, [h.id for h in hits], list(COLUMNS))
        assert len(hits) == 50 and all(h.row == want[h.id] for h in hits)


def test_concurrent_writers_never_yield_a_hit_without_its_row() -> None:
    with vecdb.connect() as db:
        c = db.create_collection("c", dim=4, metric="l2", columns={"tag": "VARCHAR"})
        rng = np.random.default_rng(1)
        n = 400
        c.add(np.arange(n), rng.normal(size=(n, 4)), [{"tag": f"v{i}"} for i in range(n)])
        stop = threading.Event()
        errors: list[str] = []

        def writer(seed: int) -> None:
            r = np.random.default_rng(seed)
            while not stop.is_set():
                ids = r.choice(n, size=20, replace=False)
                c.delete(ids=ids)
                c.upsert(ids, r.normal(size=(20, 4)), [{"tag": f"v{i}"} for i in ids.tolist()])

        def reader(seed: int) -> None:
            r = np.random.default_rng(seed)
            for j in range(300):
                where = None if j % 2 else "tag IS NOT NULL"
                for h in c.search(r.normal(size=4), k=10, where=where, include=["tag"]):
                    if h.row is None or h.row.get("tag") != f"v{h.id}":
                        errors.append(f"{h}")
                got = db.sql(
                    "SELECT id, tag, l2(vec, $q) AS d FROM c ORDER BY d LIMIT 10",
                    {"q": r.normal(size=4).astype(np.float32)},
                )
                for i, tag, _ in got.fetchall():
                    if tag != f"v{i}":
                        errors.append(f"sql {i} {tag}")

        writers = [threading.Thread(target=writer, args=(s,)) for s in (10, 11)]
        readers = [threading.Thread(target=reader, args=(s,)) for s in (20, 21)]
        for t in writers + readers:
            t.start()
        for t in readers:
            t.join()
        stop.set()
        for t in writers:
            t.join()
        assert errors == []


def _same(a: object, b: object) -> bool:
    if isinstance(b, float):
        return a == pytest.approx(b, rel=1e-5, abs=1e-5)
    if isinstance(b, (list, tuple)) and b and isinstance(b[0], float):  # FLOAT[n]
        return a == pytest.approx(list(b), rel=1e-6)
    return a == b


SHAPES = [
    "SELECT id, name, l2(vec, $q) AS d FROM c ORDER BY d LIMIT 7",
    "SELECT name, bucket, id FROM c WHERE bucket < 20 ORDER BY l2(vec, $q) LIMIT 5",
    "SELECT c.id AS i, score AS s, tags, l2(vec, $q) AS d FROM c ORDER BY d LIMIT 4 OFFSET 3",
    "SELECT id, vec, name FROM c WHERE name IS NOT NULL ORDER BY l2(vec, $q) LIMIT 6",
    "SELECT id, name FROM c WHERE bucket = 999 ORDER BY l2(vec, $q) LIMIT 6",
]


@pytest.mark.parametrize("sql", SHAPES)
@pytest.mark.parametrize("index", ["hnsw", "exact"])
def test_direct_sql_with_columns_equals_duckdb(sql: str, index: str) -> None:
    with vecdb.connect() as db:
        c, rng = _make(db, "l2", index, n=500)
        for _ in range(5):
            q = {"q": rng.normal(size=8).astype(np.float32)}
            got = db.sql(sql, q)
            assert got.plan and got.plan[0].get("direct") is True
            exact = db._cursor().sql(
                sql.replace("l2(vec, $q)", "array_distance(vec, $q::FLOAT[8])"),
                params={"q": q["q"].tolist()},
            )
            want = exact.fetchall()
            rows = got.fetchall()
            assert got.columns == [d[0] for d in exact.description]
            assert len(rows) == len(want)
            for a, b in zip(rows, want):  # distances agree to float32 rounding
                assert len(a) == len(b) and all(map(_same, a, b)), (a, b)
            assert got.to_arrow().num_rows == len(want)


def test_non_direct_shapes_still_run_in_duckdb() -> None:
    with vecdb.connect() as db:
        _make(db, "l2", "exact", n=100)
        q = {"q": np.zeros(8, np.float32)}
        r = db.sql("SELECT upper(name) AS u, id FROM c ORDER BY l2(vec, $q) LIMIT 3", q)
        assert not r.plan[0].get("direct") and len(r.fetchall()) == 3


def test_search_table_and_to_polars() -> None:
    with vecdb.connect() as db:
        c, rng = _make(db, "l2", "exact", n=50)
        q = rng.normal(size=(2, 8)).astype(np.float32)
        res = c.search_table(q, k=3, include=["name", "vec"])
        tbl = res.to_arrow()
        assert tbl.column_names == ["query", "id", "distance", "name", "vec"]
        assert tbl.column("query").to_pylist() == [0, 0, 0, 1, 1, 1]
        hits = c.search(q, k=3, include=["name"])
        assert tbl.column("id").to_pylist() == [h.id for hl in hits for h in hl]
        assert tbl.column("name").to_pylist() == [h.row["name"] for hl in hits for h in hl]
        assert tbl.schema.field("name").type == c.column_types["name"]
        try:
            import polars  # noqa: F401
        except ImportError:
            with pytest.raises(ImportError, match=r"vecdb\[polars\]"):
                res.to_polars()
        else:
            assert res.to_polars().height == 6


def test_memory_limit_is_passed_to_duckdb() -> None:
    with vecdb.connect(memory_limit="256MB") as db:
        got = db._cursor().execute("SELECT current_setting('memory_limit')").fetchone()[0]
        assert got.replace(" ", "").upper().startswith(("256", "244"))  # MB or MiB
    with pytest.raises(vecdb.errors.InvalidArgumentError, match="memory_limit"):
        vecdb.connect(memory_limit="lots")
