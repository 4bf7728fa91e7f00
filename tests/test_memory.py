"""Memory at the size of the data (issue #11): DuckDB's cap, one copy of the vectors on disk,
and a build that stays under a bound derived from the cap plus the data."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import hnswlib
import numpy as np
import pytest

import vecdb
from vecdb.index.hnsw import saved_vectors
from vecdb.index.store import MappedVectors, VectorStore
from vecdb.storage.session import DEFAULT_MEMORY_LIMIT


def _limit(db: vecdb.Database) -> str:
    return str(db._cursor().execute("SELECT current_setting('memory_limit')").fetchone()[0])


def test_on_disk_databases_cap_duckdb_by_default(tmp_path: Path) -> None:
    with vecdb.connect(tmp_path / "db") as db:
        assert _limit(db) == "244.1 MiB"  # DuckDB's spelling of DEFAULT_MEMORY_LIMIT
    assert DEFAULT_MEMORY_LIMIT == "256MB"
    with vecdb.connect(tmp_path / "db", memory_limit="1GB") as db:
        assert _limit(db) == "953.6 MiB"
    with vecdb.connect() as db:  # in memory nothing can be evicted: DuckDB's own default
        assert _limit(db) not in ("244.1 MiB", "953.6 MiB")


def _duckdb_bytes(db: vecdb.Database) -> int:
    rows = db._cursor().execute("SELECT memory_usage_bytes FROM duckdb_memory()").fetchall()
    return sum(r[0] for r in rows)


def test_bulk_write_releases_duckdbs_cache_and_keeps_the_cap(tmp_path: Path) -> None:
    """After a bulk write DuckDB keeps (almost) none of the rows it wrote cached, and its
    cap is what it was; a cap changed by SQL is left alone."""
    x = np.random.default_rng(8).standard_normal((60_000, 256)).astype(np.float32)  # 60 MB
    with vecdb.connect(tmp_path / "db") as db:
        c = db.create_collection("c", dim=256, index="exact")
        c.add(np.arange(len(x)), x)
        assert _duckdb_bytes(db) <= 32 * 2**20
        assert _limit(db) == "244.1 MiB"
        c.checkpoint()  # its log trim runs under the lowered cap, then restores it
        assert _limit(db) == "244.1 MiB"
        assert _duckdb_bytes(db) <= 32 * 2**20
        db._cursor().execute("SET memory_limit = '300MB'")
        c.add(np.arange(len(x), 2 * len(x)), x)
        assert _limit(db) == "286.1 MiB"  # SQL's cap, not vecdb's default
        assert c.count() == 2 * len(x)
    with vecdb.connect(tmp_path / "confined", confined=True) as db:  # configuration locked
        c = db.create_collection("c", dim=256, index="exact")
        c.add(np.arange(len(x)), x)
        c.checkpoint()
        assert c.count() == len(x) and _limit(db) == "244.1 MiB"


@pytest.mark.parametrize("space", ["ip", "l2"])
def test_saved_vectors_read_as_hnswlib_reads_them(tmp_path: Path, space: str) -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((300, 12)).astype(np.float32)
    idx = hnswlib.Index(space=space, dim=12)
    idx.init_index(max_elements=500, M=8, random_seed=1)
    labels = rng.permutation(1000)[:300]
    idx.add_items(x, labels)
    idx.mark_deleted(int(labels[5]))
    idx.add_items(x[:3] * 2, labels[:3])  # replaced in place
    idx.save_index(str(tmp_path / "h.bin"))
    got_labels, got = saved_vectors(tmp_path / "h.bin", 12)
    assert sorted(got_labels.tolist()) == sorted(labels.tolist())
    keep = got_labels != labels[5]
    np.testing.assert_array_equal(np.asarray(got)[keep], idx.get_items(got_labels[keep]))
    with pytest.raises(ValueError, match="dimension"):
        saved_vectors(tmp_path / "h.bin", 400)


def test_hnsw_checkpoint_keeps_vectors_once_and_reopens_bit_for_bit(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal((500, 16)).astype(np.float32)
    with vecdb.connect(tmp_path / "db") as db:
        c = db.create_collection("c", dim=16, columns={"g": "INTEGER"})
        c.add(np.arange(500), x, [{"g": i % 10} for i in range(500)])
        c.upsert([7], x[:1] * 3)
        c.delete([9])
        before = c.store.vectors[: c.store.n_labels].copy()
        hits = c.search(x[1], k=5, where="g = 3")
    ckpt = next((tmp_path / "db" / "index" / "c").glob("ckpt-*"))
    assert np.load(ckpt / "vectors.npy").shape == (0, 16)  # the vectors are in hnsw.bin
    with vecdb.connect(tmp_path / "db") as db:
        c = db.get_collection("c")
        live = c.store.live_labels()
        np.testing.assert_array_equal(c.store.vectors[live], before[live])
        assert c.search(x[1], k=5, where="g = 3") == hits


def test_mapped_store_reads_like_one_in_ram(tmp_path: Path) -> None:
    """After map_file the store gathers every label's current row from file + tail: new
    labels, replaced vectors of mapped labels, removed labels, grown capacity."""
    rng = np.random.default_rng(5)
    dim = 8
    ram = VectorStore(dim, "int", capacity=16, normalize=True)
    mapped = VectorStore(dim, "int", capacity=16, normalize=True)
    x = rng.standard_normal((40, dim)).astype(np.float32)
    for s in (ram, mapped):
        s.upsert(np.arange(40), x)
    order = rng.permutation(40)  # the file's records are in its own order
    mapped.map_file(order, np.ascontiguousarray(ram.vectors[order]))
    assert mapped.mapped and isinstance(mapped.vectors, MappedVectors)
    assert mapped.vectors_nbytes() == 0
    y = rng.standard_normal((60, dim)).astype(np.float32)
    ids = np.concatenate([np.arange(5, 15), np.arange(100, 150)])  # 10 replaced, 50 new
    for s in (ram, mapped):
        s.upsert(ids, y)
        s.remove(np.array([3, 120]))
    n = ram.n_labels
    assert mapped.n_labels == n and len(mapped.vectors) == n
    np.testing.assert_array_equal(mapped.vectors[:n], ram.vectors[:n])
    pick = rng.integers(0, n, 30)
    np.testing.assert_array_equal(mapped.vectors[pick], ram.vectors[pick])
    np.testing.assert_array_equal(mapped.sqnorms[:n], ram.sqnorms[:n])
    new = mapped.labels_for_ids(np.arange(100, 150))
    new = new[new >= 0]
    view = mapped.take(new[:20])  # rows written since the map: a view of the tail
    np.testing.assert_array_equal(view, ram.vectors[new[:20]])
    assert np.shares_memory(view, mapped._tail)
    save = tmp_path / "s"
    save.mkdir()
    mapped.save(save)  # with its vectors: gathered from file + tail
    back = VectorStore.load(save, dim, "int", normalize=True)
    np.testing.assert_array_equal(back.vectors[:n], ram.vectors[:n])
    with pytest.raises(ValueError, match="disagree"):
        back.map_file(np.arange(3), np.zeros((3, dim), np.float32))


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_hnsw_store_is_file_backed_after_a_checkpoint(tmp_path: Path, metric: str) -> None:
    """An HNSW checkpoint leaves the store reading from hnsw.bin (no vectors in RAM); writes
    after it live in the tail; exact allow-list searches, include=["vec"], compaction and a
    reopen all see the current vectors (checked against numpy)."""
    rng = np.random.default_rng(6)
    dim, n = 16, 3000
    x = rng.standard_normal((n, dim)).astype(np.float32)
    truth = {i: x[i] for i in range(n)}

    def oracle(q: np.ndarray, allowed: list[int], k: int) -> list[int]:
        m = np.stack([truth[i] for i in allowed])
        if metric == "cosine":
            d = 1 - (m / np.linalg.norm(m, axis=1, keepdims=True)) @ (q / np.linalg.norm(q))
        else:
            d = np.linalg.norm(m - q, axis=1)
        return [allowed[j] for j in np.argsort(d, kind="stable")[:k]]

    def check(c: vecdb.Collection) -> None:
        for q in rng.standard_normal((5, dim)).astype(np.float32):
            hits = c.search(q, k=5, where="g = 2", include=["vec"])
            allowed = sorted(i for i in truth if i % 50 == 2)
            assert [h.id for h in hits] == oracle(q, allowed, 5)
            for h in hits:
                np.testing.assert_allclose(h.row["vec"], truth[h.id], rtol=1e-5, atol=1e-5)

    path = tmp_path / "db"
    with vecdb.connect(path) as db:
        c = db.create_collection("c", dim=dim, metric=metric, columns={"g": "INTEGER"})
        c.add(np.arange(n), x, [{"g": i % 50} for i in range(n)])
        c.checkpoint()
        assert c.store.mapped and c.store.vectors_nbytes() == 0
        check(c)
        y = rng.standard_normal((300, dim)).astype(np.float32)
        ids = list(range(0, 200)) + list(range(n, n + 100))  # replace 200, add 100
        c.upsert(ids, y, [{"g": i % 50} for i in ids])
        truth.update(zip(ids, y))
        c.delete(list(range(200, 260)))
        for i in range(200, 260):
            truth.pop(i)
        assert c.store.mapped and 0 < c.store.vectors_nbytes() < n * dim * 4
        check(c)
    with vecdb.connect(path) as db:  # reopen: the checkpoint + replay of the writes after it
        c = db.get_collection("c")
        assert c.store.mapped
        check(c)
        c.compact()
        assert c.store.mapped and c.store.vectors_nbytes() == 0
        check(c)


_BUILD = textwrap.dedent(
    """
    import json, sys, threading, time
    import numpy as np
    import vecdb
    from benchmarks.memory import Sampler, _status

    path, n, dim, cap = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    x = np.random.default_rng(0).standard_normal((n, dim), dtype=np.float32)
    with vecdb.connect() as warm:  # import and warm every library before the baseline
        warm.create_collection("w", dim=dim, columns={"g": "INTEGER"}).add(
            [0], x[:1], [{"g": 0}])
    base = _status()["VmRSS"]
    with Sampler() as s:
        db = vecdb.connect(path, memory_limit=cap)
        c = db.create_collection("c", dim=dim, index_params={"m": 8, "ef_construction": 32},
                                 columns={"g": "INTEGER"})
        for start in range(0, n, 25_000):
            stop = min(n, start + 25_000)
            c.add(np.arange(start, stop), x[start:stop], [{"g": i % 7} for i in range(start, stop)])
    duck = sum(r[0] for r in db._cursor().execute(
        "SELECT memory_usage_bytes FROM duckdb_memory()").fetchall())
    db.close()
    print("RESULT " + json.dumps({"base": base, "peak": s.peak["VmRSS"], "duckdb": duck}))
    """
)


@pytest.mark.slow
def test_build_under_memory_limit_stays_within_cap_plus_data(tmp_path: Path) -> None:
    """A 100k x 128 build under ``memory_limit="64MB"``: peak RSS over the warmed baseline
    stays under the cap plus what the data needs (vectors in the store, the HNSW graph, the
    row store) plus fixed slack. Without the cap DuckDB alone keeps ~2-3x the vectors."""
    n, dim, cap_mb = 100_000, 128, 64
    proc = subprocess.run(
        [sys.executable, "-c", _BUILD, str(tmp_path / "db"), str(n), str(dim), f"{cap_mb}MB"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        timeout=1800,
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    got = json.loads(lines[0][len("RESULT ") :])
    mb = 2**20
    vectors = n * dim * 4 / mb
    graph = n * (dim * 4 + (2 * 8 + 1) * 4 + 8) / mb  # hnswlib level 0: vector, links, label
    rows = n * 100 / mb  # one small column as Python objects, generously
    bound = cap_mb + vectors + graph + rows + 96  # + fixed slack (allocators, threads)
    assert got["duckdb"] <= cap_mb * mb, got
    assert got["peak"] - got["base"] <= bound, (got, bound)
