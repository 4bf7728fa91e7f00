"""Durability: what was acknowledged survives close, SIGKILL and damaged index files.

Everything here runs the real engine (DuckDB, hnswlib, faiss) in temporary directories.
Crash tests run a writer in a child process -- this very file run as a script, see
:func:`_child_main` -- that prints a line after each write returns; the parent kills it with
SIGKILL at a random moment, reopens the directory, and checks that every acknowledged write is
there and that search agrees with a numpy oracle over the stored vectors.

The file's default runtime is kept under a minute; ``-m slow`` adds longer crash streams.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vecdb
from vecdb.errors import DatabaseLockedError

KINDS = ["exact", "hnsw", "ivf"]
#: ivf trains at 39 * nlist rows; every data set below holds several times that
PARAMS: dict[str, dict[str, Any]] = {"exact": {}, "hnsw": {}, "ivf": {"nlist": 4}}
DIM = 16
COLL = "s"
#: files each backend writes into a checkpoint (besides vectors.npy, ids.npy, alive.npy)
INDEX_FILE = {"exact": "ids.npy", "hnsw": "hnsw.bin", "ivf": "ivf.faiss"}
RECALL_MIN = 0.9
ATOL = 2e-5

Op = tuple[Any, ...]
Model = dict[int, tuple[np.ndarray, int]]


# ---- a deterministic stream of writes, shared by the child writer and the parent checker ----
def _ops(seed: int, n_ops: int, id_base: int, batch: int = 50, first_inserts: int = 8) -> list[Op]:
    """A reproducible list of writes: inserts of new id ranges, overwrites, deletes.

    Ops are ``("upsert", ids, vectors)``, ``("delete", ids)`` or ``("delete_where", lo, hi)``
    (deletes rows with ``lo <= id < hi``). Ids live in ``[id_base, id_base + 100_000)``.
    """
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((8, DIM)).astype(np.float32) * 3
    ops: list[Op] = []
    nxt = id_base

    def vectors(n: int) -> np.ndarray:
        c = centers[rng.integers(0, len(centers), n)]
        return (c + rng.standard_normal((n, DIM)).astype(np.float32)).astype(np.float32)

    for i in range(n_ops):
        r = rng.random()
        if i < first_inserts or r < 0.55:
            ids = np.arange(nxt, nxt + batch, dtype=np.int64)
            nxt += batch
            ops.append(("upsert", ids, vectors(batch)))
        elif r < 0.75:
            ids = np.sort(rng.choice(np.arange(id_base, nxt), batch // 2, replace=False))
            ops.append(("upsert", ids, vectors(len(ids))))
        elif r < 0.92:
            ids = np.sort(rng.choice(np.arange(id_base, nxt), batch // 4, replace=False))
            ops.append(("delete", ids))
        else:
            lo = int(rng.integers(id_base, nxt - 10))
            ops.append(("delete_where", lo, lo + 10))
    return ops


def _grp(i: int) -> int:
    return i % 5


def _run_op(coll: vecdb.Collection, op: Op) -> None:
    if op[0] == "upsert":
        coll.upsert(op[1], op[2], [{"grp": _grp(i)} for i in op[1].tolist()])
    elif op[0] == "delete":
        coll.delete(ids=op[1])
    else:
        coll.delete(where="id >= $lo AND id < $hi", params={"lo": op[1], "hi": op[2]})


def _model_op(model: Model, op: Op) -> None:
    if op[0] == "upsert":
        for i, v in zip(op[1].tolist(), op[2]):
            model[i] = (v, _grp(i))
    elif op[0] == "delete":
        for i in op[1].tolist():
            model.pop(i, None)
    else:
        for i in [i for i in model if op[1] <= i < op[2]]:
            del model[i]


def _op_range(op: Op) -> str:
    if op[0] == "delete_where":
        return f"{op[1]}-{op[2] - 1}"
    return f"{int(op[1].min())}-{int(op[1].max())}"


def _create(db: vecdb.Database, kind: str, metric: str = "cosine") -> vecdb.Collection:
    return db.create_collection(
        COLL,
        dim=DIM,
        metric=metric,
        index=kind,
        index_params=PARAMS[kind],
        columns={"grp": "INTEGER"},
        exist_ok=True,
    )


# ---- the child writer (this file run as a script) --------------------------------------------
def _child_main(argv: list[str]) -> int:
    """``stream DIR KIND SEED N_OPS ID_BASE CKPT_AT``: run the ops, one ``ack`` line per op.

    ``hold DIR``: open DIR, print ``ready``, close when a line arrives on stdin.
    ``try DIR``: try to open DIR; print ``locked <message>`` or ``opened``.
    """
    mode, path = argv[0], argv[1]
    if mode == "stream":
        kind, seed, n_ops, id_base, ckpt_at = argv[2], *map(int, argv[3:7])
        db = vecdb.connect(path)
        coll = _create(db, kind)
        print("open", flush=True)
        for i, op in enumerate(_ops(seed, n_ops, id_base)):
            _run_op(coll, op)
            print(f"ack {i} {op[0]} {_op_range(op)}", flush=True)
            if i == ckpt_at:
                db.checkpoint()
                print("ckpt", flush=True)
        print("done", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # crash: never close, so nothing is checkpointed
        return 1  # not reached
    if mode == "hold":
        db = vecdb.connect(path)
        print("ready", flush=True)
        sys.stdin.readline()
        db.close()
        print("closed", flush=True)
        time.sleep(120)
        return 0
    if mode == "try":
        try:
            vecdb.connect(path).close()
        except DatabaseLockedError as e:
            print(f"locked {e}", flush=True)
            return 0
        print("opened", flush=True)
        return 0
    raise SystemExit(f"unknown mode {mode!r}")


def _child_env() -> dict[str, str]:
    # faiss's OpenMP threads spin-wait; on a busy CI box that makes small adds slow, not wrong
    return {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}


def _spawn(*args: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, *map(str, args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_child_env(),
    )


def _kill(proc: subprocess.Popen[str]) -> str:
    """SIGKILL the child; everything it had printed (acknowledged) until then."""
    proc.send_signal(signal.SIGKILL)
    assert proc.stdout is not None
    # read through the text buffer: communicate() reads the raw pipe and would lose the lines
    # that readline() in _read_until had already read ahead
    out = proc.stdout.read()
    proc.wait(timeout=30)
    if proc.stderr is not None:
        proc.stderr.read()
    assert proc.returncode == -signal.SIGKILL
    return out


def _read_until(proc: subprocess.Popen[str], word: str, timeout: float = 60) -> list[str]:
    lines = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"child exited before {word!r}: {lines}\n{err}")
        lines.append(line)
        if line.split()[0] == word:
            return lines
    raise AssertionError(f"child did not print {word!r} in {timeout}s")


# ---- checking a reopened collection against the model ---------------------------------------
def _oracle(
    model: Model, queries: np.ndarray, k: int, metric: str, pred: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(top ids, top distances, all ids, distance matrix) by brute force in float64."""
    ids = np.array(sorted(i for i in model if pred is None or pred(model[i][1])), dtype=np.int64)
    vecs = np.stack([model[i][0] for i in ids.tolist()]).astype(np.float64)
    q = queries.astype(np.float64)
    if metric == "cosine":
        vecs = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        dist = 1.0 - q @ vecs.T
    else:
        dist = np.sqrt(np.maximum(((q[:, None, :] - vecs[None, :, :]) ** 2).sum(-1), 0))
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    return ids[order], np.take_along_axis(dist, order, axis=1), ids, dist


