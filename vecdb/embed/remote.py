"""Embedding providers behind HTTP: Ollama and any OpenAI-compatible ``/v1/embeddings``.

Neither needs an extra: requests go through :mod:`vecdb.embed._http` (the standard
library), batched, retried with backoff and checked like every other provider.

>>> from vecdb.embed import OllamaEmbedding, OpenAIEmbedding
>>> OllamaEmbedding("nomic-embed-text", base_url="http://gpu-box:11434").spec
{'provider': 'ollama', 'model': 'nomic-embed-text', 'base_url': 'http://gpu-box:11434'}
>>> OpenAIEmbedding("text-embedding-3-small", api_key="sk-secret", dimensions=256).spec
{'provider': 'openai', 'model': 'text-embedding-3-small', 'dimensions': 256}
"""

from __future__ import annotations

import base64
import os
import urllib.parse
from typing import Any

import numpy as np

from vecdb.embed._http import RetryPolicy, post_json
from vecdb.embed.base import EmbeddingFunction, _check_positive
from vecdb.errors import InvalidArgumentError

__all__ = ["OllamaEmbedding", "OpenAIEmbedding", "HttpEmbedding"]

OLLAMA_DEFAULT_URL = "http://127.0.0.1:11434"
OPENAI_DEFAULT_URL = "https://api.openai.com/v1"


def _check_url(name: str, url: Any) -> str:
    if not isinstance(url, str) or not url.strip():
        raise InvalidArgumentError(f"{name} must be a URL such as http://127.0.0.1:8000")
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidArgumentError(
            f"{name} must be an http:// or https:// URL with a host, got {url!r}"
        )
    return url.rstrip("/")


def _check_model(model: Any) -> str:
    if not isinstance(model, str) or not model.strip():
        raise InvalidArgumentError(f"model must be a non-empty string, got {model!r}")
    return model


class HttpEmbedding(EmbeddingFunction):
    """What the HTTP providers share: a model name, a base URL, a retry policy.

    Only an explicitly given ``base_url`` goes into ``spec``; without one the default (or
    the provider's environment variable) is looked up again whenever the spec is loaded.
    """

    default_batch_size = 64
    env_url: str = ""
    default_url: str = ""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        dimensions: int | None = None,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.5,
        batch_size: int | None = None,
        progress: bool | None = None,
    ) -> None:
        super().__init__(dim=dimensions, batch_size=batch_size, progress=progress)
        self.model = _check_model(model)
        self._explicit_url = None if base_url is None else _check_url("base_url", base_url)
        self.base_url = self._explicit_url or self._default_base_url()
        self.dimensions = None if dimensions is None else _check_positive("dimensions", dimensions)
        self.policy = RetryPolicy(timeout=float(timeout), retries=retries, backoff=float(backoff))

    @property
    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"provider": self.provider, "model": self.model}
        if self._explicit_url is not None:
            spec["base_url"] = self._explicit_url
        if self.dimensions is not None:
            spec["dimensions"] = self.dimensions
        return spec

    def _known_dim(self) -> int | None:
        return self.dimensions

    def _default_base_url(self) -> str:
        env = os.environ.get(self.env_url, "").strip()
        return _check_url(self.env_url, env) if env else self.default_url


class OllamaEmbedding(HttpEmbedding):
    """Ollama's ``POST /api/embed`` (``{"model", "input": [...]}`` → ``{"embeddings"}``).

    ``base_url`` defaults to ``$OLLAMA_HOST`` or ``http://127.0.0.1:11434``. ``dimensions``
    asks models that support it for shorter vectors.
    """

    provider = "ollama"
    env_url = "OLLAMA_HOST"
    default_url = OLLAMA_DEFAULT_URL

    def _default_base_url(self) -> str:
        url = super()._default_base_url()
        parts = urllib.parse.urlsplit(url)
        if parts.port is None:  # OLLAMA_HOST=gpu-box means gpu-box:11434, as for Ollama itself
            url = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc + ":11434"))
        return url

    def _embed(self, texts: list[str]) -> Any:
        payload: dict[str, Any] = {"model": self.model, "input": texts}
        if self.dimensions is not None:
            payload["dimensions"] = self.dimensions
        url = self.base_url + "/api/embed"
        doc = post_json(url, payload, policy=self.policy, what=f"Ollama ({self.model})")
        vectors = doc.get("embeddings") if isinstance(doc, dict) else None
        if not isinstance(vectors, list):
            raise InvalidArgumentError(
                f"Ollama at {url} answered without an 'embeddings' list; is it Ollama >= 0.3 "
                "and is base_url right?"
            )
        return vectors


