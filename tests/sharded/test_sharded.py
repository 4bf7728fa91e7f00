"""A 2-shard database against one node on the same data: same results, same errors.

The exact index makes both sides exact, so results must be identical (ids, distances and
rows), filtered or not, including filters that match fewer rows than k.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vecdb
from tests.sharded.conftest import COLUMNS, DIM, N, dataset
from vecdb.errors import (
    AlreadyExistsError,
    DimensionMismatchError,
    InvalidArgumentError,
    NotFoundError,
    SQLParseError,
    UnsupportedQueryError,
)


def hits(res: Any) -> Any:
    if res and isinstance(res[0], list):
        return [hits(r) for r in res]
    return [(h.id, h.distance, h.row) for h in res]


def test_rows_are_spread_over_both_shards(pair: tuple[Any, Any]) -> None:
    _, two = pair
    stats = two.shard_stats()
    rows = [s["rows"]["docs"] for s in stats]
    assert len(rows) == 2 and sum(rows) == N and min(rows) > N // 3
    assert two.get_collection("docs").count() == N


@pytest.mark.parametrize(
    "where, params",
    [
        (None, None),
        ("year >= 2010", None),
        ("year = $y AND title LIKE 't1%'", {"y": 2001}),  # a handful of rows: fewer than k
        ("year = 1800", None),  # nothing matches
        ("score < 0.5 OR year > 2020", None),
    ],
)
def test_search_matches_one_node(pair: tuple[Any, Any], where: str | None, params: Any) -> None:
    one, two = pair
    _, vecs, _ = dataset()
    q = vecs[5] + 0.05
    a = one.get_collection("docs").search(q, k=25, where=where, params=params, include="*")
    b = two.get_collection("docs").search(q, k=25, where=where, params=params, include="*")
    assert hits(b) == hits(a)
    if where is not None and "t1%" in where:
        assert 0 < len(a) < 25
    batch = np.stack([vecs[0], vecs[100], vecs[599]])
    ra = one.get_collection("docs").search(batch, k=7, where=where, params=params)
    rb = two.get_collection("docs").search(batch, k=7, where=where, params=params)
    assert hits(rb) == hits(ra)


def test_string_ids_and_l2(pair: tuple[Any, Any]) -> None:
    one, two = pair
    _, vecs, _ = dataset()
    a = one.get_collection("words").search(vecs[3:6], k=9)
    b = two.get_collection("words").search(vecs[3:6], k=9)
    assert hits(b) == hits(a)
    got = two.get_collection("words").get(["w7", "nope", "w0"])
    assert [r.id for r in got] == ["w7", "w0"]
    np.testing.assert_array_equal(got[0].vector, vecs[7])


def test_get_count_explain(pair: tuple[Any, Any]) -> None:
    one, two = pair
    ids, _, _ = dataset()
    a, b = one.get_collection("docs"), two.get_collection("docs")
    ask = [int(ids[9]), 12345, int(ids[0]), int(ids[300])]
    assert [(r.id, r.vector.tolist(), r.row) for r in b.get(ask)] == [
        (r.id, r.vector.tolist(), r.row) for r in a.get(ask)
    ]
    assert [r.row for r in b.get(ask[:1], include=["year"])] == [
        r.row for r in a.get(ask[:1], include=["year"])
    ]
    for where in (None, "year < 2000", "title = 't3'"):
        assert b.count(where=where) == a.count(where=where)
    plan = b.explain(np.ones(DIM), k=5, where="year = 2001")
    assert plan["matching_rows"] == a.count(where="year = 2001")
    assert len(plan["shards"]) == 2
    d = b.describe()
    assert d["count"] == N and d["columns"] == COLUMNS and d["index"] == "exact"


VECTOR_SQL = [
    "SELECT id, title, cosine(vec, $q) AS dist FROM docs WHERE year >= 2005 "
    "ORDER BY cosine(vec, $q) LIMIT 12",
    "SELECT * EXCLUDE (vec) FROM docs ORDER BY cosine(vec, $q) LIMIT 5 OFFSET 3",
    "SELECT id FROM docs WHERE year = 2001 AND title = 't1' ORDER BY cosine(vec, $q) LIMIT 10",
    "SELECT id, year FROM docs WHERE year BETWEEN 1995 AND 1996 ORDER BY year DESC, id LIMIT 8",
    "SELECT id, score FROM docs WHERE score > 0.9 ORDER BY 2, 1",
    "SELECT count(*) AS n, sum(year) AS s, min(score), max(title) FROM docs WHERE year > 2000",
    "SELECT count(*) FROM docs WHERE year = 1800",
    "SELECT 40 + 2 AS x",
]


@pytest.mark.parametrize("sql", VECTOR_SQL)
def test_sql_matches_one_node(pair: tuple[Any, Any], sql: str) -> None:
    one, two = pair
    _, vecs, _ = dataset()
    params = {"q": vecs[11]} if "$q" in sql else None
    a = one.sql(sql, params)
    b = two.sql(sql, params)
    assert b.columns == a.columns
    rows_a, rows_b = a.fetchall(), b.fetchall()
    if "sum(" in sql:  # float sums may add up in another order
        assert rows_b[0][:2] == rows_a[0][:2] and rows_b[0][3:] == rows_a[0][3:]
        assert rows_b[0][2] == pytest.approx(rows_a[0][2])
    else:
        assert rows_b == rows_a


def test_sql_positional_params_and_limit_param(pair: tuple[Any, Any]) -> None:
    one, two = pair
    _, vecs, _ = dataset()
    sql = "SELECT id FROM docs WHERE year > ? ORDER BY l2(vec, ?) LIMIT ?"
    # l2 ordering on a cosine collection: runs exactly in DuckDB on each shard
    args = [2000, vecs[2].tolist(), 6]
    assert two.sql(sql, args).fetchall() == one.sql(sql, args).fetchall()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT year, count(*) FROM docs GROUP BY year",
        "SELECT avg(score) FROM docs",
        "SELECT DISTINCT title FROM docs",
        "SELECT a.id FROM docs a JOIN words b ON a.title = b.id",
        "SELECT id FROM docs WHERE id IN (SELECT id FROM docs LIMIT 3)",
        "WITH x AS (SELECT id FROM docs) SELECT * FROM x",
        "DELETE FROM docs WHERE year = 1990",
        "SELECT count(DISTINCT title) FROM docs",
        "SELECT id, row_number() OVER () FROM docs",
    ],
)
def test_sql_refused_names_what_works(pair: tuple[Any, Any], sql: str) -> None:
    _, two = pair
    with pytest.raises(UnsupportedQueryError, match="vector searches"):
        two.sql(sql)
    assert two.get_collection("docs").count() == N


def test_same_errors_as_one_node(pair: tuple[Any, Any]) -> None:
    one, two = pair
    cases = [
        lambda db: db.get_collection("docs").search(np.ones(DIM + 1), k=3),
        lambda db: db.get_collection("docs").search(np.ones(DIM), k=0),
        lambda db: db.get_collection("docs").search(np.ones(DIM), k=3, where="nosuch = 1"),
        lambda db: db.get_collection("docs").search(np.ones(DIM), k=3, where="year >>> 1"),
        lambda db: db.get_collection("docs").upsert(ids=[1], vectors=np.zeros((1, DIM))),
        lambda db: db.get_collection("docs").upsert(ids=[1, 1], vectors=np.ones((2, DIM))),
        lambda db: db.get_collection("docs").upsert(ids=[1], vectors=np.ones((1, 3))),
        lambda db: db.get_collection("docs").get([1], include=["nosuch"]),
        lambda db: db.get_collection("nope"),
        lambda db: db.create_collection("docs", dim=DIM),
        lambda db: db.create_collection("bad name!", dim=DIM),
        lambda db: db.drop_collection("nope"),
        lambda db: db.sql("SELEC 1"),
        lambda db: db.sql("SELECT id FROM nosuch"),
    ]
    for case in cases:
        with pytest.raises(vecdb.VecdbError) as ea:
            case(one)
        with pytest.raises(vecdb.VecdbError) as eb:
            case(two)
        assert type(eb.value) is type(ea.value), (ea.value, eb.value)
    assert issubclass(type(ea.value), NotFoundError)
    assert two.get_collection("docs").count() == N
    assert two.list_collections() == one.list_collections() == ["docs", "words"]


def test_writes_route_and_fail_whole(ray_session: Any, tmp_path: Path, pair: Any) -> None:
    _, two = pair
    c = two.create_collection(
        "w", dim=4, metric="l2", index="hnsw", columns={"n": "INTEGER"}, exist_ok=True
    )
    try:
        assert c.add(ids=list(range(40)), vectors=np.eye(4)[np.arange(40) % 4]) == 40
        # an existing id on one shard: nothing is written anywhere
        with pytest.raises(AlreadyExistsError, match="ids already exist"):
            c.add(ids=[100, 101, 102, 5], vectors=np.ones((4, 4)))
        assert c.count() == 40 and c.get([100, 101, 102]) == []
        with pytest.raises(DimensionMismatchError):
            c.upsert(ids=[200, 201], vectors=np.ones((2, 5)))
        with pytest.raises(InvalidArgumentError):
            c.upsert(ids=[200, 201], vectors=[[1, 2, 3, np.nan], [1, 1, 1, 1]])
        assert c.count() == 40
        # a value only DuckDB refuses (INTEGER overflow), on one id: that shard's part fails
        # whole, the other shard's part applies, and the error names both
        ids = list(range(300, 340))
        rows = [{"n": i} for i in ids]
        rows[7] = {"n": 2**40}
        with pytest.raises(InvalidArgumentError) as ei:
            c.upsert(ids=ids, vectors=np.ones((40, 4)), rows=rows)
        details = ei.value.details
        assert len(details["failed_shards"]) == 1 and len(details["applied_shards"]) == 1
        bad_shard = details["failed_shards"][0]
        split = two.layout.split(np.asarray(ids), "int")
        assert 7 in split[bad_shard].tolist()
        present = {r.id for r in c.get(ids)}
        assert present == {ids[p] for p in split[details["applied_shards"][0]].tolist()}
        # the retry, fixed, is idempotent: every row once
        rows[7] = {"n": 7}
        assert c.upsert(ids=ids, vectors=np.ones((40, 4)), rows=rows) == 40
        assert c.count() == 80
        assert c.delete(ids=ids[:10] + [999]) == 10
        assert c.delete(where="n >= $m", params={"m": 300}) == 30
        assert c.count() == 40
    finally:
        two.drop_collection("w")
    assert two.list_collections() == ["docs", "words"]


def test_layout_is_checked_on_open(pair: tuple[Any, Any]) -> None:
    _, two = pair
    with pytest.raises(InvalidArgumentError, match="2 shards; open it with shards=2"):
        vecdb.connect(two.path, shards=3)
    with pytest.raises(InvalidArgumentError, match="needs a directory"):
        vecdb.connect(None, shards=2)


def test_sql_parse_error_carries_position(pair: tuple[Any, Any]) -> None:
    _, two = pair
    with pytest.raises(SQLParseError) as ei:
        two.sql("SELECT id FROM docs WHERE")
    assert ei.value.errors == [] or "line" in ei.value.errors[0]


def test_sql_explain_shows_every_shard(pair: tuple[Any, Any]) -> None:
    one, two = pair
    _, vecs, _ = dataset()
    sql = "EXPLAIN SELECT id FROM docs WHERE year = 2001 ORDER BY cosine(vec, $q) LIMIT 3"
    res = two.sql(sql, {"q": vecs[1]})
    assert res.columns == ["shard", *one.sql(sql, {"q": vecs[1]}).columns]
    assert sorted({row[0] for row in res.fetchall()}) == [0, 1]
