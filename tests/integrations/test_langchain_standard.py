"""LangChain's own standard vector-store suite (``langchain-tests``), sync and async, run
against vecdb embedded and against a ``vecdb serve`` subprocess over gRPC."""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Iterator

import pytest

pytest.importorskip("langchain_tests")

from langchain_tests.integration_tests import VectorStoreIntegrationTests  # noqa: E402

from tests.integrations.conftest import Server  # noqa: E402
from vecdb.integrations.langchain import VecdbVectorStore  # noqa: E402

_names = itertools.count()


class TestEmbeddedStandard(VectorStoreIntegrationTests):
    @pytest.fixture()
    def vectorstore(self) -> Iterator[VecdbVectorStore]:
        store = VecdbVectorStore(self.get_embeddings(), index="exact")
        yield store
        store.close()


@pytest.mark.slow
class TestEmbeddedHnswOnDiskStandard(VectorStoreIntegrationTests):
    """The default index (HNSW) in a database directory."""

    @pytest.fixture()
    def vectorstore(self, tmp_path) -> Iterator[VecdbVectorStore]:  # type: ignore[no-untyped-def]
        store = VecdbVectorStore(self.get_embeddings(), db=str(tmp_path / "db"))
        yield store
        store.close()


class TestGrpcStandard(VectorStoreIntegrationTests):
    @pytest.fixture()
    def vectorstore(self, vecdb_server: Server) -> Iterator[VecdbVectorStore]:
        name = f"lc_std_{next(_names)}"
        store = VecdbVectorStore(self.get_embeddings(), db=vecdb_server.grpc, collection=name)
        yield store
        store.db.drop_collection(name, missing_ok=True)
        store.close()


# vecdb.connect("http://…") (the REST client) is being added to main in parallel; the store
# only calls vecdb.connect, so this class runs as soon as that client is in the tree.
_HAS_REST = importlib.util.find_spec("vecdb.client.rest") is not None


@pytest.mark.skipif(not _HAS_REST, reason="vecdb.connect('http://…') is not in this tree yet")
class TestHttpStandard(VectorStoreIntegrationTests):
    @pytest.fixture()
    def vectorstore(self, vecdb_server: Server) -> Iterator[VecdbVectorStore]:
        name = f"lc_http_{next(_names)}"
        store = VecdbVectorStore(self.get_embeddings(), db=vecdb_server.http, collection=name)
        yield store
        store.db.drop_collection(name, missing_ok=True)
        store.close()
