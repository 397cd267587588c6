"""A LlamaIndex retriever over Docent's `/v1/search`: `DocentRetriever(url, api_key)` in a query engine.

from llama_index.core.query_engine import RetrieverQueryEngine
from docent.integrations.llama_index import DocentRetriever

engine = RetrieverQueryEngine.from_args(DocentRetriever("http://localhost:8000", "dk_..."), llm=llm)
print(engine.query("How do I reset my password?"))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from docent.client import AsyncDocent, Docent, Json
from docent.integrations import passage_metadata


def _nodes(found: Json) -> list[NodeWithScore]:
    nodes = []
    for passage in found["passages"]:
        metadata = passage_metadata(passage)
        first, last = passage.get("chunks", [0, 0])
        node = TextNode(
            id_=f"{passage['document_id']}#{first}-{last}",
            text=passage["text"],
            metadata=metadata,
            # The source travels to the LLM with the text (for citations), the scores do not.
            excluded_llm_metadata_keys=["document_id", "doc_type", "language", "modified", "score", "headings"],
            excluded_embed_metadata_keys=list(metadata),
        )
        nodes.append(NodeWithScore(node=node, score=passage.get("score")))
    return nodes


class DocentRetriever(BaseRetriever):
    """Docent's passages for a query, best first, as `NodeWithScore`s with their source metadata; only from
    documents the key may read. `filters` is `/v1/search`'s (source_prefix, doc_types, languages, tags, dates)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        k: int = 5,
        filters: Mapping[str, Any] | None = None,
        mode: str | None = None,
        timeout: float = 120.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._base_url, self._api_key, self._timeout = base_url, api_key, timeout
        self._k, self._filters, self._mode = k, dict(filters) if filters else None, mode

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        with Docent(self._base_url, self._api_key, timeout=self._timeout) as docent:
            return _nodes(docent.search(query_bundle.query_str, self._k, filters=self._filters, mode=self._mode))

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        async with AsyncDocent(self._base_url, self._api_key, timeout=self._timeout) as docent:
            found = await docent.search(query_bundle.query_str, self._k, filters=self._filters, mode=self._mode)
        return _nodes(found)