def _check_search(
    coll: vecdb.Collection, model: Model, kind: str, metric: str, seed: int = 0
) -> None:
    """Unfiltered and filtered search agree with the oracle: exactly for the exact index,
    recall >= RECALL_MIN for hnsw/ivf; every reported distance is the true one."""
    rng = np.random.default_rng(seed)
    vals = list(model.values())
    queries = np.stack([vals[j][0] for j in rng.choice(len(vals), 10)]) + rng.standard_normal(
        (10, DIM)
    ).astype(np.float32)
    queries = queries.astype(np.float32)
    k = 10
    for where, pred in [(None, None), ("grp = 3", lambda g: g == 3), ("grp <> 0", lambda g: g)]:
        top_ids, top_d, all_ids, dist = _oracle(model, queries, k + 1, metric, pred)
        pos = {i: j for j, i in enumerate(all_ids.tolist())}
        hits = coll.search(queries, k=k, where=where)
        found = 0
        for qi, row in enumerate(hits):
            assert len(row) == min(k, len(all_ids)), (where, qi)
            got = [h.id for h in row]
            assert len(set(got)) == len(got)
            for h in row:
                assert h.id in pos, f"{h.id} is not a live row matching {where!r}"
                assert abs(h.distance - dist[qi, pos[h.id]]) < ATOL, (h, dist[qi, pos[h.id]])
            d = np.array([h.distance for h in row])
            assert np.all(np.diff(d) >= -ATOL), "hits are not nearest first"
            if kind == "exact":
                np.testing.assert_allclose(d, top_d[qi, :k], atol=ATOL)
                if not (np.diff(top_d[qi]) < ATOL).any():  # no near-tie up to the k+1-th
                    assert got == top_ids[qi, :k].tolist()
            found += len(set(got) & set(top_ids[qi, :k].tolist()))
        recall = found / min(k, len(all_ids)) / len(queries)
        assert recall >= RECALL_MIN, (kind, where, recall)


