"""A LangChain vector store over a vecdb collection (extra ``vecdb[langchain]``).

``db`` is a path, a ``"grpc://host:port"`` or ``"http://host:port"`` URL, an open vecdb
database (embedded or remote), or None (in memory). Keyword arguments that LangChain does
not know go to ``create_collection`` (``metric``, ``index``, ``index_params``,
``fulltext``...). Metadata is stored as JSON and read back with its types; ``filter=`` is a
vecdb ``where`` string or a LangChain-style dict (``{"year": {"$gt": 2020}, "source": "a"}``,
``$and``/``$or``/``$not``, ``$eq $ne $gt $gte $lt $lte $in $nin $like $ilike $exists
$contains``), translated to a parameterised predicate.

>>> from langchain_core.embeddings import DeterministicFakeEmbedding
>>> from vecdb.integrations.langchain import VecdbVectorStore
>>> store = VecdbVectorStore(DeterministicFakeEmbedding(size=8), index="exact")
>>> store.add_texts(["vectors", "rows"], [{"year": 2021}, {"year": 2019}], ids=["a", "b"])
['a', 'b']
>>> [d.id for d in store.similarity_search("rows", k=1, filter={"year": {"$gt": 2020}})]
['a']
>>> store.get_by_ids(["b"])[0].metadata
{'year': 2019}
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, cast

import numpy as np

try:
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_core.runnables.config import run_in_executor
    from langchain_core.vectorstores import VectorStore, VectorStoreRetriever
    from langchain_core.vectorstores.utils import maximal_marginal_relevance
except ImportError as e:  # pragma: no cover - the extra is missing
    raise ImportError(
        "vecdb.integrations.langchain needs langchain-core: pip install 'vecdb[langchain]'"
    ) from e

from vecdb.errors import InvalidArgumentError
from vecdb.integrations._store import StoreCore

__all__ = ["VecdbVectorStore", "VecdbRetriever", "VecdbEmbeddings"]

_SEARCH_TYPES = ("similarity", "similarity_score_threshold", "mmr", "hybrid")


_FIELDS_SET = frozenset({"page_content", "metadata", "id"})


def _built(text: str, metadata: dict[str, Any], doc_id: Any) -> Document:
    """A Document from values the store produced itself (a str, a dict, an id), set without
    pydantic re-validating them: about half the cost of ``Document(...)``, which matters on
    the search path (ten per query)."""
    doc = object.__new__(Document)
    fields = {"id": doc_id, "metadata": metadata, "page_content": text, "type": "Document"}
    object.__setattr__(doc, "__dict__", fields)
    object.__setattr__(doc, "__pydantic_fields_set__", set(_FIELDS_SET))
    object.__setattr__(doc, "__pydantic_extra__", None)
    object.__setattr__(doc, "__pydantic_private__", None)
    return doc


def _check_built() -> Any:
    """``_built`` when it gives exactly what ``Document(...)`` gives (checked once, so a
    pydantic or langchain-core that stores models differently falls back to the constructor)."""
    try:
        a, b = _built("t", {"k": 1}, "i"), Document(page_content="t", metadata={"k": 1}, id="i")
        if a == b and a.__dict__ == b.__dict__ and repr(a) == repr(b):
            return _built
    except Exception:  # pragma: no cover - a different pydantic
        pass
    return lambda text, metadata, doc_id: Document(page_content=text, metadata=metadata, id=doc_id)


_document = _check_built()


class VecdbEmbeddings(Embeddings):
    """vecdb's embedding functions as LangChain ``Embeddings``: a provider spec such as
    ``"sentence-transformers/all-MiniLM-L6-v2"`` (local, extra ``vecdb[embed]``),
    ``"ollama/<model>"``, ``"openai/<model>"``, a spec dict, or a callable (see
    :mod:`vecdb.embed`).

    >>> e = VecdbEmbeddings(lambda texts: [[1.0, float(len(t))] for t in texts])
    >>> e.embed_query("four")
    [1.0, 4.0]
    """

    def __init__(self, spec: Any, **options: Any) -> None:
        from vecdb.embed import resolve

        self.function = resolve(spec, **options)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.function(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.function([text])[0].tolist()


class VecdbVectorStore(VectorStore):
    """LangChain ``VectorStore`` on a vecdb collection (see the module docstring).

    Args:
        embedding: the LangChain ``Embeddings`` that embeds texts and queries.
        db: a path, ``"grpc://…"``/``"http://…"``, an open vecdb database, or None.
        collection: the collection's name (created on the first write).
        metadata_columns: metadata keys to also keep in typed columns, e.g.
            ``{"year": "INTEGER"}`` (plain SQL and filters read them directly).
        **create_kwargs: passed to ``create_collection`` (``metric``, ``index``,
            ``index_params``, ``fulltext``).

    Scores: ``similarity_search_with_score`` returns the metric's distance (lower is
    nearer); relevance scores (``similarity_score_threshold``) are in [0, 1], higher is
    better. With ``fulltext=True``, ``search_type="hybrid"`` fuses vector and BM25 rankings.
    """

    def __init__(
        self,
        embedding: Embeddings,
        *,
        db: Any = None,
        collection: str = "langchain",
        metadata_columns: dict[str, str] | None = None,
        **create_kwargs: Any,
    ) -> None:
        self._embedding = embedding
        self._core = StoreCore(db, collection, create_kwargs, metadata_columns)

    # ---- attributes -----------------------------------------------------------------------
    @property
    def embeddings(self) -> Embeddings:
        return self._embedding

    @property
    def db(self) -> Any:
        """The vecdb database (embedded or remote)."""
        return self._core.db

    @property
    def collection_name(self) -> str:
        return self._core.name

    @property
    def collection(self) -> Any:
        """The vecdb collection, or None before the first write."""
        return self._core.refresh()

    def close(self) -> None:
        """Close the database if the store opened it (from a path or URL)."""
        self._core.close()

    # ---- writes ---------------------------------------------------------------------------
    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed and store texts; an id that exists is replaced (re-adding is idempotent)."""
        texts = list(texts)
        if not texts:
            return []
        metas = list(metadatas) if metadatas is not None else [{}] * len(texts)
        if len(metas) != len(texts):
            raise InvalidArgumentError(f"got {len(metas)} metadatas for {len(texts)} texts")
        vectors = self._embedding.embed_documents(texts)
        return self._write(texts, metas, ids, vectors)

    def _write(
        self, texts: list[str], metas: list[Any], ids: Sequence[str | None] | None, vectors: Any
    ) -> list[str]:
        if ids is None:
            out = [str(uuid.uuid4()) for _ in texts]
            fresh = True
        else:
            if len(ids) != len(texts):
                raise InvalidArgumentError(f"got {len(ids)} ids for {len(texts)} texts")
            out = [str(uuid.uuid4()) if i is None else str(i) for i in ids]
            fresh = all(i is None for i in ids)
        # new random ids cannot exist: a plain add skips upsert's replace step
        self._core.write(out, vectors, texts, metas, replace=not fresh)
        return out

    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        texts = list(texts)
        if not texts:
            return []
        metas = list(metadatas) if metadatas is not None else [{}] * len(texts)
        if len(metas) != len(texts):
            raise InvalidArgumentError(f"got {len(metas)} metadatas for {len(texts)} texts")
        vectors = await self._embedding.aembed_documents(texts)
        return await run_in_executor(None, self._write, texts, metas, ids, vectors)

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete by ids (missing ids are ignored), or every match of ``filter=``."""
        flt = kwargs.get("filter")
        if ids is None and flt is None:
            raise InvalidArgumentError("pass ids= or filter= to delete")
        if ids is not None:
            self._core.delete(ids=[str(i) for i in ids])
        else:
            self._core.delete(where=self._core.where(flt))
        return True

    async def adelete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        return await run_in_executor(None, self.delete, ids, **kwargs)

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Documents by id, in the order asked; missing ids are left out."""
        return [
            Document(page_content=text or "", metadata=meta, id=i)
            for i, text, meta, _ in self._core.fetch([str(i) for i in ids])
        ]

    async def aget_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        return await run_in_executor(None, self.get_by_ids, ids)

    # ---- searches -------------------------------------------------------------------------
    def _hits(
        self,
        vector: Any,
        k: int,
        filter: Any = None,
        mode: str = "vector",
        text: str | None = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        found = self._core.search(
            vector, k, self._core.where(filter), mode, text, fusion=kwargs.get("fusion")
        )
        return [(_document(doc or "", meta, i), dist) for i, dist, doc, meta, _ in found]

    def similarity_search_with_score(
        self, query: str, k: int = 4, filter: Any = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Documents nearest to ``query`` with their distance (lower is nearer)."""
        return self._hits(self._embedding.embed_query(query), k, filter, **kwargs)

    def similarity_search_with_score_by_vector(
        self, embedding: list[float], k: int = 4, filter: Any = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        return self._hits(embedding, k, filter, **kwargs)

    def similarity_search(
        self, query: str, k: int = 4, filter: Any = None, **kwargs: Any
    ) -> list[Document]:
        return [d for d, _ in self.similarity_search_with_score(query, k, filter, **kwargs)]

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, filter: Any = None, **kwargs: Any
    ) -> list[Document]:
        return [d for d, _ in self._hits(embedding, k, filter, **kwargs)]

    def hybrid_search_with_score(
        self, query: str, k: int = 4, filter: Any = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Vector and BM25 rankings fused (``fusion=`` as in ``Collection.search``); the
        score is the fused one, higher is better. Needs a collection made with
        ``fulltext=True``."""
        if not self._core.has_fulltext and self._core.refresh() is not None:
            raise InvalidArgumentError(
                f"collection {self.collection_name!r} has no full-text index; create the store "
                "with fulltext=True for hybrid search"
            )
        vec = self._embedding.embed_query(query)
        return self._hits(vec, k, filter, mode="hybrid", text=query, **kwargs)

    def hybrid_search(
        self, query: str, k: int = 4, filter: Any = None, **kwargs: Any
    ) -> list[Document]:
        return [d for d, _ in self.hybrid_search_with_score(query, k, filter, **kwargs)]

    async def ahybrid_search(
        self, query: str, k: int = 4, filter: Any = None, **kwargs: Any
    ) -> list[Document]:
        return await run_in_executor(None, self.hybrid_search, query, k, filter, **kwargs)

    def search(self, query: str, search_type: str, **kwargs: Any) -> list[Document]:
        if search_type == "hybrid":
            return self.hybrid_search(query, **kwargs)
        return super().search(query, search_type, **kwargs)

    async def asearch(self, query: str, search_type: str, **kwargs: Any) -> list[Document]:
        if search_type == "hybrid":
            return await self.ahybrid_search(query, **kwargs)
        return await super().asearch(query, search_type, **kwargs)

    async def asimilarity_search_with_score(
        self, query: str, k: int = 4, filter: Any = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        vec = await self._embedding.aembed_query(query)
        return await run_in_executor(None, self._hits, vec, k, filter, **kwargs)

    async def asimilarity_search(
        self, query: str, k: int = 4, filter: Any = None, **kwargs: Any
    ) -> list[Document]:
        found = await self.asimilarity_search_with_score(query, k, filter, **kwargs)
        return [d for d, _ in found]

    async def asimilarity_search_by_vector(
        self, embedding: list[float], k: int = 4, filter: Any = None, **kwargs: Any
    ) -> list[Document]:
        found = await run_in_executor(None, self._hits, embedding, k, filter, **kwargs)
        return [d for d, _ in found]

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        metric = self._core.metric
        if metric == "cosine":
            return self._cosine_relevance_score_fn
        if metric == "l2":
            return self._euclidean_relevance_score_fn
        return self._max_inner_product_relevance_score_fn

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Any = None,
        **kwargs: Any,
    ) -> list[Document]:
        """``k`` documents chosen from the ``fetch_k`` nearest for relevance and diversity."""
        found = self._core.search(
            embedding, max(fetch_k, k), self._core.where(filter), vectors=True
        )
        if not found:
            return []
        chosen = maximal_marginal_relevance(
            np.asarray(embedding, dtype=np.float32),
            [np.asarray(f[4], dtype=np.float32).tolist() for f in found],
            lambda_mult=lambda_mult,
            k=k,
        )
        return [
            Document(page_content=found[j][2] or "", metadata=found[j][3], id=found[j][0])
            for j in chosen
        ]

    def max_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Any = None,
        **kwargs: Any,
    ) -> list[Document]:
        return self.max_marginal_relevance_search_by_vector(
            self._embedding.embed_query(query), k, fetch_k, lambda_mult, filter, **kwargs
        )

    async def amax_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Any = None,
        **kwargs: Any,
    ) -> list[Document]:
        vec = await self._embedding.aembed_query(query)
        return await run_in_executor(
            None,
            self.max_marginal_relevance_search_by_vector,
            vec,
            k,
            fetch_k,
            lambda_mult,
            filter,
            **kwargs,
        )

    # ---- construction ---------------------------------------------------------------------
    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> VecdbVectorStore:
        """A store (``db=``, ``collection=`` and create options in ``kwargs``) with ``texts``."""
        store = cls(embedding, **kwargs)
        store.add_texts(texts, metadatas, ids=ids)
        return store

    def as_retriever(self, **kwargs: Any) -> VecdbRetriever:
        """A retriever; ``search_type`` is ``"similarity"`` (default),
        ``"similarity_score_threshold"``, ``"mmr"`` or ``"hybrid"``."""
        tags = kwargs.pop("tags", None) or [*self._get_retriever_tags()]
        return VecdbRetriever(vectorstore=self, tags=tags, **kwargs)


class VecdbRetriever(VectorStoreRetriever):
    """LangChain's retriever with ``search_type="hybrid"`` added."""

    allowed_search_types: ClassVar[Sequence[str]] = _SEARCH_TYPES

    def _get_relevant_documents(self, query: str, *, run_manager: Any, **kwargs: Any) -> Any:
        if self.search_type == "hybrid":
            store = cast(VecdbVectorStore, self.vectorstore)
            return store.hybrid_search(query, **{**self.search_kwargs, **kwargs})
        return super()._get_relevant_documents(query, run_manager=run_manager, **kwargs)

    async def _aget_relevant_documents(self, query: str, *, run_manager: Any, **kwargs: Any) -> Any:
        if self.search_type == "hybrid":
            store = cast(VecdbVectorStore, self.vectorstore)
            return await store.ahybrid_search(query, **{**self.search_kwargs, **kwargs})
        return await super()._aget_relevant_documents(query, run_manager=run_manager, **kwargs)
