"""Documents, embedding functions, full-text and hybrid search on 2 shards vs one node.

Both sides use the exact index and the same bag-of-words embedding function, so vector
rankings are identical; with global BM25 statistics (the default) full-text scores are one
node's (bit for bit on this small corpus, where no index merges postings), hence fused
rankings too.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from vecdb.errors import InvalidArgumentError
from vecdb.fulltext import CorpusStats

WORDS = (
    "vector index shard ray duckdb search keyword ranking hybrid fusion document embedding "
    "query filter recall latency router merge score token corpus"
).split()
DIM = 32


def bag_of_words(texts: list[str]) -> np.ndarray:
    out = np.full((len(texts), DIM), 0.01, dtype=np.float32)
    for i, t in enumerate(texts):
        for w in re.findall(r"\w+", t.lower()):
            out[i, zlib.crc32(w.encode()) % DIM] += 1
    return out


def corpus(n: int = 240, seed: int = 7) -> tuple[list[int], list[str], list[dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, len(WORDS) + 1)  # Zipf-like: some words common, some rare
    p /= p.sum()
    # every document of its own length: no two tie on BM25 or on their vector, so both
    # sides rank (and fuse) the same way whatever breaks ties
    docs = [" ".join(rng.choice(WORDS, size=3 + i, p=p)) for i in range(n)]
    ids = rng.choice(10**6, size=n, replace=False).tolist()
    rows = [{"year": 2000 + i % 25} for i in range(n)]
    return ids, docs, rows


@pytest.fixture(scope="module")
def texts(pair: tuple[Any, Any]) -> Iterator[tuple[Any, Any]]:
    """Collection ``notes`` (exact, fulltext, bag-of-words embedding) on both databases."""
    ids, docs, rows = corpus()
    out = []
    for db in pair:
        c = db.create_collection(
            "notes", embedding=bag_of_words, fulltext=True, index="exact",
            columns={"year": "INTEGER"},
        )  # fmt: skip
        assert c.add(ids=ids, documents=docs, rows=rows) == len(ids)
        out.append(c)
    yield out[0], out[1]
    for db in pair:
        db.drop_collection("notes")


def same(a: list[Any], b: list[Any]) -> None:
    """The same hits, scores bit for bit; rows tied on score may come in another order
    (one node breaks ties by insertion order, the router by shard), and the last tied
    group may hold other members when it is cut at k."""
    assert [h.distance for h in b] == [h.distance for h in a]
    last = a[-1].distance if a else None
    for d in {h.distance for h in a}:
        ga = {h.id: h.row for h in a if h.distance == d}
        gb = {h.id: h.row for h in b if h.distance == d}
        if d != last:
            assert gb == ga
        for i, row in gb.items():  # every row is its own, whatever the order
            assert row is None or i not in ga or row == ga[i]


@pytest.mark.parametrize("mode", ["vector", "fulltext", "hybrid"])
@pytest.mark.parametrize("where", [None, "year >= 2020", "year = 2003"])
def test_text_modes_match_one_node(texts: Any, mode: str, where: str | None) -> None:
    one, two = texts
    for q in ("ray shard router", "latency corpus", "vector"):
        kw = {"k": 8, "mode": mode, "where": where, "include": ["document", "year", "_scores"]}
        same(one.search(q, **kw), two.search(q, **kw))
    assert one.search("vector", k=8, mode=mode, where=where)


def test_weighted_fusion_text_param_and_own_vectors(texts: Any) -> None:
    one, two = texts
    fz = {"method": "weighted", "vector": 0.3, "text": 0.7}
    kw = {"k": 6, "mode": "hybrid", "text": "merge token", "fusion": fz}
    same(one.search("duckdb search", **kw), two.search("duckdb search", **kw))
    for c in (one, two):  # own vector with a document; a document replaced
        c.upsert(ids=[5], vectors=bag_of_words(["zebra"]), documents=["zebra stripes"])
    assert [h.id for h in two.search("zebra", k=3, mode="fulltext")] == [5]
    same(one.search("zebra", k=3, mode="hybrid"), two.search("zebra", k=3, mode="hybrid"))
    assert two.get([5], include=["document"])[0].row == {"document": "zebra stripes"}
    for c in (one, two):
        assert c.delete(ids=[5]) == 1
    assert two.search("zebra", k=3, mode="fulltext") == []


def test_bm25_is_global_not_per_shard(pair: tuple[Any, Any], texts: Any) -> None:
    """Per-shard statistics would give other scores: the global ones are what makes the
    sharded scores equal one node's."""
    _, two = pair
    one_c, two_c = texts
    want = [h.distance for h in one_c.search("hybrid fusion", k=20, mode="fulltext")]
    assert [h.distance for h in two_c.search("hybrid fusion", k=20, mode="fulltext")] == want
    two.bm25_stats = "shard"
    try:
        local = [h.distance for h in two_c.search("hybrid fusion", k=20, mode="fulltext")]
    finally:
        two.bm25_stats = "global"
    assert local != want
    np.testing.assert_allclose(sorted(local), sorted(want), rtol=0.25)  # close, not equal
    plan = two_c.explain("hybrid fusion", k=3, mode="hybrid")
    assert plan["mode"] == "hybrid" and plan["bm25_stats"] == "global"
    assert len(plan["shards"]) == 2


def test_corpus_stats_add_up_to_one_node(texts: Any) -> None:
    one, two = texts
    parts = two._fan.each("text_stats", "notes", "ray ray corpus unknownword")
    total = parts[0] + parts[1]
    assert isinstance(total, CorpusStats)
    assert total == one.text_stats("ray ray corpus unknownword")
    assert min(p.documents for p in parts) > 0


def test_text_errors_are_one_nodes(pair: tuple[Any, Any], texts: Any) -> None:
    one_db, two_db = pair
    for db in (one_db, two_db):
        c = db.get_collection("docs")  # no document column, no full-text index
        with pytest.raises(InvalidArgumentError, match="no full-text index"):
            c.search("x", k=2, mode="fulltext")
        with pytest.raises(InvalidArgumentError, match="no document column"):
            c.add(ids=[1], vectors=np.ones((1, 16)), documents=["a"])
        with pytest.raises(InvalidArgumentError, match="mode must be one of"):
            db.get_collection("notes").search("x", mode="semantic")
        with pytest.raises(InvalidArgumentError, match="one query, not a matrix"):
            db.get_collection("notes").search(np.ones((2, DIM)), mode="hybrid", text="ray")
    n = two_db.get_collection("notes").count()
    with pytest.raises(InvalidArgumentError, match="neither a vector nor a document"):
        two_db.get_collection("notes").add(ids=[1, 2], documents=["a", None])
    assert two_db.get_collection("notes").count() == n  # nothing written anywhere


TEXT_SQL = [
    "SELECT id, bm25(document, $q) AS s FROM notes WHERE match(document, $q) "
    "ORDER BY s DESC, id LIMIT 7",
    "SELECT id, year FROM notes WHERE match(document, 'corpus') AND year > 2010 ORDER BY id",
    "SELECT id FROM notes ORDER BY cosine(vec, embed('notes', $q)), id LIMIT 5",
    "SELECT count(*) FROM notes WHERE match(document, $q)",
]


@pytest.mark.parametrize("sql", TEXT_SQL)
def test_sql_text_functions_match_one_node(pair: tuple[Any, Any], texts: Any, sql: str) -> None:
    one, two = pair
    params = {"q": "router latency"} if "$q" in sql else None
    assert two.sql(sql, params).fetchall() == one.sql(sql, params).fetchall()
