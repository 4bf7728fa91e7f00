"""One contract, three transports: embedded, gRPC and REST give the same results and raise
the same exception classes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import vecdb
from vecdb.errors import (
    AlreadyExistsError,
    DimensionMismatchError,
    InvalidArgumentError,
    NotFoundError,
    VecdbError,
)

DIM = 8
N = 60


def data() -> tuple[list[int], np.ndarray, list[dict[str, Any]]]:
    rng = np.random.default_rng(7)
    vecs = rng.normal(size=(N, DIM)).astype(np.float32)
    rows = [{"title": f"t{i}", "year": 2000 + i % 25} for i in range(N)]
    return list(range(1, N + 1)), vecs, rows


def make(db: Any, index: str = "hnsw") -> Any:
    c = db.create_collection(
        "docs",
        dim=DIM,
        metric="cosine",
        index=index,
        columns={"title": "VARCHAR", "year": "INTEGER"},
    )
    ids, vecs, rows = data()
    assert c.upsert(ids=ids, vectors=vecs, rows=rows) == N
    return c


def brute(q: np.ndarray, mask: np.ndarray | None = None, k: int = 5) -> list[int]:
    ids, vecs, _ = data()
    v = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    d = 1 - v @ (q / np.linalg.norm(q))
    if mask is not None:
        d = np.where(mask, d, np.inf)
    order = np.argsort(d, kind="stable")[:k]
    return [ids[i] for i in order if np.isfinite(d[i])]


def embedded_error(fn: Any) -> type[BaseException]:
    """The class the embedded engine raises for ``fn(collection)``."""
    with vecdb.connect(confined=True) as db:
        c = make(db)
        with pytest.raises(VecdbError) as ei:
            fn(db, c)
        return type(ei.value)


def test_catalog(backend: Any) -> None:
    c = make(backend)
    assert c.name == "docs" and c.dim == DIM
    assert backend.list_collections() == ["docs"]
    d = backend.get_collection("docs").describe()
    assert d["dim"] == DIM and d["metric"] == "cosine" and d["count"] == N
    assert d["columns"] == {"title": "VARCHAR", "year": "INTEGER"}
    backend.drop_collection("docs")
    assert backend.list_collections() == []
    backend.drop_collection("docs", missing_ok=True)


def test_search_get_count(backend: Any) -> None:
    c = make(backend)
    _, vecs, rows = data()
    q = vecs[3] + 0.01
    hits = c.search(q, k=5)
    assert [h.id for h in hits] == brute(q)
    assert all(h.row is None for h in hits)
    assert hits[0].distance == pytest.approx(
        1 - float(vecs[3] @ q / np.linalg.norm(vecs[3]) / np.linalg.norm(q)), abs=1e-4
    )
    batch = c.search(np.stack([vecs[0], vecs[1]]), k=3, include=["title"])
    assert [[h.id for h in hs] for hs in batch] == [brute(vecs[0], k=3), brute(vecs[1], k=3)]
    assert batch[0][0].row == {"title": "t0"}
    recs = c.get([5, 999, 2])
    assert [r.id for r in recs] == [5, 2]
    np.testing.assert_allclose(recs[0].vector, vecs[4], rtol=1e-6)
    assert recs[0].row == rows[4]
    assert c.count() == N


def test_filtered_search(backend: Any) -> None:
    c = make(backend)
    _, vecs, rows = data()
    years = np.array([r["year"] for r in rows])
    q = vecs[10]
    hits = c.search(q, k=5, where="year >= $y", params={"y": 2020}, include="*")
    assert [h.id for h in hits] == brute(q, years >= 2020)
    assert all(h.row["year"] >= 2020 for h in hits)
    # a filter that matches fewer rows than k returns every match
    few = c.search(q, k=10, where="year = 2001")
    assert sorted(h.id for h in few) == [i + 1 for i in range(N) if years[i] == 2001]
    assert c.count(where="year < 2005") == int((years < 2005).sum())


def test_search_include_vec(backend: Any) -> None:
    """``include=["vec"]`` returns each hit's vector as written (not the unit row the cosine
    index keeps), with or without other columns, a filter or a batch of queries."""
    c = make(backend)
    ids, vecs, rows = data()
    years = np.array([r["year"] for r in rows])
    q = vecs[7] + 0.01
    cases: list[tuple[Any, dict[str, Any], list[int]]] = [
        (q, {"include": ["vec"]}, brute(q)),
        (q, {"include": ["title", "vec"]}, brute(q)),
        (q, {"include": ["vec"], "where": "year >= 2020"}, brute(q, years >= 2020)),
    ]
    for query, kw, want in cases:
        hits = c.search(query, k=5, **kw)
        assert [h.id for h in hits] == want, kw
        for h in hits:
            np.testing.assert_allclose(np.asarray(h.row["vec"], np.float32), vecs[h.id - 1])
            if "title" in kw["include"]:
                assert h.row["title"] == rows[h.id - 1]["title"]
            else:
                assert set(h.row) == {"vec"}
    batch = c.search(np.stack([vecs[0], vecs[1]]), k=2, include=["vec"])
    assert [[h.id for h in hs] for hs in batch] == [brute(vecs[0], k=2), brute(vecs[1], k=2)]
    np.testing.assert_allclose(np.asarray(batch[1][0].row["vec"], np.float32), vecs[1])


def test_delete(backend: Any) -> None:
    c = make(backend)
    assert c.delete(ids=[1, 2, 3]) == 3
    assert c.count() == N - 3
    assert c.get([1, 2]) == []
    _, _, rows = data()
    n_old = sum(1 for i, r in enumerate(rows) if r["year"] < 2003 and i >= 3)
    assert c.delete(where="year < 2003") == n_old
    assert c.count() == N - 3 - n_old
    assert all(h.id > 3 for h in c.search(data()[1][0], k=N))


def test_count_with_params(backend: Any) -> None:
    c = make(backend)
    _, _, rows = data()
    years = np.array([r["year"] for r in rows])
    assert c.count(where="year >= $y", params={"y": 2020}) == int((years >= 2020).sum())
    assert c.count(where="year < ? AND title <> ?", params=[2003, "t1"]) == int(
        (years < 2003).sum() - 1
    )
    with pytest.raises(InvalidArgumentError):
        c.count(where="year >= $y", params={"nope": 1})


def test_compact(backend: Any) -> None:
    c = make(backend)
    _, vecs, _ = data()
    assert c.delete(ids=list(range(1, 31))) == 30
    assert c.compact() is None
    assert c.count() == N - 30
    q = vecs[40]
    hits = c.search(q, k=5)
    alive = np.arange(N) >= 30
    assert [h.id for h in hits] == brute(q, alive)
    assert hits[0].id == 41


def test_values_that_fit_are_stored_as_given(backend: Any) -> None:
    """The strict column checks keep every value that fits: non-ASCII text, numpy and
    integral-float integers, NULLs, unsigned ids within int64."""
    c = make(backend)
    rows = [{"title": "café ☕", "year": np.int64(1999)}, {"title": None, "year": 2003.0}]
    ids = np.array([1, 2**63 - 1], dtype=np.uint64)
    assert c.upsert(ids=ids, vectors=np.ones((2, DIM)), rows=rows) == 2
    got = {r.id: r.row for r in c.get([1, 2**63 - 1])}
    assert got == {
        1: {"title": "café ☕", "year": 1999},
        2**63 - 1: {"title": None, "year": 2003},
    }


def test_string_ids_must_be_unicode(backend: Any) -> None:
    c = backend.create_collection("names", dim=2, metric="l2", index="exact", id_type="str")
    assert c.upsert(ids=["a"], vectors=np.ones((1, 2))) == 1
    with pytest.raises(InvalidArgumentError, match="surrogate"):
        c.upsert(ids=["b", "\ud800"], vectors=np.ones((2, 2)))
    assert c.count() == 1
    assert [r.id for r in c.get(["a", "b"])] == ["a"]


def test_upsert_replaces(backend: Any) -> None:
    c = make(backend)
    v = np.ones(DIM, dtype=np.float32)
    assert c.upsert(ids=[1], vectors=v[None, :], rows=[{"title": "new", "year": 1999}]) == 1
    (rec,) = c.get([1])
    assert rec.row == {"title": "new", "year": 1999}
    np.testing.assert_allclose(rec.vector, v)
    assert c.count() == N


def test_sql(backend: Any) -> None:
    make(backend)
    res = backend.sql("SELECT id, title FROM docs WHERE year = 2003 ORDER BY id")
    assert res.columns == ["id", "title"]
    _, _, rows = data()
    assert [tuple(r) for r in res.fetchall()] == [
        (i + 1, r["title"]) for i, r in enumerate(rows) if r["year"] == 2003
    ]
    _, vecs, _ = data()
    q = vecs[7]
    res = backend.sql("SELECT id FROM docs ORDER BY cosine(vec, $q) LIMIT 3", {"q": q.tolist()})
    assert [r[0] for r in res.fetchall()] == brute(q, k=3)


def test_backend_is_the_api(backend: Any) -> None:
    """Every back end is a DatabaseAPI and its collections CollectionAPIs (vecdb.api)."""
    assert isinstance(backend, vecdb.DatabaseAPI)
    assert isinstance(make(backend), vecdb.CollectionAPI)


def test_sql_types_and_plan(backend: Any) -> None:
    """SQL values keep their types on every transport (REST sends Arrow to the client), and
    a vector search statement carries its plan."""
    c = make(backend)
    query = "SELECT DATE '2024-01-02' AS d, [1, 2] AS l, 1.5::DOUBLE AS f, NULL AS n"
    with vecdb.connect() as ref:
        expected = ref.sql(query).fetchall()
    assert backend.sql(query).fetchall() == expected
    _, vecs, _ = data()
    res = backend.sql("SELECT id FROM docs ORDER BY cosine(vec, ?) LIMIT 2", [vecs[3].tolist()])
    assert [r[0] for r in res.fetchall()] == brute(vecs[3], k=2)
    assert res.plan and res.plan[0]["strategy"]
    assert c.count() == N


# --------------------------------------------------------------------------- errors

ERROR_CASES = {
    "wrong_dim_upsert": lambda db, c: c.upsert(ids=[100], vectors=np.ones((1, DIM + 1))),
    "wrong_dim_search": lambda db, c: c.search(np.ones(DIM - 1), k=3),
    "nan_vector": lambda db, c: c.upsert(ids=[100], vectors=np.full((1, DIM), np.nan)),
    "nan_query": lambda db, c: c.search(np.full(DIM, np.nan), k=3),
    "unknown_collection": lambda db, c: db.get_collection("nope"),
    "duplicate_collection": lambda db, c: db.create_collection("docs", dim=DIM),
    "duplicate_add": lambda db, c: c.add(ids=[1], vectors=np.ones((1, DIM))),
    "bad_predicate": lambda db, c: c.search(np.ones(DIM), k=3, where="year >>> 2"),
    "unknown_column": lambda db, c: c.search(np.ones(DIM), k=3, where="nosuch = 1"),
    "bad_k": lambda db, c: c.search(np.ones(DIM), k=0),
    "bad_sql": lambda db, c: db.sql("SELEC id FROM docs"),
    "drop_missing": lambda db, c: db.drop_collection("nope"),
    # strict types: no transport coerces a string to an int or a bool to an id
    "k_as_string": lambda db, c: c.search(np.ones(DIM), k="5"),
    "bool_id": lambda db, c: c.upsert(ids=[True], vectors=np.ones((1, DIM))),
    "compact_missing": lambda db, c: db.get_collection("nope").compact(),
    # nothing is coerced or wrapped silently, and bad text is a bad argument
    "dict_into_varchar": lambda db, c: c.upsert(
        ids=[100], vectors=np.ones((1, DIM)), rows=[{"title": {"a": 1}}]
    ),
    "float_into_integer": lambda db, c: c.upsert(
        ids=[100], vectors=np.ones((1, DIM)), rows=[{"year": 2.7}]
    ),
    "uint64_id_over_int64": lambda db, c: c.upsert(
        ids=np.array([2**63 + 5], dtype=np.uint64), vectors=np.ones((1, DIM))
    ),
    "surrogate_in_row": lambda db, c: c.upsert(
        ids=[100], vectors=np.ones((1, DIM)), rows=[{"title": "\ud800"}]
    ),
    "surrogate_in_params": lambda db, c: c.search(
        np.ones(DIM), k=3, where="title = $t", params={"t": "\ud800"}
    ),
    "surrogate_in_sql": lambda db, c: db.sql("SELECT id FROM docs WHERE title = '\ud800'"),
    # an empty or non-text where is a bad argument, never "no filter"
    "empty_where_search": lambda db, c: c.search(np.ones(DIM), k=3, where=""),
    "empty_where_count": lambda db, c: c.count(where=" "),
    "where_not_text": lambda db, c: c.delete(where=5),
    "include_not_names": lambda db, c: c.search(np.ones(DIM), k=3, include=[1]),
}

EXPECTED: dict[str, type[BaseException]] = {
    "wrong_dim_upsert": DimensionMismatchError,
    "wrong_dim_search": DimensionMismatchError,
    "nan_vector": InvalidArgumentError,
    "nan_query": InvalidArgumentError,
    "unknown_collection": NotFoundError,
    "duplicate_collection": AlreadyExistsError,
    "duplicate_add": AlreadyExistsError,
    "drop_missing": NotFoundError,
    "k_as_string": InvalidArgumentError,
    "bool_id": InvalidArgumentError,
    "compact_missing": NotFoundError,
    "dict_into_varchar": InvalidArgumentError,
    "float_into_integer": InvalidArgumentError,
    "uint64_id_over_int64": InvalidArgumentError,
    "surrogate_in_row": InvalidArgumentError,
    "surrogate_in_params": InvalidArgumentError,
    "surrogate_in_sql": InvalidArgumentError,
    "empty_where_search": InvalidArgumentError,
    "empty_where_count": InvalidArgumentError,
    "where_not_text": InvalidArgumentError,
    "include_not_names": InvalidArgumentError,
}


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_errors(backend: Any, case: str) -> None:
    fn = ERROR_CASES[case]
    expected = embedded_error(fn)
    if case in EXPECTED:
        assert issubclass(expected, EXPECTED[case])
    c = make(backend)
    with pytest.raises(VecdbError) as ei:
        fn(backend, c)
    assert type(ei.value) is expected, (type(ei.value), expected, str(ei.value))
    # a rejected request changes nothing
    assert c.count() == N
    assert backend.list_collections() == ["docs"]


# ---- text (#12): documents, embedding by the server, fulltext and hybrid ----------------------
TEXT_DOCS = [
    "vector database for embeddings",
    "full text search with bm25 ranking",
    "hybrid search fuses vector and keyword rankings",
    "a cooking recipe for apple pie",
    "durable storage on duckdb",
    "keyword search in documents",
]
MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def make_text(db: Any) -> Any:
    c = db.create_collection("texts", embedding=MODEL, fulltext=True, columns={"year": "INTEGER"})
    ids = list(range(1, len(TEXT_DOCS) + 1))
    rows = [{"year": 2020 + i} for i in range(len(TEXT_DOCS))]
    assert c.add(ids=ids, documents=TEXT_DOCS, rows=rows) == len(TEXT_DOCS)
    return c


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_text_documents_and_modes(backend: Any) -> None:
    """Add with documents (embedded by the server), the three modes, where on each,
    include document: the same answers on every transport as the embedded engine."""
    c = make_text(backend)
    with vecdb.connect() as ref_db:
        ref = make_text(ref_db)
        for mode in ("vector", "fulltext", "hybrid"):
            for where in (None, "year >= 2022"):
                got = c.search(
                    "keyword search", k=3, mode=mode, where=where, include=["document", "year"]
                )
                want = ref.search(
                    "keyword search", k=3, mode=mode, where=where, include=["document", "year"]
                )
                assert [h.id for h in got] == [h.id for h in want], (mode, where)
                np.testing.assert_allclose(
                    [h.distance for h in got], [h.distance for h in want], rtol=1e-4, atol=1e-5
                )
                assert all(h.row["document"] == TEXT_DOCS[h.id - 1] for h in got)
                if where:
                    assert all(h.row["year"] >= 2022 for h in got)
        fts = c.search("search ranking", k=5, mode="fulltext")
        assert fts[0].id == 2 and {h.id for h in fts} == {2, 3, 6}
        w = c.search(
            "search",
            k=5,
            mode="hybrid",
            text="recipe",
            fusion={"method": "weighted", "vector": 0.2, "text": 0.8},
        )
        assert w[0].id == 4
        # own vectors with documents
        c.upsert(ids=[99], vectors=[[0.1] * 384], documents=["zebra stripes"])
        assert [h.id for h in c.search("zebra", k=3, mode="fulltext")] == [99]
        plan = c.explain("keyword", k=2, mode="hybrid")
        assert plan["mode"] == "hybrid" and plan["fusion"]["method"] == "rrf"


# the same SQL text functions in every parameter style: $name, ?, $1 (values are bound,
# never pasted into the text), on every transport; answers equal the embedded engine's
TEXT_SQL = [
    (
        "SELECT id, document FROM texts WHERE year > $y "
        "ORDER BY cosine(vec, embed('texts', $q)) LIMIT 3",
        {"y": 2021, "q": "keyword search"},
    ),
    (
        "SELECT id, document FROM texts WHERE year > ? "
        "ORDER BY cosine(vec, embed('texts', ?)) LIMIT 3",
        [2021, "keyword search"],
    ),
    (
        "SELECT id, cosine(vec, embed('texts', $1)) AS d FROM texts WHERE year > $2 ORDER BY id",
        ["keyword search", 2021],
    ),
    (
        "SELECT id, bm25(document, ?) AS s FROM texts WHERE match(document, ?) "
        "ORDER BY s DESC, id LIMIT 5",
        ["search ranking", "search ranking"],
    ),
    (
        "SELECT id, bm25(document, $q) AS s FROM texts WHERE match(document, $q) AND year > $y "
        "ORDER BY s DESC, id LIMIT 5",
        {"q": "search", "y": 2021},
    ),
]


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_sql_text_functions_with_every_parameter_style(backend: Any) -> None:
    make_text(backend)
    with vecdb.connect() as ref_db:
        make_text(ref_db)
        for query, params in TEXT_SQL:
            got = backend.sql(query, params).fetchall()
            want = ref_db.sql(query, params).fetchall()
            assert [r[0] for r in got] == [r[0] for r in want], query
            assert got, query
            for g, w in zip(got, want):
                if isinstance(w[1], float):
                    assert g[1] == pytest.approx(w[1], rel=1e-4, abs=1e-5), query
                else:
                    assert g[1] == w[1], query
    # the embed() vector search is the same as search() with the text
    c = backend.get_collection("texts")
    hits = c.search("keyword search", k=3, where="year > 2021")
    rows = backend.sql(*TEXT_SQL[1]).fetchall()
    assert [r[0] for r in rows] == [h.id for h in hits]
    # bm25 order is the fulltext mode's order
    fts = c.search("search ranking", k=5, mode="fulltext")
    rows = backend.sql(*TEXT_SQL[3]).fetchall()
    assert [r[0] for r in rows] == [h.id for h in fts]
    # a text parameter must be a string, in either style
    with pytest.raises(InvalidArgumentError):
        backend.sql(TEXT_SQL[1][0], [2021, 5]).fetchall()
