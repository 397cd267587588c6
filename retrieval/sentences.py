"""Sentence boundaries for Chinese and English, shared by the chunker and the context packer.

A cut never falls inside a sentence, so both sides agree on what a sentence is.
"""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?:[。！？；!?][”’」』)）\"']*|\.[”’\"')]*(?=\s|$))\s*|\n+")


def sentence_pieces(text: str) -> list[str]:
    """Sentences with their trailing whitespace, blank pieces included: "".join(result) == text exactly."""
    pieces, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        pieces.append(text[start : match.end()])
        start = match.end()
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def split_sentences(text: str) -> list[str]:
    """Sentences with their trailing whitespace, so that "".join(result) == text (minus blank pieces)."""
    return [piece for piece in sentence_pieces(text) if piece.strip()]
