"""Text in collections: checking ``embedding=``/``fulltext=``/``documents=``, search modes
and the fusion of a vector ranking with a BM25 ranking.

A collection created with ``embedding=`` (a provider spec or a callable, see
:mod:`vecdb.embed`) or ``fulltext=True`` has a ``document VARCHAR`` column. Documents
without a vector are embedded before the write's DuckDB transaction (an embedding error
writes nothing); the BM25 index (:mod:`vecdb.fulltext`) is derived state kept beside the
vector index and checkpointed with it.

>>> check_fusion(None)
{'method': 'rrf', 'k': 60}
>>> check_fusion({"method": "weighted", "vector": 0.7, "text": 0.3})["text"]
0.3
>>> f = fuse((np.array([1, 2]), np.array([0.1, 0.2])), (np.array([2, 3]), np.array([5.0, 1.0])),
...          check_fusion(None), k=3)
>>> f.keys.tolist()
[2, 1, 3]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vecdb.errors import InvalidArgumentError
from vecdb.fulltext import Fused, TextConfig, rrf, weighted

__all__ = [
    "MODES",
    "DOCUMENT",
    "SCORES",
    "HYBRID_DEPTH",
    "check_mode",
    "check_fulltext",
    "check_fusion",
    "check_documents",
    "fuse",
]

MODES = ("vector", "fulltext", "hybrid")
#: the column that holds each row's text
DOCUMENT = "document"
#: the pseudo-column of ``include`` that reports each hit's per-branch scores
SCORES = "_scores"
#: each branch of a hybrid search ranks at least this many rows before fusion
HYBRID_DEPTH = 50


def check_mode(mode: Any) -> str:
    """``mode`` checked: ``"vector"``, ``"fulltext"`` or ``"hybrid"``."""
    if mode not in MODES:
        raise InvalidArgumentError(f"mode must be one of {list(MODES)}, got {mode!r}")
    return str(mode)


def check_fulltext(fulltext: Any) -> dict[str, Any] | None:
    """``fulltext=`` of create_collection as the stored config: ``False``/``None`` -> None,
    ``True`` -> defaults, a dict of :class:`~vecdb.fulltext.TextConfig` options, or one.

    >>> check_fulltext(True)["k1"], check_fulltext(False)
    (1.2, None)
    """
    if fulltext is None or fulltext is False:
        return None
    if fulltext is True:
        return TextConfig().to_dict()
    if isinstance(fulltext, TextConfig):
        return fulltext.to_dict()
    if isinstance(fulltext, dict):
        return TextConfig.from_dict(fulltext).to_dict()
    raise InvalidArgumentError(
        "fulltext must be True, False, or a dict of options such as "
        f"{{'stem': 'english'}}; got {type(fulltext).__name__}"
    )


def check_fusion(fusion: Any) -> dict[str, Any]:
    """A hybrid search's fusion: RRF with ``k`` (default 60) or weighted normalised scores.

    >>> check_fusion("rrf"), check_fusion({"method": "rrf", "k": 10})["k"]
    ({'method': 'rrf', 'k': 60}, 10)
    """
    if fusion is None:
        fusion = {"method": "rrf"}
    if isinstance(fusion, str):
        fusion = {"method": fusion}
    if not isinstance(fusion, dict):
        raise InvalidArgumentError(
            'fusion must be {"method": "rrf", "k": 60} or '
            f'{{"method": "weighted", "vector": 0.7, "text": 0.3}}; got {fusion!r}'
        )
    method = fusion.get("method", "rrf")
    if method == "rrf":
        extra = set(fusion) - {"method", "k"}
        k = fusion.get("k", 60)
        if isinstance(k, bool) or not isinstance(k, (int, float)) or not 0 <= k < 1e9:
            raise InvalidArgumentError(f"fusion k must be a number >= 0, got {k!r}")
        out: dict[str, Any] = {"method": "rrf", "k": k}
    elif method == "weighted":
        extra = set(fusion) - {"method", "vector", "text"}
        out = {"method": "weighted"}
        for branch in ("vector", "text"):
            w = fusion.get(branch, 0.5)
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w < 1e9:
                raise InvalidArgumentError(f"fusion weight {branch!r} must be >= 0, got {w!r}")
            out[branch] = float(w)
    else:
        raise InvalidArgumentError(f"fusion method must be 'rrf' or 'weighted', got {method!r}")
    if extra:
        raise InvalidArgumentError(f"unknown fusion options {sorted(extra)} for {method!r}")
    return out


def check_documents(documents: Any, n: int | None) -> list[str | None]:
    """``documents=`` as a list of str (or None: no document), one per id when ``n`` given."""
    if isinstance(documents, str):
        raise InvalidArgumentError("documents must be a list of strings, one per id")
    docs = list(documents)
    for i, d in enumerate(docs):
        if d is not None and not isinstance(d, str):
            raise InvalidArgumentError(f"documents[{i}] is {type(d).__name__}, not a str")
    if n is not None and len(docs) != n:
        raise InvalidArgumentError(f"got {n} ids but {len(docs)} documents; pass one per id")
    return docs


def fuse(
    vector: tuple[np.ndarray, np.ndarray],
    text: tuple[np.ndarray, np.ndarray],
    fusion: dict[str, Any],
    k: int,
) -> Fused:
    """The top ``k`` of a vector ranking ``(ids, distances)`` fused with a text ranking
    ``(ids, bm25 scores)``; branch scores are kept (NaN where a row was not in a branch)."""
    if fusion["method"] == "rrf":
        return rrf([vector, text], k=fusion["k"], limit=k)
    return weighted(vector, text, (fusion["vector"], fusion["text"]), limit=k)
