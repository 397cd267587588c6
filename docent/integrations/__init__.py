"""Docent as the retriever of other frameworks, over `/v1/search` (`pip install docent[integrations]`):

- `docent.integrations.llama_index.DocentRetriever`: a LlamaIndex `BaseRetriever` (nodes with scores);
- `docent.integrations.langchain.DocentRetriever`: a LangChain `BaseRetriever` (documents).

Each passage comes with its source metadata (source, title, document id, headings, page, score), and only from
documents the key may read: the access rule is the server's, so an application needs no copy of the documents.
"""

from __future__ import annotations

from typing import Any

from docent.client import Json


def passage_metadata(passage: Json) -> dict[str, Any]:
    """The source metadata both retrievers attach to a passage (what a citation needs)."""
    return {
        "source": passage["source"],
        "title": passage.get("title", ""),
        "document_id": passage["document_id"],
        "doc_type": passage.get("doc_type", ""),
        "headings": list(passage.get("headings", [])),
        "page": passage.get("page"),
        "language": passage.get("language", ""),
        "modified": passage.get("modified"),
        "score": passage.get("score"),
    }
