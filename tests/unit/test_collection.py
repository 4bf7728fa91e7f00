"""The embedded API: collections, writes, reads, and every kind of bad input.

Each bad input must raise its own VecdbError subclass and leave count() and contents
unchanged.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import vecdb
from vecdb import errors


def _coll(db: vecdb.Database, index: str = "hnsw", **kw) -> vecdb.Collection:
    c = db.create_collection(
        "docs",
        dim=3,
        metric=kw.pop("metric", "cosine"),
        index=index,
        columns={"title": "VARCHAR", "year": "INTEGER", "tags": "VARCHAR[]"},
        **kw,
    )
    c.add(
        ids=[1, 2, 3],
        vectors=np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32),
        rows=[
            {"title": "a", "year": 2021, "tags": ["db", "x"]},
            {"title": "b", "year": 2019, "tags": ["db"]},
            {"title": "c", "year": 2024, "tags": []},
        ],
    )
    return c


def _snapshot(c: vecdb.Collection) -> tuple:
    recs = c.get([1, 2, 3, 4, 5])
    return c.count(), [(r.id, r.vector.tolist(), r.row) for r in recs]


def test_create_get_list_drop(db: vecdb.Database) -> None:
    c = _coll(db)
    assert db.list_collections() == ["docs"]
    assert db.get_collection("docs") is c
    assert (
        db.create_collection(
            "docs", dim=3, metric="cosine", index="hnsw", columns=c.columns, exist_ok=True
        )
        is c
    )
    with pytest.raises(errors.AlreadyExistsError):
        db.create_collection("docs", dim=3)
    with pytest.raises(errors.AlreadyExistsError):
        db.create_collection("docs", dim=4, exist_ok=True)
    info = c.describe()
    assert info["count"] == 3 and info["dim"] == 3 and info["index_params"]["m"] == 16
    db.drop_collection("docs")
    assert db.list_collections() == []
    with pytest.raises(errors.NotFoundError):
        db.get_collection("docs")
    with pytest.raises(errors.NotFoundError):
        c.count()
    db.drop_collection("docs", missing_ok=True)


def test_search_where_include_and_batch(db: vecdb.Database, index_kind: str) -> None:
    c = _coll(db, index_kind)
    hits = c.search([1, 0.1, 0], k=10, where="year >= 2020 AND 'db' = ANY(tags)", include=["title"])
    assert [(h.id, h.row) for h in hits] == [(1, {"title": "a"})]
    hits = c.search([1, 0.1, 0], k=2, where="year >= $y", params={"y": 2020}, include="*")
    assert [h.id for h in hits] == [1, 3]
    assert hits[0].row == {"title": "a", "year": 2021, "tags": ["db", "x"]}
    q = np.array([[1, 0, 0], [0, 0, 1]], dtype=np.float32)
    batch = c.search(q, k=1)
    assert [[h.id for h in row] for row in batch] == [[1], [3]]
    assert c.search([0, 1, 0], k=1, where="year < ?", params=[2020])[0].id == 2
    assert c.search([0, 1, 0], k=5, where="year > 3000") == []
    assert abs(c.search([1, 1, 0], k=1)[0].distance - (1 - 1 / np.sqrt(2))) < 1e-6


def test_metrics_distances(db: vecdb.Database) -> None:
    v = np.array([[3, 4], [1, 0]], dtype=np.float32)
    for metric, expect in [("l2", [20**0.5, 0.0]), ("ip", [-3.0, -1.0]), ("cosine", [0.4, 0.0])]:
        c = db.create_collection(f"m_{metric}", dim=2, metric=metric, index="hnsw")
        c.add([1, 2], v)
        hits = c.search([1, 0], k=2)
        got = {h.id: h.distance for h in hits}
        # DuckDB's own functions are the reference for the meaning of each metric
        fn = {
            "l2": "array_distance",
            "ip": "array_negative_inner_product",
            "cosine": "array_cosine_distance",
        }[metric]
        ref = dict(
            db._cursor()
            .execute(f"SELECT id, {fn}(vec, [1, 0]::FLOAT[2]) FROM m_{metric}")
            .fetchall()
        )
        for i in (1, 2):
            assert got[i] == pytest.approx(ref[i], abs=1e-6)
            assert got[i] == pytest.approx(expect[i - 1], abs=1e-6)


def test_upsert_delete_get_count(db: vecdb.Database, index_kind: str) -> None:
    c = _coll(db, index_kind)
    c.upsert(ids=[2, 4], vectors=[[1, 0.01, 0], [0.5, 0.5, 0]], rows=[{"title": "b2"}, None])
    assert c.count() == 4
    rec = c.get([2])[0]
    assert rec.row == {"title": "b2", "year": None, "tags": None}  # upsert replaces the row
    assert {h.id for h in c.search([1, 0, 0], k=2)} == {1, 2}
    assert c.delete(ids=[1, 99]) == 1
    assert [h.id for h in c.search([1, 0, 0], k=1)] == [2]
    assert c.delete(where="title = $t", params={"t": "c"}) == 1
    assert c.count() == 2 and c.count(where="title LIKE 'b%'") == 1
    assert [r.id for r in c.get([4, 3, 2])] == [4, 2]
    c.compact()
    assert [h.id for h in c.search([1, 0, 0], k=5)] == [2, 4]


def test_string_ids_and_tables(db: vecdb.Database) -> None:
    c = db.create_collection(
        "s", dim=2, id_type="str", metric="l2", index="exact", columns={"n": "INTEGER"}
    )
    df = pd.DataFrame({"id": ["a", "b"], "vec": [[0.0, 0.0], [1.0, 1.0]], "n": [1, 2]})
    assert c.add(df) == 2
    tbl = pa.table(
        {"id": ["c"], "vec": pa.array([[2.0, 2.0]], pa.list_(pa.float32(), 2)), "n": [3]}
    )
    assert c.upsert(tbl) == 1
    assert [(h.id, h.row) for h in c.search([2, 2], k=2, include=["n"])] == [
        ("c", {"n": 3}),
        ("b", {"n": 2}),
    ]
    with pytest.raises(errors.InvalidArgumentError):
        c.add(ids=[1], vectors=[[0, 0]])


def test_compact_runs_by_itself(db: vecdb.Database) -> None:
    from vecdb import upkeep as mod

    c = db.create_collection("z", dim=4, metric="l2", index="hnsw")
    rng = np.random.default_rng(0)
    c.add(ids=np.arange(3000), vectors=rng.normal(size=(3000, 4)).astype(np.float32))
    c.delete(ids=np.arange(2500))
    assert c.store.n_dead == 0 and c.store.n_labels == 500, "deleted space was not reclaimed"
    assert mod.COMPACT_MIN_DEAD <= 2500
    assert c.count() == 500 and len(c.search(np.zeros(4, np.float32), k=600)) == 500


BAD_WRITES = [
    ("wrong dim", dict(ids=[9], vectors=[[1, 2]]), errors.DimensionMismatchError),
    ("nan", dict(ids=[9], vectors=[[np.nan, 0, 1]]), errors.InvalidArgumentError),
    ("inf", dict(ids=[9, 10], vectors=[[1, 1, 1], [np.inf, 0, 1]]), errors.InvalidArgumentError),
    ("zero under cosine", dict(ids=[9], vectors=[[0, 0, 0]]), errors.InvalidArgumentError),
    ("dup ids", dict(ids=[9, 9], vectors=[[1, 0, 0], [0, 1, 0]]), errors.InvalidArgumentError),
    ("existing id", dict(ids=[9, 1], vectors=[[1, 0, 0], [0, 1, 0]]), errors.AlreadyExistsError),
    (
        "unknown column",
        dict(ids=[9], vectors=[[1, 0, 0]], rows=[{"nope": 1}]),
        errors.NotFoundError,
    ),
    (
        "bad value type",
        dict(ids=[9], vectors=[[1, 0, 0]], rows=[{"year": "abc"}]),
        errors.InvalidArgumentError,
    ),
    (
        "mixed types",
        dict(ids=[9, 10], vectors=[[1, 0, 0], [0, 1, 0]], rows=[{"year": 1}, {"year": "x"}]),
        errors.InvalidArgumentError,
    ),
    ("count mismatch", dict(ids=[9, 10], vectors=[[1, 0, 0]]), errors.InvalidArgumentError),
    ("str id in int collection", dict(ids=["x"], vectors=[[1, 0, 0]]), errors.InvalidArgumentError),
    ("float id", dict(ids=[1.5], vectors=[[1, 0, 0]]), errors.InvalidArgumentError),
    ("not numbers", dict(ids=[9], vectors=[["a", "b", "c"]]), errors.InvalidArgumentError),
    ("no vectors", dict(ids=[9]), errors.InvalidArgumentError),
]


@pytest.mark.parametrize("case", BAD_WRITES, ids=[c[0] for c in BAD_WRITES])
def test_bad_writes_change_nothing(db: vecdb.Database, index_kind: str, case) -> None:
    _, kwargs, exc = case
    c = _coll(db, index_kind)
    before = _snapshot(c)
    with pytest.raises(exc) as info:
        c.add(**kwargs)
    assert str(info.value)  # says what to do
    assert _snapshot(c) == before
    assert [h.id for h in c.search([1, 0, 0], k=3)] == [1, 2, 3] or len(
        c.search([1, 0, 0], k=3)
    ) == 3


BAD_READS = [
    ("query dim", dict(query=[1, 0]), errors.DimensionMismatchError),
    ("query nan", dict(query=[np.nan, 0, 0]), errors.InvalidArgumentError),
    ("query zero", dict(query=[0, 0, 0]), errors.InvalidArgumentError),
    ("k zero", dict(query=[1, 0, 0], k=0), errors.InvalidArgumentError),
    ("k float", dict(query=[1, 0, 0], k=2.5), errors.InvalidArgumentError),
    ("k huge", dict(query=[1, 0, 0], k=10**9), errors.InvalidArgumentError),
    ("ef bad", dict(query=[1, 0, 0], ef=-1), errors.InvalidArgumentError),
    ("bad predicate", dict(query=[1, 0, 0], where="year >"), errors.SQLParseError),
    ("two statements", dict(query=[1, 0, 0], where="1=1; DROP TABLE docs"), errors.SQLParseError),
    (
        "unknown column in where",
        dict(query=[1, 0, 0], where="nope = 1"),
        errors.InvalidArgumentError,
    ),
    ("unknown include", dict(query=[1, 0, 0], include=["nope"]), errors.NotFoundError),
    ("missing param", dict(query=[1, 0, 0], where="year > $y"), errors.InvalidArgumentError),
    (
        "wrong param type",
        dict(query=[1, 0, 0], where="year > $y", params={"y": "abc"}),
        errors.InvalidArgumentError,
    ),
    ("query text", dict(query="hello"), errors.InvalidArgumentError),
]


@pytest.mark.parametrize("case", BAD_READS, ids=[c[0] for c in BAD_READS])
def test_bad_searches(db: vecdb.Database, case) -> None:
    _, kwargs, exc = case
    c = _coll(db)
    before = _snapshot(c)
    with pytest.raises(exc):
        c.search(**kwargs)
    assert _snapshot(c) == before
    assert "docs" in db.list_collections()


def test_bad_deletes_and_collections(db: vecdb.Database) -> None:
    c = _coll(db)
    before = _snapshot(c)
    for kwargs, exc in [
        ({}, errors.InvalidArgumentError),
        ({"ids": [1], "where": "year > 1"}, errors.InvalidArgumentError),
        ({"where": "nope > 1"}, errors.InvalidArgumentError),
        ({"where": "year > 1; DELETE FROM docs"}, errors.SQLParseError),
    ]:
        with pytest.raises(exc):
            c.delete(**kwargs)
    assert _snapshot(c) == before
    for kwargs, exc in [
        (dict(name="bad name", dim=3), errors.InvalidArgumentError),
        (dict(name="x", dim=0), errors.InvalidArgumentError),
        (dict(name="x", dim=3, metric="hamming"), errors.InvalidArgumentError),
        (dict(name="x", dim=3, index="annoy"), errors.InvalidArgumentError),
        (dict(name="x", dim=3, index_params={"M": 4}), errors.InvalidArgumentError),
        (dict(name="x", dim=3, index_params={"m": -4}), errors.InvalidArgumentError),
        (dict(name="x", dim=3, columns={"y": "NOTATYPE"}), errors.InvalidArgumentError),
        (dict(name="x", dim=3, columns={"vec": "INTEGER"}), errors.InvalidArgumentError),
        (dict(name="x", dim=4, index="ivf", index_params={"pq": 3}), errors.InvalidArgumentError),
    ]:
        with pytest.raises(exc):
            db.create_collection(**kwargs)
    assert db.list_collections() == ["docs"]
    with pytest.raises(errors.NotFoundError):
        db.get_collection("nope")
    with pytest.raises(KeyError):  # NotFoundError is a KeyError too
        db.drop_collection("nope")


def test_errors_pickle_and_codes() -> None:
    for cls in set(errors.ERROR_TYPES.values()):
        err = cls("message", extra=1)
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is cls and str(back) == "message" and back.details == {"extra": 1}
        assert errors.error_from_code(cls.code, "m").__class__ is cls
        assert isinstance(err, errors.VecdbError)
    assert issubclass(errors.DimensionMismatchError, ValueError)
    assert issubclass(errors.NotFoundError, KeyError)


def test_closed_database_raises(tmp_path) -> None:
    db = vecdb.connect(tmp_path / "d")
    c = db.create_collection("c", dim=2)
    db.close()
    db.close()
    with pytest.raises(errors.InvalidArgumentError):
        c.search([1, 0])
    with pytest.raises(errors.InvalidArgumentError):
        db.list_collections()


def test_ivf_trains_itself_and_pq_distances_are_exact(db: vecdb.Database) -> None:
    rng = np.random.default_rng(3)
    base = rng.normal(size=(600, 8)).astype(np.float32)
    c = db.create_collection(
        "pq", dim=8, metric="l2", index="ivf", index_params={"nlist": 4, "pq": 2}
    )
    c.add(ids=np.arange(100), vectors=base[:100])
    assert c.index_params["trained"] is False  # too few rows: searches run exactly
    c.add(ids=np.arange(100, 600), vectors=base[100:])
    assert c.index_params["trained"] is True and c.index_params["nlist"] == 4
    for q in rng.normal(size=(5, 8)).astype(np.float32):
        hits = c.search(q, k=5, nprobe=4)
        true = np.sqrt(((base[[h.id for h in hits]] - q) ** 2).sum(1))
        # PQ codes only pick candidates; reported distances are re-measured exactly
        assert np.allclose([h.distance for h in hits], true, atol=1e-4)


def test_sql_constraint_errors_name_the_cause(db: vecdb.Database) -> None:
    c = db.create_collection("t", dim=2, index="exact")
    c.add([1], [[1, 0]])
    with pytest.raises(errors.InvalidArgumentError, match="NOT NULL"):
        db.sql("INSERT INTO t VALUES (2, NULL)")
    with pytest.raises(errors.AlreadyExistsError):
        db.sql("INSERT INTO t VALUES (1, [0, 1])")
    with pytest.raises(errors.InvalidArgumentError, match="zero vector"):
        db.sql("UPDATE t SET vec = [0, 0]")
    assert c.count() == 1 and c.get([1])[0].vector.tolist() == [1.0, 0.0]
