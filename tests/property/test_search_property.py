"""Property tests: every index kind against the numpy oracle, with and without filters."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import vecdb
from tests.oracle import assert_exact, recall


@st.composite
def datasets(draw: st.DrawFn) -> dict:
    metric = draw(st.sampled_from(["cosine", "l2", "ip"]))
    n = draw(st.integers(1, 250))
    dim = draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    style = draw(st.sampled_from(["gauss", "ints", "dups"]))
    if style == "gauss":
        vecs = rng.normal(size=(n, dim)) * draw(st.sampled_from([1e-3, 1.0, 100.0]))
    elif style == "ints":
        vecs = rng.integers(-3, 4, size=(n, dim)).astype(float)
    else:  # many exact duplicates: ties everywhere
        pool = rng.normal(size=(max(1, n // 5), dim))
        vecs = pool[rng.integers(0, len(pool), n)]
    vecs = vecs.astype(np.float32)
    if metric == "cosine":
        zero = np.linalg.norm(vecs, axis=1) == 0
        vecs[zero, 0] = 1.0
    a = rng.integers(0, 10, n)
    k = draw(st.integers(1, 20))
    where = draw(st.sampled_from([None, "a < $t", "a = $t", "a >= $t AND tag <> 'x'"]))
    t = draw(st.integers(0, 10))
    queries = rng.normal(size=(3, dim)).astype(np.float32)
    queries[:, 0] += 0.5  # never the zero vector
    return dict(metric=metric, vecs=vecs, a=a, k=k, where=where, t=t, queries=queries)


def _allowed(data: dict) -> np.ndarray:
    a, t = data["a"], data["t"]
    tags = np.where(a % 3 == 0, "x", "y")
    if data["where"] is None:
        return np.arange(len(a))
    if data["where"] == "a < $t":
        return np.flatnonzero(a < t)
    if data["where"] == "a = $t":
        return np.flatnonzero(a == t)
    return np.flatnonzero((a >= t) & (tags != "x"))


def _build(db: vecdb.Database, data: dict, index: str) -> vecdb.Collection:
    n = len(data["vecs"])
    params = {"nlist": 4} if index == "ivf" else None
    c = db.create_collection(
        "c",
        dim=data["vecs"].shape[1],
        metric=data["metric"],
        index=index,
        index_params=params,
        columns={"a": "INTEGER", "tag": "VARCHAR"},
    )
    ids = np.arange(1000, 1000 + n)
    rows = [{"a": int(x), "tag": "x" if x % 3 == 0 else "y"} for x in data["a"]]
    c.add(ids=ids, vectors=data["vecs"], rows=rows)
    return c


def _run(data: dict, index: str) -> list[float]:
    with vecdb.connect() as db:
        c = _build(db, data, index)
        allowed = _allowed(data)
        id_to_row = {1000 + i: i for i in range(len(data["vecs"]))}
        params = {"t": data["t"]} if data["where"] else None
        batch = c.search(data["queries"], k=data["k"], where=data["where"], params=params)
        recalls = []
        for q, hits in zip(data["queries"], batch):
            single = c.search(q, k=data["k"], where=data["where"], params=params)
            # batch and single queries agree (ids may swap only between equal distances)
            assert np.allclose(
                [h.distance for h in single], [h.distance for h in hits], rtol=1e-4, atol=1e-4
            )
            ids = [h.id for h in hits]
            dists = [h.distance for h in hits]
            assert len(ids) == min(data["k"], len(allowed)), "a filter cost results"
            assert dists == sorted(dists)
            assert set(ids) <= {1000 + int(r) for r in allowed}
            if index == "exact":
                assert_exact(
                    ids, dists, id_to_row, data["vecs"], q, data["k"], data["metric"], allowed
                )
            recalls.append(
                recall(ids, id_to_row, data["vecs"], q, data["k"], data["metric"], allowed)
            )
        return recalls


@given(datasets())
def test_exact_index_matches_numpy_oracle(data: dict) -> None:
    assert min(_run(data, "exact")) == 1.0


@given(datasets())
def test_hnsw_recall_at_defaults(data: dict) -> None:
    assert np.mean(_run(data, "hnsw")) >= 0.95


@given(datasets())
def test_ivf_recall_at_defaults(data: dict) -> None:
    assert np.mean(_run(data, "ivf")) >= 0.95
