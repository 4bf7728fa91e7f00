"""Filter translation: random LangChain-style dicts and LlamaIndex ``MetadataFilters`` select
exactly the rows the same filter selects when evaluated in Python (typed comparisons)."""

from __future__ import annotations

import itertools
import operator
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import vecdb
from vecdb.errors import InvalidArgumentError
from vecdb.integrations._filters import translate_dict

pytest.importorskip("langchain_core")
pytest.importorskip("llama_index.core")

from langchain_core.embeddings import Embeddings  # noqa: E402
from llama_index.core.vector_stores.types import (  # noqa: E402
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
)

from tests.integrations.conftest import bag_of_words  # noqa: E402
from vecdb.integrations.langchain import VecdbVectorStore as LCStore  # noqa: E402
from vecdb.integrations.llama_index import VecdbVectorStore as LIStore  # noqa: E402

KEYS = ["a", "b", "year", "s"]
TEXT = st.text(alphabet="abAB_%é z", max_size=4)
SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([-1.5, 0.0, 0.5, 2.0, 2.5]),
    TEXT,
)
VALUE = st.one_of(SCALAR, st.lists(st.one_of(st.integers(-3, 3), TEXT, st.booleans()), max_size=3))
# "year" and "s" are also typed columns in some stores: only int / str there
META = st.fixed_dictionaries(
    {},
    optional={
        "a": VALUE,
        "b": VALUE,
        "year": st.one_of(st.none(), st.integers(2018, 2024)),
        "s": st.one_of(st.none(), TEXT),
    },
)


class Words(Embeddings):
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return bag_of_words(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return bag_of_words([text])[0].tolist()


# ---- the Python oracle -------------------------------------------------------------------
def kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "num"
    if isinstance(v, str):
        return "str"
    return "other"


def eq(m: dict[str, Any], k: str, v: Any) -> bool:
    if v is None:
        return m.get(k) is None
    x = m.get(k)
    return kind(x) == kind(v) and x == v


def like(s: str, pattern: str) -> bool:
    rx = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, s, re.DOTALL) is not None


def in_list(m: dict[str, Any], k: str, v: Any) -> bool:
    x = m.get(k)
    return isinstance(x, list) and any(kind(e) == kind(v) and e == v for e in x)


ORDER = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}


def field(m: dict[str, Any], k: str, op: str, v: Any) -> bool:
    x = m.get(k)
    if op == "$eq":
        return eq(m, k, v)
    if op == "$ne":
        return not eq(m, k, v)
    if op in ORDER:
        return kind(x) == kind(v) and ORDER[op](x, v)
    if op == "$in":
        return any(eq(m, k, e) for e in v)
    if op == "$nin":
        return not any(eq(m, k, e) for e in v)
    if op == "$like":
        return isinstance(x, str) and like(x, v)
    if op == "$ilike":
        return isinstance(x, str) and like(x.lower(), v.lower())
    if op == "$exists":
        return (x is not None) == v
    if op == "$contains":
        return in_list(m, k, v)
    if op == "$any":
        return any(in_list(m, k, e) for e in v)
    if op == "$all":
        return all(in_list(m, k, e) for e in v)
    if op == "$text_match":
        return isinstance(x, str) and v in x
    if op == "$text_match_insensitive":
        return isinstance(x, str) and v.lower() in x.lower()
    if op == "$is_empty":
        return x is None or x == []
    raise AssertionError(op)


def evaluate(flt: dict[str, Any], m: dict[str, Any]) -> bool:
    out = True
    for k, c in flt.items():
        if k == "$and":
            out &= all(evaluate(f, m) for f in c)
        elif k == "$or":
            out &= any(evaluate(f, m) for f in c)
        elif k == "$not":
            out &= not evaluate(c, m)
        elif isinstance(c, dict):
            out &= all(field(m, k, op, v) for op, v in c.items())
        else:
            out &= eq(m, k, c)
    return out


# ---- random filters ----------------------------------------------------------------------
def leaf() -> st.SearchStrategy[dict[str, Any]]:
    key = st.sampled_from(KEYS)
    ordered = st.one_of(st.integers(-3, 3), st.sampled_from([0.5, 2.0, 2020, 2021.5]), TEXT)
    elem = st.one_of(st.integers(-3, 3), TEXT, st.booleans())
    op_value = st.one_of(
        st.tuples(st.sampled_from(["$eq", "$ne"]), SCALAR),
        st.tuples(st.sampled_from(sorted(ORDER)), ordered),
        st.tuples(st.sampled_from(["$in", "$nin"]), st.lists(SCALAR, max_size=3)),
        st.tuples(st.sampled_from(["$like", "$ilike"]), TEXT),
        st.tuples(st.just("$exists"), st.booleans()),
        st.tuples(st.just("$contains"), elem),
        st.tuples(st.sampled_from(["$any", "$all"]), st.lists(elem, max_size=2)),
        st.tuples(st.sampled_from(["$text_match", "$text_match_insensitive"]), TEXT),
        st.tuples(st.just("$is_empty"), st.just(True)),
    )
    plain = st.builds(lambda k, v: {k: v}, key, SCALAR)
    op = st.builds(lambda k, ov: {k: {ov[0]: ov[1]}}, key, op_value)
    return st.one_of(plain, op)


