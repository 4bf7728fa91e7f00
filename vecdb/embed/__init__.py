"""Embedding functions: texts in, float32 vectors out.

:func:`resolve` turns whatever a caller passes as ``embedding=`` into an
:class:`EmbeddingFunction`:

- a provider spec string: ``"sentence-transformers/<model id or local path>"``,
  ``"ollama/<model>"``, ``"openai/<model>"``;
- a spec dict: ``{"provider": "openai", "model": ..., "base_url": ..., "dimensions": ...}``
  (plus options such as ``api_key``, ``timeout``, ``batch_size`` that are not persisted);
- an :class:`EmbeddingFunction`;
- any Python callable ``list[str] -> (n, dim)`` array.

A function's ``spec`` (JSON, no secrets) is what a collection stores; :func:`from_spec`
rebuilds the function from it when the database is opened again. A plain callable has no
spec: :func:`stored_spec` records a marker for it, and :func:`from_spec` on that marker
raises an error that asks for the function again.

>>> from vecdb.embed import resolve, from_spec, stored_spec
>>> fn = resolve(lambda texts: [[1.0, float(len(t))] for t in texts])
>>> fn(["hi", "hello"]).tolist(), fn.dim
([[1.0, 2.0], [1.0, 5.0]], 2)
>>> resolve("ollama/nomic-embed-text").spec
{'provider': 'ollama', 'model': 'nomic-embed-text'}
>>> from_spec(resolve("openai/text-embedding-3-small").spec)
OpenAIEmbedding({'provider': 'openai', 'model': 'text-embedding-3-small'})
>>> stored_spec(fn)["provider"]
'callable'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from vecdb.embed.base import CallableEmbedding, EmbeddingFunction, progress_enabled
from vecdb.embed.local import SentenceTransformerEmbedding
from vecdb.embed.remote import HttpEmbedding, OllamaEmbedding, OpenAIEmbedding
from vecdb.errors import InvalidArgumentError

__all__ = [
    "EmbeddingFunction",
    "CallableEmbedding",
    "SentenceTransformerEmbedding",
    "OllamaEmbedding",
    "OpenAIEmbedding",
    "HttpEmbedding",
    "PROVIDERS",
    "resolve",
    "from_spec",
    "stored_spec",
    "embedding_function_required",
    "progress_enabled",
]

#: provider name -> class; a spec's ``"provider"`` picks the class, the rest are its arguments.
PROVIDERS: dict[str, type[EmbeddingFunction]] = {
    SentenceTransformerEmbedding.provider: SentenceTransformerEmbedding,
    OllamaEmbedding.provider: OllamaEmbedding,
    OpenAIEmbedding.provider: OpenAIEmbedding,
}

#: the ``"provider"`` of the marker that :func:`stored_spec` writes for a plain callable.
CALLABLE = "callable"


def _parse_string(text: str) -> dict[str, Any]:
    """``"provider/model"`` (the model may contain further slashes) or a JSON object."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            doc = json.loads(stripped)
        except ValueError as e:
            raise InvalidArgumentError(f"embedding spec is not valid JSON: {e}") from None
        if not isinstance(doc, dict):
            raise InvalidArgumentError("an embedding spec in JSON must be an object")
        return doc
    provider, sep, model = stripped.partition("/")
    if not sep or not model or provider not in PROVIDERS:
        raise InvalidArgumentError(
            f"embedding {text!r} is not a provider spec: write '<provider>/<model>' with a "
            f"provider among {sorted(PROVIDERS)}, e.g. 'sentence-transformers/all-MiniLM-L6-v2',"
            " or pass a callable"
        )
    return {"provider": provider, "model": model}


def _build(spec: Mapping[str, Any], options: dict[str, Any]) -> EmbeddingFunction:
    if CALLABLE == spec.get("provider"):
        raise embedding_function_required(name=spec.get("name"))
    provider = spec.get("provider")
    cls = PROVIDERS.get(provider) if isinstance(provider, str) else None
    if cls is None:
        raise InvalidArgumentError(
            f"unknown embedding provider {provider!r}: use one of {sorted(PROVIDERS)}"
        )
    kwargs = {k: v for k, v in spec.items() if k != "provider"}
    kwargs.update(options)
    try:
        return cls(**kwargs)
    except TypeError as e:  # an argument the provider does not take
        raise InvalidArgumentError(f"embedding provider {provider!r}: {e}") from None


