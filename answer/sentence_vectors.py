"""One answer's multilingual sentence vectors, each text embedded once.

When a model's answer fails the grounding check, the check has embedded the passages' sentences (those in the
other language, `grounding.cosine_across`) and the extractive answer that replaces it embeds the same sentences
again (`extractive.extract`). The sentences are most of a fallback answer's cost (USE spends ~20 ms of CPU per
384 tokens), so the answerer hands both the same `SentenceVectors`, which lives as long as the answer: nothing is
kept between answers, so an answer costs the same whether or not a question was asked before.
"""

from __future__ import annotations

import numpy as np

from retrieval.search import SentenceEmbedder


class SentenceVectors:
    """`model`'s document vectors, remembered by text; queries go to the model as they are (they may differ:
    a model with a query prefix)."""

    def __init__(self, model: SentenceEmbedder) -> None:
        self.model = model
        self._vectors: dict[str, np.ndarray] = {}

    def embed_query(self, text: str) -> np.ndarray:
        return self.model.embed_query(text)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            self._vectors.update(zip(missing, self.model.embed_documents(missing), strict=True))
        if not texts:
            return self.model.embed_documents([])
        return np.stack([self._vectors[t] for t in texts])