def _check_contents(coll: vecdb.Collection, model: Model, universe: list[int]) -> None:
    """count() and get() over every id ever written match the model exactly."""
    assert coll.count() == len(model)
    got = {r.id: r for r in coll.get(universe)}
    assert sorted(got) == sorted(model)
    for i, (vec, grp) in model.items():
        np.testing.assert_array_equal(got[i].vector, vec)
        assert got[i].row == {"grp": grp}
    assert coll.count(where="grp = 3") == sum(1 for _, g in model.values() if g == 3)


def _matches(coll: vecdb.Collection, model: Model, universe: list[int]) -> bool:
    if coll.count() != len(model):
        return False
    got = {r.id: r.vector for r in coll.get(universe)}
    return sorted(got) == sorted(model) and all(
        np.array_equal(got[i], v) for i, (v, _) in model.items()
    )


def _manifest(root: Path) -> dict[str, Any]:
    return json.loads((root / "index" / COLL / "manifest.json").read_text())


def _manifest_seq(root: Path, name: str) -> int:
    return int(json.loads((root / "index" / name / "manifest.json").read_text())["seq"])


# ---- close / reopen --------------------------------------------------------------------------
def _build(path: Path, kind: str, metric: str = "l2", n: int = 600) -> tuple[Model, list[int]]:
    """A collection of ``n`` rows with overwrites and deletes; returns (model, every id)."""
    model: Model = {}
    universe: list[int] = []
    with vecdb.connect(path) as db:
        coll = _create(db, kind, metric)
        for op in _ops(7, 14, 0, batch=n // 8, first_inserts=8):
            _run_op(coll, op)
            _model_op(model, op)
            if op[0] == "upsert":
                universe.extend(op[1].tolist())
    return model, sorted(set(universe))


def _snapshot(coll: vecdb.Collection, universe: list[int]) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    q = rng.standard_normal((8, DIM)).astype(np.float32) * 3
    recs = coll.get(universe)
    return {
        "count": coll.count(),
        "count_grp": coll.count(where="grp >= 2"),
        "ids": [r.id for r in recs],
        "vectors": np.stack([r.vector for r in recs]),
        "rows": [r.row for r in recs],
        "plain": coll.search(q, k=10),
        "one": coll.search(q[0], k=7),
        "filtered": coll.search(q, k=10, where="grp = $g", params={"g": 2}, include="*"),
        "broad": coll.search(q, k=10, where="grp <> 4 AND id % 3 <> 0"),
    }


def _assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    for key in a:
        if key == "vectors":
            np.testing.assert_array_equal(a[key], b[key])
        else:
            assert a[key] == b[key], key


@pytest.mark.parametrize("kind", KINDS)
def test_close_reopen_identical(tmp_path: Path, kind: str) -> None:
    """Closing checkpoints the index; reopening loads it and answers exactly as before."""
    path = tmp_path / "db"
    model, universe = _build(path, kind)
    with vecdb.connect(path) as db:
        coll = db.get_collection(COLL)
        before = _snapshot(coll, universe)
        assert coll.describe()["index"] == kind
        _check_contents(coll, model, universe)
        _check_search(coll, model, kind, "l2")
    seq = _manifest(path)["seq"]
    for _ in range(2):
        with vecdb.connect(path) as db:
            coll = db.get_collection(COLL)
            assert db.list_collections() == [COLL]
            _assert_same(before, _snapshot(coll, universe))
            if kind == "ivf":
                assert coll.index_params["trained"]
        assert _manifest(path)["seq"] == seq  # nothing new to checkpoint


@pytest.mark.parametrize("kind", KINDS)
def test_writes_after_reopen_survive_next_reopen(tmp_path: Path, kind: str) -> None:
    """Write, close, reopen, write more, close, reopen: still identical to the live state."""
    path = tmp_path / "db"
    model, universe = _build(path, kind, metric="cosine")
    with vecdb.connect(path) as db:
        coll = db.get_collection(COLL)
        for op in _ops(11, 10, 50_000, batch=40, first_inserts=3):
            _run_op(coll, op)
            _model_op(model, op)
            if op[0] == "upsert":
                universe.extend(op[1].tolist())
        universe = sorted(set(universe))
        before = _snapshot(coll, universe)
    with vecdb.connect(path) as db:
        coll = db.get_collection(COLL)
        _assert_same(before, _snapshot(coll, universe))
        _check_contents(coll, model, universe)
        _check_search(coll, model, kind, "cosine")


# ---- damaged checkpoints -------------------------------------------------------------------
DAMAGE = [
    ("index", "delete"),
    ("index", "truncate"),
    ("index", "flip"),
    ("vectors.npy", "delete"),
    ("vectors.npy", "flip"),
    ("manifest", "delete"),
    ("manifest", "garbage"),
    ("ckpt-dir", "delete"),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Model, list[int]]]:
    """One closed database per index kind, to be copied and damaged."""
    out = {}
    for kind in KINDS:
        path = tmp_path_factory.mktemp(f"built-{kind}") / "db"
        model, universe = _build(path, kind)
        out[kind] = (path, model, universe)
    return out


