"""The provider-independent part of vecdb.embed: checks, batching, dims, specs, progress."""

from __future__ import annotations

import doctest
import json
import pickle

import numpy as np
import pytest

import vecdb.embed
import vecdb.embed._http
import vecdb.embed.base
import vecdb.embed.local
import vecdb.embed.remote
from tests.embed.conftest import det_embed
from vecdb import errors
from vecdb.embed import (
    PROVIDERS,
    CallableEmbedding,
    EmbeddingFunction,
    OllamaEmbedding,
    OpenAIEmbedding,
    SentenceTransformerEmbedding,
    embedding_function_required,
    from_spec,
    progress_enabled,
    resolve,
    stored_spec,
)
from vecdb.embed.base import PROBE_TEXT


class Recorder:
    """A callable model that remembers every batch it was given."""

    def __init__(self, dim: int = 8) -> None:
        self.dim = dim
        self.batches: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.batches.append(list(texts))
        return det_embed(texts, self.dim)


@pytest.mark.parametrize(
    "module",
    [vecdb.embed, vecdb.embed.base, vecdb.embed._http, vecdb.embed.local, vecdb.embed.remote],
)
def test_docstring_examples_run(module) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_callable_gives_its_vectors_as_float32_rows_in_order() -> None:
    texts = [f"text {i}" for i in range(7)]
    fn = resolve(lambda ts: det_embed(ts, 8).astype(np.float64).tolist())
    out = fn(texts)
    assert out.dtype == np.float32 and out.flags.c_contiguous and out.shape == (7, 8)
    np.testing.assert_array_equal(out, det_embed(texts, 8))
    assert fn.dim == 8 and fn.spec is None
    np.testing.assert_array_equal(fn.embed_query("text 3"), det_embed(["text 3"], 8)[0])


def test_batches_hold_at_most_batch_size_texts_and_keep_order() -> None:
    model = Recorder()
    fn = resolve(model, batch_size=4)
    texts = [f"t{i}" for i in range(10)]
    out = fn(texts)
    assert [len(b) for b in model.batches] == [4, 4, 2]
    assert sum(model.batches, []) == texts
    np.testing.assert_array_equal(out, det_embed(texts, 8))


def test_dim_is_found_by_a_single_probe_when_unknown() -> None:
    model = Recorder(dim=5)
    fn = CallableEmbedding(model)
    assert fn.dim == 5 and model.batches == [[PROBE_TEXT]]
    assert fn.dim == 5 and len(model.batches) == 1  # learnt once
    model2 = Recorder(dim=6)
    fn2 = CallableEmbedding(model2)
    fn2(["a", "b"])  # the first call teaches the dimension: no probe afterwards
    assert fn2.dim == 6 and model2.batches == [["a", "b"]]


def test_empty_input_gives_an_empty_matrix_of_the_right_width() -> None:
    fn = CallableEmbedding(Recorder(dim=3), dim=3)
    out = fn([])
    assert out.shape == (0, 3) and out.dtype == np.float32


def test_expected_dim_is_checked_at_once_when_known_and_on_the_first_call_otherwise() -> None:
    with pytest.raises(errors.DimensionMismatchError, match="dim=4"):
        resolve(CallableEmbedding(Recorder(dim=4), dim=4), dim=3)
    fn = resolve(Recorder(dim=4), dim=3)  # unknown until it runs
    with pytest.raises(errors.DimensionMismatchError, match="4-dimensional vectors, expected 3"):
        fn(["x"])


