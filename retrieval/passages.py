"""What a search returns to its callers: passages of documents, with where they come from and how they scored."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Passage:
    """A run of consecutive chunks of one document (often just one chunk).

    `chunks` is the first and last chunk number included; `scores` holds the score of each stage that ran,
    keyed by stage: "fused" (the hybrid rank fusion inside Qdrant), "dense" (cosine of the query and the best
    chunk), "rerank" (the cross-encoder's score, when reranking is on). `score` is the one the ranking used.
    """

    document_id: str
    source: str
    title: str
    doc_type: str
    headings: tuple[str, ...]
    page: int | None
    chunks: tuple[int, int]
    text: str
    language: str
    score: float
    scores: dict[str, float] = field(default_factory=dict)
    modified: str | None = None  # the document's modification time, ISO 8601 (None: unknown)

    @property
    def citation(self) -> str:
        """Where a reader finds it: title, section and page."""
        parts = [self.title or self.source]
        headings = self.headings[1:] if self.headings and self.headings[0] == self.title else self.headings
        if headings:  # a document's first heading often repeats its title
            parts.append(" > ".join(headings))
        if self.page:
            parts.append(f"p. {self.page}")
        return " — ".join(parts)
