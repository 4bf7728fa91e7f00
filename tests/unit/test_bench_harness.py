"""The benchmark harness: tie-aware recall on hand-checked cases, and ``--quick`` end to end."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `benchmarks` is a top-level folder, not an installed package
    sys.path.insert(0, str(ROOT))

from benchmarks import ann  # noqa: E402
from benchmarks.data import (  # noqa: E402
    exact_knn,
    ground_truth,
    load_dataset,
    pair_distances,
    recall_at_k,
    write_dataset,
)

# five points on a line, query at the origin: true L2 distances 0, 1, 1, 2, 3
BASE = np.array([[0, 0], [1, 0], [0, 1], [2, 0], [3, 0]], dtype=np.float32)
Q = np.zeros((1, 2), dtype=np.float32)


def _recall(found: list[list[int]], k: int = 2, mask: np.ndarray | None = None) -> float:
    allowed = BASE if mask is None else BASE[mask]
    d = np.sort(np.linalg.norm(allowed, axis=1))
    n_allowed = len(allowed)
    kth = np.array([d[min(k, n_allowed) - 1]])
    return recall_at_k(
        [np.array(f) for f in found], BASE, Q, "l2", kth, n_allowed, k, mask=mask, eps=1e-3
    )


def test_recall_hand_checked_with_ties() -> None:
    # k=2: the 2nd true distance is 1, shared by ids 1 and 2 (a tie)
    assert _recall([[0, 1]]) == 1.0
    assert _recall([[0, 2]]) == 1.0  # the other member of the tie counts too
    assert _recall([[1, 2]]) == 1.0  # both at the k-th distance
    assert _recall([[0, 3]]) == 0.5  # id 3 is at distance 2 > 1
    assert _recall([[3, 4]]) == 0.0
    assert _recall([[0]]) == 0.5  # a short result
    assert _recall([[]]) == 0.0
    assert _recall([[1, 1]]) == 0.5  # a duplicate does not count twice
    assert _recall([[0, 1, 4]]) == 1.0  # only the first k count
    # k=3: the 3rd distance is 1, so {0, 1, 2} is the only correct set
    assert _recall([[0, 1, 3]], k=3) == pytest.approx(2 / 3)


def test_recall_filtered_and_fewer_matches_than_k() -> None:
    mask = np.array([False, True, False, True, True])  # allowed: 1, 3, 4 (dist 1, 2, 3)
    assert _recall([[1, 3]], mask=mask) == 1.0
    assert _recall([[0, 1]], mask=mask) == 0.5  # id 0 is nearer but violates the filter
    only = np.array([False, False, False, False, True])
    assert _recall([[4]], mask=only) == 1.0  # one match: min(k, 1) = 1 is the denominator
    assert _recall([[4, 0]], mask=only) == 1.0


def test_distances_and_exact_knn() -> None:
    d = pair_distances(BASE, Q, np.array([[0, 3, -1]]), "l2")
    assert d[0, 0] == 0 and d[0, 1] == pytest.approx(2) and np.isinf(d[0, 2])
    ids, dist = exact_knn(BASE, Q, "l2", 3)
    assert ids.tolist() == [[0, 1, 2]]  # tie at distance 1 broken by the smaller id
    ids, _ = exact_knn(BASE, Q, "l2", 3, mask=np.array([0, 0, 1, 0, 1], bool))
    assert ids.tolist() == [[2, 4, -1]]
    cos = pair_distances(
        np.array([[2, 0], [0, 3]], np.float32), np.array([[1, 0]]), [[0, 1]], "cosine"
    )
    assert cos[0].tolist() == pytest.approx([0.0, 1.0])


def _tiny(tmp_path: Path, metric: str) -> Path:
    rng = np.random.default_rng(1)
    base = rng.standard_normal((600, 8)).astype(np.float32)
    queries = rng.standard_normal((20, 8)).astype(np.float32)
    return write_dataset(tmp_path / f"tiny-{metric}", base, queries, metric, k=20)


def test_ground_truth_from_dataset_matches_brute_force(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VECDB_BENCH_CACHE", str(tmp_path / "cache"))
    ds = load_dataset(_tiny(tmp_path, "angular"))
    assert ds.metric == "cosine"
    t = ground_truth(ds, 10)
    ids, d = exact_knn(ds.base, ds.queries, "cosine", 10)
    np.testing.assert_allclose(t.kth_dist, d[:, -1], atol=1e-9)
    assert recall_at_k(list(ids), ds.base, ds.queries, "cosine", t.kth_dist, ds.n, 10) == 1.0


def test_quick_end_to_end_writes_json(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("VECDB_BENCH_CACHE", str(tmp_path / "cache"))
    data = _tiny(tmp_path, "euclidean")
    out, png = tmp_path / "out.json", tmp_path / "out.png"
    rc = ann.main(["--data", str(data), "--quick", "--json", str(out), "--plot", str(png)])
    assert rc == 0
    rows = json.loads(out.read_text())
    keys = {"system", "index", "params", "filter", "selectivity", "recall", "qps", "p50_ms"}
    keys |= {"p99_ms", "build_s", "rss_mb", "short"}
    systems = {r["system"] for r in rows}
    assert {"hnswlib", "faiss"} <= systems
    for r in rows:
        assert keys <= set(r)
        assert 0.0 <= r["recall"] <= 1.0 and r["qps"] > 0
    # unfiltered + 2 uniform filters + 1 clustered, at 2 ef values
    assert len([r for r in rows if r["system"] == "hnswlib"]) == 4 * 2
    exact_hnsw = [r for r in rows if r["system"] == "hnswlib" and r["params"]["ef"] == 128]
    assert min(r["recall"] for r in exact_hnsw) > 0.9
    assert png.stat().st_size > 0
    text = capsys.readouterr().out
    assert "| system |" in text and "recall" in text


def test_quick_exact_in_process(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VECDB_BENCH_CACHE", str(tmp_path / "cache"))
    data = _tiny(tmp_path, "angular")
    out = tmp_path / "exact.json"
    argv = ["--data", str(data), "--quick", "--index", "exact", "--in-process"]
    argv += ["--systems", "faiss,duckdb-exact", "--json", str(out)]
    assert ann.main(argv) == 0
    rows = json.loads(out.read_text())
    assert {r["system"] for r in rows} == {"faiss", "duckdb-exact"}
    for r in rows:  # exact search is exact: recall 1 and never short
        assert r["recall"] == pytest.approx(1.0), r
        assert r["short"] == 0


def test_paired_overhead_runs_and_reports_both_systems(tmp_path: Path) -> None:
    from benchmarks.paired import paired

    rows = paired(str(_tiny(tmp_path, "angular")), [16, 32], k=5, passes=1)
    assert [r["ef"] for r in rows] == [16, 32]
    for r in rows:
        assert r["raw_us"] > 0 and r["vecdb_us"] > 0
        assert r["qps_ratio"] == r["raw_us"] / r["vecdb_us"]
