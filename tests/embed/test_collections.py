"""Collections with an HTTP or sentence-transformers provider, end to end: the provider spec
(never a key) is stored in the catalog; a reopened database and a server started over it
embed with it; an unreachable endpoint or a changed dimension writes nothing."""

from __future__ import annotations

import numpy as np
import pytest

import vecdb
from tests.embed.conftest import DIM, Fault, det_embed
from vecdb import errors
from vecdb_server.config import ServerConfig
from vecdb_server.main import VecdbServer

DOCS = [
    "hybrid search fuses keyword and vector rankings",
    "a cooking recipe for apple pie",
    "durable storage on duckdb",
    "keyword search with bm25",
]


def catalog_text(path) -> str:
    """Everything the catalog stores about collections, as one string."""
    import duckdb

    con = duckdb.connect(str(path / "vecdb.duckdb"), read_only=True)
    try:
        return repr(con.execute("SELECT * FROM _vecdb.collections").fetchall())
    finally:
        con.close()


def test_openai_provider_spec_is_persisted_without_the_key(
    embed_server, tmp_path, monkeypatch
) -> None:
    server = embed_server(api_key="sk-secret-123")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    spec = {"provider": "openai", "model": "m", "base_url": server.url, "api_key": "sk-secret-123"}
    with vecdb.connect(tmp_path) as db:
        c = db.create_collection("docs", embedding=spec, fulltext=True)
        assert c.dim == DIM  # from a one-text probe of the endpoint
        c.add(ids=[1, 2, 3, 4], documents=DOCS)
        got, want = c.get([2])[0].vector, det_embed(DOCS)[1]
        np.testing.assert_allclose(
            got / np.linalg.norm(got), want / np.linalg.norm(want), atol=1e-6
        )
    stored = catalog_text(tmp_path)
    assert server.url in stored and "sk-secret-123" not in stored
    # reopened: the spec rebuilds the provider; the key comes from the environment again
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-123")
    with vecdb.connect(tmp_path) as db:
        c = db.get_collection("docs")
        assert c.embedding_function.spec == {
            "provider": "openai",
            "model": "m",
            "base_url": server.url,
        }
        assert c.search(DOCS[2], k=1)[0].id == 3
        c.add(ids=[5], documents=["one more passage"])
        assert c.search("one more passage", k=1)[0].distance == pytest.approx(0, abs=1e-6)
    monkeypatch.delenv("OPENAI_API_KEY")
    with vecdb.connect(tmp_path) as db:
        with pytest.raises(errors.InvalidArgumentError, match="OPENAI_API_KEY"):
            db.get_collection("docs").search("durable", k=1)


def test_an_unreachable_or_changed_endpoint_writes_nothing(embed_server, tmp_path) -> None:
    server = embed_server()
    spec = {"provider": "ollama", "model": "m", "base_url": server.url}
    with vecdb.connect(tmp_path) as db:
        c = db.create_collection(
            "docs", embedding={**spec, "retries": 1, "backoff": 0.01}, fulltext=True
        )
        c.add(ids=[1, 2], documents=DOCS[:2])
        server.faults = [Fault(503), Fault(503)]
        with pytest.raises(errors.ServiceUnavailableError, match=server.url):
            c.add(ids=[3, 4], documents=DOCS[2:])
        server.embed = lambda texts: det_embed(texts, DIM + 2)
        with pytest.raises(errors.DimensionMismatchError):
            c.upsert(ids=[1, 3], documents=["replaced", DOCS[2]])
        assert c.count() == 2 and sorted(h.id for h in c.get([1, 2, 3, 4])) == [1, 2]
        assert c.get([1], include=["document"])[0].row["document"] == DOCS[0]
        assert c.search("duckdb", k=5, mode="fulltext") == []
        assert c.search("replaced", k=5, mode="fulltext") == []
        server.embed = det_embed
        c.add(ids=[3, 4], documents=DOCS[2:])
        assert [h.id for h in c.search("duckdb", k=5, mode="fulltext")] == [3]
    with vecdb.connect(tmp_path) as db:  # and nothing half-written survived a reopen
        c = db.get_collection("docs")
        assert c.count() == 4
        assert [h.id for h in c.search(DOCS[3], k=1)] == [4]


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_a_server_over_a_reopened_database_embeds_for_remote_clients(
    embed_server, tmp_path
) -> None:
    """``vecdb serve`` on data made earlier: remote clients send text, the server embeds it
    with the stored spec (an Ollama endpoint here, the real MiniLM in the next test)."""
    server = embed_server()
    with vecdb.connect(tmp_path) as db:
        c = db.create_collection(
            "docs",
            embedding=f'{{"provider": "ollama", "model": "m", "base_url": "{server.url}"}}',
            fulltext=True,
            columns={"year": "INTEGER"},
        )
        c.add(ids=[1, 2], documents=DOCS[:2], rows=[{"year": 2020}, {"year": 2021}])
    db = vecdb.connect(tmp_path, confined=True)
    srv = VecdbServer(db, ServerConfig(grace_s=2)).start()
    try:
        for url in (srv.grpc_url, srv.http_url):
            with vecdb.connect(url) as client:
                rc = client.get_collection("docs")
                rc.upsert(ids=[3, 4], documents=DOCS[2:], rows=[{"year": 2022}, {"year": 2023}])
                hits = rc.search(DOCS[2], k=2, include=["document"])
                assert hits[0].id == 3 and hits[0].row["document"] == DOCS[2]
                hybrid = rc.search("keyword search", k=2, mode="hybrid", where="year > 2020")
                assert hybrid[0].id == 4
        n_embedded = sum(len(r["json"]["input"]) for r in server.requests)
        assert n_embedded >= 2 + 2 + 2 * 2  # the first adds, the two upserts, the queries
    finally:
        srv.stop(grace=2)
        db.close()


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_minilm_spec_survives_a_reopen(tmp_path, minilm) -> None:
    with vecdb.connect(tmp_path) as db:
        c = db.create_collection("docs", embedding="sentence-transformers/all-MiniLM-L6-v2")
        assert c.dim == 384
        c.add(ids=[1, 2, 3, 4], documents=DOCS)
    with vecdb.connect(tmp_path) as db:
        c = db.get_collection("docs")
        assert c.embedding_function.spec == {
            "provider": "sentence-transformers",
            "model": "all-MiniLM-L6-v2",
        }
        q = "how do I bake a pie"
        want = minilm.encode([q])[0]
        hit = c.search(q, k=1, include=["vec"])[0]
        assert hit.id == 2
        cos = float(want @ np.asarray(hit.row["vec"])) / float(
            np.linalg.norm(want) * np.linalg.norm(hit.row["vec"])
        )
        assert hit.distance == pytest.approx(1 - cos, abs=1e-5)