class OpenAIEmbedding(HttpEmbedding):
    """Any OpenAI-compatible ``POST /v1/embeddings``: OpenAI, vLLM, llama.cpp, LM Studio, TEI.

    ``base_url`` is the server's root or its ``/v1`` (both work); it defaults to
    ``$OPENAI_BASE_URL`` or OpenAI's. The key is ``api_key`` or the environment variable
    named by ``api_key_env`` (``OPENAI_API_KEY``); it is sent as a bearer token and never
    written to ``spec``. A local server without keys needs neither.
    """

    provider = "openai"
    env_url = "OPENAI_BASE_URL"
    default_url = OPENAI_DEFAULT_URL

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        **options: Any,
    ) -> None:
        super().__init__(model, **options)
        if not isinstance(api_key_env, str) or not api_key_env:
            raise InvalidArgumentError("api_key_env must name an environment variable")
        if api_key is not None and not isinstance(api_key, str):
            raise InvalidArgumentError("api_key must be a string")
        self.api_key_env = api_key_env
        self._api_key = api_key
        path = urllib.parse.urlsplit(self.base_url).path.rstrip("/")
        if path.endswith("/embeddings"):
            self.url = self.base_url
        elif path.endswith("/v1"):
            self.url = self.base_url + "/embeddings"
        else:
            self.url = self.base_url + "/v1/embeddings"

    @property
    def spec(self) -> dict[str, Any]:
        spec = super().spec
        if self.api_key_env != "OPENAI_API_KEY":
            spec["api_key_env"] = self.api_key_env
        return spec

    def _headers(self) -> dict[str, str]:
        key = self._api_key if self._api_key is not None else os.environ.get(self.api_key_env)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _embed(self, texts: list[str]) -> Any:
        payload: dict[str, Any] = {"model": self.model, "input": texts}
        if self.dimensions is not None:
            payload["dimensions"] = self.dimensions
        doc = post_json(
            self.url,
            payload,
            headers=self._headers(),
            policy=self.policy,
            what=f"OpenAI-compatible endpoint ({self.model})",
            hint=f"Pass api_key= or set ${self.api_key_env}.",
        )
        data = doc.get("data") if isinstance(doc, dict) else None
        if not isinstance(data, list):
            raise InvalidArgumentError(
                f"{self.url} answered without a 'data' list; is it an OpenAI-compatible "
                "embeddings endpoint?"
            )
        if len(data) != len(texts):
            raise InvalidArgumentError(
                f"{self.url} returned {len(data)} embeddings for {len(texts)} texts"
            )
        out: list[Any] = [None] * len(texts)
        for position, item in enumerate(data):
            if not isinstance(item, dict) or "embedding" not in item:
                raise InvalidArgumentError(f"{self.url}: data[{position}] has no 'embedding'")
            index = item.get("index", position)
            if not isinstance(index, int) or not 0 <= index < len(texts) or out[index] is not None:
                raise InvalidArgumentError(
                    f"{self.url}: data[{position}] has index {index!r}; the indexes must be "
                    f"0..{len(texts) - 1}, each once"
                )
            vector = item["embedding"]
            if isinstance(vector, str):  # encoding_format="base64": little-endian float32
                vector = np.frombuffer(base64.b64decode(vector), dtype="<f4")
            out[index] = vector
        return out