FILTERS = st.recursive(
    leaf(),
    lambda sub: st.one_of(
        st.builds(lambda fs: {"$and": fs}, st.lists(sub, max_size=3)),
        st.builds(lambda fs: {"$or": fs}, st.lists(sub, max_size=3)),
        st.builds(lambda f: {"$not": f}, sub),
        st.builds(lambda a, b: {**a, **b}, sub, sub),
    ),
    max_leaves=6,
)


_SHARED: dict[str, Any] = {}
_names = itertools.count()


def shared_db() -> Any:
    """One in-memory database for the property tests' many small collections."""
    if "db" not in _SHARED:
        _SHARED["db"] = vecdb.connect()
    return _SHARED["db"]


def lc_store(typed: bool, metas: list[dict[str, Any]], db: Any = None) -> LCStore:
    cols = {"year": "INTEGER", "s": "VARCHAR"} if typed else None
    name = f"langchain_{next(_names)}" if db is not None else "langchain"
    store = LCStore(Words(), db=db, collection=name, index="exact", metadata_columns=cols)
    store.add_texts(
        [f"doc {i}" for i in range(len(metas))], metas, ids=[str(i) for i in range(len(metas))]
    )
    return store


def selected(store: LCStore, flt: Any, n: int) -> set[str]:
    docs = store.similarity_search_by_vector(bag_of_words(["doc"])[0].tolist(), k=n, filter=flt)
    return {d.id for d in docs}


@given(metas=st.lists(META, min_size=1, max_size=10), flt=FILTERS, typed=st.booleans())
def test_dict_filters_select_what_python_selects(
    metas: list[dict[str, Any]], flt: dict[str, Any], typed: bool
) -> None:
    store = lc_store(typed, metas, shared_db())
    want = {str(i) for i, m in enumerate(metas) if evaluate(flt, m)}
    try:
        assert selected(store, flt, len(metas)) == want, translate_dict(flt)
    finally:
        store.db.drop_collection(store.collection_name)


# ---- LlamaIndex MetadataFilters ----------------------------------------------------------
LLAMA_OPS = {
    FilterOperator.EQ: "$eq",
    FilterOperator.NE: "$ne",
    FilterOperator.GT: "$gt",
    FilterOperator.GTE: "$gte",
    FilterOperator.LT: "$lt",
    FilterOperator.LTE: "$lte",
    FilterOperator.IN: "$in",
    FilterOperator.NIN: "$nin",
    FilterOperator.ANY: "$any",
    FilterOperator.ALL: "$all",
    FilterOperator.CONTAINS: "$contains",
    FilterOperator.TEXT_MATCH: "$text_match",
    FilterOperator.TEXT_MATCH_INSENSITIVE: "$text_match_insensitive",
    FilterOperator.IS_EMPTY: "$is_empty",
}


def test_every_llama_operator_is_translated() -> None:
    assert set(LLAMA_OPS) == set(FilterOperator)


LSCALAR = st.one_of(st.integers(-3, 3), st.sampled_from([0.5, 2.0, 2020]), TEXT)


def llama_filter() -> st.SearchStrategy[MetadataFilter]:
    key = st.sampled_from(KEYS)
    scalar_ops = st.sampled_from(
        [
            FilterOperator.EQ,
            FilterOperator.NE,
            FilterOperator.GT,
            FilterOperator.GTE,
            FilterOperator.LT,
            FilterOperator.LTE,
            FilterOperator.CONTAINS,
        ]
    )
    list_ops = st.sampled_from(
        [FilterOperator.IN, FilterOperator.NIN, FilterOperator.ANY, FilterOperator.ALL]
    )
    text_ops = st.sampled_from([FilterOperator.TEXT_MATCH, FilterOperator.TEXT_MATCH_INSENSITIVE])
    lists = st.one_of(
        st.lists(st.integers(-3, 3), min_size=1, max_size=3), st.lists(TEXT, min_size=1, max_size=3)
    )
    return st.one_of(
        st.builds(
            lambda k, o, v: MetadataFilter(key=k, operator=o, value=v), key, scalar_ops, LSCALAR
        ),
        st.builds(lambda k, o, v: MetadataFilter(key=k, operator=o, value=v), key, list_ops, lists),
        st.builds(lambda k, o, v: MetadataFilter(key=k, operator=o, value=v), key, text_ops, TEXT),
        st.builds(
            lambda k: MetadataFilter(key=k, operator=FilterOperator.IS_EMPTY, value=None), key
        ),
    )


