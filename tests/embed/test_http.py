"""The Ollama and OpenAI-compatible providers against real local HTTP servers."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from tests.embed.conftest import DIM, Fault, det_embed
from vecdb import errors
from vecdb.embed import from_spec, resolve

TEXTS = [f"passage number {i}" for i in range(10)]
FAST = {"retries": 2, "backoff": 0.01}


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- Ollama -------------------------------------------------------------------------------


def test_ollama_embeds_in_batches_through_api_embed(embed_server) -> None:
    server = embed_server()
    fn = resolve("ollama/nomic-embed-text", base_url=server.url, batch_size=4)
    out = fn(TEXTS)
    np.testing.assert_allclose(out, det_embed(TEXTS), rtol=1e-6)
    assert fn.dim == DIM
    assert [r["path"] for r in server.requests] == ["/api/embed"] * 3
    assert [r["json"]["input"] for r in server.requests] == [TEXTS[:4], TEXTS[4:8], TEXTS[8:]]
    assert {r["json"]["model"] for r in server.requests} == {"nomic-embed-text"}
    assert "dimensions" not in server.requests[0]["json"]


def test_ollama_base_url_comes_from_ollama_host_when_not_given(embed_server, monkeypatch) -> None:
    server = embed_server()
    monkeypatch.setenv("OLLAMA_HOST", server.url.removeprefix("http://"))
    fn = resolve("ollama/all-minilm")
    assert fn.base_url == server.url and "base_url" not in fn.spec
    assert fn.dim == DIM and server.requests[0]["json"]["input"] == ["vecdb dimension probe"]
    monkeypatch.setenv("OLLAMA_HOST", "gpu-box")
    assert resolve("ollama/m").base_url == "http://gpu-box:11434"


def test_ollama_spec_round_trip_gives_the_same_embeddings(embed_server) -> None:
    server = embed_server()
    fn = resolve({"provider": "ollama", "model": "bge-m3", "base_url": server.url})
    again = from_spec(fn.spec)
    np.testing.assert_array_equal(again(TEXTS), fn(TEXTS))


def test_ollama_without_embeddings_in_the_answer_is_a_clear_error(embed_server) -> None:
    server = embed_server(raw_answer=b'{"embedding": [1, 2]}')  # the old /api/embeddings shape
    fn = resolve("ollama/m", base_url=server.url)
    with pytest.raises(errors.InvalidArgumentError, match="without an 'embeddings' list"):
        fn(["a"])


# ---- OpenAI-compatible --------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/", "/v1/embeddings"])
def test_openai_url_accepts_the_root_or_v1_or_the_full_path(embed_server, suffix) -> None:
    server = embed_server()
    fn = resolve("openai/text-embedding-3-small", base_url=server.url + suffix)
    np.testing.assert_allclose(fn(TEXTS[:3]), det_embed(TEXTS[:3]), rtol=1e-6)
    assert server.requests[0]["path"] == "/v1/embeddings"
    assert server.requests[0]["json"] == {"model": "text-embedding-3-small", "input": TEXTS[:3]}


def test_openai_key_from_parameter_or_environment_and_401_names_the_variable(
    embed_server, monkeypatch
) -> None:
    server = embed_server(api_key="sk-test")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(errors.InvalidArgumentError, match=r"HTTP 401.*OPENAI_API_KEY") as info:
        resolve("openai/m", base_url=server.url)(["a"])
    assert "Incorrect API key" in str(info.value) and len(server.requests) == 1  # no retry
    fn = resolve("openai/m", base_url=server.url, api_key="sk-test")
    assert fn(["a"]).shape == (1, DIM)
    assert server.requests[-1]["headers"]["Authorization"] == "Bearer sk-test"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert resolve("openai/m", base_url=server.url)(["a"]).shape == (1, DIM)
    monkeypatch.setenv("MY_KEY", "sk-test")
    monkeypatch.delenv("OPENAI_API_KEY")
    fn = resolve(
        {"provider": "openai", "model": "m", "base_url": server.url, "api_key_env": "MY_KEY"}
    )
    assert fn(["a"]).shape == (1, DIM)
    assert "sk-test" not in str(from_spec(fn.spec).spec)


def test_openai_dimensions_are_asked_for_and_known_without_a_request(embed_server) -> None:
    server = embed_server()
    fn = resolve("openai/m", base_url=server.url, dimensions=8)
    assert fn.dim == 8 and server.requests == []
    out = fn(TEXTS[:2])
    np.testing.assert_allclose(out, det_embed(TEXTS[:2])[:, :8], rtol=1e-6)
    assert server.requests[0]["json"]["dimensions"] == 8
    assert from_spec(fn.spec).dim == 8


def test_openai_answers_out_of_order_or_in_base64_are_put_right(embed_server) -> None:
    shuffled = embed_server(shuffle=True)
    fn = resolve("openai/m", base_url=shuffled.url)
    np.testing.assert_allclose(fn(TEXTS), det_embed(TEXTS), rtol=1e-6)
    packed = embed_server(encoding="base64")
    np.testing.assert_array_equal(resolve("openai/m", base_url=packed.url)(TEXTS), det_embed(TEXTS))


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b'{"data": [{"embedding": [1.0], "index": 0}]}', "1 embeddings for 2 texts"),
        (
            b'{"data": [{"embedding": [1.0], "index": 0}, {"embedding": [2.0], "index": 0}]}',
            "each once",
        ),
        (b'{"data": [{"index": 0}, {"index": 1}]}', "has no 'embedding'"),
        (b'{"object": "list"}', "without a 'data' list"),
        (b"<html>hello</html>", "did not answer JSON"),
    ],
)
def test_openai_malformed_answers_are_invalid_arguments(embed_server, answer, message) -> None:
    server = embed_server(raw_answer=answer)
    with pytest.raises(errors.InvalidArgumentError, match=message):
        resolve("openai/m", base_url=server.url)(["a", "b"])


def test_openai_spec_round_trip_with_the_real_model_behind_the_server(embed_server, minilm) -> None:
    server = embed_server(embed=lambda texts: minilm.encode(texts))
    fn = resolve("openai/all-MiniLM-L6-v2", base_url=server.url, batch_size=3)
    texts = ["a cat sat on the mat", "vector databases store embeddings", "hello"]
    out = from_spec(fn.spec)(texts)
    np.testing.assert_allclose(out, minilm.encode(texts), atol=1e-6)
    assert fn.dim == 384


# ---- retries, timeouts, unreachable endpoints ----------------------------------------------


@pytest.mark.parametrize("provider", ["ollama", "openai"])
@pytest.mark.parametrize(
    "fault",
    [
        Fault(503),
        Fault(500, body="internal"),
        Fault(429, headers={"Retry-After": "0"}),
        Fault(None),  # the server hangs up without answering
    ],
    ids=["503", "500", "429", "hangup"],
)
def test_two_failures_then_success_is_retried_with_backoff(embed_server, provider, fault) -> None:
    server = embed_server(faults=[fault, fault])
    fn = resolve(f"{provider}/m", base_url=server.url, retries=2, backoff=0.05)
    t0 = time.monotonic()
    out = fn(TEXTS[:3])
    waited = time.monotonic() - t0
    np.testing.assert_allclose(out, det_embed(TEXTS[:3]), rtol=1e-6)
    assert len(server.requests) == 3
    assert all(r["json"]["input"] == TEXTS[:3] for r in server.requests)  # same batch again
    assert waited >= 0.05 + 0.1  # backoff 0.05 s, then 0.1 s


def test_failures_beyond_the_retries_are_service_unavailable(embed_server) -> None:
    server = embed_server(faults=[Fault(503)] * 3)
    fn = resolve("ollama/m", base_url=server.url, **FAST)
    with pytest.raises(errors.ServiceUnavailableError, match=r"after 3 attempts \(HTTP 503"):
        fn(["a"])
    assert len(server.requests) == 3
    assert fn(["a"]).shape == (1, DIM)  # the server is well again; so is the function


@pytest.mark.parametrize("provider", ["ollama", "openai"])
def test_unreachable_endpoint_is_service_unavailable_naming_the_url(provider) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    fn = resolve(f"{provider}/m", base_url=url, **FAST)
    with pytest.raises(errors.ServiceUnavailableError) as info:
        fn(["a", "b"])
    assert url in str(info.value) and "check that the server is running" in str(info.value)
    assert info.value.http_status == 503 and isinstance(info.value, ConnectionError)


def test_a_slow_server_times_out_and_is_retried(embed_server) -> None:
    server = embed_server(faults=[Fault(200, delay=1.0)])
    fn = resolve("openai/m", base_url=server.url, timeout=0.2, retries=1, backoff=0.01)
    assert fn(["a"]).shape == (1, DIM)  # the first attempt timed out, the second answered
    assert len(server.requests) == 2
    server.faults = [Fault(200, delay=1.0)]
    with pytest.raises(errors.ServiceUnavailableError, match="timed out"):
        resolve("openai/m", base_url=server.url, timeout=0.2, retries=0)(["a"])


def test_a_bad_request_is_not_retried_and_carries_the_servers_message(embed_server) -> None:
    body = '{"error": {"message": "model \\"nope\\" not found, try pulling it first"}}'
    server = embed_server(faults=[Fault(404, body=body)])
    with pytest.raises(errors.InvalidArgumentError, match='HTTP 404: model "nope" not found'):
        resolve("ollama/nope", base_url=server.url, **FAST)(["a"])
    assert len(server.requests) == 1


def test_a_server_that_changes_dimension_is_a_dimension_mismatch(embed_server) -> None:
    server = embed_server()
    fn = resolve("ollama/m", base_url=server.url, dim=DIM)
    fn(["a"])
    server.embed = lambda texts: det_embed(texts, DIM + 1)
    with pytest.raises(errors.DimensionMismatchError, match=f"{DIM + 1}-dimensional"):
        fn(["b"])
    with pytest.raises(errors.DimensionMismatchError):
        resolve("openai/m", base_url=server.url, dim=DIM)(["a"])
