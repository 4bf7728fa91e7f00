"""Searches whose SELECT list is ids, distances and plain columns skip DuckDB.

Their answer must be the one DuckDB gives for the same statement run exactly: same rows,
and the same distances to float32 rounding.
"""

from __future__ import annotations

import numpy as np
import pytest

import vecdb
from tests.sql.conftest import fill

CASES = [
    # (metric, SQL, direct?)
    ("cosine", "SELECT id, cosine(vec, $q) AS d FROM t ORDER BY d LIMIT 7", True),
    (
        "cosine",
        "SELECT t.id AS i, cosine_similarity(vec, $q) AS s FROM t WHERE year > 2000 "
        "ORDER BY cosine_similarity(vec, $q) DESC LIMIT 5 OFFSET 2",
        True,
    ),
    ("l2", "SELECT id, l2(vec, $q) AS d FROM t WHERE 'db' = ANY(tags) ORDER BY d LIMIT 4", True),
    (
        "ip",
        "SELECT id, dot(vec, $q) AS s, ip_distance(vec, $q) AS d FROM t "
        "ORDER BY ip_distance(vec, $q) LIMIT 6",
        True,
    ),
    ("cosine", "SELECT id, title, cosine(vec, $q) AS d FROM t ORDER BY d LIMIT 3", True),
    (
        "l2",
        "SELECT title, tags, year, id FROM t WHERE year > 2000 ORDER BY l2(vec, $q) LIMIT 4",
        True,
    ),
    ("cosine", "SELECT id, upper(title) AS u FROM t ORDER BY cosine(vec, $q) LIMIT 3", False),
    ("cosine", "SELECT id + 1 AS x FROM t ORDER BY cosine(vec, $q) LIMIT 3", False),
    ("cosine", "SELECT id, cosine(vec, $q) FROM t ORDER BY cosine(vec, $q) LIMIT 3", False),
]


@pytest.mark.parametrize("metric,sql,direct", CASES)
def test_direct_results_equal_duckdb(metric: str, sql: str, direct: bool) -> None:
    with vecdb.connect() as db:
        fill(db, "t", 400, 6, metric, seed=3, index="exact")
        q = np.random.default_rng(9).standard_normal(6).astype(np.float32)
        res = db.sql(sql, {"q": q})
        assert bool(res.plan and res.plan[0].get("direct")) is direct
        got = res.fetchall()
        exact_sql = (
            sql.replace("cosine_similarity(", "array_cosine_similarity(")
            .replace("cosine(", "array_cosine_distance(")
            .replace("l2(", "array_distance(")
            .replace("ip_distance(", "array_negative_inner_product(")
            .replace("dot(", "array_inner_product(")
            .replace("$q", "$q::FLOAT[6]")
        )
        want = db._cursor().execute(exact_sql, {"q": q.tolist()}).fetchall()
        assert len(got) == len(want) > 0
        assert res.columns == [
            d[0] for d in db._cursor().execute(exact_sql, {"q": q.tolist()}).description
        ]
        for g, w in zip(got, want):
            for a, b in zip(g, w):
                assert a == pytest.approx(b, abs=1e-5) if isinstance(b, float) else a == b