CONDITIONS = st.sampled_from([FilterCondition.AND, FilterCondition.OR])
LLAMA_FILTERS = st.recursive(
    st.builds(
        lambda fs, c: MetadataFilters(filters=fs, condition=c),
        st.lists(llama_filter(), min_size=1, max_size=3),
        CONDITIONS,
    ),
    lambda sub: st.builds(
        lambda fs, c: MetadataFilters(filters=fs, condition=c),
        st.lists(st.one_of(sub, llama_filter()), min_size=1, max_size=3),
        CONDITIONS,
    ),
    max_leaves=4,
)


def llama_evaluate(f: Any, m: dict[str, Any]) -> bool:
    if isinstance(f, MetadataFilters):
        parts = [llama_evaluate(g, m) for g in f.filters]
        return any(parts) if f.condition == FilterCondition.OR else all(parts)
    return field(m, f.key, LLAMA_OPS[f.operator], f.value)


@given(metas=st.lists(META, min_size=1, max_size=10), flt=LLAMA_FILTERS)
def test_metadata_filters_select_what_python_selects(
    metas: list[dict[str, Any]], flt: MetadataFilters
) -> None:
    from llama_index.core.schema import TextNode

    store = LIStore(db=shared_db(), collection=f"llama_{next(_names)}", index="exact")
    nodes = [
        TextNode(
            id_=str(i), text=f"doc {i}", metadata=m, embedding=bag_of_words([f"d {i}"])[0].tolist()
        )
        for i, m in enumerate(metas)
    ]
    store.add(nodes)
    q = VectorStoreQuery(
        query_embedding=bag_of_words(["d"])[0].tolist(), similarity_top_k=len(metas), filters=flt
    )
    try:
        got = set(store.query(q).ids)
        assert got == {str(i) for i, m in enumerate(metas) if llama_evaluate(flt, m)}
    finally:
        store.clear()


# ---- safety and errors -------------------------------------------------------------------
def test_values_and_keys_are_parameters_never_sql_text() -> None:
    evil = "x'); DROP TABLE langchain; --"
    w = translate_dict({evil: evil, "n": {"$in": [evil, 1]}})
    assert evil not in w.sql and "DROP" not in w.sql
    assert evil in w.params.values()
    store = lc_store(False, [{"x": 1}, {evil: evil}])
    assert selected(store, {"x": {"$exists": True}}, 2) == {"0"}
    with pytest.raises(InvalidArgumentError, match="quote"):
        selected(store, {'a"b': 1}, 2)
    assert selected(store, {evil: evil}, 2) == {"1"}  # any other key is a bound JSON path
    store.close()


def test_typed_column_filters_use_the_column() -> None:
    store = lc_store(True, [{"year": 2020, "s": "a"}, {"year": 2024}])
    w = translate_dict({"year": {"$gt": 2021}}, {"year": "INTEGER"})
    assert '"year" >' in w.sql and "json" not in w.sql
    assert selected(store, {"year": {"$gt": 2021}}, 2) == {"1"}
    assert selected(store, {"year": "2020"}, 2) == set()  # a string never equals an integer
    sql = store.db.sql('SELECT id FROM langchain WHERE "year" = 2020').fetchall()
    assert sql == [("0",)]
    store.close()


@pytest.mark.parametrize(
    "flt, match",
    [
        ({"$foo": 1}, "unknown filter operator"),
        ({"a": {"$regex": "x"}}, "unknown filter operator"),
        ({"a": {"$gt": True}}, "order comparisons"),
        ({"a": {"$in": "abc"}}, "list of values"),
        ({"a": {"$eq": [1, 2]}}, "string, number, boolean or None"),
        ({"a": {"$gt": float("nan")}}, "NaN"),
        ({"$and": {"a": 1}}, "list of filters"),
    ],
)
def test_bad_filters_are_clear_errors(flt: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        translate_dict(flt)


def test_where_string_passes_through_vecdb_checks() -> None:
    store = lc_store(True, [{"year": 2020}, {"year": 2024}])
    assert {d.id for d in store.similarity_search("doc", k=5, filter='"year" >= 2021')} == {"1"}
    with pytest.raises(vecdb.SQLError):
        store.similarity_search("doc", k=5, filter="1=1) UNION SELECT id FROM x WHERE (1=1")
    store.close()
