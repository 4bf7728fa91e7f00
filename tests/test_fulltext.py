"""The full-text index: BM25 equal to independent references, consistency under upsert/delete,
allow-lists, checkpoints, tokenisation, fusion."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import DATA_DIR
from vecdb import fulltext
from vecdb.errors import InvalidArgumentError
from vecdb.fulltext import (
    FILES,
    DamagedCheckpointError,
    FullTextIndex,
    TextConfig,
    Tokenizer,
    rrf,
    weighted,
)
from vecdb.index import VectorStore

NPM = DATA_DIR / "npm-text-20k"


# ---- an independent textbook BM25 ------------------------------------------------------------


class Textbook:
    """Lucene-style BM25 straight from the formula, in plain Python dicts and Counters."""

    def __init__(self, docs: dict[int, list[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.tf = {label: Counter(toks) for label, toks in docs.items()}
        self.dl = {label: len(toks) for label, toks in docs.items()}
        self.n = len(docs)
        self.avgdl = sum(self.dl.values()) / self.n if self.n else 0.0
        self.df: Counter[str] = Counter()
        self.having: dict[str, set[int]] = {}
        for label, tf in self.tf.items():
            self.df.update(tf.keys())
            for t in tf:
                self.having.setdefault(t, set()).add(label)

    def scores(self, query: list[str]) -> dict[int, float]:
        """label -> score, for every document with a positive score."""
        k1, b = self.k1, self.b
        out: dict[int, float] = {}
        for label in set().union(*(self.having.get(q, set()) for q in query)):
            tf, s = self.tf[label], 0.0
            for q in query:
                f = tf.get(q, 0)
                if f:
                    idf = math.log(1 + (self.n - self.df[q] + 0.5) / (self.df[q] + 0.5))
                    s += idf * f * (k1 + 1) / (f + k1 * (1 - b + b * self.dl[label] / self.avgdl))
            out[label] = s
        return out


def textbook_bm25(
    docs: dict[int, list[str]], query: list[str], k1: float = 1.2, b: float = 0.75
) -> dict[int, float]:
    return Textbook(docs, k1, b).scores(query)


def top_k(scores: dict[int, float], k: int) -> list[int]:
    return [lab for lab, _ in sorted(scores.items(), key=lambda x: (-x[1], x[0]))[:k]]


def assert_same_ranking(
    got: tuple[np.ndarray, np.ndarray], ref: dict[int, float], k: int, tol: float = 1e-9
) -> None:
    """Same scores for the labels returned, same count, and the same order up to exact ties
    (labels whose reference scores differ by less than ``tol`` may swap)."""
    labels, scores = got
    want = top_k(ref, k)
    assert len(labels) == len(want)
    for lab, s in zip(labels.tolist(), scores.tolist()):
        assert ref[lab] == pytest.approx(s, rel=tol, abs=tol)
    ref_scores = [ref[x] for x in want]
    np.testing.assert_allclose(scores, ref_scores, rtol=tol, atol=tol)
    if labels.tolist() != want:  # only near-ties may differ
        for a, b in zip(labels.tolist(), want):
            if a != b:
                assert abs(ref[a] - ref[b]) < tol


# ---- the real data set ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def npm() -> dict[str, list]:
    if not (NPM / "docs.parquet").exists():
        pytest.skip(f"data set npm-text-20k not found at {NPM} (see ../shared/data/README.md)")
    import pyarrow.parquet as pq

    docs = pq.read_table(NPM / "docs.parquet").column("text").to_pylist()
    known = pq.read_table(NPM / "known_item.parquet").column("query").to_pylist()
    derived = [
        t.split(": ", 1)[-1] for t in pq.read_table(NPM / "queries.parquet")["text"].to_pylist()
    ]
    return {"docs": docs, "queries": known[:150] + [str(q) for q in derived[:50]]}


@pytest.fixture(scope="module")
def npm_index(npm: dict[str, list]) -> FullTextIndex:
    return FullTextIndex.build([(np.arange(len(npm["docs"])), npm["docs"])])


def test_npm_scores_equal_textbook_formula(npm: dict[str, list], npm_index: FullTextIndex) -> None:
    tok = Tokenizer()
    ref = Textbook({i: tok.tokens(t) for i, t in enumerate(npm["docs"])})
    for q in npm["queries"][::2]:
        assert_same_ranking(npm_index.search(q, k=10), ref.scores(tok.tokens(q)), 10)


def test_npm_ranking_equals_rank_bm25(npm: dict[str, list], npm_index: FullTextIndex) -> None:
    """rank_bm25 computes tf and length normalisation itself; only its idf is swapped for the
    Lucene one (its BM25Okapi floors negative idf instead)."""
    rank_bm25 = pytest.importorskip("rank_bm25")
    tok = Tokenizer()
    corpus = [tok.tokens(t) for t in npm["docs"]]
    ref = rank_bm25.BM25Okapi(corpus, k1=1.2, b=0.75)
    n = len(corpus)
    df: Counter[str] = Counter()
    for toks in corpus:
        df.update(set(toks))
    for term in ref.idf:
        ref.idf[term] = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
    exact = 0
    queries = npm["queries"][::7]
    for q in queries:
        scores = ref.get_scores(tok.tokens(q))
        want = {i: s for i, s in enumerate(scores.tolist()) if s > 0}
        got = npm_index.search(q, k=10)
        assert_same_ranking(got, want, 10)
        exact += got[0].tolist() == top_k(want, 10)
    assert exact >= len(queries) - 2  # order differs only on float near-ties


def test_npm_filtered_returns_min_k_matching(
    npm: dict[str, list], npm_index: FullTextIndex
) -> None:
    rng = np.random.default_rng(3)
    tok = Tokenizer()
    n = len(npm["docs"])
    textbook = Textbook({i: tok.tokens(t) for i, t in enumerate(npm["docs"])})
    for q in npm["queries"][:20]:
        everywhere = textbook.scores(tok.tokens(q))
        for share in (0.5, 0.01, 0.001):
            allowed = np.flatnonzero(rng.random(n) < share)
            ref = set(everywhere) & set(allowed.tolist())  # allowed documents with a query token
            mask = np.zeros(n, dtype=bool)
            mask[allowed] = True
            by_mask = npm_index.search(q, k=10, allow=mask)
            by_labels = npm_index.search(q, k=10, allow=allowed)
            # stats stay those of the whole corpus: the filter restricts, it does not re-score
            assert len(by_mask[0]) == min(10, len(ref))
            assert by_mask[0].tolist() == by_labels[0].tolist()
            assert set(by_mask[0].tolist()) <= set(allowed.tolist())
            full = dict(zip(*npm_index.search(q, k=n)))
            best_allowed = sorted((full[i] for i in ref), reverse=True)[:10]
            np.testing.assert_allclose(by_mask[1], best_allowed, rtol=1e-12)


# ---- small hand-made corpora -------------------------------------------------------------------


def test_filter_before_ranking_not_after() -> None:
    ft = FullTextIndex()
    ft.upsert(np.arange(100), ["apple"] * 99 + ["apple pie"])
    labels, _ = ft.search("apple", k=3, allow=[99])
    assert labels.tolist() == [99]
    assert ft.search("apple", k=5, allow=np.zeros(10, dtype=bool))[0].tolist() == []
    # labels past the end of a mask are not allowed
    assert ft.search("apple", k=5, allow=np.ones(50, dtype=bool))[0].max() < 50


@pytest.mark.parametrize("query", ["apple", "apple pie"])
def test_merged_and_newer_postings_are_both_searched(query: str) -> None:
    ft = FullTextIndex()
    ft.upsert(np.arange(50), ["apple"] * 50)
    ft._merge()  # the first 50 are in the inverted index, the next ones are not
    ft.upsert([50, 51], ["apple", "pie"])
    assert ft.stats()["unmerged_postings"] == 2
    want = list(range(51)) if query == "apple" else [51, *range(51)]
    assert ft.search(query, k=100)[0].tolist() == want
    tok = Tokenizer()
    docs = {i: tok.tokens(t) for i, t in enumerate(["apple"] * 51 + ["pie"])}
    assert_same_ranking(ft.search(query, k=100), textbook_bm25(docs, query.split()), 100)


def test_only_documents_with_a_query_token_are_returned() -> None:
    ft = FullTextIndex()
    ft.upsert([1, 2, 3], ["alpha beta", "gamma", ""])
    assert ft.search("beta delta", k=10)[0].tolist() == [1]
    assert ft.search("unknown", k=10)[0].tolist() == []
    assert ft.search("", k=10)[0].tolist() == []
    assert len(ft) == 3  # the empty document counts in N and avgdl


def test_repeated_query_token_counts_twice() -> None:
    ft = FullTextIndex()
    ft.upsert([0, 1], ["red car", "blue car"])
    one = ft.search("red", k=1)[1][0]
    assert ft.search("red red", k=1)[1][0] == pytest.approx(2 * one)


def test_ties_broken_by_label() -> None:
    ft = FullTextIndex()
    ft.upsert([5, 2, 9, 7], ["x y", "x y", "x y", "z"])
    assert ft.search("x", k=2)[0].tolist() == [2, 5]


def test_upsert_replaces_and_none_removes() -> None:
    ft = FullTextIndex()
    ft.upsert([1, 2], ["old words", "kept"])
    ft.upsert([1, 2], ["new words", None])
    assert ft.search("old", k=5)[0].tolist() == []
    assert ft.search("new", k=5)[0].tolist() == [1]
    assert ft.contains([1, 2, 3]).tolist() == [True, False, False]
    assert len(ft) == 1


def test_last_text_of_a_repeated_label_wins() -> None:
    ft = FullTextIndex()
    ft.upsert([4, 4, 4], ["first", "second", "third"])
    assert len(ft) == 1 and ft.search("third", k=5)[0].tolist() == [4]
    assert ft.search("first", k=5)[0].tolist() == []


def test_bad_input_changes_nothing() -> None:
    ft = FullTextIndex()
    ft.upsert([1], ["kept"])
    with pytest.raises(InvalidArgumentError, match="one text per label"):
        ft.upsert([1, 2], ["a"])
    with pytest.raises(InvalidArgumentError, match="strings or None"):
        ft.upsert([1, 2], ["replaced", 3])  # type: ignore[list-item]
    with pytest.raises(InvalidArgumentError, match="non-negative"):
        ft.upsert([-1], ["x"])
    with pytest.raises(InvalidArgumentError, match="non-negative integers"):
        ft.upsert(["a"], ["x"])
    with pytest.raises(InvalidArgumentError, match="k must be"):
        ft.search("kept", k=0)
    with pytest.raises(InvalidArgumentError, match="string"):
        ft.search(["kept"], k=1)  # type: ignore[arg-type]
    assert ft.search("kept", k=5)[0].tolist() == [1] and len(ft) == 1


def test_config_validation() -> None:
    with pytest.raises(InvalidArgumentError, match="b must be"):
        TextConfig(b=1.5)
    with pytest.raises(InvalidArgumentError, match="k1 must be"):
        TextConfig(k1=-1)
    with pytest.raises(InvalidArgumentError, match="stop word list"):
        TextConfig(stopwords="klingon")
    with pytest.raises(InvalidArgumentError, match="unknown full-text options"):
        TextConfig.from_dict({"k2": 1})
    cfg = TextConfig(k1=1.5, b=0.5, stopwords=["b", "a"], strip_accents=True)
    assert TextConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_parameters_change_scores_as_the_formula_says() -> None:
    texts = ["a b c d e f", "a", "b b b a"]
    tok = Tokenizer()
    docs = {i: tok.tokens(t) for i, t in enumerate(texts)}
    for k1, b in [(1.2, 0.75), (1.5, 0.75), (0.0, 0.5), (2.0, 0.0), (1.2, 1.0)]:
        ft = FullTextIndex(TextConfig(k1=k1, b=b))
        ft.upsert([0, 1, 2], texts)
        for q in ["a", "b a", "f zz"]:
            assert_same_ranking(ft.search(q, k=3), textbook_bm25(docs, q.split(), k1, b), 3)


def test_matches_lists_every_document_with_a_query_token() -> None:
    ft = FullTextIndex()
    ft.upsert(np.arange(6), ["a b", "b", "c", "a", "", "d a"])
    assert ft.matches("a b").tolist() == [0, 1, 3, 5]
    assert ft.matches("a", allow=[0, 1, 2, 5]).tolist() == [0, 5]
    assert ft.matches("zzz").tolist() == []


def test_score_of_given_labels() -> None:
    ft = FullTextIndex()
    ft.upsert([0, 1, 2], ["apple pie", "apple", "pear"])
    labels, scores = ft.search("apple", k=3)
    got = ft.score("apple", [2, *labels.tolist(), 99])
    assert got[0] == 0.0 and got[-1] == 0.0
    np.testing.assert_allclose(got[1:-1], scores)


# ---- consistency under writes: property test vs a rebuild from scratch ----------------------

WORDS = ["apple", "banana", "cherry", "date", "elder", "fig", "grape", "kiwi"]
texts = st.lists(st.sampled_from(WORDS), min_size=0, max_size=6).map(" ".join)
ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("upsert"),
            st.lists(st.tuples(st.integers(0, 30), st.one_of(texts, st.none())), max_size=8),
        ),
        st.tuples(st.just("delete"), st.lists(st.integers(0, 35), max_size=6)),
        st.tuples(st.just("relabel"), st.just(None)),
    ),
    max_size=25,
)


@contextmanager
def eager_maintenance() -> Iterator[None]:
    """Merge and compact after almost every write and append in batches of 3 documents, so
    the property test exercises them."""
    knobs = (
        (fulltext.postings, "MERGE_MIN_POSTINGS", 4),
        (fulltext.postings, "COMPACT_MIN_DEAD", 2),
        (fulltext.index, "APPEND_BATCH", 3),
    )
    saved = [getattr(mod, n) for mod, n, _ in knobs]
    for mod, n, v in knobs:
        setattr(mod, n, v)
    try:
        yield
    finally:
        for (mod, n, _), v in zip(knobs, saved):
            setattr(mod, n, v)


@given(ops=ops, eager=st.booleans())
def test_writes_match_rebuild_from_scratch(ops: list, eager: bool) -> None:
    with eager_maintenance() if eager else _nothing():
        ft = FullTextIndex()
        truth: dict[int, str] = {}
        for op, arg in ops:
            if op == "upsert":
                ft.upsert([lab for lab, _ in arg], [t for _, t in arg])
                for lab, t in arg:
                    if t is None:
                        truth.pop(lab, None)
                    else:
                        truth[lab] = t
            elif op == "delete":
                n = ft.delete(arg)
                assert n == len(set(arg) & set(truth))
                for lab in arg:
                    truth.pop(lab, None)
            else:  # the vector store's compaction: live labels renumbered 0..n-1 in order
                live = sorted(truth)
                ft.relabel(live)
                truth = {i: truth[lab] for i, lab in enumerate(live)}
        rebuilt = FullTextIndex.build([(list(truth), list(truth.values()))])
        assert len(ft) == len(rebuilt) == len(truth)
        assert ft.live_labels().tolist() == sorted(truth)
        docs = {lab: t.split() for lab, t in truth.items()}
        for q in ["apple", "banana cherry", "fig fig kiwi", "date elder grape apple"]:
            got = ft.search(q, k=5)
            assert_same_ranking(got, textbook_bm25(docs, q.split()), 5)
            again = rebuilt.search(q, k=5)
            assert got[0].tolist() == again[0].tolist()
            np.testing.assert_allclose(got[1], again[1], rtol=1e-12)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def test_relabel_follows_vector_store_compaction() -> None:
    store = VectorStore(dim=2, id_type="int")
    ids = np.arange(100, 110)
    labels = store.upsert(ids, np.ones((10, 2), dtype=np.float32))
    ft = FullTextIndex()
    ft.upsert(labels, [f"doc number{i}" for i in ids.tolist()])
    ft.delete(store.remove(np.array([101, 105])))
    # what Collection.compact() does to the store
    live = store.live_labels()
    new = VectorStore(dim=2, id_type="int")
    new.upsert(store.ids[live], store.vectors[live])
    ft.relabel(live)
    for i in [100, 104, 109]:
        lab = ft.search(f"number{i}", k=1)[0]
        assert new.ids[lab].tolist() == [i]
    assert sorted(new.ids[ft.search("doc", k=20)[0]].tolist()) == sorted(
        set(range(100, 110)) - {101, 105}
    )


def test_compaction_drops_dead_slots_and_terms() -> None:
    ft = FullTextIndex()
    ft.upsert(np.arange(3000), [f"common unique{i}" for i in range(3000)])
    ft.delete(np.arange(2000))
    stats = ft.stats()
    assert stats["dead_slots"] == 0 and stats["documents"] == 1000
    assert stats["terms"] == 1001  # 'common' + the surviving unique words
    assert ft.search("unique2500", k=1)[0].tolist() == [2500]
    assert ft.search("unique5", k=1)[0].tolist() == []


# ---- checkpoints -----------------------------------------------------------------------------


def _sample_index(config: TextConfig | None = None) -> FullTextIndex:
    ft = FullTextIndex(config)
    ft.upsert(np.arange(200), [f"word{i % 17} shared text number {i}" for i in range(200)])
    ft.upsert([3, 4], ["replaced document", "Ünïcödé 東京 текст"])
    ft.delete([10, 11, 12])
    ft.upsert([300], ["added after the merge"])
    return ft


@pytest.mark.parametrize(
    "config", [None, TextConfig(k1=1.5, b=0.6, stopwords="english", strip_accents=True)]
)
def test_save_load_round_trip(tmp_path: Path, config: TextConfig | None) -> None:
    ft = _sample_index(config)
    files = ft.save(tmp_path)
    assert sorted(files) == sorted(FILES) and all((tmp_path / f).exists() for f in files)
    back = FullTextIndex.load(tmp_path, config=config or TextConfig())
    assert back.config == ft.config
    assert back.stats()["documents"] == ft.stats()["documents"]
    for q in ["word3 text", "replaced", "текст 東", "unicode", "added merge", "number 7"]:
        a, b = ft.search(q, k=20), back.search(q, k=20)
        assert a[0].tolist() == b[0].tolist()
        np.testing.assert_array_equal(a[1], b[1])
    back.upsert([5], ["still writable"])  # a loaded index keeps working
    assert back.search("writable", k=1)[0].tolist() == [5]


def test_save_load_empty(tmp_path: Path) -> None:
    FullTextIndex().save(tmp_path)
    back = FullTextIndex.load(tmp_path)
    assert len(back) == 0 and back.search("x", k=3)[0].tolist() == []


@pytest.mark.parametrize("name", FILES)
def test_damaged_file_is_detected(tmp_path: Path, name: str) -> None:
    _sample_index().save(tmp_path)
    p = tmp_path / name
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x5A
    p.write_bytes(bytes(data))
    with pytest.raises(DamagedCheckpointError, match="rebuild the index"):
        FullTextIndex.load(tmp_path)


@pytest.mark.parametrize("name", FILES)
def test_missing_or_truncated_file_is_detected(tmp_path: Path, name: str) -> None:
    _sample_index().save(tmp_path)
    p = tmp_path / name
    p.write_bytes(p.read_bytes()[:7])
    with pytest.raises(DamagedCheckpointError):
        FullTextIndex.load(tmp_path)
    p.unlink()
    with pytest.raises(DamagedCheckpointError) as info:
        FullTextIndex.load(tmp_path)
    assert isinstance(info.value, ValueError)  # loaders that rebuild on ValueError rebuild


def test_checkpoint_with_other_config_is_refused(tmp_path: Path) -> None:
    _sample_index(TextConfig(k1=1.5)).save(tmp_path)
    with pytest.raises(DamagedCheckpointError, match="built with"):
        FullTextIndex.load(tmp_path, config=TextConfig(k1=1.2))
    assert FullTextIndex.load(tmp_path).config.k1 == 1.5


# ---- tokenisation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        (
            "Hello, WORLD! snake_case kebab-case v1.2",
            ["hello", "world", "snake", "case", "kebab", "case", "v1", "2"],
        ),
        ("Café naïve Ærøskøbing", ["café", "naïve", "ærøskøbing"]),
        ("cafe\u0301", ["café"]),  # combining accent joins its letter (NFKC)
        ("Straße STRASSE", ["strasse", "strasse"]),  # case folding, not just lower()
        ("Москва — столица России", ["москва", "столица", "россии"]),
        ("中文分词", ["中", "文", "分", "词"]),
        ("東京タワーへ行く", ["東", "京", "タワー", "へ", "行", "く"]),
        ("한국어 텍스트", ["한국어", "텍스트"]),
        ("हिन्दी भाषा", ["हिन्दी", "भाषा"]),  # vowel signs and virama stay in the word
        ("العربية لغة", ["العربية", "لغة"]),
        ("ＦＵＬＬ　ｗｉｄｔｈ １２", ["full", "width", "12"]),
        ("Ω ≈ ∑ 😀", ["ω"]),
    ],
)
def test_unicode_tokens(text: str, tokens: list[str]) -> None:
    assert Tokenizer().tokens(text) == tokens


def test_accents_stopwords_and_stemming() -> None:
    assert Tokenizer(TextConfig(strip_accents=True)).tokens("Crème brûlée à Zürich") == [
        "creme",
        "brulee",
        "a",
        "zurich",
    ]
    # stripping touches Latin accents only: Devanagari vowel signs are letters' parts
    assert Tokenizer(TextConfig(strip_accents=True)).tokens("हिन्दी") == ["हिन्दी"]
    assert Tokenizer(TextConfig(stopwords="english")).tokens("The cat and THE hat") == [
        "cat",
        "hat",
    ]
    assert Tokenizer(TextConfig(stopwords=("cat",))).tokens("the cat") == ["the"]
    pytest.importorskip("Stemmer")
    stem = Tokenizer(TextConfig(stem="english"))
    assert stem.tokens("running runs runner") == ["run", "run", "runner"]
    assert Tokenizer(TextConfig(stem="russian")).tokens("книги книгой") == ["книг", "книг"]
    with pytest.raises(InvalidArgumentError, match="no Snowball stemmer"):
        TextConfig(stem="elvish")


def test_stemmed_index_matches_inflections() -> None:
    pytest.importorskip("Stemmer")
    ft = FullTextIndex(TextConfig(stem="english"))
    ft.upsert([0, 1], ["parsing json files", "a json parser"])
    assert ft.search("parsed", k=5)[0].tolist() == [0]


def test_unicode_search() -> None:
    ft = FullTextIndex()
    ft.upsert([0, 1, 2, 3], ["Привет мир", "東京タワー", "cafe\u0301 au lait", "hello world"])
    assert ft.search("МИР", k=5)[0].tolist() == [0]
    assert ft.search("京都", k=5)[0].tolist() == [1]  # shares the ideograph 京
    assert ft.search("café", k=5)[0].tolist() == [2]


# ---- fusion ---------------------------------------------------------------------------------


def test_rrf_matches_formula_and_keeps_branch_scores() -> None:
    vec = ([10, 20, 30], [0.1, 0.2, 0.3])  # distances, best first
    txt = ([30, 40], [7.0, 2.0])
    f = rrf([vec, txt], k=60)
    want = {10: 1 / 61, 20: 1 / 62, 30: 1 / 63 + 1 / 61, 40: 1 / 62}
    assert f.keys.tolist() == [30, 10, 20, 40]  # 20 and 40 tie: smaller key first
    np.testing.assert_allclose(f.scores, [want[x] for x in f.keys.tolist()])
    assert f.branch_scores[0].tolist() == [0.3, 7.0]
    assert f.branch_ranks.tolist() == [[2, 0], [0, -1], [1, -1], [-1, 1]]
    assert np.isnan(f.branch_scores[1, 1])
    assert rrf([vec, txt], limit=2).keys.tolist() == [30, 10]
    assert rrf([([], []), ([], [])]).keys.tolist() == []


def test_weighted_normalises_each_branch() -> None:
    vec = ([1, 2, 3], [0.2, 0.4, 1.0])  # distances
    txt = ([3, 4], [10.0, 5.0])
    f = weighted(vec, txt, weights=(0.5, 0.5))
    # vector: 1 -> 1.0, 2 -> 0.75, 3 -> 0.0; text: 3 -> 1.0, 4 -> 0.0
    got = dict(zip(f.keys.tolist(), f.scores.tolist()))
    assert got == pytest.approx({1: 0.5, 2: 0.375, 3: 0.5, 4: 0.0})
    assert f.keys.tolist() == [1, 3, 2, 4]
    only_text = weighted(vec, txt, weights=(0.0, 1.0))
    assert only_text.keys[0] == 3
    sims = weighted(([1, 2], [0.9, 0.1]), ([], []), vector_is_distance=False)
    assert sims.keys.tolist() == [1, 2]
    with pytest.raises(InvalidArgumentError, match="weights"):
        weighted(vec, txt, weights=(-1.0, 1.0))
    with pytest.raises(InvalidArgumentError, match="twice"):
        rrf([([1, 1], [0.1, 0.2])])


def test_docstring_examples() -> None:
    import doctest

    from vecdb.fulltext import fusion, index, persist, postings, tokenizer

    modules = (fulltext, fusion, index, persist, postings, tokenizer)
    results = [doctest.testmod(m) for m in modules]
    assert sum(r.failed for r in results) == 0
    assert sum(r.attempted for r in results) >= 20


def test_benchmark_helpers() -> None:
    from benchmarks.fulltext import reciprocal_rank, synthetic

    assert reciprocal_rank([5, 3, 9], {9, 4}) == pytest.approx(1 / 3)
    assert reciprocal_rank(list(range(20)), {15}) == 0.0  # beyond rank 10
    docs = synthetic(["alpha beta", "beta gamma delta", "beta"], 50, seed=1)
    words = {w for d in docs for w in d.split()}
    assert len(docs) == 50 and words <= {"alpha", "beta", "gamma", "delta"}
