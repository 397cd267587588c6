"""Sentence boundaries for Chinese and English, shared by the chunker and the context packer.

A cut never falls inside a sentence, so both sides agree on what a sentence is.
"""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?:[。！？；!?][”’」』)）\"']*|\.[”’\"')]*(?=\s|$))\s*|\n+")


def split_sentences(text: str) -> list[str]:
    """Sentences with their trailing whitespace, so that "".join(result) == text (minus blank pieces)."""
    pieces, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        piece = text[start : match.end()]
        if piece.strip():
            pieces.append(piece)
        start = match.end()
    if text[start:].strip():
        pieces.append(text[start:])
    return pieces
