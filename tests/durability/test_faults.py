"""Faults at first contact: rejected DDL writes nothing, a broken collection never stops the
database from opening, untrainable IVF-PQ rows are served exactly, and a second open of a
directory in the same process says so."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import duckdb
import numpy as np
import pytest

import vecdb
from tests.oracle import assert_exact
from vecdb.errors import (
    AlreadyExistsError,
    DatabaseLockedError,
    InternalError,
    InvalidArgumentError,
)


def test_rejected_index_params_write_nothing(tmp_path: Path) -> None:
    with vecdb.connect(tmp_path) as db:
        with pytest.raises(InvalidArgumentError, match="pq"):
            db.create_collection("bad", dim=4, metric="l2", index="ivf", index_params={"pq": 3})
        assert db.list_collections() == []
        db.sql("CREATE TABLE t (id BIGINT PRIMARY KEY, vec FLOAT[4])")
        db.sql("INSERT INTO t VALUES (1, [1, 0, 0, 0])")
        with pytest.raises(InvalidArgumentError, match="pq"):
            db.sql("CREATE INDEX t_vec ON t USING IVF (vec) WITH (pq = 3)")
        assert db.get_collection("t").index_kind == "exact"
    with vecdb.connect(tmp_path) as db:  # the directory opens, and the name is free
        assert db.list_collections() == ["t"]
        assert db.get_collection("t").describe()["index"] == "exact"
        db.create_collection("bad", dim=4, metric="l2", index="ivf", index_params={"pq": 2})


def test_a_broken_collection_does_not_stop_the_database(tmp_path: Path) -> None:
    with vecdb.connect(tmp_path) as db:
        good = db.create_collection("good", dim=4, metric="l2", index="hnsw")
        good.upsert([1, 2], np.eye(4, dtype=np.float32)[:2])
        db.create_collection("bad", dim=4, metric="l2", index="ivf").upsert(
            [7], np.ones((1, 4), np.float32)
        )
    con = duckdb.connect(str(tmp_path / "vecdb.duckdb"))  # damage its definition on disk
    con.execute("UPDATE _vecdb.collections SET index_params = '{\"pq\": 3}' WHERE name = 'bad'")
    con.close()
    with vecdb.connect(tmp_path) as db:
        assert db.list_collections() == ["bad", "good"]
        assert [h.id for h in db.get_collection("good").search([1, 0, 0, 0], k=1)] == [1]
        with pytest.raises(InternalError, match="drop_collection"):
            db.get_collection("bad")
        with pytest.raises(AlreadyExistsError, match="could not be opened"):
            db.create_collection("bad", dim=4)
        db.drop_collection("bad")
        assert db.list_collections() == ["good"]
    with vecdb.connect(tmp_path) as db:
        assert db.list_collections() == ["good"]
        db.create_collection("bad", dim=2)


def test_an_untrainable_ivf_pq_serves_its_rows_exactly() -> None:
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(300, 4)).astype(np.float32)
    with vecdb.connect() as db:
        c = db.create_collection(
            "c", dim=4, metric="l2", index="ivf", index_params={"nlist": 1, "pq": 2}
        )
        assert c.upsert(list(range(40)), vecs[:40]) == 40  # too few rows for 256 PQ centroids
        q = rng.normal(size=4).astype(np.float32)
        hits = c.search(q, k=5)
        rows = {i: i for i in range(40)}
        assert_exact(
            [h.id for h in hits], [h.distance for h in hits], rows, vecs, q, 5, "l2", np.arange(40)
        )
        plan = c.explain(q, k=5)
        assert plan["strategy"] == "exact" and plan["index_params"]["trained"] is False
        c.upsert(list(range(40, 300)), vecs[40:])  # enough rows now: the index trains
        assert c.explain(q, k=5)["index_params"]["trained"] is True
        assert len(c.search(q, k=5)) == 5


def test_reopening_in_the_same_process_names_this_process(tmp_path: Path) -> None:
    db = vecdb.connect(tmp_path)
    db.create_collection("c", dim=2).upsert([1], [[1, 0]])
    with pytest.raises(
        DatabaseLockedError, match=f"already open in this process \\(pid {os.getpid()}"
    ):
        vecdb.connect(tmp_path)
    del db  # dropping the last handle releases the directory
    gc.collect()
    with vecdb.connect(tmp_path) as again:
        assert again.get_collection("c").count() == 1