def resolve(embedding: Any, *, dim: int | None = None, **options: Any) -> EmbeddingFunction:
    """The :class:`EmbeddingFunction` for a spec string, spec dict, function or callable.

    ``dim``, when given, is checked against the function (at once when the function knows
    its dimension, else on its first call): a different one raises
    :class:`~vecdb.errors.DimensionMismatchError`. ``options`` go to the provider's
    constructor (``api_key``, ``base_url``, ``timeout``, ``retries``, ``batch_size``,
    ``progress``…); for a callable, only ``batch_size``, ``progress`` and ``name``.

    >>> resolve("sentence-transformers/all-MiniLM-L6-v2").spec
    {'provider': 'sentence-transformers', 'model': 'all-MiniLM-L6-v2'}
    >>> resolve({"provider": "ollama", "model": "bge-m3", "base_url": "http://h:11434"})
    OllamaEmbedding({'provider': 'ollama', 'model': 'bge-m3', 'base_url': 'http://h:11434'})
    """
    if isinstance(embedding, EmbeddingFunction):
        if options:
            raise InvalidArgumentError(
                f"options {sorted(options)} apply to a spec or a callable, not to an "
                "EmbeddingFunction: set them when you create it"
            )
        fn = embedding
    elif isinstance(embedding, str):
        fn = _build(_parse_string(embedding), options)
    elif isinstance(embedding, Mapping):
        fn = _build(embedding, options)
    elif callable(embedding):
        fn = CallableEmbedding(embedding, **options)
    else:
        raise InvalidArgumentError(
            "embedding must be a provider spec ('sentence-transformers/<model>', "
            "'ollama/<model>', 'openai/<model>'), a spec dict, an EmbeddingFunction or a "
            f"callable list[str] -> (n, dim) array; got {type(embedding).__name__}"
        )
    if dim is not None:
        fn.expect_dim(dim)
    return fn


def stored_spec(fn: EmbeddingFunction) -> dict[str, Any]:
    """What a collection persists for ``fn``: its ``spec``, or a marker for a callable.

    >>> stored_spec(resolve("ollama/all-minilm"))
    {'provider': 'ollama', 'model': 'all-minilm'}
    >>> stored_spec(resolve(len, name="my_fn"))
    {'provider': 'callable', 'name': 'my_fn'}
    """
    spec = fn.spec
    if spec is not None:
        return dict(spec)
    name = getattr(fn, "name", None) or type(fn).__name__
    return {"provider": CALLABLE, "name": str(name)}


def from_spec(
    spec: Mapping[str, Any] | str | None,
    *,
    dim: int | None = None,
    collection: str | None = None,
    **options: Any,
) -> EmbeddingFunction:
    """Rebuild the function a collection was created with from its persisted spec.

    A spec of ``None`` or the marker of a callable raises
    :func:`embedding_function_required`'s error, naming ``collection``. ``options`` add
    what the spec does not hold (``api_key``, ``timeout``…).

    >>> from_spec({"provider": "callable", "name": "my_fn"}, collection="docs")
    Traceback (most recent call last):
    ...
    vecdb.errors.InvalidArgumentError: collection 'docs' was created with the embedding function 'my_fn', a Python callable that cannot be saved: pass it again, e.g. db.get_collection('docs', embedding=my_fn)
    """  # noqa: E501
    if spec is None:
        raise embedding_function_required(collection)
    if isinstance(spec, str):
        spec = _parse_string(spec)
    if not isinstance(spec, Mapping):
        raise InvalidArgumentError(f"an embedding spec is a dict, got {type(spec).__name__}")
    if spec.get("provider") == CALLABLE:
        raise embedding_function_required(collection, spec.get("name"))
    return resolve(dict(spec), dim=dim, **options)


def embedding_function_required(
    collection: str | None = None, name: str | None = None
) -> InvalidArgumentError:
    """The error for a collection whose embedding was a callable that is not there now.

    >>> print(embedding_function_required("docs"))  # doctest: +ELLIPSIS
    collection 'docs' was created with a Python callable as its embedding function ...
    """
    where = f"collection {collection!r}" if collection else "this collection"
    if name:
        what = f"the embedding function {name!r}, a Python callable"
    else:
        what = "a Python callable as its embedding function"
    example = f"db.get_collection({collection or 'name'!r}, embedding=my_fn)"
    if name and name.isidentifier():
        example = example.replace("my_fn", name)
    return InvalidArgumentError(
        f"{where} was created with {what} that cannot be saved: pass it again, e.g. {example}",
        reason="embedding_function_required",
    )
