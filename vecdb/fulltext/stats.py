"""Corpus statistics for BM25, and scoring with another corpus's (a sharded collection's).

A sharded collection adds up its shards' :class:`CorpusStats` and has every shard score
with the sums inside :func:`corpus_stats` (global IDF, like Elasticsearch's
``dfs_query_then_fetch``), so its scores equal one node's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["CorpusStats", "corpus_stats", "current"]


@dataclass(frozen=True)
class CorpusStats:
    """BM25's corpus statistics for one query: live documents, their total length in
    tokens, and how many of them contain each query token.

    >>> a = CorpusStats(2, 10, {"x": 1}); b = CorpusStats(3, 5, {"x": 2, "y": 1})
    >>> a + b
    CorpusStats(documents=5, total_length=15, df={'x': 3, 'y': 1})
    """

    documents: int
    total_length: int
    df: dict[str, int]

    def __add__(self, other: CorpusStats) -> CorpusStats:
        df = dict(self.df)
        for tok, n in other.df.items():
            df[tok] = df.get(tok, 0) + n
        return CorpusStats(
            self.documents + other.documents, self.total_length + other.total_length, df
        )


_CORPUS: ContextVar[CorpusStats | None] = ContextVar("vecdb_bm25_corpus", default=None)


def current() -> CorpusStats | None:
    """The statistics set by an enclosing :func:`corpus_stats` (None: each index's own)."""
    return _CORPUS.get()


@contextmanager
def corpus_stats(stats: CorpusStats | None) -> Iterator[None]:
    """Score with ``stats`` instead of each index's own statistics inside the block (in
    this thread or task only); ``None`` changes nothing.

    >>> from vecdb.fulltext import FullTextIndex
    >>> ft = FullTextIndex(); ft.upsert([0, 1], ["red fox", "blue fox"])
    >>> round(float(ft.search("red", k=1)[1][0]), 4)
    0.6931
    >>> with corpus_stats(CorpusStats(10, 20, {"red": 1})):
    ...     round(float(ft.search("red", k=1)[1][0]), 4)
    1.9924
    """
    token = _CORPUS.set(stats)
    try:
        yield
    finally:
        _CORPUS.reset(token)
