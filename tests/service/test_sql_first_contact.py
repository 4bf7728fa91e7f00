"""SQL a new user writes first: literal vectors, parse errors that point at the token, a
clear error for HNSW on a table that is not a collection; the same on every transport."""

from __future__ import annotations

from typing import Any

import pytest

from vecdb.errors import DimensionMismatchError, SQLParseError, UnsupportedQueryError


def _seed(db: Any) -> None:
    c = db.create_collection("docs", dim=4, metric="cosine", columns={"year": "INTEGER"})
    c.upsert(
        ids=[1, 2, 3],
        vectors=[[1, 0, 0, 0], [0, 1, 0, 0], [0.9, 0.1, 0, 0]],
        rows=[{"year": 2020}, {"year": 2021}, {"year": 2022}],
    )


def test_literal_vector_searches(backend: Any) -> None:
    _seed(backend)
    rows = backend.sql("SELECT id FROM docs ORDER BY cosine(vec, [1, 0, 0, 0]) LIMIT 2").fetchall()
    assert [r[0] for r in rows] == [1, 3]
    rows = backend.sql(
        "SELECT id, l2(vec, [0, 1.0, 0, 0]) AS d FROM docs WHERE year > 2020 ORDER BY d LIMIT 1"
    ).fetchall()
    assert rows[0][0] == 2 and abs(rows[0][1]) < 1e-6
    with pytest.raises(DimensionMismatchError):
        backend.sql("SELECT id FROM docs ORDER BY cosine(vec, [1, 0, 0]) LIMIT 1")


def test_parse_error_names_the_token(backend: Any) -> None:
    with pytest.raises(SQLParseError) as info:
        backend.sql("SELEC id FROM docs")
    msg = str(info.value)
    assert '"SELEC"' in msg and "^" in msg


def test_hnsw_on_a_plain_table_says_what_a_collection_is(backend: Any) -> None:
    if type(backend).__name__ == "ShardedDatabase":
        with pytest.raises(UnsupportedQueryError, match="create_collection"):
            backend.sql("CREATE TABLE emb (id BIGINT PRIMARY KEY, embedding FLOAT[4])")
        return
    backend.sql("CREATE TABLE emb (id BIGINT PRIMARY KEY, embedding FLOAT[4])")
    with pytest.raises(UnsupportedQueryError, match="column named vec"):
        backend.sql("CREATE INDEX e ON emb USING HNSW (embedding)")
