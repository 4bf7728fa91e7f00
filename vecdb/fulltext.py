"""Full-text search: a BM25 index over documents, and fusion of text and vector rankings.

The index is derived state, like the vector index: documents live in DuckDB, the index is
keyed by the same dense integer *labels* as :class:`vecdb.index.VectorStore`, it
is saved beside the vector checkpoint and rebuilt from ``(labels, texts)`` batches when the
checkpoint is missing or damaged.

>>> ft = FullTextIndex()
>>> ft.upsert([0, 1, 2], ["red apples and green pears", "green tea", "apple pie recipe"])
>>> labels, scores = ft.search("green apple", k=5)
>>> labels.tolist()            # no stemming by default: "apples" is not "apple"
[2, 1, 0]
>>> ft.search("green", k=5, allow=[1, 2])[0].tolist()    # filtered before ranking
[1]
>>> ft.delete([1]); len(ft)
1
2

**Engine.** Our own inverted index on numpy, chosen by measurement over ``tantivy`` (Rust)
and ``bm25s`` (numbers and method in ``benchmarks/README.md``, "Full-text search"):

* exact BM25 at all times: document frequencies and the average length count live
  documents only, so scores equal a rebuild and the textbook formula (to 1e-14); tantivy
  was off by up to 0.7 on scores of 5-15 (1-byte length norms, deleted documents kept in
  its statistics until a merge);
* cheap incremental writes: replacing 100 documents costs ~7 ms at 20k and at 200k
  documents, against 100-260 ms for a tantivy commit + reload and a full re-index for
  bm25s (53 s at 200k);
* filters before ranking at full speed: an allow-list is one boolean gather over the
  posting lists (0.2-0.8 ms filtered vs 13-119 ms for tantivy's term-set filter);
* p50 query latency 0.2-0.35 ms at 20k and ~0.8-1 ms at 200k: tantivy is 3-5x faster
  unfiltered (block-max WAND skips postings; we score every posting of the query's
  terms, so queries with very common words form the tail), bm25s 5-70x slower;
* no new dependency (tantivy adds a 17 MB extension); optional stemming uses PyStemmer
  from the ``vecdb[fulltext]`` extra.

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

**Tokens.** Text is NFKC-normalised and case-folded; a token is a run of Unicode letters,
digits and combining marks (so Devanagari, Arabic, Cyrillic, accented Latin stay whole;
``_`` and punctuation separate tokens); each Han ideograph and Hiragana character is a token
of its own (Chinese and Japanese have no spaces). Options: ``strip_accents`` (drop Latin
combining accents: "café" matches "cafe"), ``stem`` (a Snowball language such as
``"english"``; needs PyStemmer), ``stopwords`` (``"english"`` or your own words). By
default neither: both are language-specific, BM25's idf already discounts common words, and
on npm-text-20k English stemming moved MRR@10 by -0.003 (known items) to +0.025 (summary
queries), a per-collection choice rather than a default. The configuration is part
of the checkpoint; a checkpoint written with another configuration is refused.

**Fusion.** :func:`rrf` (reciprocal rank fusion, ``k=60``) and :func:`weighted` (min-max
normalised scores, weighted sum) merge a vector ranking and a text ranking into one
:class:`Fused` ranking that keeps each branch's score and rank. On npm-text-20k,
``weighted`` with vector 0.3 / text 0.7 was the best or tied-best fusion on every query
set (MRR@10 0.984 vs 0.976 for BM25 alone and 0.910 for vectors alone on known items);
equal-vote RRF fell 0.01-0.06 below BM25 alone there, as the vector branch was the weaker
one (see the benchmark README).

Internals: every (re)inserted document gets a new *slot*; ``label -> slot`` points at the
live one. A forward index (slot -> term ids and counts) is appended to on every write; the
inverted index (term -> slots and counts) covers the slots that existed at the last merge,
and newer slots are scanned from the forward index until the next merge (when they hold
more than an eighth of all postings). Dead slots are skipped with a boolean mask and
reclaimed when they make up 30 % of all slots.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from vecdb.errors import InternalError, InvalidArgumentError

__all__ = [
    "TextConfig",
    "Tokenizer",
    "FullTextIndex",
    "CorpusStats",
    "corpus_stats",
    "DamagedCheckpointError",
    "Fused",
    "rrf",
    "weighted",
    "minmax",
    "ENGLISH_STOPWORDS",
    "FILES",
]

FORMAT_VERSION = 1
#: the files :meth:`FullTextIndex.save` writes (all prefixed, so they can share a directory)
FILES = (
    "fulltext.json",
    "fulltext-vocab.txt",
    "fulltext-slot-label.npy",
    "fulltext-slot-len.npy",
    "fulltext-slot-alive.npy",
    "fulltext-fwd-ptr.npy",
    "fulltext-fwd-term.npy",
    "fulltext-fwd-tf.npy",
)
#: dead slots as a share of all slots that triggers a compaction, and its minimum
COMPACT_RATIO = 0.3
COMPACT_MIN_DEAD = 1_000
#: postings outside the inverted index (newer slots) that trigger a merge, absolute and
#: as a share of all postings
MERGE_MIN_POSTINGS = 1 << 16
MERGE_RATIO = 0.125
#: documents tokenised and appended at a time within one upsert
APPEND_BATCH = 8192

#: a small English stop list (articles, auxiliaries, conjunctions, prepositions, pronouns)
ENGLISH_STOPWORDS = frozenset(
    """a an and are as at be been but by for from has have he her his i if in into is it its
    of on or she so such than that the their them then there these they this those to too
    was we were what when where which who will with would you your""".split()
)
_STOPWORD_SETS = {"english": ENGLISH_STOPWORDS}


class DamagedCheckpointError(InternalError, ValueError):
    """A full-text checkpoint whose files are missing, truncated or altered.

    It is a ``ValueError`` too, so a loader that rebuilds on unreadable checkpoints (as
    ``Collection._load`` does for the vector index) rebuilds on this one as well.
    """


# ---- tokenisation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TextConfig:
    """How documents are tokenised and scored; persisted with the checkpoint.

    >>> TextConfig(k1=1.5).to_dict()["k1"]
    1.5
    >>> TextConfig.from_dict({"stem": "english"}).stem
    'english'
    """

    k1: float = 1.2
    b: float = 0.75
    stem: str | None = None
    stopwords: str | tuple[str, ...] | None = None
    strip_accents: bool = False

    def __post_init__(self) -> None:
        if not (isinstance(self.k1, (int, float)) and 0 <= self.k1 < math.inf):
            raise InvalidArgumentError(f"k1 must be a finite number >= 0, got {self.k1!r}")
        if not (isinstance(self.b, (int, float)) and 0 <= self.b <= 1):
            raise InvalidArgumentError(f"b must be a number in [0, 1], got {self.b!r}")
        if isinstance(self.stopwords, str) and self.stopwords not in _STOPWORD_SETS:
            raise InvalidArgumentError(
                f"unknown stop word list {self.stopwords!r}; use one of "
                f"{sorted(_STOPWORD_SETS)} or pass the words themselves"
            )
        if self.stopwords is not None and not isinstance(self.stopwords, str):
            object.__setattr__(self, "stopwords", tuple(sorted(set(self.stopwords))))
        if self.stem is not None:
            _stemmer(self.stem)  # fail now, with the fix, rather than on the first add

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (what the checkpoint stores)."""
        d = asdict(self)
        if isinstance(d["stopwords"], tuple):
            d["stopwords"] = list(d["stopwords"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TextConfig:
        """The inverse of :meth:`to_dict`; unknown keys are an error."""
        known = {"k1", "b", "stem", "stopwords", "strip_accents"}
        unknown = set(d) - known
        if unknown:
            raise InvalidArgumentError(
                f"unknown full-text options {sorted(unknown)}; accepted: {sorted(known)}"
            )
        d = dict(d)
        if isinstance(d.get("stopwords"), list):
            d["stopwords"] = tuple(d["stopwords"])
        return cls(**d)


@dataclass(frozen=True)
class CorpusStats:
    """BM25's corpus statistics for one query: live documents, their total length in
    tokens, and how many of them contain each query token.

    One index scores with its own; a sharded collection adds up its shards' (``+``) and has
    every shard score with the sums (global IDF), so its scores equal one node's.

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


@contextmanager
def corpus_stats(stats: CorpusStats | None) -> Iterator[None]:
    """Score with ``stats`` instead of each index's own statistics inside the block (in
    this thread or task only); ``None`` changes nothing.

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


@functools.lru_cache(maxsize=8)
def _stemmer(language: str) -> Any:
    try:
        import Stemmer  # PyStemmer
    except ImportError as e:
        raise InvalidArgumentError(
            "stemming needs PyStemmer: pip install 'vecdb[fulltext]' (or pass stem=None)"
        ) from e
    try:
        return Stemmer.Stemmer(language)
    except KeyError as e:
        raise InvalidArgumentError(
            f"no Snowball stemmer for {language!r}; available: {Stemmer.algorithms()}"
        ) from e


def _ranges(pred: Any, stop: int) -> str:
    out = []
    start = None
    for cp in range(stop + 1):
        hit = cp < stop and pred(cp)
        if hit and start is None:
            start = cp
        elif not hit and start is not None:
            out.append(f"{chr(start)}-{chr(cp - 1)}" if cp - 1 > start else chr(start))
            start = None
    return "".join(re.escape(part) if len(part) == 1 else part for part in out)


#: Han ideographs (CJK unified, extensions, compatibility) and Hiragana: one token per char
_SINGLE = (
    "\u3040-\u309f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\U00020000-\U0002a6df\U0002a700-\U0002ebef\U00030000-\U000323af"
)


@functools.lru_cache(maxsize=1)
def _token_re() -> re.Pattern[str]:
    """Compiled once per process (about 0.2 s: Python's ``\\w`` has no combining marks, so
    their ranges are collected from :mod:`unicodedata`)."""
    marks = _ranges(lambda cp: unicodedata.category(chr(cp))[0] == "M", 0x20000)
    word = f"[^\\W_{_SINGLE}]|[{marks}]"
    return re.compile(f"[{_SINGLE}]|(?:{word})+")


_ACCENTS = re.compile("[\u0300-\u036f]+")
#: for ASCII text the full pattern reduces to this (no marks, no ideographs)
_ASCII_TOKEN = re.compile("[a-z0-9]+")


class Tokenizer:
    """Text -> tokens under a :class:`TextConfig`.

    >>> Tokenizer().tokens("Crème Brûlée, NAÏVE_approach; 東京タワー Привет")
    ['crème', 'brûlée', 'naïve', 'approach', '東', '京', 'タワー', 'привет']
    >>> Tokenizer(TextConfig(strip_accents=True, stopwords="english")).tokens("The Café")
    ['cafe']
    """

    def __init__(self, config: TextConfig | None = None) -> None:
        self.config = config or TextConfig()
        sw = self.config.stopwords
        self._stop = frozenset(_STOPWORD_SETS[sw] if isinstance(sw, str) else sw or ())
        self._stem = _stemmer(self.config.stem).stemWords if self.config.stem else None

    def tokens(self, text: str) -> list[str]:
        """The tokens of one text, in order."""
        if text.isascii():  # the common case, 3x faster than the full pattern
            toks = _ASCII_TOKEN.findall(text.lower())
        else:
            toks = self._unicode(text)
        if self._stop:
            toks = [t for t in toks if t not in self._stop]
        if self._stem is not None and toks:
            toks = self._stem(toks)
        return toks

    def _unicode(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFKC", text).casefold()
        if self.config.strip_accents:
            text = _ACCENTS.sub("", unicodedata.normalize("NFD", text))
            text = unicodedata.normalize("NFC", text)
        return _token_re().findall(text)


# ---- the index ------------------------------------------------------------------------------


def _grow(arr: np.ndarray, need: int, fill: Any = 0) -> np.ndarray:
    if need <= len(arr):
        return arr
    out = np.full(max(need, 2 * len(arr), 16), fill, dtype=arr.dtype)
    out[: len(arr)] = arr
    return out


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
    """BM25 over documents keyed by integer labels; see the module docstring.

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
        self._vocab: dict[str, int] = {}
        self._df = np.zeros(1024, dtype=np.int64)  # live documents per term id
        # slots: one per (re)inserted document
        self._n_slots = 0
        self._slot_label = np.zeros(1024, dtype=np.int64)
        self._slot_len = np.zeros(1024, dtype=np.int64)
        self._alive = np.zeros(1024, dtype=bool)
        self._label_slot = np.full(1024, -1, dtype=np.int64)
        # forward index: slot s has postings fwd_term/fwd_tf[fwd_ptr[s]:fwd_ptr[s + 1]]
        self._fwd_ptr = np.zeros(1025, dtype=np.int64)
        self._nnz = 0
        self._fwd_term = np.zeros(4096, dtype=np.int32)
        self._fwd_tf = np.zeros(4096, dtype=np.int32)
        self._n_live = 0
        self._total_len = 0
        # inverted index over slots [0, _main_slots)
        self._main_slots = 0
        self._main_nnz = 0
        self._inv_ptr = np.zeros(1, dtype=np.int64)
        self._inv_slot = np.zeros(0, dtype=np.int32)
        self._inv_tf = np.zeros(0, dtype=np.int32)

    # ---- size and lookups ---------------------------------------------------------------
    def __len__(self) -> int:
        """Live documents."""
        return self._n_live

    def __repr__(self) -> str:
        return f"FullTextIndex({len(self)} documents, {len(self._vocab)} terms, {self.config})"

    @property
    def n_terms(self) -> int:
        return len(self._vocab)

    def contains(self, labels: Any) -> np.ndarray:
        """A bool array: which labels have a live document."""
        lab = _as_labels(labels)
        out = np.zeros(len(lab), dtype=bool)
        inside = lab < len(self._label_slot)
        out[inside] = self._label_slot[lab[inside]] >= 0
        return out

    def live_labels(self) -> np.ndarray:
        """Labels with a live document, ascending."""
        return np.sort(self._slot_label[: self._n_slots][self._alive[: self._n_slots]])

    def stats(self) -> dict[str, Any]:
        """Sizes, for describe()/EXPLAIN and the benchmarks."""
        n = self._n_slots
        return {
            "documents": self._n_live,
            "terms": len(self._vocab),
            "slots": n,
            "dead_slots": n - self._n_live,
            "postings": self._nnz,
            "unmerged_postings": self._nnz - self._main_nnz,
            "avgdl": self._total_len / self._n_live if self._n_live else 0.0,
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
        self._kill(lab)
        present = [i for i, t in enumerate(texts) if t is not None]
        for start in range(0, len(present), APPEND_BATCH):  # bounds the transient memory
            part = present[start : start + APPEND_BATCH]
            self._append(lab[part], [tokenize(texts[i]) for i in part])  # type: ignore[arg-type]
        self._maintain()

    def delete(self, labels: Any) -> int:
        """Forget the documents of ``labels`` (absent labels are ignored); returns how many."""
        n = self._kill(_as_labels(labels))
        self._maintain()
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
        old = _as_labels(old_labels)
        n = self._n_slots
        slot_label = self._slot_label[:n]
        new_of_old = np.full(max(int(old.max(initial=-1)) + 1, 1), -1, dtype=np.int64)
        new_of_old[old] = np.arange(len(old))
        alive = self._alive[:n]
        in_range = slot_label < len(new_of_old)
        mapped = np.full(n, -1, dtype=np.int64)
        mapped[in_range] = new_of_old[slot_label[in_range]]
        drop = alive & (mapped < 0)
        if drop.any():
            self._kill(slot_label[drop])
        alive = self._alive[:n]
        self._slot_label[:n] = np.where(alive, mapped, -1)
        self._label_slot = np.full(max(len(old), 1024), -1, dtype=np.int64)
        live_slots = np.flatnonzero(alive)
        self._label_slot[self._slot_label[live_slots]] = live_slots
        self._maintain()

    def _kill(self, labels: np.ndarray) -> int:
        inside = labels[labels < len(self._label_slot)]
        slots = self._label_slot[inside]
        slots = np.unique(slots[slots >= 0])
        if len(slots) == 0:
            return 0
        starts, ends = self._fwd_ptr[slots], self._fwd_ptr[slots + 1]
        idx = _ranges_index(starts, ends)
        np.subtract.at(self._df, self._fwd_term[idx], 1)
        self._alive[slots] = False
        self._label_slot[self._slot_label[slots]] = -1
        self._n_live -= len(slots)
        self._total_len -= int(self._slot_len[slots].sum())
        return len(slots)

    def _append(self, labels: np.ndarray, token_lists: list[list[str]]) -> None:
        vocab = self._vocab
        setdefault = vocab.setdefault
        lens = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
        ids = np.fromiter(
            (setdefault(tok, len(vocab)) for toks in token_lists for tok in toks),
            dtype=np.int64,
            count=int(lens.sum()),
        )
        n_new = len(token_lists)
        # (document, term) pairs with their counts, ordered by document then term
        doc_of = np.repeat(np.arange(n_new, dtype=np.int64), lens)
        pair, tf = np.unique(doc_of * len(vocab) + ids, return_counts=True)
        term_arr = (pair % max(len(vocab), 1)).astype(np.int32)
        sizes = np.bincount(pair // max(len(vocab), 1), minlength=n_new)
        nnz_new = len(pair)
        s0, s1 = self._n_slots, self._n_slots + n_new
        z0, z1 = self._nnz, self._nnz + nnz_new
        self._slot_label = _grow(self._slot_label, s1)
        self._slot_len = _grow(self._slot_len, s1)
        self._alive = _grow(self._alive, s1, False)
        self._fwd_ptr = _grow(self._fwd_ptr, s1 + 1)
        self._fwd_term = _grow(self._fwd_term, z1)
        self._fwd_tf = _grow(self._fwd_tf, z1)
        self._df = _grow(self._df, len(vocab))
        self._label_slot = _grow(self._label_slot, int(labels.max()) + 1, -1)
        self._fwd_term[z0:z1] = term_arr
        self._fwd_tf[z0:z1] = tf
        self._fwd_ptr[s0 + 1 : s1 + 1] = z0 + np.cumsum(sizes)
        self._slot_label[s0:s1] = labels
        self._slot_len[s0:s1] = lens
        self._alive[s0:s1] = True
        self._label_slot[labels] = np.arange(s0, s1)
        np.add.at(self._df, term_arr, 1)
        self._n_slots, self._nnz = s1, z1
        self._n_live += n_new
        self._total_len += int(lens.sum())

    def _maintain(self) -> None:
        dead = self._n_slots - self._n_live
        if dead >= COMPACT_MIN_DEAD and dead > COMPACT_RATIO * self._n_slots:
            self._compact()
        elif self._nnz - self._main_nnz > max(MERGE_MIN_POSTINGS, MERGE_RATIO * self._nnz):
            self._merge()

    def _merge(self) -> None:
        """Rebuild the inverted index over every slot so far."""
        n, nnz = self._n_slots, self._nnz
        slot_of = np.repeat(np.arange(n, dtype=np.int32), np.diff(self._fwd_ptr[: n + 1]))
        live = self._alive[slot_of]
        term = self._fwd_term[:nnz][live]
        order = np.argsort(term, kind="stable")  # stable: slots stay ascending per term
        self._inv_slot = slot_of[live][order]
        self._inv_tf = self._fwd_tf[:nnz][live][order]
        counts = np.bincount(term, minlength=len(self._vocab))
        self._inv_ptr = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=self._inv_ptr[1:])
        self._main_slots, self._main_nnz = n, nnz

    def _compact(self) -> None:
        """Drop dead slots and unused terms, then merge."""
        n = self._n_slots
        live = np.flatnonzero(self._alive[:n])
        starts, ends = self._fwd_ptr[live], self._fwd_ptr[live + 1]
        idx = _ranges_index(starts, ends)
        # renumber terms that still occur
        used = self._df[: len(self._vocab)] > 0
        new_id = np.cumsum(used) - 1
        words = list(self._vocab)
        self._vocab = {words[i]: j for j, i in enumerate(np.flatnonzero(used).tolist())}
        self._df = self._df[: len(used)][used].copy()
        self._fwd_term = new_id[self._fwd_term[idx]].astype(np.int32)
        self._fwd_tf = self._fwd_tf[idx].copy()
        self._fwd_ptr = np.zeros(len(live) + 1, dtype=np.int64)
        np.cumsum(ends - starts, out=self._fwd_ptr[1:])
        self._slot_label = self._slot_label[live].copy()
        self._slot_len = self._slot_len[live].copy()
        self._alive = np.ones(len(live), dtype=bool)
        self._label_slot[:] = -1
        self._label_slot[self._slot_label] = np.arange(len(live))
        self._n_slots, self._nnz = len(live), len(idx)
        self._merge()

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
        labels = self._slot_label[slots]
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
        return np.sort(self._slot_label[slots])

    def score(self, query: str, labels: Any) -> np.ndarray:
        """BM25 scores of given labels for ``query`` (0 where a label has no matching token
        or no document); for ``bm25(document, $q)`` in SQL and for explaining hybrid hits."""
        lab = _as_labels(labels)
        mask = np.zeros(int(lab.max(initial=-1)) + 1, dtype=bool)
        mask[lab] = True
        slots, scores = self._score(self.tokenizer.tokens(query), mask)
        out = np.zeros(len(lab), dtype=np.float64)
        if len(slots):
            by_label = dict(zip(self._slot_label[slots].tolist(), scores.tolist()))
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
        df = {}
        for tok in self.tokenizer.tokens(query):
            tid = self._vocab.get(tok)
            df[tok] = 0 if tid is None else int(self._df[tid])
        return CorpusStats(self._n_live, int(self._total_len), df)

    def _score(self, tokens: list[str], mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Slots with a positive score and their scores (unordered)."""
        empty = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        if self._n_live == 0:
            return empty
        qtf = Counter(tok for tok in tokens if tok in self._vocab)
        if not qtf:
            return empty
        tids = np.fromiter((self._vocab[tok] for tok in qtf), dtype=np.int64, count=len(qtf))
        corpus = _CORPUS.get()
        if corpus is None:
            n, total_len = self._n_live, self._total_len
            df = self._df[tids].astype(np.float64)
        else:  # statistics of the whole (sharded) collection
            n, total_len = corpus.documents, corpus.total_length
            local = self._df[tids].tolist()
            df = np.fromiter(
                (corpus.df.get(tok, d) for tok, d in zip(qtf, local)), np.float64, len(qtf)
            )
        weight = np.fromiter(qtf.values(), np.float64, len(qtf)) * np.log1p(
            (n - df + 0.5) / (df + 0.5)
        )
        k1, b = self.config.k1, self.config.b
        avgdl = total_len / n
        len_coef = k1 * b / avgdl if avgdl > 0 else 0.0
        filtered = mask is not None or self._n_slots != n  # dead slots or an allow-list
        slot_parts: list[np.ndarray] = []
        score_parts: list[np.ndarray] = []

        def collect(slot: np.ndarray, tf: np.ndarray, w: float | np.ndarray) -> None:
            if filtered:
                keep = self._alive[slot]
                if mask is not None:
                    label = self._slot_label[slot]
                    keep &= label < len(mask)
                    keep[keep] = mask[label[keep]]
                slot, tf = slot[keep], tf[keep]
                if isinstance(w, np.ndarray):
                    w = w[keep]
            if len(slot):
                tf = tf.astype(np.float64)
                norm = k1 * (1.0 - b) + len_coef * self._slot_len[slot]
                slot_parts.append(slot)
                score_parts.append(w * (k1 + 1.0) * tf / (tf + norm))

        # postings from the inverted index ...
        n_main_terms = len(self._inv_ptr) - 1
        for tid, w in zip(tids.tolist(), weight.tolist()):
            if tid < n_main_terms:
                lo, hi = self._inv_ptr[tid], self._inv_ptr[tid + 1]
                if hi > lo:
                    collect(self._inv_slot[lo:hi], self._inv_tf[lo:hi], w)
        # ... and from the forward index of slots written since the last merge
        if self._nnz > self._main_nnz:
            pos = np.flatnonzero(np.isin(self._fwd_term[self._main_nnz : self._nnz], tids))
            if len(pos):
                pos += self._main_nnz
                slot = np.searchsorted(self._fwd_ptr[: self._n_slots + 1], pos, "right") - 1
                order = np.argsort(tids)
                w_of = weight[order][np.searchsorted(tids[order], self._fwd_term[pos])]
                collect(slot, self._fwd_tf[pos], w_of)
        if not slot_parts:
            return empty
        slot = np.concatenate(slot_parts).astype(np.int64, copy=False)
        contrib = np.concatenate(score_parts)
        if len(tids) == 1:  # one term: each slot appears once (merged or newer, not both)
            return slot, contrib
        if len(slot) * 8 > self._n_slots:  # long posting lists: a dense sum beats a sort
            acc = np.bincount(slot, weights=contrib, minlength=self._n_slots)
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
        if ft._nnz > ft._main_nnz:
            ft._merge()
        return ft

    def save(self, directory: Path | str) -> list[str]:
        """Write the index into ``directory`` (which may hold other files); returns the file
        names, for a manifest like :func:`vecdb.storage.checkpoint.write_checkpoint`'s.

        The inverted index is not written: :meth:`load` rebuilds it from the forward index
        (a sort; about 0.1 s per million postings), which halves the checkpoint.
        """
        d = Path(directory)
        n, nnz = self._n_slots, self._nnz
        arrays = {
            "fulltext-slot-label.npy": _narrow(self._slot_label[:n]),
            "fulltext-slot-len.npy": _narrow(self._slot_len[:n]),
            "fulltext-slot-alive.npy": self._alive[:n],
            "fulltext-fwd-ptr.npy": self._fwd_ptr[: n + 1],
            "fulltext-fwd-term.npy": _narrow(self._fwd_term[:nnz]),
            "fulltext-fwd-tf.npy": _narrow(self._fwd_tf[:nnz]),
        }
        for name, arr in arrays.items():
            np.save(d / name, arr, allow_pickle=False)
        (d / "fulltext-vocab.txt").write_text("\n".join(self._vocab), encoding="utf-8")
        sums = {name: _sha256(d / name) for name in FILES[1:]}
        meta = {
            "format": FORMAT_VERSION,
            "config": self.config.to_dict(),
            "slots": n,
            "postings": nnz,
            "terms": len(self._vocab),
            "documents": self._n_live,
            "sha256": sums,
        }
        (d / "fulltext.json").write_text(json.dumps(meta, sort_keys=True), encoding="utf-8")
        return list(FILES)

    @classmethod
    def load(cls, directory: Path | str, config: TextConfig | None = None) -> FullTextIndex:
        """Read what :meth:`save` wrote.

        Raises :class:`DamagedCheckpointError` when a file is missing, altered or
        inconsistent, or when ``config`` is given and differs from the saved one: rebuild
        from the documents then.
        """
        d = Path(directory)
        try:
            meta = json.loads((d / "fulltext.json").read_text(encoding="utf-8"))
            if meta.get("format") != FORMAT_VERSION:
                raise DamagedCheckpointError(
                    f"full-text checkpoint in {d} has format {meta.get('format')!r}, this vecdb "
                    f"reads {FORMAT_VERSION}; rebuild the index from the documents"
                )
            saved = TextConfig.from_dict(meta["config"])
            if config is not None and saved != config:
                raise DamagedCheckpointError(
                    f"full-text checkpoint in {d} was built with {saved}, not {config}; "
                    "rebuild the index from the documents"
                )
            for name, digest in meta["sha256"].items():
                if _sha256(d / name) != digest:
                    raise DamagedCheckpointError(
                        f"full-text checkpoint file {d / name} is damaged (checksum mismatch); "
                        "rebuild the index from the documents"
                    )
            arr = {name: np.load(d / name, allow_pickle=False) for name in FILES[2:]}
            words = (d / "fulltext-vocab.txt").read_text(encoding="utf-8")
        except DamagedCheckpointError:
            raise
        except (OSError, ValueError, KeyError, TypeError, InvalidArgumentError) as e:
            raise DamagedCheckpointError(
                f"full-text checkpoint in {d} is unreadable ({e}); rebuild the index from "
                "the documents"
            ) from e
        ft = cls(saved)
        vocab = words.split("\n") if words else []
        n, nnz, n_terms = int(meta["slots"]), int(meta["postings"]), int(meta["terms"])
        ptr, term = arr["fulltext-fwd-ptr.npy"], arr["fulltext-fwd-term.npy"]
        ok = (
            len(vocab) == n_terms == len(set(vocab))
            and all(len(arr[f]) == n for f in FILES[2:5])
            and len(ptr) == n + 1
            and len(term) == len(arr["fulltext-fwd-tf.npy"]) == nnz
            and (n == 0 or (ptr[0] == 0 and ptr[-1] == nnz and (np.diff(ptr) >= 0).all()))
            and (nnz == 0 or int(term.max()) < n_terms)
            and all(arr[f].dtype.kind in "iub" for f in FILES[2:])
        )
        if not ok:
            raise DamagedCheckpointError(
                f"full-text checkpoint in {d} is inconsistent; rebuild the index from the documents"
            )
        ft._vocab = {w: i for i, w in enumerate(vocab)}
        ft._n_slots, ft._nnz = n, nnz
        ft._slot_label = arr["fulltext-slot-label.npy"].astype(np.int64)
        ft._slot_len = arr["fulltext-slot-len.npy"].astype(np.int64)
        ft._alive = arr["fulltext-slot-alive.npy"].astype(bool)
        ft._fwd_ptr = ptr.astype(np.int64)
        ft._fwd_term = term.astype(np.int32)
        ft._fwd_tf = arr["fulltext-fwd-tf.npy"].astype(np.int32)
        live = np.flatnonzero(ft._alive)
        ft._n_live = len(live)
        ft._total_len = int(ft._slot_len[live].sum())
        ft._label_slot = np.full(max(int(ft._slot_label.max(initial=-1)) + 1, 1024), -1, np.int64)
        ft._label_slot[ft._slot_label[live]] = live
        ft._df = np.bincount(
            term[_ranges_index(ptr[live], ptr[live + 1])], minlength=n_terms
        ).astype(np.int64)
        ft._merge()
        return ft


def _narrow(a: np.ndarray) -> np.ndarray:
    """The array in the smallest unsigned integer type that holds it (for checkpoints)."""
    if len(a) == 0 or a.min() < 0:
        return a
    return a.astype(np.min_scalar_type(int(a.max())), copy=False)


def _ranges_index(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(starts[i], ends[i])`` for all i, vectorized."""
    lens = ends - starts
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.cumsum(lens) + lens, lens)
    return offsets + np.arange(total)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


# ---- fusion ---------------------------------------------------------------------------------


class Fused(NamedTuple):
    """A fused ranking: keys best first, the fused score, and each branch's score and rank
    (NaN / -1 where a key did not appear in that branch), in the order of ``branches``."""

    keys: np.ndarray
    scores: np.ndarray
    branch_scores: np.ndarray  # (n, n_branches)
    branch_ranks: np.ndarray  # (n, n_branches), 0-based, -1 when absent


def _collect(
    rankings: Sequence[tuple[Any, Any]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Union of keys over rankings; per-branch raw scores and ranks aligned to it."""
    keys_list = [np.asarray(k) for k, _ in rankings]
    for (_, s), keys in zip(rankings, keys_list):
        if len(keys) != len(np.asarray(s)):
            raise InvalidArgumentError("each ranking needs as many scores as keys")
        if len(np.unique(keys)) != len(keys):
            raise InvalidArgumentError("a ranking lists a key twice")
    nonempty = [k for k in keys_list if len(k)]
    allkeys = np.unique(np.concatenate(nonempty)) if nonempty else np.zeros(0, dtype=np.int64)
    nb = len(rankings)
    raw = np.full((len(allkeys), nb), np.nan)
    ranks = np.full((len(allkeys), nb), -1, dtype=np.int64)
    for j, ((_, s), keys) in enumerate(zip(rankings, keys_list)):
        if len(keys):
            pos = np.searchsorted(allkeys, keys)
            raw[pos, j] = np.asarray(s, dtype=np.float64)
            ranks[pos, j] = np.arange(len(keys))
    return allkeys, raw, ranks


def _order(keys: np.ndarray, fused: np.ndarray, limit: int | None) -> np.ndarray:
    order = np.lexsort((keys, -fused))
    return order if limit is None else order[:limit]


def rrf(rankings: Sequence[tuple[Any, Any]], k: int = 60, limit: int | None = None) -> Fused:
    """Reciprocal rank fusion: ``score(d) = sum over rankings of 1 / (k + rank(d))`` with
    1-based ranks. Each ranking is ``(keys, scores)`` best first (scores are only carried
    through, for display); ties are broken by ascending key.

    >>> f = rrf([([7, 3, 5], [0.1, 0.2, 0.3]), ([5, 9], [12.0, 8.0])], k=60)
    >>> f.keys.tolist(), [round(x, 4) for x in f.scores.tolist()]
    ([5, 7, 3, 9], [0.0323, 0.0164, 0.0161, 0.0161])
    >>> f.branch_ranks[0].tolist(), f.branch_scores[0].tolist()
    ([2, 0], [0.3, 12.0])
    """
    if isinstance(k, bool) or not isinstance(k, (int, float)) or k < 0:
        raise InvalidArgumentError(f"rrf k must be a number >= 0, got {k!r}")
    keys, raw, ranks = _collect(rankings)
    fused = np.where(ranks >= 0, 1.0 / (k + ranks + 1.0), 0.0).sum(axis=1)
    o = _order(keys, fused, limit)
    return Fused(keys[o], fused[o], raw[o], ranks[o])


def minmax(scores: Any, higher_is_better: bool = True) -> np.ndarray:
    """Scores mapped onto [0, 1], best = 1. All-equal scores map to 1 (each is the best).

    >>> minmax([2.0, 4.0, 3.0]).tolist(), minmax([0.1, 0.3], higher_is_better=False).tolist()
    ([0.0, 1.0, 0.5], [1.0, 0.0])
    """
    s = np.asarray(scores, dtype=np.float64)
    if len(s) == 0:
        return s
    lo, hi = s.min(), s.max()
    if not hi > lo:
        return np.ones_like(s)
    out = (s - lo) / (hi - lo)
    return out if higher_is_better else 1.0 - out


def weighted(
    vector: tuple[Any, Any],
    text: tuple[Any, Any],
    weights: tuple[float, float] = (0.5, 0.5),
    vector_is_distance: bool = True,
    limit: int | None = None,
) -> Fused:
    """Weighted sum of min-max normalised scores: ``wv * norm(v) + wt * norm(t)``.

    ``vector`` is ``(keys, distances)`` (or similarities with ``vector_is_distance=False``)
    and ``text`` is ``(keys, bm25 scores)``, each best first. Each branch is normalised over
    its own candidates (best -> 1, worst -> 0); a key missing from a branch gets 0 from it.
    Branch scores in the result are the raw ones (distance, BM25).

    >>> f = weighted(([1, 2], [0.1, 0.5]), ([2, 3], [9.0, 3.0]), weights=(0.7, 0.3))
    >>> f.keys.tolist(), [round(x, 2) for x in f.scores.tolist()]
    ([1, 2, 3], [0.7, 0.3, 0.0])
    """
    wv, wt = weights
    if not all(isinstance(w, (int, float)) and 0 <= w < math.inf for w in (wv, wt)):
        raise InvalidArgumentError(f"weights must be two finite numbers >= 0, got {weights!r}")
    keys, raw, ranks = _collect([vector, text])
    norm = np.zeros_like(raw)
    for j, better in ((0, not vector_is_distance), (1, True)):
        present = ranks[:, j] >= 0
        norm[present, j] = minmax(raw[present, j], higher_is_better=better)
    fused = wv * norm[:, 0] + wt * norm[:, 1]
    o = _order(keys, fused, limit)
    return Fused(keys[o], fused[o], raw[o], ranks[o])
