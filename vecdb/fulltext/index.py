"""The BM25 index: :class:`FullTextIndex` (writes keyed by labels, search, scoring).

**Scoring.** BM25 as in Lucene, tantivy and ``bm25s``'s ``"lucene"`` method, with
``N`` live documents, ``df(t)`` live documents that contain ``t``, ``tf`` the count of ``t``
in the document, ``dl`` its length in tokens and ``avgdl`` the mean length of live
documents::

    score(d, q) = sum over query tokens t of
        idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))
    idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))

A query token repeated in the query counts each time (as ``rank_bm25`` and a Lucene boolean
query do). Only documents that contain at least one query token are returned, best first,
ties broken by ascending label.

The postings live in :class:`~vecdb.fulltext.postings.Postings`; the checkpoint format is
in :mod:`vecdb.fulltext.persist`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vecdb.errors import InvalidArgumentError
from vecdb.fulltext.persist import load_checkpoint, save_checkpoint
from vecdb.fulltext.postings import Postings
from vecdb.fulltext.stats import CorpusStats
from vecdb.fulltext.stats import current as current_stats
from vecdb.fulltext.tokenizer import TextConfig, Tokenizer

__all__ = ["FullTextIndex"]

#: documents tokenised and appended at a time within one upsert
APPEND_BATCH = 8192


def _as_labels(labels: Any) -> np.ndarray:
    try:
        arr = np.asarray(labels)
        if arr.size == 0:
            return np.zeros(0, dtype=np.int64)
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise TypeError
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(
            "labels must be a 1-D sequence of non-negative integers (the vector store's labels)"
        ) from e
    arr = arr.astype(np.int64, copy=False)
    if (arr < 0).any() or (arr >= 1 << 40).any():
        raise InvalidArgumentError("labels must be non-negative integers below 2**40")
    return arr


class FullTextIndex:
    """BM25 over documents keyed by integer labels; see :mod:`vecdb.fulltext`.

    Not thread-safe by itself: like the vector index, writers hold the collection's write
    lock and readers its read lock.

    >>> ft = FullTextIndex(TextConfig(k1=1.5, b=0.75))
    >>> ft.upsert([3, 4], ["full text search", "vector search"])
    >>> ft.upsert([3], ["keyword lookup"])          # replaces label 3's document
    >>> ft.search("search", k=10)[0].tolist(), len(ft)
    ([4], 2)
    """

    def __init__(self, config: TextConfig | None = None) -> None:
        self.config = config or TextConfig()
        self.tokenizer = Tokenizer(self.config)
        self._postings = Postings()

    # ---- size and lookups ---------------------------------------------------------------
    def __len__(self) -> int:
        """Live documents."""
        return self._postings.n_live

    def __repr__(self) -> str:
        return f"FullTextIndex({len(self)} documents, {self.n_terms} terms, {self.config})"

    @property
    def n_terms(self) -> int:
        return len(self._postings.vocab)

    def contains(self, labels: Any) -> np.ndarray:
        """A bool array: which labels have a live document."""
        lab = _as_labels(labels)
        label_slot = self._postings.label_slot
        out = np.zeros(len(lab), dtype=bool)
        inside = lab < len(label_slot)
        out[inside] = label_slot[lab[inside]] >= 0
        return out

    def live_labels(self) -> np.ndarray:
        """Labels with a live document, ascending."""
        p = self._postings
        return np.sort(p.slot_label[: p.n_slots][p.alive[: p.n_slots]])

    def stats(self) -> dict[str, Any]:
        """Sizes, for describe()/EXPLAIN and the benchmarks."""
        p = self._postings
        n = p.n_slots
        return {
            "documents": p.n_live,
            "terms": len(p.vocab),
            "slots": n,
            "dead_slots": n - p.n_live,
            "postings": p.nnz,
            "unmerged_postings": p.nnz - p.main_nnz,
            "avgdl": p.total_len / p.n_live if p.n_live else 0.0,
            "config": self.config.to_dict(),
        }

    # ---- writes ---------------------------------------------------------------------------
    def upsert(self, labels: Any, texts: Sequence[str | None]) -> None:
        """Index ``texts[i]`` under ``labels[i]``, replacing a label's previous document.

        A ``None`` text removes the label (a row without a document is not searchable); an
        empty text is a document with no tokens. A label repeated in one batch keeps its
        last text.
        """
        lab = _as_labels(labels)
        if len(lab) != len(texts):
            raise InvalidArgumentError(
                f"got {len(lab)} labels but {len(texts)} texts; pass one text per label"
            )
        if len(lab) == 0:
            return
        # the last occurrence of each label wins
        _, first_rev = np.unique(lab[::-1], return_index=True)
        keep = np.sort(len(lab) - 1 - first_rev)
        if len(keep) != len(lab):
            lab = lab[keep]
            texts = [texts[i] for i in keep.tolist()]
        bad = [i for i, t in enumerate(texts) if t is not None and not isinstance(t, str)]
        if bad:
            raise InvalidArgumentError(
                f"documents must be strings or None; item {bad[0]} is {type(texts[bad[0]])}"
            )
        tokenize = self.tokenizer.tokens
        p = self._postings
        p.kill(lab)
        present = [i for i, t in enumerate(texts) if t is not None]
        for start in range(0, len(present), APPEND_BATCH):  # bounds the transient memory
            part = present[start : start + APPEND_BATCH]
            p.append(lab[part], [tokenize(texts[i]) for i in part])  # type: ignore[arg-type]
        p.maintain()

    def delete(self, labels: Any) -> int:
        """Forget the documents of ``labels`` (absent labels are ignored); returns how many."""
        n = self._postings.kill(_as_labels(labels))
        self._postings.maintain()
        return n

    def clear(self) -> None:
        """Forget every document (keeps the configuration)."""
        self.__init__(self.config)  # type: ignore[misc]

    def relabel(self, old_labels: Any) -> None:
        """Renumber after the vector store's compaction: ``old_labels[i]`` becomes label ``i``.

        Labels not in ``old_labels`` are dropped. ``Collection.compact()`` rebuilds its
        store from ``live_labels()`` in order, so ``relabel(old_store.live_labels())`` keeps
        both in step.
        """
        self._postings.relabel(_as_labels(old_labels))

    def _merge(self) -> None:
        """Fold every posting written so far into the inverted index."""
        self._postings.merge()

    # ---- search ---------------------------------------------------------------------------
    def _allow_mask(self, allow: Any) -> np.ndarray | None:
        if allow is None:
            return None
        arr = np.asarray(allow)
        if arr.dtype == bool:
            if arr.ndim != 1:
                raise InvalidArgumentError("allow must be a 1-D bool mask over labels")
            return arr
        lab = _as_labels(arr)
        mask = np.zeros(int(lab.max(initial=-1)) + 1, dtype=bool)
        mask[lab] = True
        return mask

    def search(self, query: str, k: int = 10, allow: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best labels for ``query`` and their BM25 scores, best first.

        ``allow`` restricts the search to some labels *before* ranking: a bool mask over
        labels (the planner's bitmap; labels past its end are not allowed) or an array of
        labels. The result has ``min(k, allowed documents containing a query token)`` rows.
        """
        if not isinstance(query, str):
            raise InvalidArgumentError(f"a full-text query is a string, got {type(query)}")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise InvalidArgumentError(f"k must be a positive integer, got {k!r}")
        mask = self._allow_mask(allow)
        slots, scores = self._score(self.tokenizer.tokens(query), mask)
        if len(slots) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        if len(slots) > k:
            # keep every candidate tied with the k-th score, then order exactly
            kth = np.partition(scores, len(scores) - k)[len(scores) - k]
            top = np.flatnonzero(scores >= kth)
            slots, scores = slots[top], scores[top]
        labels = self._postings.slot_label[slots]
        order = np.lexsort((labels, -scores))[:k]
        return labels[order], scores[order]

    def matches(self, query: str, allow: Any = None) -> np.ndarray:
        """Every (allowed) label whose document contains a query token, ascending; for
        ``match(document, $q)`` in SQL.

        >>> ft = FullTextIndex(); ft.upsert([4, 2, 9], ["a b", "b c", "d"])
        >>> ft.matches("b").tolist()
        [2, 4]
        """
        if not isinstance(query, str):
            raise InvalidArgumentError(f"a full-text query is a string, got {type(query)}")
        slots, _ = self._score(self.tokenizer.tokens(query), self._allow_mask(allow))
        return np.sort(self._postings.slot_label[slots])

    def score(self, query: str, labels: Any) -> np.ndarray:
        """BM25 scores of given labels for ``query`` (0 where a label has no matching token
        or no document); for ``bm25(document, $q)`` in SQL and for explaining hybrid hits."""
        lab = _as_labels(labels)
        mask = np.zeros(int(lab.max(initial=-1)) + 1, dtype=bool)
        mask[lab] = True
        slots, scores = self._score(self.tokenizer.tokens(query), mask)
        out = np.zeros(len(lab), dtype=np.float64)
        if len(slots):
            by_label = dict(zip(self._postings.slot_label[slots].tolist(), scores.tolist()))
            out[:] = [by_label.get(x, 0.0) for x in lab.tolist()]
        return out

    def term_stats(self, query: str) -> CorpusStats:
        """This index's :class:`CorpusStats` for ``query``'s tokens (0 for unknown ones).

        >>> ft = FullTextIndex(); ft.upsert([0, 1], ["red fox", "blue fox"])
        >>> ft.term_stats("fox fox cat")
        CorpusStats(documents=2, total_length=4, df={'fox': 2, 'cat': 0})
        """
        if not isinstance(query, str):
            raise InvalidArgumentError(f"a full-text query is a string, got {type(query)}")
        p = self._postings
        df = {}
        for tok in self.tokenizer.tokens(query):
            tid = p.vocab.get(tok)
            df[tok] = 0 if tid is None else int(p.df[tid])
        return CorpusStats(p.n_live, int(p.total_len), df)

    def _score(self, tokens: list[str], mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Slots with a positive score and their scores (unordered)."""
        p = self._postings
        empty = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        if p.n_live == 0:
            return empty
        qtf = Counter(tok for tok in tokens if tok in p.vocab)
        if not qtf:
            return empty
        tids = np.fromiter((p.vocab[tok] for tok in qtf), dtype=np.int64, count=len(qtf))
        corpus = current_stats()
        if corpus is None:
            n, total_len = p.n_live, p.total_len
            df = p.df[tids].astype(np.float64)
        else:  # statistics of the whole (sharded) collection
            n, total_len = corpus.documents, corpus.total_length
            local = p.df[tids].tolist()
            df = np.fromiter(
                (corpus.df.get(tok, d) for tok, d in zip(qtf, local)), np.float64, len(qtf)
            )
        weight = np.fromiter(qtf.values(), np.float64, len(qtf)) * np.log1p(
            (n - df + 0.5) / (df + 0.5)
        )
        k1, b = self.config.k1, self.config.b
        avgdl = total_len / n
        len_coef = k1 * b / avgdl if avgdl > 0 else 0.0
        filtered = mask is not None or p.n_slots != n  # dead slots or an allow-list
        slot_parts: list[np.ndarray] = []
        score_parts: list[np.ndarray] = []

        def collect(slot: np.ndarray, tf: np.ndarray, w: float | np.ndarray) -> None:
            if filtered:
                keep = p.alive[slot]
                if mask is not None:
                    label = p.slot_label[slot]
                    keep &= label < len(mask)
                    keep[keep] = mask[label[keep]]
                slot, tf = slot[keep], tf[keep]
                if isinstance(w, np.ndarray):
                    w = w[keep]
            if len(slot):
                tf = tf.astype(np.float64)
                norm = k1 * (1.0 - b) + len_coef * p.slot_len[slot]
                slot_parts.append(slot)
                score_parts.append(w * (k1 + 1.0) * tf / (tf + norm))

        # postings from the inverted index ...
        n_main_terms = len(p.inv_ptr) - 1
        for tid, w in zip(tids.tolist(), weight.tolist()):
            if tid < n_main_terms:
                lo, hi = p.inv_ptr[tid], p.inv_ptr[tid + 1]
                if hi > lo:
                    collect(p.inv_slot[lo:hi], p.inv_tf[lo:hi], w)
        # ... and from the forward index of slots written since the last merge
        if p.nnz > p.main_nnz:
            pos = np.flatnonzero(np.isin(p.fwd_term[p.main_nnz : p.nnz], tids))
            if len(pos):
                pos += p.main_nnz
                slot = np.searchsorted(p.fwd_ptr[: p.n_slots + 1], pos, "right") - 1
                order = np.argsort(tids)
                w_of = weight[order][np.searchsorted(tids[order], p.fwd_term[pos])]
                collect(slot, p.fwd_tf[pos], w_of)
        if not slot_parts:
            return empty
        slot = np.concatenate(slot_parts).astype(np.int64, copy=False)
        contrib = np.concatenate(score_parts)
        if len(tids) == 1:  # one term: each slot appears once (merged or newer, not both)
            return slot, contrib
        if len(slot) * 8 > p.n_slots:  # long posting lists: a dense sum beats a sort
            acc = np.bincount(slot, weights=contrib, minlength=p.n_slots)
            hit = np.flatnonzero(acc)  # every contribution is > 0
            return hit, acc[hit]
        uniq, inv = np.unique(slot, return_inverse=True)
        return uniq, np.bincount(inv, weights=contrib, minlength=len(uniq))

    # ---- rebuild and persistence ----------------------------------------------------------
    @classmethod
    def build(
        cls, batches: Iterable[tuple[Any, Sequence[str | None]]], config: TextConfig | None = None
    ) -> FullTextIndex:
        """A new index from ``(labels, texts)`` batches (e.g. read from DuckDB in chunks).

        >>> FullTextIndex.build([([0, 1], ["a b", "b c"]), ([2], ["c d"])]).stats()["terms"]
        4
        """
        ft = cls(config)
        for labels, texts in batches:
            lab = _as_labels(labels)
            if len(lab) != len(texts):
                raise InvalidArgumentError(
                    f"got {len(lab)} labels but {len(texts)} texts in a rebuild batch"
                )
            ft.upsert(lab, texts)
        if ft._postings.nnz > ft._postings.main_nnz:
            ft._merge()
        return ft

    def save(self, directory: Path | str) -> list[str]:
        """Write the index into ``directory`` (which may hold other files); returns the file
        names, for a manifest like :func:`vecdb.storage.checkpoint.write_checkpoint`'s.

        The inverted index is not written: :meth:`load` rebuilds it from the forward index
        (a sort; about 0.1 s per million postings), which halves the checkpoint. The format
        is :mod:`vecdb.fulltext.persist`'s.
        """
        return save_checkpoint(directory, self.config, self._postings)

    @classmethod
    def load(cls, directory: Path | str, config: TextConfig | None = None) -> FullTextIndex:
        """Read what :meth:`save` wrote.

        Raises :class:`~vecdb.fulltext.DamagedCheckpointError` when a file is missing,
        altered or inconsistent, or when ``config`` is given and differs from the saved
        one: rebuild from the documents then.
        """
        saved, postings = load_checkpoint(directory, config)
        ft = cls(saved)
        ft._postings = postings
        return ft
