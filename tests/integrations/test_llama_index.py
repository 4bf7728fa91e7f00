"""The LlamaIndex store: the same documents and embeddings through ``VectorStoreIndex`` with
vecdb (exact index) and with LlamaIndex's own ``SimpleVectorStore`` give the same top-k and
scores, with and without ``MetadataFilters``; ``delete_ref_doc``; a collection written by one
process is read back by another; the query modes; a ``vecdb serve`` subprocess."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("llama_index.core")

from llama_index.core import Document, StorageContext, VectorStoreIndex  # noqa: E402
from llama_index.core.base.embeddings.base import BaseEmbedding  # noqa: E402
from llama_index.core.schema import TextNode  # noqa: E402
from llama_index.core.vector_stores import SimpleVectorStore  # noqa: E402
from llama_index.core.vector_stores.types import (  # noqa: E402
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

from tests.integrations.conftest import Server, bag_of_words  # noqa: E402
from vecdb.errors import InvalidArgumentError  # noqa: E402
from vecdb.integrations.llama_index import VecdbVectorStore  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


class Words(BaseEmbedding):
    """A deterministic bag-of-words embedding (tests/integrations/conftest.py)."""

    def _get_query_embedding(self, query: str) -> list[float]:
        return bag_of_words([query])[0].tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return bag_of_words([text])[0].tolist()


TOPICS = ["vectors", "rows", "keywords", "server", "shards", "filters"]


def documents() -> list[Document]:
    out = []
    for i in range(24):
        t = TOPICS[i % len(TOPICS)]
        text = f"document {i} about {t}. " + " ".join(TOPICS[(i * 7 + j) % 6] for j in range(i % 5))
        out.append(
            Document(
                text=text,
                id_=f"doc{i}",
                metadata={"topic": t, "year": 2015 + i % 10, "tags": [t, "all"]},
            )
        )
    return out


def build(store: Any) -> VectorStoreIndex:
    ctx = StorageContext.from_defaults(vector_store=store)
    return VectorStoreIndex.from_documents(documents(), storage_context=ctx, embed_model=Words())


def ranked(index: VectorStoreIndex, query: str, k: int, filters: Any = None) -> list[Any]:
    got = index.as_retriever(similarity_top_k=k, filters=filters).retrieve(query)
    return [(n.node.ref_doc_id, n.node.get_content(), n.node.metadata, n.score) for n in got]


def assert_same_ranking(a: list[Any], b: list[Any]) -> None:
    """Same scores in the same order, and the same nodes, except that nodes tied on a score
    (this embedding has ties) may come in either order, and a tie at the k-th place may be
    broken differently."""
    assert [x[3] for x in a] == pytest.approx([x[3] for x in b], abs=1e-5)
    if not a:
        return
    last = b[-1][3]
    inside = lambda r: sorted((x[:3] for x in r if x[3] > last + 1e-5), key=str)  # noqa: E731
    assert inside(a) == inside(b)
    tied = lambda r: [x for x in r if x[3] <= last + 1e-5]  # noqa: E731
    assert len(tied(a)) == len(tied(b))


FILTERS = [
    None,
    MetadataFilters(filters=[MetadataFilter(key="topic", value="rows")]),
    MetadataFilters(
        filters=[
            MetadataFilter(key="year", value=2019, operator=FilterOperator.GTE),
            MetadataFilter(key="topic", value=["keywords", "server"], operator=FilterOperator.IN),
        ],
        condition=FilterCondition.AND,
    ),
    MetadataFilters(
        filters=[
            MetadataFilter(key="year", value=2016, operator=FilterOperator.LT),
            MetadataFilter(key="topic", value="shards", operator=FilterOperator.EQ),
        ],
        condition=FilterCondition.OR,
    ),
]


@pytest.mark.parametrize("filters", FILTERS, ids=["none", "eq", "and", "or"])
def test_same_top_k_and_scores_as_simple_vector_store(filters: Any) -> None:
    ours = build(VecdbVectorStore(index="exact"))
    theirs = build(SimpleVectorStore())
    for query in ("rows and keywords", "server shards", "document 7"):
        a, b = ranked(ours, query, 5, filters), ranked(theirs, query, 5, filters)
        assert_same_ranking(a, b)
        assert a  # each query matches something


def test_delete_ref_doc_and_nodes() -> None:
    store = VecdbVectorStore(index="exact")
    index = build(store)
    before = store.collection.count()
    assert {r[0] for r in ranked(index, "document 3 about server", 24)} >= {"doc3"}
    index.delete_ref_doc("doc3", delete_from_docstore=True)
    assert "doc3" not in {r[0] for r in ranked(index, "document 3 about server", 24)}
    assert store.collection.count() == before - 1
    # delete_nodes by filter, get_nodes by id and by filter
    rows_filter = MetadataFilters(filters=[MetadataFilter(key="topic", value="rows")])
    rows = store.get_nodes(filters=rows_filter)
    assert rows and all(n.metadata["topic"] == "rows" for n in rows)
    by_id = store.get_nodes(node_ids=[rows[0].node_id])
    assert [n.node_id for n in by_id] == [rows[0].node_id]
    assert by_id[0].embedding == pytest.approx(rows[0].embedding)
    store.delete_nodes(filters=rows_filter)
    assert store.get_nodes(filters=rows_filter) == []
    store.clear()
    assert store.get_nodes() == []
    with pytest.raises(InvalidArgumentError, match="node_ids= or filters="):
        store.delete_nodes()


def test_query_options_doc_ids_node_ids_mmr_text_and_hybrid() -> None:
    store = VecdbVectorStore(index="exact", fulltext=True)
    build(store)
    q = bag_of_words(["keywords"])[0].tolist()
    res = store.query(
        VectorStoreQuery(query_embedding=q, similarity_top_k=30, doc_ids=["doc2", "doc8"])
    )
    assert {n.ref_doc_id for n in res.nodes} == {"doc2", "doc8"}
    res = store.query(
        VectorStoreQuery(query_embedding=q, similarity_top_k=30, node_ids=res.ids[:1])
    )
    assert len(res.ids) == 1
    mmr = store.query(
        VectorStoreQuery(
            query_embedding=q, similarity_top_k=3, mode=VectorStoreQueryMode.MMR, mmr_threshold=0.3
        )
    )
    assert len(mmr.ids) == 3 and len(set(mmr.ids)) == 3
    text = store.query(
        VectorStoreQuery(
            query_str="shards", similarity_top_k=4, mode=VectorStoreQueryMode.TEXT_SEARCH
        )
    )
    assert text.nodes and all("shards" in n.get_content() for n in text.nodes)
    hybrid = store.query(
        VectorStoreQuery(
            query_str="shards",
            query_embedding=bag_of_words(["shards"])[0].tolist(),
            similarity_top_k=4,
            mode=VectorStoreQueryMode.HYBRID,
        )
    )
    assert len(hybrid.ids) == 4 and hybrid.similarities == sorted(hybrid.similarities, reverse=True)
    plain = VecdbVectorStore(index="exact")
    build(plain)
    with pytest.raises(InvalidArgumentError, match="fulltext=True"):
        plain.query(VectorStoreQuery(query_str="x", mode=VectorStoreQueryMode.HYBRID))


def test_async_methods() -> None:
    store = VecdbVectorStore(index="exact")
    nodes = [
        TextNode(id_=f"n{i}", text=f"t {i}", embedding=[1.0, float(i)], metadata={"i": i})
        for i in range(5)
    ]

    async def run() -> Any:
        await store.async_add(nodes)
        res = await store.aquery(VectorStoreQuery(query_embedding=[1.0, 4.0], similarity_top_k=2))
        await store.adelete_nodes(node_ids=["n4"])
        left = await store.aget_nodes()
        await store.aclear()
        return res, left, await store.aget_nodes()

    res, left, empty = asyncio.run(run())
    assert res.ids == ["n4", "n3"]
    assert sorted(n.node_id for n in left) == ["n0", "n1", "n2", "n3"]
    assert empty == []


READER = textwrap.dedent(
    """
    import json, sys
    from llama_index.core.vector_stores.types import VectorStoreQuery
    from vecdb.integrations.llama_index import VecdbVectorStore
    store = VecdbVectorStore(db=sys.argv[1], collection="kb")
    nodes = store.get_nodes()
    res = store.query(VectorStoreQuery(query_embedding=json.loads(sys.argv[2]), similarity_top_k=3))
    print(json.dumps({"nodes": sorted([n.node_id, n.ref_doc_id, n.get_content(), n.metadata]
                                      for n in nodes),
                      "ids": res.ids, "sims": res.similarities}))
    store.close()
    """
)


@pytest.mark.slow
def test_reopened_by_another_process(tmp_path: Path) -> None:
    path = str(tmp_path / "db")
    store = VecdbVectorStore(db=path, collection="kb", index="exact")
    build(store)
    nodes = sorted(
        [n.node_id, n.ref_doc_id, n.get_content(), n.metadata] for n in store.get_nodes()
    )
    q = bag_of_words(["server filters"])[0].tolist()
    res = store.query(VectorStoreQuery(query_embedding=q, similarity_top_k=3))
    store.close()  # frees the directory for the other process
    out = subprocess.run(
        [sys.executable, "-c", READER, path, json.dumps(q)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["nodes"] == nodes and len(nodes) == 24
    assert seen["ids"] == res.ids
    assert seen["sims"] == pytest.approx(res.similarities)


def test_against_a_server(vecdb_server: Server) -> None:
    store = VecdbVectorStore(db=vecdb_server.grpc, collection="li_remote", index="exact")
    try:
        ours = build(store)
        theirs = build(SimpleVectorStore())
        for flt in FILTERS:
            a, b = (
                ranked(ours, "rows and keywords", 4, flt),
                ranked(theirs, "rows and keywords", 4, flt),
            )
            assert_same_ranking(a, b)
        ours.delete_ref_doc("doc1")
        assert "doc1" not in {r[0] for r in ranked(ours, "document 1", 24)}
    finally:
        store.clear()
        store.close()
