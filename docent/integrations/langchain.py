"""A LangChain retriever over Docent's `/v1/search`: `DocentRetriever(base_url=..., api_key=...)` in a chain.

from docent.integrations.langchain import DocentRetriever

retriever = DocentRetriever(base_url="http://localhost:8000", api_key="dk_...", k=5)
documents = retriever.invoke("How do I reset my password?")
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from docent.client import AsyncDocent, Docent, Json
from docent.integrations import passage_metadata


def _documents(found: Json) -> list[Document]:
    return [
        Document(page_content=p["text"], metadata=passage_metadata(p), id=p["document_id"]) for p in found["passages"]
    ]


class DocentRetriever(BaseRetriever):
    """Docent's passages for a query, best first, as `Document`s with their source metadata; only from documents
    the key may read. `filters` is `/v1/search`'s (source_prefix, doc_types, languages, tags, dates)."""

    base_url: str
    api_key: str | None = None
    k: int = 5
    filters: dict[str, Any] | None = None
    mode: str | None = None
    timeout: float = 120.0

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        with Docent(self.base_url, self.api_key, timeout=self.timeout) as docent:
            return _documents(docent.search(query, self.k, filters=self.filters, mode=self.mode))

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        async with AsyncDocent(self.base_url, self.api_key, timeout=self.timeout) as docent:
            found = await docent.search(query, self.k, filters=self.filters, mode=self.mode)
        return _documents(found)
