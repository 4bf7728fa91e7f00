"""The committed generated modules are exactly what ``proto/`` generates."""

from __future__ import annotations

from pathlib import Path

from vecdb_server import protogen


def test_generated_modules_match_proto(tmp_path: Path) -> None:
    files = protogen.generate(tmp_path)
    names = sorted(f.name for f in files)
    assert names == ["vecdb_pb2.py", "vecdb_pb2_grpc.py"]
    for f in files:
        committed = protogen.TARGET / f.name
        assert committed.exists(), f"{committed} is missing: run `make proto`"
        assert committed.read_bytes() == f.read_bytes(), (
            f"{committed} differs from what proto/ generates: run `make proto` and commit"
        )


def test_generated_imports_are_absolute() -> None:
    text = (protogen.TARGET / "vecdb_pb2_grpc.py").read_text()
    assert "from vecdb.rpc.v1 import vecdb_pb2" in text
