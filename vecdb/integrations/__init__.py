"""Vector stores for RAG frameworks, over any vecdb database (embedded, gRPC or REST).

- :mod:`vecdb.integrations.langchain`: ``VecdbVectorStore``, a LangChain ``VectorStore``
  (extra ``vecdb[langchain]``).
- :mod:`vecdb.integrations.llama_index`: ``VecdbVectorStore``, a LlamaIndex
  ``BasePydanticVectorStore`` (extra ``vecdb[llama-index]``).

Both keep each document's text in the ``document`` column and its metadata, with its types,
in a JSON column ``metadata``; their ``filter=`` dicts become parameterised ``where``
predicates (:mod:`vecdb.integrations._filters`).
"""

from __future__ import annotations

__all__: list[str] = []
