"""The README runs top to bottom: every ``python`` block in one session, every ``sh`` block
as a shell would (``vecdb serve`` on free ports, ``curl``, ``openssl``), in document order;
a ``# value`` comment after an expression or a command is checked against its result."""

from __future__ import annotations

import ast
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from vecdb.collection import Hit

README = Path(__file__).resolve().parents[2] / "README.md"
BANNER = re.compile(r"vecdb serving grpc=\S+:(\d+) http=https?://\S+:(\d+) docs=")
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.DOTALL | re.MULTILINE)


def blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(README.read_text())]


def same(got: Any, want: Any) -> bool:
    """Equal, with floats compared to 1e-5 (relative) and tuples as lists."""
    if isinstance(want, float) or isinstance(got, float):
        try:
            return math.isclose(float(got), float(want), rel_tol=1e-5, abs_tol=1e-6)
        except (TypeError, ValueError):
            return False
    if isinstance(want, (list, tuple)) and isinstance(got, (list, tuple)):
        return len(got) == len(want) and all(same(g, w) for g, w in zip(got, want))
    if isinstance(want, dict) and isinstance(got, dict):
        return got.keys() == want.keys() and all(same(got[k], want[k]) for k in want)
    return bool(got == want)


def expected_after(lines: list[str], end: int) -> str | None:
    """The ``# ...`` comment lines right after line ``end`` (1-based), joined."""
    out = []
    for line in lines[end:]:
        s = line.strip()
        if not s.startswith("#"):
            break
        out.append(s[1:].strip())
    return " ".join(out) or None


def run_python(code: str, ns: dict[str, Any], ports: dict[str, str]) -> int:
    """Exec a block statement by statement; returns how many results were checked."""
    for old, new in ports.items():
        code = code.replace(old, new)
    lines = code.splitlines()
    checked = 0
    for stmt in ast.parse(code).body:
        src = ast.get_source_segment(code, stmt)
        assert src is not None
        if not isinstance(stmt, ast.Expr):
            exec(compile(src, "README.md", "exec"), ns)
            continue
        value = eval(compile(src, "README.md", "eval"), ns)
        text = expected_after(lines, stmt.end_lineno or 0)
        inline = lines[(stmt.end_lineno or 1) - 1].split("  # ", 1)
        if text is None and len(inline) == 2:
            text = inline[1].strip()
        try:
            want = eval(text, {"Hit": Hit}) if text else None
        except SyntaxError:
            continue  # a remark, not a value
        if text:
            assert same(value, want), f"README: {src}\n  gave {value!r}\n  says {text}"
            checked += 1
    return checked


class Shell:
    """Runs README ``sh`` blocks: ``vecdb serve`` as a background process on free ports,
    other commands through bash; remembers which README port maps to which real one."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.ports: dict[str, str] = {}
        self.servers: list[subprocess.Popen[str]] = []

    def serve(self, cmd: str) -> None:
        args = shlex.split(cmd)
        args = [sys.executable, "-m", "vecdb", *args[1:]]
        wanted = {}
        for flag in ("--grpc-port", "--http-port"):
            i = args.index(flag)
            wanted[flag] = args[i + 1]
            args[i + 1] = "0"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("VECDB_API_KEY", None)
        proc = subprocess.Popen(
            [*args, "--log-level", "WARNING"],
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.servers.append(proc)
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            m = BANNER.search(proc.stdout.readline() or "")
            if m:
                self.ports[":" + wanted["--grpc-port"]] = ":" + m.group(1)
                self.ports[":" + wanted["--http-port"]] = ":" + m.group(2)
                return
            if proc.poll() is not None:
                break
        raise AssertionError(f"README's server did not start: {cmd}")

    def run(self, block: str) -> int:
        lines = block.replace("\\\n", " ").splitlines()
        checked = 0
        for i, line in enumerate(lines):
            cmd = line.strip()
            if not cmd or cmd.startswith("#"):
                continue
            if cmd.startswith("make "):
                continue  # the test is already inside what `make` sets up
            if cmd.startswith(".venv/bin/vecdb serve"):
                self.serve(cmd)
                continue
            tool = cmd.split()[0]
            if shutil.which(tool) is None:
                pytest.skip(f"the README uses {tool}, which is not installed here")
            for old, new in self.ports.items():
                cmd = cmd.replace(old, new)
            proc = subprocess.run(
                ["bash", "-c", cmd],
                cwd=self.cwd,
                capture_output=True,
                text=True,
                timeout=60,
                env={**os.environ, "no_proxy": "*", "NO_PROXY": "*"},  # loopback only
            )
            assert proc.returncode == 0, (cmd, proc.stdout, proc.stderr)
            text = expected_after(lines, i + 1)
            if text and text.startswith(("{", "[")):
                assert json.loads(proc.stdout) == json.loads(text), (cmd, proc.stdout)
                checked += 1
        return checked

    def close(self) -> None:
        for proc in self.servers:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)


def test_readme_runs_top_to_bottom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VECDB_API_KEY", raising=False)
    shell = Shell(tmp_path)
    ns: dict[str, Any] = {"__name__": "readme"}
    checked = 0
    try:
        for lang, code in blocks():
            if lang == "python":
                checked += run_python(code, ns, shell.ports)
            elif lang == "sh":
                checked += shell.run(code)
    finally:
        for name in ("remote", "secure", "db"):
            obj = ns.get(name)
            if obj is not None and hasattr(obj, "close"):
                obj.close()
        shell.close()
    assert checked >= 10
