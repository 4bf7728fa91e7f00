"""Text in collections: documents, embedding functions, full-text and hybrid search (#12).

The embedding function here is a deterministic bag of hashed words (so "search" queries
sharing words with a document are near it); full-text results are checked against a fresh
:class:`vecdb.fulltext.FullTextIndex` over the same documents (the oracle) and vector
results against exact distances.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import duckdb
import numpy as np
import pytest

import vecdb
from vecdb.errors import DimensionMismatchError, InvalidArgumentError
from vecdb.fulltext import FullTextIndex, rrf, weighted

DIM = 32
WORDS = "apple banana cherry date elder fig grape honeydew kiwi lemon mango nectarine".split()


def bag(texts: list[str]) -> np.ndarray:
    """A deterministic embedding: hashed word counts plus a constant (never zero)."""
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    out[:, 0] = 0.1
    for i, t in enumerate(texts):
        for w in re.findall(r"\w+", t.lower()):
            out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % (DIM - 1) + 1] += 1.0
    return out


def corpus(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(2, 7)))) for _ in range(n)]


@pytest.fixture
def docs() -> tuple[vecdb.Database, vecdb.Collection, list[str]]:
    db = vecdb.connect()
    coll = db.create_collection(
        "docs", embedding=bag, fulltext=True, index="exact", columns={"year": "INTEGER"}
    )
    texts = corpus(300)
    coll.add(
        ids=list(range(300)), documents=texts, rows=[{"year": 2000 + i % 30} for i in range(300)]
    )
    return db, coll, texts


def oracle_text(
    texts: dict[int, str], query: str, k: int, allow: list[int] | None = None
) -> list[int]:
    """BM25 top k over all ``texts`` (corpus statistics over all of them), among ``allow``."""
    ft = FullTextIndex()
    labels = list(texts)
    ft.upsert(labels, [texts[i] for i in labels])
    got, _ = ft.search(query, k, allow=allow)
    return got.tolist()


def test_create_infers_dim_and_adds_document_column() -> None:
    db = vecdb.connect()
    c = db.create_collection("t", embedding=bag, fulltext=True, columns={"src": "VARCHAR"})
    assert c.dim == DIM
    assert c.columns == {"document": "VARCHAR", "src": "VARCHAR"}
    assert c.spec.fulltext is not None and c.spec.embedding == {
        "provider": "callable",
        "name": "bag",
    }
    with pytest.raises(DimensionMismatchError):
        db.create_collection("u", dim=8, embedding=bag)
    with pytest.raises(InvalidArgumentError, match="reserved"):
        db.create_collection("v", dim=2, fulltext=True, columns={"document": "VARCHAR"})
    with pytest.raises(InvalidArgumentError, match="dim is required"):
        db.create_collection("w")


def test_add_embeds_documents_and_accepts_own_vectors(docs) -> None:
    _, coll, texts = docs
    rec = coll.get([5], include=["document", "year"])[0]
    assert rec.row == {"document": texts[5], "year": 2005}
    np.testing.assert_allclose(rec.vector, bag([texts[5]])[0])
    own = np.full((1, DIM), 0.5, dtype=np.float32)
    coll.add(ids=[1000], vectors=own, documents=["bring your own vectors"])
    np.testing.assert_allclose(coll.get([1000])[0].vector, own[0])
    # a None in the vectors list: that row's document is embedded
    coll.upsert(ids=[1001, 1002], vectors=[own[0], None], documents=["x", "kiwi kiwi"])
    np.testing.assert_allclose(coll.get([1002])[0].vector, bag(["kiwi kiwi"])[0])
    assert coll.search("bring own", k=1, mode="fulltext")[0].id == 1000


def test_embedding_error_writes_nothing() -> None:
    db = vecdb.connect()
    calls = []

    def flaky(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        if len(calls) > 1:
            raise RuntimeError("model server down")
        return bag(texts)

    c = db.create_collection("t", embedding=flaky, fulltext=True)
    with pytest.raises(RuntimeError):
        c.add(ids=[1, 2], documents=["a b", "c d"])
    assert c.count() == 0 and db.sql("SELECT count(*) FROM t").fetchall() == [(0,)]
    assert c.search("a", k=5, mode="fulltext") == []


def test_documents_without_text_collection_is_an_error() -> None:
    c = vecdb.connect().create_collection("p", dim=2)
    with pytest.raises(InvalidArgumentError, match="no document column"):
        c.add(ids=[1], vectors=[[1, 0]], documents=["x"])


def test_vector_mode_with_string_query_is_exact(docs) -> None:
    _, coll, texts = docs
    q = "kiwi mango lemon"
    hits = coll.search(q, k=10, where="year >= 2010", include=["document", "_scores"])
    mat = bag(texts)
    mat /= np.linalg.norm(mat, axis=1, keepdims=True)
    qv = bag([q])[0]
    qv /= np.linalg.norm(qv)
    d = 1 - mat @ qv
    allowed = [i for i in range(300) if 2000 + i % 30 >= 2010]
    best = sorted(allowed, key=lambda i: (d[i], i))[:10]
    np.testing.assert_allclose([h.distance for h in hits], d[best], atol=1e-5)
    assert all(h.row["document"] == texts[h.id] for h in hits)
    assert all(h.row["_scores"] == {"vector": h.distance, "text": None} for h in hits)


def test_fulltext_mode_equals_oracle_with_and_without_where(docs) -> None:
    _, coll, texts = docs
    for q in ("kiwi", "apple fig", "nothing-here banana"):
        hits = coll.search(q, k=7, mode="fulltext")
        assert [h.id for h in hits] == oracle_text(dict(enumerate(texts)), q, 7)
        flt = coll.search(q, k=7, mode="fulltext", where="year < $y", params={"y": 2005})
        sub = [i for i in range(300) if 2000 + i % 30 < 2005]
        assert [h.id for h in flt] == oracle_text(dict(enumerate(texts)), q, 7, sub)
    # a where that leaves fewer matching rows than k returns all of them
    few = coll.search("kiwi", k=50, mode="fulltext", where="id < 20")
    assert {h.id for h in few} == {i for i in range(20) if "kiwi" in texts[i].split()}
    assert coll.search("zzz", k=5, mode="fulltext") == []
    plan = coll.explain("kiwi", k=3, mode="fulltext", where="id < 20")
    assert plan["mode"] == "fulltext" and plan["matching_rows"] == 20


def test_hybrid_is_fusion_of_both_branches(docs) -> None:
    _, coll, texts = docs
    q = "cherry date"
    vec = coll.search(q, k=50, where="year > 2003")
    txt = coll.search(q, k=50, mode="fulltext", where="year > 2003")
    want = rrf(
        [
            ([h.id for h in vec], [h.distance for h in vec]),
            ([h.id for h in txt], [h.distance for h in txt]),
        ],
        k=60,
        limit=10,
    )
    hits = coll.search(q, k=10, mode="hybrid", where="year > 2003", include=["_scores", "year"])
    assert [h.id for h in hits] == want.keys.tolist()
    np.testing.assert_allclose([h.distance for h in hits], want.scores)
    assert all(h.row["year"] > 2003 for h in hits)
    by_vec = {h.id: h.distance for h in vec}
    for h in hits:
        assert h.row["_scores"]["vector"] == pytest.approx(
            by_vec.get(h.id, np.nan), nan_ok=True
        ) or (h.row["_scores"]["vector"] is None and h.id not in by_vec)
    w = coll.search(
        q,
        k=10,
        mode="hybrid",
        where="year > 2003",
        fusion={"method": "weighted", "vector": 0.7, "text": 0.3},
    )
    want_w = weighted(
        ([h.id for h in vec], [h.distance for h in vec]),
        ([h.id for h in txt], [h.distance for h in txt]),
        (0.7, 0.3),
        limit=10,
    )
    assert [h.id for h in w] == want_w.keys.tolist()
    # own vector + keyword text
    qv = bag([q])[0]
    own = coll.search(qv, k=10, mode="hybrid", text=q, where="year > 2003")
    assert [h.id for h in own] == want.keys.tolist()
    plan = coll.explain(q, k=10, mode="hybrid")
    assert plan["mode"] == "hybrid" and plan["fusion"] == {"method": "rrf", "k": 60}
    assert plan["vector"]["strategy"] and plan["fulltext"]["strategy"] == "fulltext"
    with pytest.raises(InvalidArgumentError, match="fusion"):
        coll.search(q, mode="hybrid", fusion={"method": "max"})
    with pytest.raises(InvalidArgumentError, match="mode"):
        coll.search(q, mode="semantic")


def test_upsert_delete_and_sql_dml_keep_fulltext_in_step(docs) -> None:
    db, coll, texts = docs
    model = dict(enumerate(texts))
    coll.upsert(ids=[0, 1], documents=["grape grape grape", "lemon"])
    model.update({0: "grape grape grape", 1: "lemon"})
    coll.delete(ids=[2, 3])
    coll.delete(where="year = 2029")
    for i in [2, 3] + [i for i in range(300) if 2000 + i % 30 == 2029]:
        model.pop(i, None)
    db.sql("UPDATE docs SET document = 'honeydew only' WHERE id = 4")
    model[4] = "honeydew only"
    db.sql("DELETE FROM docs WHERE id = 5")
    model.pop(5)
    for q in ("grape", "lemon", "honeydew", "apple kiwi"):
        assert [h.id for h in coll.search(q, k=10, mode="fulltext")] == oracle_text(model, q, 10)
    coll.compact()
    for q in ("grape", "honeydew"):
        assert [h.id for h in coll.search(q, k=10, mode="fulltext")] == oracle_text(model, q, 10)


def test_persisted_spec_and_callable_asks_again(tmp_path: Path) -> None:
    texts = corpus(50, seed=3)
    with vecdb.connect(tmp_path) as db:
        c = db.create_collection("docs", embedding=bag, fulltext={"stem": None, "k1": 1.5})
        c.add(ids=list(range(50)), documents=texts)
        db.create_collection("plain", dim=2).add([1], [[1, 0]])
    with vecdb.connect(tmp_path) as db:
        c = db.get_collection("docs")
        assert c.spec.fulltext["k1"] == 1.5
        # full-text search and vector search by vector need no function
        assert [h.id for h in c.search("kiwi", k=5, mode="fulltext")] == oracle_text(
            dict(enumerate(texts)), "kiwi", 5
        ) or c.spec.fulltext["k1"] != 1.2
        with pytest.raises(InvalidArgumentError, match=r"get_collection\('docs', embedding=bag\)"):
            c.search("kiwi", k=5)
        assert db.get_collection("plain").count() == 1  # other collections unaffected
        c = db.get_collection("docs", embedding=bag)
        assert c.search(texts[7], k=1)[0].distance == pytest.approx(0, abs=1e-6)


def test_old_catalog_without_text_column_opens(tmp_path: Path) -> None:
    with vecdb.connect(tmp_path) as db:
        db.create_collection("old", dim=2, index="exact").add([1], [[1, 0]])
    con = duckdb.connect(str(tmp_path / "vecdb.duckdb"))
    con.execute("ALTER TABLE _vecdb.collections DROP COLUMN text")
    con.close()
    with vecdb.connect(tmp_path) as db:
        assert db.get_collection("old").search([1, 0], k=1)[0].id == 1
        t = db.create_collection("new", dim=2, fulltext=True)
        t.add([1], [[0, 1]], documents=["hello world"])
    with vecdb.connect(tmp_path) as db:
        assert db.get_collection("new").search("world", mode="fulltext")[0].id == 1


def test_fulltext_only_collection_needs_vectors() -> None:
    c = vecdb.connect().create_collection("f", dim=2, fulltext=True)
    with pytest.raises(InvalidArgumentError, match="no embedding function"):
        c.add(ids=[1], documents=["no vector"])
    with pytest.raises(InvalidArgumentError, match="no full-text index"):
        vecdb.connect().create_collection("g", embedding=bag).search("x", mode="fulltext")


# ---- SQL: embed(), bm25(), match() ----------------------------------------------------------
@pytest.mark.parametrize("confined", [False, True])
def test_sql_text_functions(confined: bool) -> None:
    db = vecdb.connect(confined=confined)
    coll = db.create_collection(
        "docs", embedding=bag, fulltext=True, index="exact", columns={"year": "INTEGER"}
    )
    texts = corpus(200, seed=5)
    coll.add(
        ids=list(range(200)), documents=texts, rows=[{"year": 2000 + i % 30} for i in range(200)]
    )
    q = "kiwi mango"
    want = coll.search(q, k=5, where="year > 2010")
    got = db.sql(
        "SELECT id, document, cosine(vec, embed('docs', $q)) AS d FROM docs WHERE year > 2010 "
        "ORDER BY cosine(vec, embed('docs', $q)) LIMIT 5",
        {"q": q},
    ).fetchall()
    # equal distances may come in either order: compare distances, and each row's own
    np.testing.assert_allclose([r[2] for r in got], [h.distance for h in want], atol=1e-5)
    assert all(r[1] == texts[r[0]] for r in got)
    res = db.sql(
        "SELECT id, bm25(document, $q) AS s FROM docs WHERE match(document, $q) AND year > 2010 "
        "ORDER BY s DESC, id LIMIT 5",
        {"q": q},
    ).fetchall()
    allow = [i for i in range(200) if 2000 + i % 30 > 2010]
    assert [r[0] for r in res] == oracle_text(dict(enumerate(texts)), q, 5, allow)
    ref = {h.id: h.distance for h in coll.search(q, k=200, mode="fulltext")}
    for i, s in res:
        assert s == pytest.approx(ref[i])
    n = db.sql("SELECT count(*) FROM docs WHERE match(document, 'lemon')").fetchall()[0][0]
    assert n == sum("lemon" in t.split() for t in texts)
    assert db.sql("SELECT count(*) FROM docs WHERE match(document, 'zzz')").fetchall() == [(0,)]
    with pytest.raises(vecdb.errors.UnsupportedQueryError):
        db.sql("SELECT embed(id, 'x') FROM docs")


@pytest.mark.parametrize("confined", [False, True])
def test_sql_text_functions_take_positional_parameters(confined: bool) -> None:
    """``?`` and ``$1`` bind the text like ``$q`` does (a bound value, never SQL text)."""
    db = vecdb.connect(confined=confined)
    coll = db.create_collection(
        "docs", embedding=bag, fulltext=True, index="exact", columns={"year": "INTEGER"}
    )
    texts = corpus(120, seed=9)
    coll.add(
        ids=list(range(120)), documents=texts, rows=[{"year": 2000 + i % 30} for i in range(120)]
    )
    q = "fig grape"
    named = db.sql(
        "SELECT id, cosine(vec, embed('docs', $q)) AS d FROM docs WHERE year > $y "
        "ORDER BY cosine(vec, embed('docs', $q)), id LIMIT 7",
        {"q": q, "y": 2010},
    ).fetchall()
    qmark = db.sql(
        "SELECT id, cosine(vec, embed('docs', ?)) AS d FROM docs WHERE year > ? "
        "ORDER BY cosine(vec, embed('docs', ?)), id LIMIT 7",
        [q, 2010, q],
    ).fetchall()
    dollar = db.sql(
        "SELECT id, cosine(vec, embed('docs', $2)) AS d FROM docs WHERE year > $1 "
        "ORDER BY cosine(vec, embed('docs', $2)), id LIMIT 7",
        [2010, q],
    ).fetchall()
    assert named == qmark == dollar and len(named) == 7
    want = coll.search(q, k=7, where="year > 2010")
    np.testing.assert_allclose([r[1] for r in qmark], [h.distance for h in want], atol=1e-5)
    # a text that looks like SQL is only ever a value
    evil = "x') OR 1=1 --"
    assert len(db.sql("SELECT id FROM docs WHERE match(document, ?)", [evil]).fetchall()) == 0
    bm = db.sql(
        "SELECT id, bm25(document, ?) AS s FROM docs WHERE match(document, ?) ORDER BY s DESC, id",
        [q, q],
    ).fetchall()
    assert [r[0] for r in bm] == oracle_text(dict(enumerate(texts)), q, len(bm))
    assert len(bm) == sum(bool({"fig", "grape"} & set(t.split())) for t in texts)
    with pytest.raises(InvalidArgumentError, match="must be a string"):
        db.sql("SELECT id FROM docs ORDER BY cosine(vec, embed('docs', ?)) LIMIT 1", [3])
    with pytest.raises(InvalidArgumentError, match="positional parameters"):
        db.sql("SELECT id FROM docs ORDER BY cosine(vec, embed('docs', ?)) LIMIT 1", [])


@pytest.mark.parametrize("confined", [False, True])
def test_explain_and_dml_with_text_functions(confined: bool) -> None:
    db = vecdb.connect(confined=confined)
    coll = db.create_collection(
        "docs", embedding=bag, fulltext=True, index="exact", columns={"year": "INTEGER"}
    )
    texts = corpus(100, seed=3)
    coll.add(
        ids=list(range(100)), documents=texts, rows=[{"year": 2000 + i % 30} for i in range(100)]
    )
    plan = (
        db.sql(
            "EXPLAIN SELECT id FROM docs WHERE year > ? ORDER BY cosine(vec, embed('docs', ?)) "
            "LIMIT 3",
            [2010, "kiwi"],
        )
        .to_arrow()
        .to_pylist()
    )
    assert plan[0]["engine"] == "vecdb" and plan[0]["collection"] == "docs"
    assert plan[0]["matching_rows"] == sum(2000 + i % 30 > 2010 for i in range(100))
    analyzed = (
        db.sql(
            "EXPLAIN ANALYZE SELECT id FROM docs ORDER BY cosine(vec, embed('docs', $q)) LIMIT 3",
            {"q": "kiwi"},
        )
        .to_arrow()
        .to_pylist()
    )
    assert analyzed[0]["recall"] == 1.0
    # DML filtered by match(): the rows go, and the BM25 index follows
    lemon = {i for i, t in enumerate(texts) if "lemon" in t.split()}
    assert lemon
    db.sql("UPDATE docs SET year = ? WHERE match(document, ?)", [1900, "lemon"])
    assert {r[0] for r in db.sql("SELECT id FROM docs WHERE year = 1900").fetchall()} == lemon
    db.sql("DELETE FROM docs WHERE match(document, ?)", ["lemon"])
    assert coll.count() == 100 - len(lemon)
    assert coll.search("lemon", k=10, mode="fulltext") == []
    left = {i: t for i, t in enumerate(texts) if i not in lemon}
    got = [h.id for h in coll.search("kiwi fig", k=10, mode="fulltext")]
    assert got == oracle_text(left, "kiwi fig", 10)
