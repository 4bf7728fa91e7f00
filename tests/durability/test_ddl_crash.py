"""SIGKILL between every durable step of DDL, then reopen: the directory always opens, the
collection the DDL touched is either as it was before or as the DDL leaves it (never half
of each), and the other collections are intact.

Each step is a crash point (:mod:`vecdb.storage.crash`): a child process opens a copy of a
prepared directory, sets ``VECDB_TEST_CRASH_AT=<step>`` and runs one statement --
``create_collection``, ``CREATE INDEX … USING HNSW``, ``DROP INDEX`` or ``drop_collection`` --
and kills itself with SIGKILL when it reaches that step. The parent reopens the directory
twice and checks the state, including which side of the commit each step is on.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest

import vecdb
from tests.oracle import assert_exact
from vecdb.storage.crash import ENV, STEPS
from vecdb.storage.table import indexed_by

DIM = 8
N = 300

CHECKPOINT = [s for s in STEPS if s.startswith("checkpoint.")]
SET_INDEX = ["set_index.rebuilt", "set_index.in_txn", "set_index.committed", *CHECKPOINT]
#: the DDL of each operation (run by the child), its crash points, and the first step at
#: which the change is durable: crashing there or later must leave the "after" state
OPS: dict[str, tuple[str, list[str], str]] = {
    "create_collection": (
        "db.create_collection('fresh', dim=8, metric='l2', index='hnsw',"
        " index_params={'m': 8}, columns={'t': 'VARCHAR'})",
        ["create.begin", "create.in_txn", "create.committed"],
        "create.committed",
    ),
    "create_index": (
        "db.sql(\"CREATE INDEX plain_idx ON plain USING HNSW (vec) WITH (metric = 'l2', m = 8)\")",
        SET_INDEX,
        "set_index.committed",
    ),
    "drop_index": ("db.sql('DROP INDEX indexed_idx')", SET_INDEX, "set_index.committed"),
    "drop_collection": (
        "db.drop_collection('indexed')",
        ["drop.in_txn", "drop.committed", "drop.manifest_removed"],
        "drop.committed",
    ),
}
#: the collection each operation touches
TARGET = {
    "create_collection": "fresh",
    "create_index": "plain",
    "drop_index": "indexed",
    "drop_collection": "indexed",
}

CHILD = """
import os, sys, vecdb
db = vecdb.connect(sys.argv[1])
os.environ[{env!r}] = sys.argv[2]   # set after the open: only the DDL below may crash
{ddl}
print("finished", flush=True)
"""


def test_every_step_is_covered() -> None:
    """Each crash point in the code is exercised by some operation here."""
    used = {s for _, steps, _ in OPS.values() for s in steps}
    assert used == set(STEPS)


def _vectors(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(N, DIM)).astype(np.float32)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """keep (hnsw), plain (exact) and indexed (exact + CREATE INDEX indexed_idx, HNSW)."""
    path = tmp_path_factory.mktemp("ddl-crash") / "base"
    with vecdb.connect(path) as db:
        for seed, (name, index) in enumerate(
            [("keep", "hnsw"), ("plain", "exact"), ("indexed", "exact")]
        ):
            c = db.create_collection(
                name, dim=DIM, metric="l2", index=index, columns={"tag": "VARCHAR"}
            )
            c.upsert(list(range(N)), _vectors(seed), [{"tag": f"t{i % 7}"} for i in range(N)])
        db.sql("CREATE INDEX indexed_idx ON indexed USING HNSW (vec) WITH (metric = 'l2', m = 8)")
    return path


def _run_child(path: Path, op: str, step: str) -> subprocess.CompletedProcess[str]:
    code = CHILD.format(env=ENV, ddl=OPS[op][0])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop(ENV, None)
    return subprocess.run(
        [sys.executable, "-c", code, str(path), step],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def _rows(coll: Any) -> dict[Any, tuple[list[float], dict[str, Any]]]:
    recs = coll.get(list(range(N)))
    return {r.id: (r.vector.tolist(), r.row) for r in recs}


def _check_search(coll: Any, seed: int) -> None:
    """Searches (through whatever index the collection now has) match an exact oracle."""
    vecs = _vectors(seed)
    id_to_row = {i: i for i in range(N)}
    for q in np.random.default_rng(99).normal(size=(3, DIM)).astype(np.float32):
        hits = coll.search(q, k=5, ef=400)
        assert_exact(
            [h.id for h in hits],
            [h.distance for h in hits],
            id_to_row,
            vecs,
            q,
            5,
            "l2",
            np.arange(N),
        )


def _state(path: Path, op: str) -> dict[str, Any]:
    """Open the directory and describe what the operation's target looks like; check the
    other collections against the base on the way."""
    target = TARGET[op]
    with vecdb.connect(path) as db:
        assert db._broken == {}, db._broken  # no collection failed to open
        names = db.list_collections()
        con = db._cursor()
        tables = {
            (s, t)
            for s, t in con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables()"
            ).fetchall()
        }
        user_tables = {t for s, t in tables if s == "main"}
        logs = {t for s, t in tables if s == "_vecdb" and t.startswith("log_")}
        assert user_tables == set(names), (user_tables, names)
        assert logs == {f"log_{n}" for n in names}, (logs, names)
        for seed, name in enumerate(["keep", "plain", "indexed"]):
            if name == target:
                continue
            coll = db.get_collection(name)
            assert coll.count() == N
            assert _rows(coll) == {
                i: (v.tolist(), {"tag": f"t{i % 7}"}) for i, v in enumerate(_vectors(seed))
            }
            _check_search(coll, seed)
        assert db.get_collection("keep").index_kind == "hnsw"
        if target not in names:
            assert con.execute(
                "SELECT count(*) FROM _vecdb.index_names WHERE collection = ?", [target]
            ).fetchall() == [(0,)]
            return {"exists": False}
        coll = db.get_collection(target)
        d = coll.describe()
        out = {
            "exists": True,
            "index": d["index"],
            "params": d["index_params"],
            "columns": d["columns"],
            "count": d["count"],
            "sql_name": indexed_by(con, f"{target}_idx"),
        }
        if target != "fresh":
            seed = ["keep", "plain", "indexed"].index(target)
            assert d["count"] == N
            _check_search(coll, seed)
        else:  # a created collection works: write, search, read back
            coll.upsert([1], np.ones((1, DIM), np.float32), [{"t": "x"}])
            assert [h.id for h in coll.search(np.ones(DIM, np.float32), k=1)] == [1]
            coll.delete(ids=[1])
        return out


BEFORE: dict[str, dict[str, Any]] = {
    "create_collection": {"exists": False},
    "create_index": {"exists": True, "index": "exact", "sql_name": None},
    "drop_index": {"exists": True, "index": "hnsw", "sql_name": "indexed"},
    "drop_collection": {"exists": True, "index": "hnsw", "sql_name": "indexed"},
}
AFTER: dict[str, dict[str, Any]] = {
    "create_collection": {"exists": True, "index": "hnsw", "count": 0, "sql_name": None},
    "create_index": {"exists": True, "index": "hnsw", "sql_name": "plain"},
    "drop_index": {"exists": True, "index": "exact", "sql_name": None},
    "drop_collection": {"exists": False},
}


def _expect(state: dict[str, Any], want: dict[str, Any]) -> None:
    assert {k: state.get(k) for k in want} == want, state


#: the cases `make test` runs (one each side of a commit, a torn checkpoint, a torn drop);
#: the whole matrix is `slow` (about 30 subprocesses)
QUICK = {
    ("create_collection", "create.in_txn"),
    ("create_collection", "create.committed"),
    ("create_index", "set_index.in_txn"),
    ("drop_index", "checkpoint.dir_renamed"),
    ("drop_collection", "drop.in_txn"),
    ("drop_collection", "drop.manifest_removed"),
}
CASES = [
    pytest.param(op, step, id=f"{op}-{step}", marks=() if (op, step) in QUICK else pytest.mark.slow)
    for op, (_, steps, _) in OPS.items()
    for step in [*steps, "none"]
]


@pytest.mark.parametrize(("op", "step"), CASES)
def test_sigkill_between_ddl_steps(base: Path, tmp_path: Path, op: str, step: str) -> None:
    path = tmp_path / "db"
    shutil.copytree(base, path)
    done = _run_child(path, op, step)
    if step == "none":  # no crash: the DDL completes
        assert done.returncode == 0 and "finished" in done.stdout, done.stderr
    else:
        assert done.returncode == -signal.SIGKILL, (done.returncode, done.stdout, done.stderr)
        assert "finished" not in done.stdout
    steps, durable_from = OPS[op][1], OPS[op][2]
    durable = step == "none" or steps.index(step) >= steps.index(durable_from)
    first = _state(path, op)
    _expect(first, AFTER[op] if durable else BEFORE[op])
    if first["exists"] and op != "create_collection":
        want_params = {"m": 8} if first["index"] == "hnsw" else {}
        assert {k: first["params"].get(k) for k in want_params} == want_params
    if op == "create_collection" and first["exists"]:
        assert first["params"]["m"] == 8 and first["columns"] == {"t": "VARCHAR"}
    # the recovered state is stable: a second open finds the same
    assert _state(path, op) == first
    # and when it was lost, the DDL can be run again to completion from there
    if not durable:
        redo = _run_child(path, op, "none")
        assert redo.returncode == 0 and "finished" in redo.stdout, redo.stderr
        _expect(_state(path, op), AFTER[op])


def test_drop_forgets_the_index_name(tmp_path: Path) -> None:
    """A dropped collection's SQL index name does not reach a new collection of that name."""
    with vecdb.connect(tmp_path) as db:
        db.create_collection("c", dim=2, metric="l2", index="exact")
        db.sql("CREATE INDEX c_hnsw ON c USING HNSW (vec) WITH (metric = 'l2')")
        db.drop_collection("c")
        db.create_collection("c", dim=2, metric="l2", index="ivf")
        con = db._cursor()
        assert indexed_by(con, "c_hnsw") is None
    con = duckdb.connect(str(tmp_path / "vecdb.duckdb"))
    assert con.execute("SELECT count(*) FROM _vecdb.index_names").fetchall() == [(0,)]
    con.close()
