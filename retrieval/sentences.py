"""Sentence boundaries for Chinese and English, shared by the chunker and the context packer.

A cut never falls inside a sentence, so both sides agree on what a sentence is.

Chinese punctuation (。！？；), ! and ? and line breaks always end a sentence: these rules are Docent's own, and
Chinese text is split by them alone. A period before a space only proposes a cut, made where Microsoft's
blingfire also ends an English sentence, so that `e.g.`, `Dr.`, `No. 5` or `U.S.` do not cut a sentence in
two; a decimal such as `3.5` never proposes one. Why blingfire: it is fast (a finite-state machine in C, well
under a millisecond a chunk) where pysbd costs about 30 ms a chunk, as much as embedding it; and sentencex
never cuts inside a bulleted item ("• One. Two."), which the sample corpus is full of.
"""

from __future__ import annotations

import re

import blingfire

_SENTENCE_END = re.compile(r"(?:[。！？；!?][”’」』)）\"']*|(?P<period>\.[”’\"')]*)(?=\s|$))\s*|\n+")


def sentence_pieces(text: str) -> list[str]:
    """Sentences with their trailing whitespace, blank pieces included: "".join(result) == text exactly."""
    pieces, start = [], 0
    english_ends: set[int] | None = None  # asked of blingfire once per text, and only when a period needs it
    for match in _SENTENCE_END.finditer(text):
        if match.group("period") is not None and match.end() < len(text) and "\n" not in match.group():
            if english_ends is None:
                english_ends = _english_sentence_ends(text)
            if match.end("period") not in english_ends:
                continue
        pieces.append(text[start : match.end()])
        start = match.end()
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def split_sentences(text: str) -> list[str]:
    """Sentences with their trailing whitespace, so that "".join(result) == text (minus blank pieces)."""
    return [piece for piece in sentence_pieces(text) if piece.strip()]


def _english_sentence_ends(text: str) -> set[int]:
    """Where each sentence that blingfire finds in `text` ends (after its closing quote or bracket, if any)."""
    # Stripped: with trailing whitespace, blingfire 0.1.8 returns the whole text as one sentence. Its offsets
    # count characters of `text`.
    _, spans = blingfire.text_to_sentences_and_offsets(text.rstrip())
    return {end for _, end in spans}
