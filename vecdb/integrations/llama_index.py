"""A LlamaIndex vector store over a vecdb collection (extra ``vecdb[llama-index]``).

Nodes keep their text in the ``document`` column and LlamaIndex's metadata dict (the node's
own metadata at the top level, plus ``ref_doc_id`` and the serialised node) in the JSON
column ``metadata``, so a collection written by one process is read back, node for node, by
another. ``MetadataFilters`` (every ``FilterOperator``, AND/OR/NOT, nested) become
parameterised ``where`` predicates.

>>> from llama_index.core.schema import TextNode
>>> from llama_index.core.vector_stores.types import VectorStoreQuery
>>> from vecdb.integrations.llama_index import VecdbVectorStore
>>> store = VecdbVectorStore(index="exact")
>>> store.add([TextNode(id_="n1", text="hello", embedding=[1.0, 0.0], metadata={"y": 1})])
['n1']
>>> res = store.query(VectorStoreQuery(query_embedding=[1.0, 0.1], similarity_top_k=1))
>>> res.ids, res.nodes[0].metadata
(['n1'], {'y': 1})
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np

try:
    from llama_index.core.bridge.pydantic import PrivateAttr
    from llama_index.core.indices.query.embedding_utils import get_top_k_mmr_embeddings
    from llama_index.core.schema import BaseNode, MetadataMode
    from llama_index.core.vector_stores.types import (
        BasePydanticVectorStore,
        MetadataFilters,
        VectorStoreQuery,
        VectorStoreQueryMode,
        VectorStoreQueryResult,
    )
    from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict
except ImportError as e:  # pragma: no cover - the extra is missing
    raise ImportError(
        "vecdb.integrations.llama_index needs llama-index-core: pip install 'vecdb[llama-index]'"
    ) from e

from vecdb.errors import InvalidArgumentError
from vecdb.integrations._filters import FilterCompiler, Where, metadata_filters_sql
from vecdb.integrations._store import StoreCore

__all__ = ["VecdbVectorStore"]

_MAX_K = 10_000


class VecdbVectorStore(BasePydanticVectorStore):
    """LlamaIndex vector store on a vecdb collection.

    Args:
        db: a path, ``"grpc://…"``/``"http://…"``, an open vecdb database, or None.
        collection: the collection's name (created on the first ``add``).
        metadata_columns: metadata keys to also keep in typed columns.
        **create_kwargs: passed to ``create_collection`` (``metric``, ``index``,
            ``index_params``, ``fulltext``). ``fulltext=True`` enables the ``TEXT_SEARCH``
            and ``HYBRID`` query modes.

    Similarities in query results: cosine similarity (``1 - distance``) under ``cosine``,
    the inner product under ``ip``, ``1 / (1 + distance)`` under ``l2``; in ``HYBRID`` and
    ``TEXT_SEARCH`` modes, the fused or BM25 score.
    """

    stores_text: bool = True
    flat_metadata: bool = False
    collection_name: str = "llama_index"

    _core: StoreCore = PrivateAttr()

    def __init__(
        self,
        *,
        db: Any = None,
        collection: str = "llama_index",
        metadata_columns: dict[str, str] | None = None,
        **create_kwargs: Any,
    ) -> None:
        super().__init__(collection_name=collection)  # type: ignore[call-arg]
        self._core = StoreCore(db, collection, create_kwargs, metadata_columns)

    @classmethod
    def class_name(cls) -> str:
        return "VecdbVectorStore"

    @property
    def client(self) -> Any:
        """The vecdb database (embedded or remote)."""
        return self._core.db

    @property
    def db(self) -> Any:
        return self._core.db

    @property
    def collection(self) -> Any:
        """The vecdb collection, or None before the first ``add``."""
        return self._core.refresh()

    def close(self) -> None:
        """Close the database if the store opened it (from a path or URL)."""
        self._core.close()

    # ---- writes ---------------------------------------------------------------------------
    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Store nodes with their embeddings (a node id that exists is replaced)."""
        if not nodes:
            return []
        ids, vecs, texts, metas = [], [], [], []
        for node in nodes:
            emb = node.get_embedding()  # raises when the node has none
            ids.append(node.node_id)
            vecs.append(emb)
            texts.append(node.get_content(metadata_mode=MetadataMode.NONE))
            metas.append(node_to_metadata_dict(node, remove_text=True, flat_metadata=False))
        self._core.write(ids, vecs, texts, metas, replace=True)
        return ids

    async def async_add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        return await asyncio.to_thread(self.add, nodes, **kwargs)

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node of the source document ``ref_doc_id``."""
        c = FilterCompiler(self._core.typed)
        self._core.delete(where=c.where(c.compare("ref_doc_id", "=", str(ref_doc_id))))

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        await asyncio.to_thread(self.delete, ref_doc_id, **delete_kwargs)

    def _selection(
        self, node_ids: list[str] | None, filters: MetadataFilters | None
    ) -> Where | None:
        if node_ids is None and filters is None:
            return None
        parts = []
        c = FilterCompiler(self._core.typed)
        if node_ids is not None:
            parts.append(f"id IN (SELECT unnest({c.bind([str(i) for i in node_ids])}))")
        if filters is not None and filters.filters:
            parts.append(metadata_filters_sql(c, filters))
        return c.where(c.all_of(parts))

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Delete nodes by id and/or by metadata filter (both must match when both given)."""
        where = self._selection(node_ids, filters)
        if where is None:
            raise InvalidArgumentError("pass node_ids= or filters= (clear() deletes everything)")
        if node_ids is not None and filters is None:
            self._core.delete(ids=[str(i) for i in node_ids])
        else:
            self._core.delete(where=where)

    async def adelete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        await asyncio.to_thread(self.delete_nodes, node_ids, filters, **delete_kwargs)

    def clear(self) -> None:
        """Delete every node (the collection is dropped and made again on the next add)."""
        self._core.clear()

    async def aclear(self) -> None:
        await asyncio.to_thread(self.clear)

    # ---- reads ----------------------------------------------------------------------------
    def _node(self, text: str | None, meta: dict[str, Any], vec: Any = None) -> BaseNode:
        node = metadata_dict_to_node(meta, text=text)
        if vec is not None:
            node.embedding = [float(x) for x in vec]
        return node

    def get_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
    ) -> list[BaseNode]:
        """Nodes by id (in the order asked) and/or matching ``filters``."""
        if node_ids is not None and filters is None:
            got = self._core.fetch([str(i) for i in node_ids], vectors=True)
            return [self._node(text, meta, vec) for _, text, meta, vec in got]
        where = self._selection(node_ids, filters)
        ids = (
            self._core.ids_where(where)
            if where is not None
            else self._core.ids_where(Where("TRUE", {}))
        )
        got = self._core.fetch(sorted(ids), vectors=True)
        return [self._node(text, meta, vec) for _, text, meta, vec in got]

    async def aget_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
    ) -> list[BaseNode]:
        return await asyncio.to_thread(self.get_nodes, node_ids, filters)

    def _similarity(self, distance: float) -> float:
        metric = self._core.metric
        if metric == "cosine":
            return 1.0 - distance
        if metric == "ip":
            return -distance
        return 1.0 / (1.0 + distance)

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Top ``similarity_top_k`` nodes for the query (modes DEFAULT, MMR, TEXT_SEARCH,
        HYBRID), restricted by ``filters``, ``doc_ids`` and ``node_ids``."""
        filters = query.filters
        doc_filter = None
        if query.doc_ids:
            from llama_index.core.vector_stores.types import FilterOperator, MetadataFilter

            doc_filter = MetadataFilters(
                filters=[
                    MetadataFilter(
                        key="ref_doc_id", value=list(query.doc_ids), operator=FilterOperator.IN
                    )
                ]
            )
            filters = (
                doc_filter if filters is None else MetadataFilters(filters=[filters, doc_filter])
            )
        where = self._selection(query.node_ids or None, filters)
        k = max(0, min(int(query.similarity_top_k or 0), _MAX_K))
        mode = query.mode
        if mode in (VectorStoreQueryMode.HYBRID, VectorStoreQueryMode.TEXT_SEARCH):
            if not self._core.has_fulltext:
                raise InvalidArgumentError(
                    f"query mode {mode.value!r} needs a full-text index; create the store with "
                    "fulltext=True"
                )
            if not query.query_str:
                raise InvalidArgumentError(f"query mode {mode.value!r} needs query_str")
            if mode == VectorStoreQueryMode.TEXT_SEARCH:
                k = int(query.sparse_top_k or k) or k
                found = self._core.search(None, k, where, "fulltext", query.query_str)
            else:
                fusion = None
                if query.alpha is not None:
                    a = float(query.alpha)
                    fusion = {"method": "weighted", "vector": a, "text": 1.0 - a}
                found = self._core.search(
                    query.query_embedding, k, where, "hybrid", query.query_str, fusion=fusion
                )
            return self._result(found, scores=True)
        if query.query_embedding is None:
            raise InvalidArgumentError("a vector query needs query_embedding")
        if mode == VectorStoreQueryMode.MMR:
            fetch_k = int(kwargs.get("mmr_prefetch_k") or max(20, 4 * k))
            found = self._core.search(query.query_embedding, fetch_k, where, vectors=True)
            if not found:
                return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
            sims, ids = get_top_k_mmr_embeddings(
                list(query.query_embedding),
                [list(np.asarray(f[4], dtype=float)) for f in found],
                similarity_top_k=k,
                embedding_ids=list(range(len(found))),
                mmr_threshold=query.mmr_threshold,
            )
            picked = [found[j] for j in ids]
            out = self._result(picked)
            return VectorStoreQueryResult(nodes=out.nodes, similarities=list(sims), ids=out.ids)
        if mode != VectorStoreQueryMode.DEFAULT:
            raise InvalidArgumentError(
                f"query mode {mode.value!r} is not supported; use default, mmr, hybrid or "
                "text_search"
            )
        return self._result(self._core.search(query.query_embedding, k, where))

    def _result(self, found: list[Any], scores: bool = False) -> VectorStoreQueryResult:
        nodes, sims, ids = [], [], []
        for i, dist, text, meta, _ in found:
            nodes.append(self._node(text, meta))
            sims.append(dist if scores else self._similarity(dist))
            ids.append(i)
        return VectorStoreQueryResult(nodes=nodes, similarities=sims, ids=ids)

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        return await asyncio.to_thread(self.query, query, **kwargs)
