"""Keyword reads of a live index: BM25 search, scores, matches and corpus statistics.

:class:`LiveText` reads the live index's full-text index (:mod:`vecdb.fulltext`), keyed by
the vector store's labels, under the live index's read lock, and restricts it with the same
cached allow-lists as the vector search, so a filtered keyword search ranks only matching
rows.

>>> import numpy as np, vecdb
>>> c = vecdb.connect().create_collection("t", dim=1, index="exact", fulltext=True)
>>> c.add([1, 2], [[1], [2]], documents=["ray tracing", "vector search"])
2
>>> text = LiveText(c._live)
>>> text.search("search", k=5)[0].tolist(), text.matches("ray").tolist()
([2], [1])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from vecdb.errors import InvalidArgumentError
from vecdb.fulltext import CorpusStats, FullTextIndex
from vecdb.live_index import LiveIndex

__all__ = ["LiveText"]


class LiveText:
    """The full-text reads of ``live`` (see the module docstring)."""

    def __init__(self, live: LiveIndex) -> None:
        self.live = live

    def _index(self) -> FullTextIndex:
        ft = self.live.fulltext
        if ft is None:
            raise InvalidArgumentError(
                f"collection {self.live.spec.name!r} has no full-text index; create it with "
                "fulltext=True to search by keywords"
            )
        return ft

    def search(
        self,
        query: str,
        k: int,
        allow_key: Any = None,
        matching_ids: Callable[[], np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """BM25 search: the ``k`` best ids and their scores, and the plan info.

        With ``matching_ids`` only those rows are ranked (the same cached allow-list as the
        vector search uses), so the result holds ``min(k, matching rows that contain a query
        term)`` ids."""
        ft, live = self._index(), self.live
        with live.rw.read():
            allow = None if matching_ids is None else live.allowlist(allow_key, matching_ids)
            labels, scores = ft.search(query, k, None if allow is None else allow.labels)
            ids = live.store.ids[labels]
            info = {
                "strategy": "fulltext",
                "engine": "bm25",
                "matching_rows": len(ft) if allow is None else len(allow.labels),
                "total_rows": live.store.n_alive,
                "documents": len(ft),
                "k": k,
                "candidates": len(ids),
            }
        return ids, scores, info

    def stats(self, query: str) -> CorpusStats:
        """The full-text index's BM25 statistics for ``query`` (a sharded collection sums
        its shards' to score with global IDF)."""
        ft = self._index()
        with self.live.rw.read():
            return ft.term_stats(query)

    def scores(self, query: str, ids: np.ndarray) -> np.ndarray:
        """BM25 scores of given ids for ``query`` (0 where none); NaN without an index."""
        live = self.live
        ft = live.fulltext
        if ft is None or len(ids) == 0:
            return np.full(len(ids), np.nan)
        with live.rw.read():
            labels = live.store.labels_for_ids(ids)
            out = np.zeros(len(ids))
            ok = labels >= 0
            if ok.any():
                out[ok] = ft.score(query, labels[ok])
        return out

    def matches(
        self,
        query: str,
        allow_key: Any = None,
        matching_ids: Callable[[], np.ndarray] | None = None,
    ) -> np.ndarray:
        """Ids of every (matching) row whose document contains a query term."""
        live = self.live
        ft = live.fulltext
        if ft is None:
            return live.store.ids[:0]
        with live.rw.read():
            allow = None if matching_ids is None else live.allowlist(allow_key, matching_ids)
            labels = ft.matches(query, None if allow is None else allow.labels)
            return live.store.ids[labels]