def _damage(root: Path, kind: str, target: str, how: str) -> None:
    idx = root / "index" / COLL
    manifest = json.loads((idx / "manifest.json").read_text())
    ckpt = idx / manifest["dir"]
    if target == "manifest":
        p = idx / "manifest.json"
        if how == "delete":
            p.unlink()
        else:
            p.write_text('{"seq": 3, "dir": ')
        return
    if target == "ckpt-dir":
        shutil.rmtree(ckpt)
        return
    p = ckpt / (INDEX_FILE[kind] if target == "index" else target)
    assert p.exists(), sorted(x.name for x in ckpt.iterdir())
    if how == "delete":
        p.unlink()
    elif how == "truncate":
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 2])
    else:
        data = bytearray(p.read_bytes())
        for off in (len(data) // 3, len(data) // 2, len(data) - 5):
            data[off] ^= 0xFF
        p.write_bytes(bytes(data))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("target", "how"), DAMAGE)
def test_damaged_checkpoint_is_rebuilt(
    tmp_path: Path,
    built: dict[str, tuple[Path, Model, list[int]]],
    kind: str,
    target: str,
    how: str,
) -> None:
    """A missing or corrupt checkpoint is rebuilt from DuckDB: contents identical, search
    identical to before (exact) or to a fresh rebuild (ivf) or as good as one (hnsw)."""
    src, model, universe = built[kind]
    intact, damaged, fresh = tmp_path / "intact", tmp_path / "damaged", tmp_path / "fresh"
    for d in (intact, damaged, fresh):
        shutil.copytree(src, d)
    with vecdb.connect(intact) as db:
        before = _snapshot(db.get_collection(COLL), universe)
    _damage(damaged, kind, target, how)
    shutil.rmtree(fresh / "index")
    with vecdb.connect(damaged) as db:
        coll = db.get_collection(COLL)
        after = _snapshot(coll, universe)
        _check_contents(coll, model, universe)
        _check_search(coll, model, kind, "l2")
    for key in ("count", "count_grp", "ids", "vectors", "rows"):
        _assert_same({key: before[key]}, {key: after[key]})
    if kind == "exact":
        _assert_same(before, after)
    if kind == "ivf":
        with vecdb.connect(fresh) as db:
            _assert_same(_snapshot(db.get_collection(COLL), universe), after)
    # the rebuild wrote a good checkpoint, and the next open uses it as is
    assert _manifest(damaged)["seq"] == _manifest(intact)["seq"]
    with vecdb.connect(damaged) as db:
        _assert_same(after, _snapshot(db.get_collection(COLL), universe))


