"""The embedding-function base class and the wrapper for plain Python callables.

An :class:`EmbeddingFunction` turns a list of texts into a float32 ``(n, dim)`` matrix. The
base class does everything that is the same for every provider, once: it checks the texts,
splits them into batches, shows a progress bar on large inputs, and checks what the provider
returned (one finite vector of ``dim`` floats per text). A provider implements only
``_embed(batch)``.

>>> import numpy as np
>>> from vecdb.embed import CallableEmbedding
>>> fn = CallableEmbedding(lambda texts: [[len(t), 1.0] for t in texts], batch_size=2)
>>> fn(["a", "bbb", "cc"])
array([[1., 1.],
       [3., 1.],
       [2., 1.]], dtype=float32)
>>> fn.dim, fn.spec
(2, None)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import numpy as np

from vecdb.errors import DimensionMismatchError, InvalidArgumentError

__all__ = ["EmbeddingFunction", "CallableEmbedding", "PROBE_TEXT", "progress_enabled"]

#: the text embedded to discover a provider's dimension when nobody said it.
PROBE_TEXT = "vecdb dimension probe"

#: inputs of at least this many texts get a progress bar when ``progress`` is left to ``None``.
PROGRESS_MIN_TEXTS = 1024


def progress_enabled(progress: bool | None, n: int) -> bool:
    """Whether to show a progress bar for ``n`` texts.

    ``True``/``False`` decide; ``None`` (automatic) shows one for inputs of at least
    ``PROGRESS_MIN_TEXTS`` texts unless the environment variable ``VECDB_PROGRESS`` is ``0``
    (``VECDB_PROGRESS=1`` shows it for every input).

    >>> progress_enabled(False, 10**6), progress_enabled(True, 1)
    (False, True)
    """
    if progress is not None:
        return bool(progress)
    env = os.environ.get("VECDB_PROGRESS", "").strip().lower()
    if env in ("0", "false", "no", "off"):
        return False
    if env in ("1", "true", "yes", "on"):
        return True
    return n >= PROGRESS_MIN_TEXTS


def _check_positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidArgumentError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_texts(texts: Any) -> list[str]:
    """The texts as a list of ``str``; anything else is an :class:`InvalidArgumentError`.

    >>> check_texts(("a", "b"))
    ['a', 'b']
    """
    if isinstance(texts, (str, bytes)):
        raise InvalidArgumentError(
            "an embedding function takes a list of texts, got a single string: "
            "wrap it in a list, or call embed_query(text) for one vector"
        )
    if not isinstance(texts, Sequence):
        try:
            texts = list(texts)
        except TypeError:
            raise InvalidArgumentError(
                f"texts must be a list of strings, got {type(texts).__name__}"
            ) from None
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise InvalidArgumentError(
                f"texts[{i}] is {type(t).__name__}, not a string: every text must be a str"
            )
    return out


class EmbeddingFunction:
    """Base class of every embedding function: texts in, a float32 ``(n, dim)`` matrix out.

    Subclasses set ``provider`` and implement ``_embed(batch)`` (a list of at most
    ``batch_size`` texts in, anything ``numpy.asarray`` turns into ``(len(batch), dim)``
    out). They describe themselves by ``spec``: a JSON-serialisable dict without secrets
    that :func:`vecdb.embed.from_spec` rebuilds them from, or ``None`` when they cannot be
    rebuilt (a plain callable).

    Args:
        dim: the dimension, when known ahead; otherwise it is learnt from the first call
            (or from a one-text probe when ``dim`` is read first). Every call checks it.
        batch_size: texts per request to the provider.
        progress: ``True``/``False`` to show a progress bar or not; ``None`` shows one on
            large inputs unless ``VECDB_PROGRESS=0``.
    """

    provider: ClassVar[str] = ""
    default_batch_size: ClassVar[int] = 64

    def __init__(
        self, *, dim: int | None = None, batch_size: int | None = None, progress: bool | None = None
    ) -> None:
        self._dim = None if dim is None else _check_positive("dim", dim)
        self.batch_size = _check_positive(
            "batch_size", self.default_batch_size if batch_size is None else batch_size
        )
        if progress is not None and not isinstance(progress, bool):
            raise InvalidArgumentError(f"progress must be True, False or None, got {progress!r}")
        self.progress = progress

    # -- what a provider implements ------------------------------------------------------

    def _embed(self, texts: list[str]) -> Any:
        """Embed one batch (at most ``batch_size`` texts); return ``(len(texts), dim)``."""
        raise NotImplementedError

    def _known_dim(self) -> int | None:
        """The dimension if the provider knows it without embedding anything."""
        return None

    @property
    def spec(self) -> dict[str, Any] | None:
        """A JSON-serialisable description to rebuild this function from, without secrets."""
        return None

    # -- the public interface ------------------------------------------------------------

    @property
    def dim(self) -> int:
        """The vector dimension: given, known by the provider, or found by embedding a probe.

        >>> from vecdb.embed import CallableEmbedding
        >>> CallableEmbedding(lambda ts: [[0.0] * 5 for _ in ts]).dim
        5
        """
        if self._dim is None:
            known = self._known_dim()
            if known is not None:
                self._dim = int(known)
            else:
                self._run([PROBE_TEXT], progress=False)
        assert self._dim is not None
        return self._dim

    def expect_dim(self, dim: int) -> None:
        """Say the dimension the caller needs (a collection's ``dim``); a different one raises.

        >>> from vecdb.embed import CallableEmbedding
        >>> fn = CallableEmbedding(lambda ts: [[0.0] * 5 for _ in ts], dim=5)
        >>> fn.expect_dim(3)
        Traceback (most recent call last):
        ...
        vecdb.errors.DimensionMismatchError: ...
        """
        dim = _check_positive("dim", dim)
        if self._dim is None:
            known = self._known_dim()
            if known is not None:
                self._dim = int(known)
        if self._dim is not None and self._dim != dim:
            raise DimensionMismatchError(
                f"{self._describe()} makes {self._dim}-dimensional vectors, but {dim} are "
                f"needed: use a model of dimension {dim}, or a collection of dim={self._dim}"
            )
        self._dim = dim

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``: a C-contiguous float32 matrix with one row per text, in order."""
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._run(texts, progress=progress_enabled(self.progress, len(texts)))

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one text: a float32 vector of ``dim`` values.

        >>> from vecdb.embed import CallableEmbedding
        >>> CallableEmbedding(lambda ts: [[1.0, 2.0] for _ in ts]).embed_query("q")
        array([1., 2.], dtype=float32)
        """
        if not isinstance(text, str):
            raise InvalidArgumentError(f"a query text must be a str, got {type(text).__name__}")
        return self._run([text], progress=False)[0]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"

    # -- shared machinery ----------------------------------------------------------------

    def _describe(self) -> str:
        spec = self.spec
        if spec is None:
            return f"embedding function {self!r}"
        return f"embedding model {spec.get('provider')}/{spec.get('model')}"

    def _batches(self, texts: list[str], progress: bool) -> Iterator[list[str]]:
        size = self.batch_size
        bar = _progress_bar(len(texts), progress)
        try:
            for start in range(0, len(texts), size):
                batch = texts[start : start + size]
                yield batch
                if bar is not None:
                    bar.update(len(batch))
        finally:
            if bar is not None:
                bar.close()

    def _run(self, texts: list[str], progress: bool) -> np.ndarray:
        """Embed checked texts in batches and check every batch's answer."""
        if len(texts) <= self.batch_size:
            return self._checked(self._embed(texts), len(texts))
        parts = [self._checked(self._embed(b), len(b)) for b in self._batches(texts, progress)]
        return np.concatenate(parts, axis=0)

    def _checked(self, out: Any, n: int) -> np.ndarray:
        """``out`` as float32 ``(n, dim)`` with finite values; learns ``dim`` the first time."""
        try:
            arr = np.asarray(out, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise InvalidArgumentError(
                f"{self._describe()} returned something that is not a matrix of numbers ({e}); "
                "it must return one list of floats per text"
            ) from e
        if arr.ndim != 2 or arr.shape[0] != n:
            raise InvalidArgumentError(
                f"{self._describe()} returned shape {arr.shape} for {n} texts; "
                f"it must return one vector per text, shape ({n}, dim)"
            )
        if self._dim is None:
            if arr.shape[1] == 0:
                raise InvalidArgumentError(f"{self._describe()} returned empty vectors")
            self._dim = int(arr.shape[1])
        elif arr.shape[1] != self._dim:
            raise DimensionMismatchError(
                f"{self._describe()} returned {arr.shape[1]}-dimensional vectors, expected "
                f"{self._dim}: the model behind it changed, or it is not the one this "
                "collection was created with"
            )
        if not np.isfinite(arr).all():
            bad = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
            raise InvalidArgumentError(
                f"{self._describe()} returned NaN or infinite values (first in the vector of "
                f"text {bad} of the batch); nothing was written"
            )
        return np.ascontiguousarray(arr)


def _progress_bar(total: int, progress: bool) -> Any:
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm comes with vecdb[embed]; without it there is no bar
        return None
    return tqdm(total=total, desc="embedding", unit="text", leave=False)


class CallableEmbedding(EmbeddingFunction):
    """Any Python callable ``list[str] -> (n, dim)`` array, batched and checked.

    A callable cannot be saved with a collection (``spec`` is ``None``): a database reopened
    later needs it passed again.

    >>> fn = CallableEmbedding(lambda ts: [[float(len(t))] for t in ts], name="length")
    >>> fn(["ab"]).tolist(), fn.name
    ([[2.0]], 'length')
    """

    provider = "callable"

    def __init__(
        self,
        function: Callable[[list[str]], Any],
        *,
        name: str | None = None,
        dim: int | None = None,
        batch_size: int | None = None,
        progress: bool | None = None,
    ) -> None:
        if not callable(function):
            raise InvalidArgumentError(
                f"embedding must be callable, a provider spec or an EmbeddingFunction, "
                f"got {type(function).__name__}"
            )
        super().__init__(dim=dim, batch_size=batch_size, progress=progress)
        self.function = function
        self.name = name or getattr(function, "__qualname__", None) or type(function).__name__

    def _embed(self, texts: list[str]) -> Any:
        return self.function(texts)

    def _describe(self) -> str:
        return f"embedding function {self.name!r}"

    def __repr__(self) -> str:
        return f"CallableEmbedding({self.name!r})"
