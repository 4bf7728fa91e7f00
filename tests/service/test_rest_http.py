"""REST details the contract suite cannot see: content types, strict JSON types, the count
and compact routes, streamed bodies over the limit, and the OpenAPI document and docs pages
(served from local files)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

import vecdb

DIM = 4


@pytest.fixture
def base(server: Any) -> str:
    with vecdb.connect(server.grpc_url) as db:
        c = db.create_collection("docs", dim=DIM, columns={"year": "INTEGER"})
        rng = np.random.default_rng(3)
        c.upsert(
            ids=list(range(1, 21)),
            vectors=rng.normal(size=(20, DIM)).astype(np.float32),
            rows=[{"year": 2000 + i} for i in range(1, 21)],
        )
    return str(server.http_url)


def test_body_without_json_content_type_is_json(base: str) -> None:
    url = f"{base}/v1/collections/docs/search"
    body = b'{"vector": [1, 0, 0, 0], "k": 3}'
    r = httpx.post(url, content=body)  # no content-type header at all
    assert r.status_code == 200, r.text
    assert len(r.json()["results"][0]) == 3
    # what `curl -d` sends by default
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    r = httpx.post(url, content=body, headers=form)
    assert r.status_code == 200, r.text
    r = httpx.post(url, content=b'{"vector": [1, 0', headers=form)
    assert r.status_code == 400 and "malformed JSON" in r.json()["error"]["message"]


def test_strict_types(base: str) -> None:
    url = f"{base}/v1/collections/docs"
    before = httpx.post(f"{url}/get", json={"ids": [1]}).json()
    for body in (
        {"ids": [True], "vectors": [[1, 2, 3, 4]]},
        {"ids": [1], "vectors": [[True, 2, 3, 4]]},
        {"ids": ["1"], "vectors": [[1, 2, 3, 4]]},  # int collection: a str id is refused
    ):
        r = httpx.post(f"{url}/upsert", json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["code"] == "INVALID_ARGUMENT"
    assert httpx.post(f"{url}/get", json={"ids": [1]}).json() == before
    for extra in ({"k": "5"}, {"k": 2.0}, {"k": True}, {"ef": "10"}, {"where": 5}):
        r = httpx.post(f"{url}/search", json={"vector": [1, 0, 0, 0], **extra})
        assert r.status_code == 400, (extra, r.text)
        assert r.json()["error"]["code"] == "INVALID_ARGUMENT"
    # JSON integers are fine as vector components
    r = httpx.post(f"{url}/search", json={"vector": [1, 0, 0, 0], "k": 5})
    assert r.status_code == 200 and len(r.json()["results"][0]) == 5


def test_count_where_params_get_and_post(base: str) -> None:
    url = f"{base}/v1/collections/docs/count"
    want = sum(1 for i in range(1, 21) if 2000 + i >= 2015)
    r = httpx.get(url, params={"where": "year >= $y", "params": '{"y": 2015}'})
    assert r.status_code == 200 and r.json() == {"count": want}
    r = httpx.get(url, params={"where": "year >= ?", "params": "[2015]"})
    assert r.json() == {"count": want}
    r = httpx.post(url, json={"where": "year >= $y", "params": {"y": 2015}})
    assert r.status_code == 200 and r.json() == {"count": want}
    assert httpx.post(url).json() == {"count": 20}
    assert httpx.get(url).json() == {"count": 20}
    r = httpx.get(url, params={"where": "year >= $y", "params": "{not json"})
    assert r.status_code == 400 and "JSON" in r.json()["error"]["message"]


def test_compact_route(base: str) -> None:
    url = f"{base}/v1/collections/docs"
    assert httpx.post(f"{url}/delete", json={"ids": [1, 2, 3]}).json() == {"count": 3}
    r = httpx.post(f"{url}/compact")
    assert r.status_code == 200 and r.json() == {"compacted": "docs"}
    assert httpx.get(f"{url}/count").json() == {"count": 17}
    hits = httpx.post(f"{url}/search", json={"vector": [1, 0, 0, 0], "k": 20}).json()
    assert sorted(h["id"] for h in hits["results"][0]) == list(range(4, 21))
    r = httpx.post(f"{base}/v1/collections/nope/compact")
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"


def _chunks(total: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    yield b'{"ids": [1], "vectors": [[1, 2, 3, 4]], "rows": [{"year": "'
    for _ in range(total // chunk):
        yield b"9" * chunk
    yield b'"}]}'


def test_streamed_body_over_the_limit_is_413(base: str) -> None:
    """100 MB sent chunked (no content-length) is refused while streaming, with 413."""
    url = f"{base}/v1/collections/docs/upsert"
    r = httpx.post(url, content=_chunks(100 << 20), timeout=60)
    assert r.status_code == 413, r.text[:300]
    err = r.json()["error"]
    assert err["code"] == "LIMIT_EXCEEDED" and "max_message_bytes" in err["message"]
    assert httpx.get(f"{base}/v1/collections/docs/count").json() == {"count": 20}


# --------------------------------------------------------------------------- OpenAPI, docs


def test_openapi_documents_every_operation(base: str) -> None:
    spec = httpx.get(f"{base}/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    ops = [(p, m, op) for p, item in spec["paths"].items() for m, op in item.items()]
    assert len(ops) >= 16
    for path, method, op in ops:
        where = f"{method.upper()} {path}"
        assert op.get("summary"), where
        responses = op["responses"]
        assert "422" not in responses, where
        ok = next(responses[c] for c in ("200", "201") if c in responses)
        content = ok["content"]
        if path == "/metrics":
            assert "text/plain" in content
            continue
        assert content["application/json"]["schema"].get("$ref"), where
        if path == "/healthz":
            continue
        assert "401" in responses, where
        for code, resp in responses.items():
            if code.startswith("4"):
                ref = resp["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorResponse"), where
    assert spec["paths"]["/v1/collections"]["post"]["responses"].keys() >= {"409", "413"}
    assert "403" in spec["paths"]["/v1/collections/{name}/upsert"]["post"]["responses"]
    assert "404" in spec["paths"]["/v1/collections/{name}/search"]["post"]["responses"]
    search = schemas["SearchResults"]
    assert "results" in search["properties"]
    assert schemas["ErrorResponse"]["properties"]["error"]["$ref"].endswith("/ErrorDetail")


def test_docs_pages_load_only_local_assets(base: str) -> None:
    for page, assets in (
        ("/docs", ("swagger-ui-bundle.js", "swagger-ui.css")),
        ("/redoc", ("redoc.standalone.js",)),
    ):
        r = httpx.get(f"{base}{page}")
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]
        html = r.text
        assert "cdn." not in html and "fonts.googleapis" not in html, page
        assert "https://" not in html.replace("https://github.com", ""), page
        for name in assets:
            assert f"/docs-assets/{name}" in html, (page, name)
            a = httpx.get(f"{base}/docs-assets/{name}")
            assert a.status_code == 200 and len(a.content) > 100_000, name
