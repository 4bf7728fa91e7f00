"""``/docs`` and ``/redoc`` in a real headless Chromium that can reach nothing but loopback:
the pages render every operation from local assets (no CDN).

Needs Chromium from the OS packages (``apt-get install chromium``); skipped without it.
Slow (a browser start per page): run with ``make test-slow``.
"""

from __future__ import annotations

import html
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt chromium)"),
]


def rendered_dom(url: str) -> str:
    """The DOM of ``url`` after its scripts ran, from a fresh headless Chromium profile whose
    host resolver maps every name but 127.0.0.1 to nothing (so a CDN cannot be reached)."""
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [
                str(CHROMIUM),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--virtual-time-budget=20000",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "HOME": profile},
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return html.unescape(proc.stdout)


def operations(base: str) -> list[dict[str, Any]]:
    spec = httpx.get(f"{base}/openapi.json").json()
    paths = spec["paths"].items()
    return [{"method": m, "path": p, **op} for p, item in paths for m, op in item.items()]


def test_swagger_ui_lists_every_operation(server: Any) -> None:
    base = server.http_url
    ops = operations(base)
    assert len(ops) >= 16
    dom = rendered_dom(f"{base}/docs")
    assert "swagger-ui" in dom
    missing = []
    for op in ops:
        # Swagger UI gives each rendered operation the id operations-<tag>-<operationId>
        anchor = f'id="operations-{op["tags"][0]}-{op["operationId"]}"'
        if anchor not in dom or op["summary"] not in dom or f'data-path="{op["path"]}"' not in dom:
            missing.append(f"{op['method'].upper()} {op['path']}")
    assert not missing, f"not rendered in /docs: {missing}"


def test_redoc_lists_every_operation(server: Any) -> None:
    base = server.http_url
    ops = operations(base)
    dom = rendered_dom(f"{base}/redoc")
    missing = [op["summary"] for op in ops if op["summary"] not in dom]
    assert not missing, f"not rendered in /redoc: {missing}"