def test_a_model_that_changes_dimension_between_batches_is_caught() -> None:
    calls = []

    def drifting(texts: list[str]) -> np.ndarray:
        calls.append(1)
        return det_embed(texts, 4 if len(calls) == 1 else 5)

    fn = resolve(drifting, batch_size=2)
    with pytest.raises(errors.DimensionMismatchError):
        fn(["a", "b", "c"])


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (lambda ts: det_embed(ts, 4)[:-1], r"shape \(1, 4\) for 2 texts"),
        (lambda ts: det_embed(ts, 4).ravel(), "one vector per text"),
        (lambda ts: [[1.0, float("nan")] for _ in ts], "NaN or infinite"),
        (lambda ts: [[1.0, float("inf")] for _ in ts], "NaN or infinite"),
        (lambda ts: [["a", "b"] for _ in ts], "not a matrix of numbers"),
        (lambda ts: [[1.0], [1.0, 2.0]], "not a matrix of numbers"),
        (lambda ts: np.zeros((len(ts), 0)), "empty vectors"),
    ],
)
def test_a_bad_answer_from_the_model_is_an_invalid_argument(model, message) -> None:
    fn = resolve(model)
    with pytest.raises(errors.InvalidArgumentError, match=message):
        fn(["a", "b"])


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        ("one string", "single string"),
        (b"bytes", "single string"),
        (["ok", 3], r"texts\[1\] is int"),
        (["ok", None], r"texts\[1\] is NoneType"),
        (42, "list of strings"),
    ],
)
def test_texts_must_be_a_list_of_strings(texts, message) -> None:
    model = Recorder()
    fn = resolve(model)
    with pytest.raises(errors.InvalidArgumentError, match=message):
        fn(texts)
    assert model.batches == []  # checked before the model is asked
    with pytest.raises(errors.InvalidArgumentError):
        fn.embed_query(["not", "one"])  # type: ignore[arg-type]


def test_any_iterable_of_strings_is_accepted() -> None:
    fn = resolve(Recorder())
    assert fn(t for t in ("a", "b")).shape == (2, 8)
    assert fn(("a",)).shape == (1, 8)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "8"])
def test_batch_size_and_dim_must_be_positive_integers(bad) -> None:
    with pytest.raises(errors.InvalidArgumentError, match="batch_size"):
        resolve(Recorder(), batch_size=bad)
    with pytest.raises(errors.InvalidArgumentError, match="dim"):
        resolve(Recorder(), dim=bad)


def test_progress_setting(monkeypatch) -> None:
    monkeypatch.delenv("VECDB_PROGRESS", raising=False)
    big = vecdb.embed.base.PROGRESS_MIN_TEXTS
    assert progress_enabled(None, big) and not progress_enabled(None, big - 1)
    assert progress_enabled(True, 1) and not progress_enabled(False, big)
    monkeypatch.setenv("VECDB_PROGRESS", "0")
    assert not progress_enabled(None, big * 10)
    assert progress_enabled(True, 1)  # an explicit choice wins over the environment
    monkeypatch.setenv("VECDB_PROGRESS", "1")
    assert progress_enabled(None, 2)
    with pytest.raises(errors.InvalidArgumentError):
        resolve(Recorder(), progress="yes")


def test_progress_bar_is_drawn_on_large_inputs_and_silenced_on_request(monkeypatch, capsys) -> None:
    monkeypatch.delenv("VECDB_PROGRESS", raising=False)
    texts = [f"t{i}" for i in range(vecdb.embed.base.PROGRESS_MIN_TEXTS)]
    resolve(Recorder(), batch_size=256)(texts)
    assert "embedding" in capsys.readouterr().err  # tqdm's bar, on stderr
    resolve(Recorder(), batch_size=256, progress=False)(texts)
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("VECDB_PROGRESS", "0")
    resolve(Recorder(), batch_size=256)(texts)
    assert capsys.readouterr().err == ""
    resolve(Recorder(), batch_size=256)(texts[:10])
    assert capsys.readouterr().err == ""


def test_spec_strings_pick_the_provider_and_keep_slashes_in_the_model() -> None:
    fn = resolve("sentence-transformers/BAAI/bge-small-en-v1.5")
    assert isinstance(fn, SentenceTransformerEmbedding)
    assert fn.spec == {"provider": "sentence-transformers", "model": "BAAI/bge-small-en-v1.5"}
    assert isinstance(resolve("ollama/nomic-embed-text:v1.5"), OllamaEmbedding)
    assert resolve("openai/text-embedding-3-small").spec == {
        "provider": "openai",
        "model": "text-embedding-3-small",
    }
    as_json = resolve('{"provider": "ollama", "model": "m", "base_url": "http://h:1"}')
    assert as_json.spec == {"provider": "ollama", "model": "m", "base_url": "http://h:1"}
    assert set(PROVIDERS) == {"sentence-transformers", "ollama", "openai"}


