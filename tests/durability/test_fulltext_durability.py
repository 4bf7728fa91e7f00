"""Durability of the full-text index: SIGKILL during writes, damaged checkpoint files.

The full-text index is derived state like the vector index: after a crash it is caught up
from the change log, and a damaged checkpoint is rebuilt from DuckDB. Each check compares
BM25 results of the reopened collection with a fresh :class:`vecdb.fulltext.FullTextIndex`
over the acknowledged documents (the oracle).
"""

from __future__ import annotations

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
from vecdb.fulltext import FullTextIndex

DIM = 4
COLL = "t"
WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
QUERIES = ["alpha", "beta gamma", "kappa mu mu", "theta iota zeta", "nothing"]
Op = tuple[Any, ...]


def _ops(seed: int, n_ops: int, batch: int = 40) -> list[Op]:
    rng = np.random.default_rng(seed)
    ops: list[Op] = []
    nxt = seed * 100_000
    for i in range(n_ops):
        if i < 5 or rng.random() < 0.6:
            ids = list(range(nxt, nxt + batch))
            nxt += batch
        elif rng.random() < 0.6:
            ids = sorted(rng.choice(np.arange(seed * 100_000, nxt), batch // 2, replace=False))
            ids = [int(x) for x in ids]
        else:
            ids = sorted(rng.choice(np.arange(seed * 100_000, nxt), batch // 4, replace=False))
            ops.append(("delete", [int(x) for x in ids]))
            continue
        docs = [" ".join(rng.choice(WORDS, int(rng.integers(1, 8)))) for _ in ids]
        vecs = rng.standard_normal((len(ids), DIM)).astype(np.float32)
        ops.append(("upsert", ids, vecs, docs))
    return ops


def _apply(model: dict[int, str], op: Op) -> None:
    if op[0] == "upsert":
        model.update(zip(op[1], op[3]))
    else:
        for i in op[1]:
            model.pop(i, None)


def _open(db: vecdb.Database) -> vecdb.Collection:
    return db.create_collection(COLL, dim=DIM, index="exact", fulltext=True, exist_ok=True)


def _child_main(argv: list[str]) -> int:
    """``DIR SEED N_OPS CKPT_AT``: run the ops, print ``ack i`` after each, then SIGKILL."""
    path, seed, n_ops, ckpt_at = argv[0], *map(int, argv[1:4])
    db = vecdb.connect(path)
    coll = _open(db)
    for i, op in enumerate(_ops(seed, n_ops)):
        if op[0] == "upsert":
            coll.upsert(ids=op[1], vectors=op[2], documents=op[3])
        else:
            coll.delete(ids=op[1])
        print(f"ack {i}", flush=True)
        if i == ckpt_at:
            db.checkpoint()
    os.kill(os.getpid(), signal.SIGKILL)
    return 1


def _canon(ids: list[int], scores: list[float]) -> list[tuple[float, int]]:
    """Hits as (score rounded, id) sorted: equal scores may differ in the last bits between
    an incrementally kept index and a fresh one, which may swap tied ids."""
    return sorted(((-round(s, 9), i) for i, s in zip(ids, scores)))


def _oracle(model: dict[int, str], query: str, k: int = 10) -> list[tuple[float, int]]:
    ft = FullTextIndex()
    ft.upsert(list(model), list(model.values()))
    ids, scores = ft.search(query, k)
    return _canon(ids.tolist(), scores.tolist())


def _results(coll: vecdb.Collection) -> list[list[tuple[float, int]]]:
    out = []
    for q in QUERIES:
        hits = coll.search(q, k=10, mode="fulltext")
        out.append(_canon([h.id for h in hits], [h.distance for h in hits]))
    return out


def _expected(model: dict[int, str]) -> list[list[tuple[float, int]]]:
    return [_oracle(model, q) for q in QUERIES]


def test_sigkill_during_writes_keeps_fulltext_consistent(tmp_path: Path) -> None:
    path = tmp_path / "db"
    model: dict[int, str] = {}
    rng = np.random.default_rng(7)
    for rnd, seed in enumerate((1, 2, 3)):
        n_ops = 30
        ops = _ops(seed, n_ops)
        kill_after = int(rng.integers(8, 22))
        ckpt_at = int(rng.integers(2, kill_after)) if rnd != 1 else -1
        proc = subprocess.Popen(
            [sys.executable, __file__, str(path), str(seed), str(n_ops), str(ckpt_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        assert proc.stdout is not None
        acked = -1
        deadline = time.monotonic() + 120
        while acked < kill_after and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            acked = int(line.split()[1])
        time.sleep(float(rng.uniform(0, 0.02)))
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        acked = max([acked, *(int(ln.split()[1]) for ln in out.splitlines() if ln.strip())])
        assert acked >= kill_after, err
        for op in ops[: acked + 1]:
            _apply(model, op)
        with vecdb.connect(path) as db:
            coll = db.get_collection(COLL)
            got = _results(coll)
            if got != _expected(model) and acked + 1 < len(ops):
                _apply(model, ops[acked + 1])  # the write in flight committed, unacknowledged
            assert got == _expected(model)
            assert len(coll._live.fulltext) == len(model)
            # a write after recovery is searchable
            coll.upsert(
                ids=[seed * 100_000 + 99_999], vectors=np.ones((1, DIM)), documents=["omega"]
            )
            model[seed * 100_000 + 99_999] = "omega"
            assert _results(coll) == _expected(model)


@pytest.mark.parametrize("how", ["truncate", "delete", "flip"])
def test_damaged_fulltext_checkpoint_is_rebuilt(tmp_path: Path, how: str) -> None:
    model: dict[int, str] = {}
    with vecdb.connect(tmp_path) as db:
        coll = _open(db)
        for op in _ops(4, 12):
            if op[0] == "upsert":
                coll.upsert(ids=op[1], vectors=op[2], documents=op[3])
            else:
                coll.delete(ids=op[1])
            _apply(model, op)
    ckpts = list((tmp_path / "index" / COLL).glob("ckpt-*"))
    assert len(ckpts) == 1 and (ckpts[0] / "fulltext-fwd-term.npy").exists()
    target = ckpts[0] / "fulltext-fwd-term.npy"
    if how == "truncate":
        target.write_bytes(target.read_bytes()[:40])
    elif how == "delete":
        target.unlink()
    else:
        data = bytearray(target.read_bytes())
        data[-1] ^= 0xFF
        target.write_bytes(bytes(data))
    with vecdb.connect(tmp_path) as db:
        coll = db.get_collection(COLL)
        assert _results(coll) == _expected(model)
    # the rebuild wrote a fresh, valid checkpoint: the next open loads it
    with vecdb.connect(tmp_path) as db:
        assert _results(db.get_collection(COLL)) == _expected(model)
    shutil.rmtree(tmp_path / "index")  # no checkpoint at all: rebuilt from DuckDB
    with vecdb.connect(tmp_path) as db:
        assert _results(db.get_collection(COLL)) == _expected(model)


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
