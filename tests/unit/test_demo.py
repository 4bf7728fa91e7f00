"""``vecdb demo`` end to end on a small data set: build, re-run (reuse), output and errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import vecdb
from vecdb.demo import generate, main


def test_demo_builds_then_reuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    argv = ["--data", str(data), "--n", "1200", "--dim", "16", "--queries", "10", "--k", "3"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "built: 1,200 rows" in out
    for section in ("unfiltered search", "broad filter", "selective filter"):
        assert section in out
    assert out.count("plan: strategy=") == 3
    assert out.count("ms/query") == 3
    assert (data / "index" / "demo_hnsw_16d" / "manifest.json").exists()

    assert main(argv) == 0  # the second run reopens the directory and loads nothing
    out2 = capsys.readouterr().out
    assert "1,200 rows found" in out2 and "reusing the stored collection" in out2
    # same data, same queries: the same hits
    hits = [ln for ln in out.splitlines() if "(topic" in ln]
    assert hits and hits == [ln for ln in out2.splitlines() if "(topic" in ln]

    with vecdb.connect(data) as db:
        coll = db.get_collection("demo_hnsw_16d")
        assert coll.count() == 1200
        ids, vecs, rows = generate(0, 1200, 16)  # the demo loads one batch from id 0
        rec = coll.get([100])[0]
        assert rec.vector.tolist() == vecs[100].tolist() and rec.row == rows[100]


def test_demo_resizes_to_n(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "data")
    common = ["--data", data, "--dim", "8", "--queries", "3", "--index", "exact"]
    assert main([*common, "--n", "300"]) == 0
    assert main([*common, "--n", "200"]) == 0
    with vecdb.connect(data) as db:
        assert db.get_collection("demo_exact_8d").count() == 200
    capsys.readouterr()


def test_demo_bad_arguments(tmp_path: Path) -> None:
    assert main(["--data", str(tmp_path), "--n", "0"]) == 2


def test_demo_locked_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with vecdb.connect(tmp_path):
        assert main(["--data", str(tmp_path), "--n", "10", "--dim", "4"]) == 1
    assert "vecdb serve" in capsys.readouterr().err


def test_python_m_vecdb_demo(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vecdb",
            "demo",
            "--data",
            str(tmp_path / "d"),
            "--n",
            "400",
            "--dim",
            "8",
            "--queries",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "selective filter" in proc.stdout