@pytest.mark.parametrize(
    ("embedding", "message"),
    [
        ("all-MiniLM-L6-v2", "not a provider spec"),
        ("cohere/embed-v3", "not a provider spec"),
        ("ollama/", "not a provider spec"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a provider spec"),
        ({"provider": "nope", "model": "m"}, "unknown embedding provider 'nope'"),
        ({"model": "m"}, "unknown embedding provider None"),
        ({"provider": "ollama", "model": "m", "colour": "red"}, "unexpected keyword"),
        ({"provider": "ollama", "model": ""}, "model must be"),
        ({"provider": "ollama", "model": "m", "base_url": "ftp://x"}, "http:// or https://"),
        ({"provider": "openai", "model": "m", "dimensions": 0}, "positive integer"),
        (42, "got int"),
        (None, "got NoneType"),
    ],
)
def test_bad_embedding_arguments_say_what_to_write(embedding, message) -> None:
    with pytest.raises(errors.InvalidArgumentError, match=message):
        resolve(embedding)


def test_options_go_to_the_provider_but_not_to_a_ready_function() -> None:
    fn = resolve("openai/m", base_url="http://127.0.0.1:9", timeout=2, retries=0)
    assert fn.policy.timeout == 2 and fn.policy.retries == 0
    with pytest.raises(errors.InvalidArgumentError, match="set them when you create it"):
        resolve(fn, batch_size=3)
    assert resolve(fn) is fn


def test_specs_are_json_and_rebuild_the_same_provider(monkeypatch) -> None:
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    functions: list[EmbeddingFunction] = [
        SentenceTransformerEmbedding("all-MiniLM-L6-v2", normalize=True),
        OllamaEmbedding("bge-m3", base_url="http://gpu:11434", dimensions=512),
        OllamaEmbedding("bge-m3"),
        OpenAIEmbedding("text-embedding-3-small", api_key="sk-very-secret", dimensions=256),
        OpenAIEmbedding("e5", base_url="http://vllm:8000/v1", api_key_env="VLLM_KEY"),
    ]
    for fn in functions:
        text = json.dumps(stored_spec(fn))
        again = from_spec(json.loads(text))
        assert type(again) is type(fn) and again.spec == fn.spec
        assert from_spec(text).spec == fn.spec  # the JSON text itself works too
    assert OllamaEmbedding("bge-m3").base_url == "http://127.0.0.1:11434"
    assert OpenAIEmbedding("m").url == "https://api.openai.com/v1/embeddings"


def test_secrets_never_reach_the_spec_or_the_repr() -> None:
    fn = OpenAIEmbedding("m", api_key="sk-very-secret")
    assert "sk-very-secret" not in json.dumps(stored_spec(fn))
    assert "sk-very-secret" not in repr(fn)
    assert fn._headers() == {"Authorization": "Bearer sk-very-secret"}


def test_a_callable_is_stored_as_a_marker_that_asks_for_it_back() -> None:
    def my_model(texts: list[str]) -> np.ndarray:
        return det_embed(texts)

    fn = resolve(my_model)
    marker = stored_spec(fn)
    assert marker["provider"] == "callable" and marker["name"].endswith("<locals>.my_model")
    with pytest.raises(errors.InvalidArgumentError) as info:
        from_spec(json.loads(json.dumps(marker)), collection="docs")
    message = str(info.value)
    assert "collection 'docs'" in message and "my_model" in message
    assert "db.get_collection('docs', embedding=my_fn)" in message
    assert info.value.details == {"reason": "embedding_function_required"}
    with pytest.raises(errors.InvalidArgumentError, match="embedding=my_model"):
        from_spec({"provider": "callable", "name": "my_model"}, collection="docs")
    with pytest.raises(errors.InvalidArgumentError, match="collection 'notes'"):
        from_spec(None, collection="notes")
    with pytest.raises(errors.InvalidArgumentError, match="cannot be saved"):
        resolve(marker)
    assert isinstance(embedding_function_required("x"), errors.InvalidArgumentError)


def test_service_unavailable_is_a_vecdb_error_with_its_own_wire_code() -> None:
    err = errors.ServiceUnavailableError("down", url="http://x")
    assert isinstance(err, ConnectionError) and isinstance(err, errors.VecdbError)
    assert (err.code, err.http_status, err.grpc_status) == ("UNAVAILABLE", 503, "UNAVAILABLE")
    assert type(errors.error_from_code("UNAVAILABLE", "m")) is errors.ServiceUnavailableError
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is errors.ServiceUnavailableError and back.details == {"url": "http://x"}
