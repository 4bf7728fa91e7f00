"""Each filtered-search strategy, forced, on collections of thousands of rows, through the
collection and through SQL.

The cost model picks ``index+allowlist`` only at large scale and the HNSW in-graph filter
only past an over-fetch no test-sized collection reaches; so each case sets the planner's
cost constants to force its branch, checks with ``explain()`` that the branch ran, and holds
the results against the exact oracle: ``min(k, matching)`` rows, all matching, sorted, and
recall against the exact top-k of the matching rows.
"""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import vecdb
from tests.oracle import recall
from vecdb import planner

DEAR_SCAN = {"EXACT_US_PER_ROW": 1e6}
CASES: dict[str, tuple[str, dict[str, Any], str, str | None]] = {
    # name: (index, planner constants, strategy, filter branch)
    "exact-allowlist": (
        "hnsw",
        {"EXACT_US_PER_ROW": 0.0, "EXACT_US_PER_MADD": 0.0},
        "exact-allowlist",
        None,
    ),
    "hnsw-overfetch": (
        "hnsw",
        {**DEAR_SCAN, "MAX_OVERFETCH": 10**9},
        "index+allowlist",
        "overfetch",
    ),
    "hnsw-in-graph": ("hnsw", {**DEAR_SCAN, "MAX_OVERFETCH": 0}, "index+allowlist", "in-graph"),
    "ivf-bitmap": ("ivf", DEAR_SCAN, "index+allowlist", "bitmap"),
}


#: hnswlib's inner-product space is not a metric: on clustered data of varying norms its
#: walk loses neighbours (measured here: unfiltered mean recall@k ~0.91 at ef 64, in-graph
#: filtered ~0.82, and single queries at 1% selectivity can miss entirely), so the HNSW cases
#: hold recall for cosine and l2 only; row counts and filters are exact for every metric.
HNSW_METRICS = ("cosine", "l2")


@st.composite
def problems(draw: st.DrawFn, metrics: tuple[str, ...] = ("cosine", "l2", "ip")) -> dict[str, Any]:
    n = draw(st.integers(1_000, 4_000))
    dim = draw(st.integers(2, 24))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    centers = rng.normal(size=(draw(st.integers(1, 20)), dim)) * 4
    vecs = (centers[rng.integers(0, len(centers), n)] + rng.normal(size=(n, dim))).astype(
        np.float32
    )
    queries = (vecs[rng.integers(0, n, 4)] + rng.normal(size=(4, dim))).astype(np.float32)
    return {
        "metric": draw(st.sampled_from(metrics)),
        "vecs": vecs,
        "a": rng.integers(0, 100, n),
        "t": draw(st.integers(1, 100)),  # "a < $t" keeps about t percent of the rows
        "k": draw(st.integers(1, 50)),
        "queries": queries,
    }


def _check(case: str, p: dict[str, Any]) -> None:
    index, constants, strategy, branch = CASES[case]
    vecs, k, metric = p["vecs"], p["k"], p["metric"]
    allowed = np.flatnonzero(p["a"] < p["t"])
    # every list probed: at 1 % selectivity the few matching neighbours can sit in lists a
    # partial probe skips (recall 0.5 on k=2 was seen), and this checks the filter, not nprobe
    params = {"nlist": 16, "nprobe": 16} if index == "ivf" else None
    with vecdb.connect() as db, patch.multiple(planner, **constants):
        c = db.create_collection(
            "c",
            dim=vecs.shape[1],
            metric=metric,
            index=index,
            index_params=params,
            columns={"a": "INTEGER"},
        )
        c.add(ids=np.arange(len(vecs)), vectors=vecs, rows=[{"a": int(a)} for a in p["a"]])
        where, args = "a < $t", {"t": p["t"]}
        info = c.explain(p["queries"], k=k, where=where, params=args)
        if len(allowed) > k:  # at most k matches: every strategy scans them
            assert (info["strategy"], info.get("filter")) == (strategy, branch), info
        recalls = []
        for q, hits in zip(p["queries"], c.search(p["queries"], k=k, where=where, params=args)):
            ids = [h.id for h in hits]
            assert len(ids) == min(k, len(allowed)), "a filter cost results"
            assert set(ids) <= set(allowed.tolist()), "a row that does not match the filter"
            assert [h.distance for h in hits] == sorted(h.distance for h in hits)
            id_to_row = {i: i for i in ids}
            recalls.append(recall(ids, id_to_row, vecs, q, k, metric, allowed))
        _check_sql(db, p, strategy if len(allowed) > k else None, branch)
        # hnswlib's inner-product space is not a metric: its graph walk loses neighbours on
        # clustered data of varying norms (unfiltered mean recall ~0.91 at ef 64, in-graph
        # filtered ~0.82); cosine and l2 stay near 1.0
        assert np.mean(recalls) >= (0.6 if metric == "ip" and index == "hnsw" else 0.9), recalls


_ORDER = {"cosine": "cosine", "l2": "l2", "ip": "ip_distance"}


def _check_sql(db: vecdb.Database, p: dict[str, Any], strategy: str | None, branch: Any) -> None:
    """The same searches through SQL: EXPLAIN names the forced strategy, and both the direct
    path (ids, distances, columns from the engine) and the DuckDB round trip return exactly
    the rows the collection does, with the predicate pushed into the same planner."""
    c = db.get_collection("c")
    fn = _ORDER[p["metric"]]
    where = "a < $t"
    direct = f"SELECT id, a FROM c WHERE {where} ORDER BY {fn}(vec, $q) LIMIT $k"
    duck = f"SELECT id, a * 1 AS a1 FROM c WHERE {where} ORDER BY {fn}(vec, $q) LIMIT $k"
    for q in p["queries"]:
        args = {"q": q, "t": p["t"], "k": p["k"]}
        want = [h.id for h in c.search(q, k=p["k"], where=where, params={"t": p["t"]})]
        if strategy is not None:
            info = db.sql("EXPLAIN " + direct, args).to_arrow().to_pylist()[0]
            assert info["strategy"] == strategy, info
        for text in (direct, duck):
            res = db.sql(text, args)
            rows = res.fetchall()
            assert sorted(r[0] for r in rows) == sorted(want), text
            assert all(r[1] < p["t"] for r in rows)
            if strategy is not None and branch is not None:
                assert res.plan is not None and res.plan[0].get("filter") == branch


@settings(max_examples=5)
@given(problems())
def test_exact_allowlist(p: dict[str, Any]) -> None:
    _check("exact-allowlist", p)


@settings(max_examples=5)
@given(problems(HNSW_METRICS))
def test_hnsw_overfetch(p: dict[str, Any]) -> None:
    _check("hnsw-overfetch", p)


@settings(max_examples=5)
@given(problems(HNSW_METRICS))
def test_hnsw_in_graph(p: dict[str, Any]) -> None:
    _check("hnsw-in-graph", p)


@settings(max_examples=5)
@given(problems())
def test_ivf_bitmap(p: dict[str, Any]) -> None:
    _check("ivf-bitmap", p)
