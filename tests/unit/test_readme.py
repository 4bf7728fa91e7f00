"""README.md's Python examples run top to bottom, and the results they show are the results.

Each ```python block runs in one namespace, in a fresh directory. An expression followed by a
comment that reads as a value (``# [Hit(...)]``, ``# 'exact-allowlist'``) must print as that
value. The gRPC block runs against a real ``vecdb serve`` on the data the blocks above wrote,
on an ephemeral port in place of the README's 50051.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.service.test_serve_e2e import start, stop

README = Path(__file__).resolve().parents[2] / "README.md"
GRPC_URL = "grpc://127.0.0.1:50051"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def _statements(block: str) -> list[tuple[ast.stmt, str | None]]:
    """Each top-level statement, with the value its comment shows (None if it shows none)."""
    lines = block.splitlines()
    out: list[tuple[ast.stmt, str | None]] = []
    for node in ast.parse(block).body:
        out.append((node, None))
        if not isinstance(node, ast.Expr) or node.end_lineno is None:
            continue
        last = lines[node.end_lineno - 1]
        inline = last[node.end_col_offset :].strip()
        shown = [inline] if inline.startswith("#") else []
        for line in lines[node.end_lineno :]:
            if not line.startswith("#") or inline:
                break
            shown.append(line)
        text = " ".join(s.lstrip("#").strip() for s in shown)
        if text and text[0] in "[('{0123456789-":
            out[-1] = (node, text)
    return out


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("[ ", "[").replace("( ", "(")).strip()


def test_readme_has_the_examples_it_should() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 3
    assert sum(shown is not None for b in blocks for _, shown in _statements(b)) >= 3


def test_readme_examples_run_top_to_bottom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    server = None
    try:
        for block in python_blocks():
            if GRPC_URL in block:
                server, url, _ = start(tmp_path / "data")
                block = block.replace(GRPC_URL, url)
            for node, shown in _statements(block):
                if shown is None:
                    exec(compile(ast.Module([node], []), str(README), "exec"), namespace)
                    continue
                assert isinstance(node, ast.Expr)
                got = repr(
                    eval(compile(ast.Expression(node.value), str(README), "eval"), namespace)
                )
                assert _normal(got) == _normal(shown), f"README shows {shown}, got {got}"
    finally:
        if server is not None:
            stop(server)
    assert os.path.isdir(tmp_path / "data" / "index")
