"""Packing with the packaged embedding model as the token counter, as the answerer packs (the invariants, and
counters without a model, are in tests/unit/test_packing.py)."""

from __future__ import annotations

from retrieval.packing import pack_context
from tests.unit.test_packing import CORPUS, check_invariants


def test_with_the_packaged_model_tokenizer(embedder):
    """Mixed Chinese and English with a real WordPiece tokenizer; the default keeps cuts of >= 16 tokens."""
    for budget in range(0, 200, 7):
        packed = pack_context(CORPUS, embedder, budget)
        check_invariants(packed, CORPUS, embedder, budget)
        for index, kept in zip(packed.kept, packed.passages, strict=True):
            if index in packed.truncated:
                assert embedder.count_tokens([kept.text])[0] >= 16
    assert pack_context(CORPUS, embedder, 10_000).kept == (0, 1, 2, 3, 4)
