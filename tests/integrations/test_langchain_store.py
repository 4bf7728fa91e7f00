"""The LangChain store beyond the standard suite: typed metadata round-trips, dict and SQL
filters, retrievers (threshold, MMR, hybrid), deleting by filter, reopening a directory, and
async calls that leave the event loop free."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("langchain_core")

from langchain_core.documents import Document  # noqa: E402
from langchain_core.embeddings import Embeddings  # noqa: E402

import vecdb  # noqa: E402
from tests.integrations.conftest import Server, bag_of_words  # noqa: E402
from vecdb.errors import InvalidArgumentError  # noqa: E402
from vecdb.integrations.langchain import VecdbVectorStore  # noqa: E402


class Words(Embeddings):
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return bag_of_words(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return bag_of_words([text])[0].tolist()


TEXTS = [
    "DuckDB stores the rows",
    "HNSW finds nearest vectors",
    "BM25 ranks documents by keywords",
    "hybrid search fuses both rankings",
    "the planner keeps filtered search exact",
]
METAS: list[dict[str, Any]] = [
    {"year": 2021, "source": "a", "score": 0.5, "ok": True, "tags": ["db"], "nested": {"x": [1]}},
    {"year": 2022, "source": "b", "score": 1.5, "ok": False, "tags": ["ann", "db"]},
    {"year": 2023, "source": "a", "score": 2.0, "ok": True, "tags": [], "none": None},
    {"year": 2024, "source": "b", "score": -1.0, "ok": False},
    {},
]
IDS = ["r", "v", "k", "h", "p"]


def store_with_texts(**kw: Any) -> VecdbVectorStore:
    store = VecdbVectorStore(Words(), **{"index": "exact", **kw})
    assert store.add_texts(TEXTS, METAS, ids=IDS) == IDS
    return store


def test_metadata_round_trips_with_types() -> None:
    store = store_with_texts(metadata_columns={"year": "INTEGER"})
    got = {d.id: d.metadata for d in store.get_by_ids(IDS)}
    assert got == dict(zip(IDS, METAS))
    assert type(got["r"]["score"]) is float and type(got["r"]["ok"]) is bool
    # the typed copy is plain SQL
    rows = store.db.sql("SELECT id FROM langchain WHERE year >= 2023 ORDER BY id").fetchall()
    assert rows == [("h",), ("k",)]
    with pytest.raises(InvalidArgumentError, match="JSON-serialisable"):
        store.add_texts(["x"], [{"when": object()}])


def test_filters_dict_and_sql() -> None:
    store = store_with_texts()
    ids = lambda flt: {d.id for d in store.similarity_search("rows", k=10, filter=flt)}  # noqa: E731
    assert ids({"year": {"$gt": 2021}, "source": "a"}) == {"k"}
    assert ids({"$or": [{"ok": True}, {"score": {"$lt": 0}}]}) == {"r", "k", "h"}
    assert ids({"tags": {"$contains": "db"}}) == {"r", "v"}
    assert ids({"source": {"$nin": ["a"]}}) == {"v", "h", "p"}
    assert ids({"none": {"$exists": False}}) == set(IDS)
    assert ids("document LIKE '%search%'") == {"h", "p"}
    store.delete(filter={"source": "b"})
    assert sorted(d.id for d in store.similarity_search("rows", k=10)) == ["k", "p", "r"]
    with pytest.raises(InvalidArgumentError, match="ids= or filter="):
        store.delete()


def test_scores_and_retrievers() -> None:
    store = store_with_texts()
    (doc, dist), *_ = store.similarity_search_with_score("DuckDB stores the rows", k=2)
    assert doc.id == "r" and dist == pytest.approx(0.0, abs=1e-6)
    rel = store.similarity_search_with_relevance_scores("DuckDB stores the rows", k=5)
    assert rel[0][1] == pytest.approx(1.0) and all(0 <= s <= 1 for _, s in rel)
    thr = store.as_retriever(
        search_type="similarity_score_threshold", search_kwargs={"score_threshold": 0.9, "k": 5}
    )
    assert [d.id for d in thr.invoke("DuckDB stores the rows")] == ["r"]
    mmr = store.as_retriever(search_type="mmr", search_kwargs={"k": 3, "fetch_k": 5})
    got = mmr.invoke("search")
    assert len({d.id for d in got}) == 3
    by_vec = store.similarity_search_by_vector(bag_of_words(["vectors"])[0].tolist(), k=1)
    assert by_vec[0].id == "v"


def test_hybrid_search_needs_fulltext() -> None:
    store = store_with_texts(fulltext=True)
    hybrid = store.as_retriever(search_type="hybrid", search_kwargs={"k": 2})
    got = hybrid.invoke("keywords rankings")
    assert {d.id for d in got} == {"k", "h"}
    assert store.search("keywords", search_type="hybrid", k=1)[0].id == "k"
    filtered = store.hybrid_search("keywords", k=5, filter={"year": {"$gte": 2024}})
    assert [d.id for d in filtered] == ["h"]
    plain = store_with_texts()
    with pytest.raises(InvalidArgumentError, match="fulltext=True"):
        plain.hybrid_search("keywords")


def test_from_texts_reopen_and_open_database(tmp_path: Path) -> None:
    path = str(tmp_path / "db")
    store = VecdbVectorStore.from_texts(TEXTS, Words(), METAS, ids=IDS, db=path, index="exact")
    store.close()
    again = VecdbVectorStore(Words(), db=path)
    assert again.get_by_ids(["k"])[0].metadata == METAS[2]
    again.close()
    with vecdb.connect(path) as db:
        shared = VecdbVectorStore(Words(), db=db)
        assert shared.db is db and shared.collection_name == "langchain"
        assert len(shared.similarity_search("rows", k=10)) == 5
    with pytest.raises(InvalidArgumentError, match="db must be"):
        VecdbVectorStore(Words(), db=42)


def test_a_foreign_collection_is_refused() -> None:
    db = vecdb.connect()
    db.create_collection("langchain", dim=4)
    with pytest.raises(InvalidArgumentError, match="not made by a vecdb store"):
        VecdbVectorStore(Words(), db=db)


def test_async_calls_leave_the_event_loop_free() -> None:
    n = 20_000
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(n, 16)).astype(np.float32).tolist()

    class Fixed(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return vecs[: len(texts)]

        def embed_query(self, text: str) -> list[float]:
            return vecs[0]

    store = VecdbVectorStore(Fixed(), index="exact")

    async def run() -> tuple[list[float], float, float]:
        ticks: list[float] = []

        async def ticker() -> None:
            while True:
                ticks.append(time.perf_counter())
                await asyncio.sleep(0.005)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0.02)
        t0 = time.perf_counter()
        await store.aadd_texts([f"t{i}" for i in range(n)], [{"i": i} for i in range(n)])
        docs = await store.asimilarity_search("q", k=3, filter={"i": {"$lt": 10}})
        t1 = time.perf_counter()
        assert len(docs) == 3
        task.cancel()
        return ticks, t0, t1

    ticks, t0, t1 = asyncio.run(run())
    inside = [t for t in ticks if t0 < t < t1]
    # the write and search ran in a worker thread: the loop kept ticking meanwhile
    assert t1 - t0 > 0.05 and len(inside) >= 3, (t1 - t0, len(inside))


def test_remote_store_filters_and_hybrid(vecdb_server: Server) -> None:
    store = VecdbVectorStore(
        Words(),
        db=vecdb_server.grpc,
        collection="lc_remote",
        index="exact",
        fulltext=True,
        metadata_columns={"year": "INTEGER"},
    )
    try:
        store.add_texts(TEXTS, METAS, ids=IDS)
        assert {d.id: d.metadata for d in store.get_by_ids(IDS)} == dict(zip(IDS, METAS))
        ids = {
            d.id
            for d in store.similarity_search(
                "rows", k=10, filter={"year": {"$gt": 2021}, "source": "a"}
            )
        }
        assert ids == {"k"}
        assert store.hybrid_search("keywords", k=1)[0].id == "k"
        local = store_with_texts()
        for q in ("rows", "search keywords"):
            remote_ids = [d.id for d in store.max_marginal_relevance_search(q, k=3)]
            assert remote_ids == [d.id for d in local.max_marginal_relevance_search(q, k=3)]
    finally:
        store.db.drop_collection("lc_remote", missing_ok=True)
        store.close()


def test_documents_keep_their_ids() -> None:
    store = VecdbVectorStore(Words(), index="exact")
    ids = store.add_documents([Document("a b", id="x"), Document("c d")])
    assert ids[0] == "x" and len(ids[1]) == 36
    store.add_documents([Document("a b c", id="x", metadata={"v": 2})])  # replaces x
    assert store.get_by_ids(["x"]) == [Document("a b c", id="x", metadata={"v": 2})]
