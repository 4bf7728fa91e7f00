"""Long work is not silent: bulk writes, index builds, rebuilds at open and compact() report
progress (a tqdm bar on stderr, or log lines), and progress=False / VECDB_PROGRESS=0 silence
it. Small calls never report anything."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vecdb
from vecdb.errors import InvalidArgumentError
from vecdb.progress import MIN_ITEMS

N = MIN_ITEMS + 2_000  # just above the size that reports
DIM = 4


def _vectors(n: int = N, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VECDB_PROGRESS", raising=False)


def _filled(path: Path, index: str = "exact") -> None:
    """A closed database holding collection c with N rows (written without progress)."""
    with vecdb.connect(path, progress=False) as db:
        c = db.create_collection("c", dim=DIM, metric="l2", index=index)
        c.upsert(np.arange(N), _vectors())


def test_bulk_write_shows_writing_and_indexing(tmp_path: Path, capsys: Any) -> None:
    with vecdb.connect(tmp_path, progress=True) as db:
        c = db.create_collection("c", dim=DIM, metric="l2", index="hnsw")
        capsys.readouterr()
        assert c.upsert(np.arange(N), _vectors()) == N
        err = capsys.readouterr().err
    assert "vecdb: c: writing" in err and "vecdb: c: indexing" in err, err
    assert "100%" in err
    with vecdb.connect(tmp_path, progress=False) as db:  # chunked, yet one whole batch
        assert db.get_collection("c").count() == N
        assert db.sql("SELECT count(*) FROM c").fetchall() == [(N,)]


@pytest.mark.parametrize("progress", [True, False])
def test_a_write_duckdb_refuses_changes_nothing(tmp_path: Path, progress: bool) -> None:
    """An INTEGER overflow (refused by DuckDB only) in the last chunk of a chunked write
    rolls back the chunks before it, and is reported as the bad argument it is."""
    with vecdb.connect(tmp_path, progress=progress) as db:
        c = db.create_collection("c", dim=DIM, metric="l2", index="exact", columns={"n": "INTEGER"})
        c.upsert([10**9], _vectors(1), [{"n": 1}])
        rows: list[dict[str, Any]] = [{"n": i} for i in range(N)]
        rows[-1] = {"n": 2**40}
        with pytest.raises(InvalidArgumentError):
            c.upsert(np.arange(N), _vectors(), rows)
        assert c.count() == 1 and db.sql("SELECT count(*) FROM c").fetchall() == [(1,)]
        assert c.upsert([5], _vectors(1), [{"n": 5}]) == 1  # the session is usable again


def test_small_calls_report_nothing(tmp_path: Path, capsys: Any) -> None:
    with vecdb.connect(tmp_path, progress=True) as db:
        c = db.create_collection("c", dim=DIM, metric="l2", index="hnsw")
        c.upsert(np.arange(100), _vectors(100))
        c.set_index("ivf")
        c.compact()
    assert capsys.readouterr().err == ""


def test_index_build_shows_progress(tmp_path: Path, capsys: Any) -> None:
    _filled(tmp_path)
    with vecdb.connect(tmp_path, progress=True) as db:
        capsys.readouterr()
        db.sql("CREATE INDEX c_vec ON c USING HNSW (vec) WITH (metric = 'l2', m = 8)")
        err = capsys.readouterr().err
        assert "vecdb: c: indexing" in err and "100%" in err, err
        db.get_collection("c").set_index("ivf", index_params={"nlist": 16})
        assert "vecdb: c: indexing" in capsys.readouterr().err


def test_rebuild_at_open_shows_progress(tmp_path: Path, capsys: Any) -> None:
    _filled(tmp_path, index="ivf")
    shutil.rmtree(tmp_path / "index" / "c")  # no checkpoint: the open rebuilds from DuckDB
    capsys.readouterr()
    with vecdb.connect(tmp_path, progress=True) as db:
        err = capsys.readouterr().err
        assert "vecdb: c: loading" in err and "vecdb: c: indexing" in err, err
        assert db.get_collection("c").count() == N


def test_compact_shows_progress(tmp_path: Path, capsys: Any) -> None:
    _filled(tmp_path, index="ivf")
    with vecdb.connect(tmp_path, progress=True) as db:
        c = db.get_collection("c")
        c.delete(ids=list(range(1_000)))
        capsys.readouterr()
        c.compact()
        err = capsys.readouterr().err
        assert "vecdb: c: indexing" in err, err
        assert c.count() == N - 1_000


def _everything(path: Path, progress: Any) -> None:
    """A bulk write, an index build, a rebuild at open and a compaction."""
    with vecdb.connect(path, progress=progress) as db:
        c = db.create_collection("c", dim=DIM, metric="l2", index="exact")
        c.upsert(np.arange(N), _vectors())
        c.set_index("ivf", index_params={"nlist": 4})  # quick to build, reports the same
        c.delete(ids=[0])
        c.compact()
    shutil.rmtree(path / "index" / "c")
    with vecdb.connect(path, progress=progress) as db:
        assert db.get_collection("c").count() == N - 1


def test_progress_false_is_silent(tmp_path: Path, capsys: Any) -> None:
    _everything(tmp_path, False)
    assert capsys.readouterr().err == ""


def test_env_zero_silences_auto_and_log(
    tmp_path: Path, capsys: Any, caplog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VECDB_PROGRESS", "0")
    _everything(tmp_path / "auto", None)
    with caplog.at_level(logging.INFO, logger="vecdb.progress"):
        _everything(tmp_path / "log", "log")
    assert capsys.readouterr().err == ""
    assert [r for r in caplog.records if r.name == "vecdb.progress"] == []


def test_env_one_forces_bars(tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VECDB_PROGRESS", "1")
    with vecdb.connect(tmp_path) as db:  # progress=None: auto, forced on by the variable
        db.create_collection("c", dim=DIM, metric="l2", index="exact").upsert(
            np.arange(N), _vectors()
        )
    assert "vecdb: c: writing" in capsys.readouterr().err


def test_auto_is_quiet_when_stderr_is_not_a_terminal(tmp_path: Path, capsys: Any) -> None:
    _everything(tmp_path, None)  # pytest's captured stderr is not a TTY
    assert capsys.readouterr().err == ""


def test_log_mode_writes_lines_not_bars(tmp_path: Path, capsys: Any, caplog: Any) -> None:
    with caplog.at_level(logging.INFO, logger="vecdb.progress"):
        _everything(tmp_path, "log")
    msgs = [r.getMessage() for r in caplog.records if r.name == "vecdb.progress"]
    for what in ("writing", "indexing", "loading"):
        assert any(f"vecdb: c: {what}: 0/" in m for m in msgs), msgs
        assert any(f"vecdb: c: {what}: " in m and "(100%) in " in m for m in msgs), msgs
    assert capsys.readouterr().err == ""  # no bar drawn


def test_bad_progress_option() -> None:
    with pytest.raises(InvalidArgumentError, match="progress must be"):
        vecdb.connect(progress="sometimes")