def test_stale_checkpoint_of_dropped_collection_is_ignored(tmp_path: Path) -> None:
    """A crash between drop_collection's DuckDB commit and its removal of the index files
    leaves a checkpoint behind; a new collection of the same name must not load it."""
    path = tmp_path / "db"
    with vecdb.connect(path) as db:
        ids = np.arange(100, 150)  # one write of 50 rows, like the new collection's below
        vecs = np.random.default_rng(0).standard_normal((50, DIM)).astype(np.float32)
        _create(db, "exact").upsert(ids, vecs, [{"grp": 0}] * 50)
    stale = tmp_path / "stale"
    shutil.copytree(path / "index" / COLL, stale)
    with vecdb.connect(path) as db:
        db.drop_collection(COLL)
    shutil.copytree(stale, path / "index" / COLL)  # as if the process died inside the drop
    proc = subprocess.run(
        [sys.executable, __file__, *map(str, ["stream", path, "exact", 3, 1, 0, -1])],
        capture_output=True,
        text=True,
        timeout=60,
        env=_child_env(),
    )
    assert "done" in proc.stdout, proc.stderr
    with vecdb.connect(path) as db:
        coll = db.get_collection(COLL)
        assert coll.count() == 50
        assert {h.id for h in coll.search(np.ones(DIM, np.float32), k=60)} == set(range(50))


# ---- SIGKILL during a stream of writes -------------------------------------------------------
def _crash_rounds(tmp_path: Path, kind: str, rounds: int, n_ops: int, seed: int) -> None:
    """Rounds of: child streams writes, parent SIGKILLs it after some acks, reopens, checks."""
    path = tmp_path / "db"
    rng = np.random.default_rng(seed)
    model: Model = {}
    universe: set[int] = set()
    for rnd in range(rounds):
        op_seed, id_base = seed * 100 + rnd, rnd * 100_000
        ops = _ops(op_seed, n_ops, id_base)
        kill_after = int(rng.integers(9, min(n_ops - 5, max(30, n_ops * 2 // 3))))
        ckpt_at = int(rng.integers(4, kill_after)) if rnd % 2 == 0 else -1
        proc = _spawn("stream", path, kind, op_seed, n_ops, id_base, ckpt_at)
        lines = _read_until(proc, "ack")
        while int(lines[-1].split()[1]) < kill_after:
            lines += _read_until(proc, "ack")
        time.sleep(float(rng.uniform(0, 0.03)))  # kill mid-write, not just after an ack
        lines += _kill(proc).splitlines()
        acked = [int(ln.split()[1]) for ln in lines if ln.startswith("ack")]
        assert acked == list(range(len(acked))), "acks out of order"
        for op in ops[: len(acked)]:
            _model_op(model, op)
            if op[0] == "upsert":
                universe.update(op[1].tolist())
        if len(acked) < len(ops) and ops[len(acked)][0] == "upsert":
            universe.update(ops[len(acked)][1].tolist())
        with vecdb.connect(path) as db:
            coll = db.get_collection(COLL)
            ids = sorted(universe)
            if not _matches(coll, model, ids) and len(acked) < len(ops):
                # the write in flight at the kill committed without being acknowledged
                _model_op(model, ops[len(acked)])
            _check_contents(coll, model, ids)
            _check_search(coll, model, kind, "cosine", seed=rnd)
            # a write after recovery works and is visible
            extra = np.full((1, DIM), 0.5, dtype=np.float32) + rnd
            coll.upsert([id_base + 99_999], extra, [{"grp": _grp(id_base + 99_999)}])
            model[id_base + 99_999] = (extra[0], _grp(id_base + 99_999))
            universe.add(id_base + 99_999)
            _check_contents(coll, model, sorted(universe))


@pytest.mark.parametrize("kind", KINDS)
def test_sigkill_during_writes_loses_no_acknowledged_write(tmp_path: Path, kind: str) -> None:
    """Three crash rounds per index kind; every acknowledged write survives."""
    _crash_rounds(tmp_path, kind, rounds=3, n_ops=45, seed=KINDS.index(kind) + 1)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_sigkill_during_writes_many_rounds(tmp_path: Path, kind: str) -> None:
    """The same, longer: more rounds, longer streams."""
    _crash_rounds(tmp_path, kind, rounds=8, n_ops=150, seed=KINDS.index(kind) + 10)


@pytest.mark.parametrize("kind", KINDS)
def test_writes_after_checkpoint_are_replayed(tmp_path: Path, kind: str) -> None:
    """Checkpoint, write more, SIGKILL: reopen loads the checkpoint and replays the log."""
    path = tmp_path / "db"
    n_ops, ckpt_at = 30, 11
    ops = _ops(5, n_ops, 0)
    proc = _spawn("stream", path, kind, 5, n_ops, 0, ckpt_at)
    _read_until(proc, "done")
    _kill(proc)
    model: Model = {}
    universe: set[int] = set()
    for op in ops:
        _model_op(model, op)
        if op[0] == "upsert":
            universe.update(op[1].tolist())
    seq = _manifest(path)["seq"]
    assert seq == ckpt_at + 1  # one write sequence number per op
    import duckdb

    con = duckdb.connect(str(path / "vecdb.duckdb"), read_only=True)
    try:
        (pending,) = con.execute(
            f'SELECT count(*) FROM _vecdb."log_{COLL}" WHERE seq > ?', [seq]
        ).fetchone()
        (latest,) = con.execute(
            "SELECT seq FROM _vecdb.collections WHERE name = ?", [COLL]
        ).fetchone()
    finally:
        con.close()
    assert pending > 0 and latest == n_ops
    with vecdb.connect(path) as db:
        coll = db.get_collection(COLL)
        assert _manifest(path)["seq"] == seq, "the checkpoint was rebuilt instead of caught up"
        _check_contents(coll, model, sorted(universe))
        _check_search(coll, model, kind, "cosine")
    assert _manifest(path)["seq"] == n_ops  # close checkpointed the caught-up index
    with vecdb.connect(path) as db:
        _check_contents(db.get_collection(COLL), model, sorted(universe))


_COMPACT_CHILD = """
import os, signal, sys
import numpy as np, vecdb
path, kind, metric = sys.argv[1:4]
V = np.random.default_rng(0).standard_normal((4000, 8)).astype("float32")
db = vecdb.connect(path)
c = db.create_collection("c", dim=8, metric=metric, index=kind, id_type="str",
                         index_params={"nlist": 4} if kind == "ivf" else None)
c.upsert([f"k{i}" for i in range(100)], V[:100])  # ivf: untrained at the checkpoint
db.checkpoint()
c.upsert([f"k{i}" for i in range(100, 3000)], V[100:3000])
c.delete(ids=[f"k{i}" for i in range(0, 2100)])  # > 2000 dead labels and > 30%: compacts
print("dead labels", c.store.n_dead, flush=True)
c.upsert([f"k{i}" for i in range(3000, 4000)], V[3000:4000])
c.upsert([f"k{i}" for i in range(2500, 2600)], V[2500:2600] * 2)
c.delete(where="id LIKE 'k39%'")
print("done", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize(("kind", "metric"), [("exact", "ip"), ("hnsw", "l2"), ("ivf", "ip")])
def test_replay_after_compaction_with_str_ids(tmp_path: Path, kind: str, metric: str) -> None:
    """String ids; a checkpoint before ivf trains; an automatic compaction (which renumbers
    labels and checkpoints) mid-stream; more writes; SIGKILL. Reopen has exactly the rows."""
    path = tmp_path / "db"
    proc = subprocess.run(
        [sys.executable, "-c", _COMPACT_CHILD, str(path), kind, metric],
        capture_output=True,
        text=True,
        timeout=120,
        env=_child_env(),
    )
    assert proc.returncode == -signal.SIGKILL and "done" in proc.stdout, proc.stderr
    assert "dead labels 0" in proc.stdout  # the deletes triggered compact()
    assert _manifest_seq(path, "c") == 3  # ...whose checkpoint covers the first three writes
    vecs = np.random.default_rng(0).standard_normal((4000, 8)).astype(np.float32)
    want = {f"k{i}": vecs[i] for i in range(2100, 4000)}
    for i in range(2500, 2600):
        want[f"k{i}"] = vecs[i] * 2
    for key in [k for k in want if k.startswith("k39")]:
        del want[key]
    keys = sorted(want)
    mat = np.stack([want[k] for k in keys])
    with vecdb.connect(path) as db:
        coll = db.get_collection("c")
        assert coll.count() == len(want)
        got = {r.id: r.vector for r in coll.get([f"k{i}" for i in range(4000)])}
        assert sorted(got) == keys
        assert all(np.array_equal(got[k], want[k]) for k in keys)
        queries = np.random.default_rng(1).standard_normal((10, 8)).astype(np.float32)
        if metric == "l2":
            dist = np.linalg.norm(mat[None, :, :] - queries[:, None, :], axis=2)
        else:
            dist = -(queries @ mat.T)
        found = 0
        for qi, hits in enumerate(coll.search(queries, k=10)):
            assert len(hits) == 10
            oracle = {keys[j] for j in np.argsort(dist[qi])[:10]}
            found += len(oracle & {h.id for h in hits})
            for h in hits:
                assert abs(h.distance - dist[qi, keys.index(h.id)]) < 1e-4
        assert found / 100 >= (1.0 if kind == "exact" else RECALL_MIN)
        if kind == "ivf":
            assert coll.index_params["trained"]


# ---- one process per directory ----------------------------------------------------------------
@pytest.mark.parametrize("release", ["close", "sigkill"])
def test_second_process_is_locked_out(tmp_path: Path, release: str) -> None:
    """While a process holds DIR, another gets DatabaseLockedError naming `vecdb serve`;
    once the holder closes or dies, the directory opens again."""
    path = tmp_path / "db"
    with vecdb.connect(path) as db:
        _create(db, "exact").upsert([1], np.ones((1, DIM), np.float32), [{"grp": 1}])
        child = subprocess.run(
            [sys.executable, __file__, "try", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert child.stdout.startswith("locked "), child.stdout + child.stderr
        assert "vecdb serve" in child.stdout
    holder = _spawn("hold", path)
    try:
        _read_until(holder, "ready")
        with pytest.raises(DatabaseLockedError, match="vecdb serve"):
            vecdb.connect(path)
        with pytest.raises(DatabaseLockedError):  # a failed attempt leaves the lock alone
            vecdb.connect(path)
        if release == "close":
            assert holder.stdin is not None
            holder.stdin.write("close\n")
            holder.stdin.flush()
            _read_until(holder, "closed")
        else:
            _kill(holder)
        with vecdb.connect(path) as db:
            assert db.get_collection(COLL).count() == 1
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.communicate()


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
