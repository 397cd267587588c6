"""Parsed documents to chunks that respect structure and language.

- A chunk never crosses a heading or a page: its heading path and page say exactly where it came from.
- Budgets are in the embedding model's own tokens, including the title and heading prefix that is embedded
  with the chunk, so nothing is silently truncated by the model.
- Text is cut at sentence ends (。！？； as well as . ! ?), with an overlap of whole sentences; only a single
  sentence longer than the budget is cut inside, at a comma or a space where one is near.
- A table that fits stays whole; a longer one is split by rows, each piece repeating the header row.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Protocol

from ingest.documents import Block, BlockKind, ParsedDocument
from retrieval.models import Chunk
from retrieval.sentences import split_sentences
from retrieval.terms import detect_language

_SOFT_BREAK = re.compile(r"[，、,：:\s]")
_MIN_BUDGET = 32


class TokenCounter(Protocol):
    def count_tokens(self, texts: list[str]) -> list[int]: ...


@dataclass(slots=True)
class _Unit:
    text: str
    separator: str  # what goes before it when it follows another unit in a chunk
    tokens: int = 0
    is_header: bool = False  # a table's header row, repeated at the top of each piece of the table


@dataclass(slots=True)
class _Section:
    headings: tuple[str, ...]
    page: int | None
    units: list[_Unit]


def embed_text(title: str, headings: tuple[str, ...], text: str) -> str:
    """The text that is embedded (and indexed for BM25): title and heading path give a chunk its context."""
    context = [title] if title else []
    context += [h for h in headings if h != title]
    return " > ".join(context) + "\n\n" + text if context else text


class Chunker:
    """Cuts a `ParsedDocument` into `Chunk`s of at most `chunk_tokens` tokens (prefix included)."""

    def __init__(self, counter: TokenCounter, *, chunk_tokens: int = 200, overlap_tokens: int = 40) -> None:
        if overlap_tokens >= chunk_tokens:
            raise ValueError("overlap_tokens must be smaller than chunk_tokens")
        self.counter = counter
        self.chunk_tokens = chunk_tokens
        self.overlap_tokens = overlap_tokens

    def chunk(self, document: ParsedDocument) -> list[Chunk]:
        sections = _sections(document.blocks)
        units = [u for s in sections for u in s.units]
        prefixes = [embed_text(document.title, s.headings, "") for s in sections]
        counts = self.counter.count_tokens([u.text for u in units] + prefixes)
        for unit, count in zip(units, counts, strict=False):
            unit.tokens = count
        chunks: list[Chunk] = []
        for section, prefix_tokens in zip(sections, counts[len(units) :], strict=True):
            budget = max(_MIN_BUDGET, self.chunk_tokens - prefix_tokens)
            for text in self._pack(section.units, budget):
                chunks.append(
                    Chunk(
                        number=len(chunks),
                        text=text,
                        headings=section.headings,
                        page=section.page,
                        language=detect_language(text),
                    )
                )
        return chunks

    def _pack(self, units: list[_Unit], budget: int) -> list[str]:
        units = [piece for unit in units for piece in self._fit(unit, budget)]
        out: list[str] = []
        current: list[_Unit] = []
        header: _Unit | None = None
        used = 0
        for unit in units:
            if unit.is_header:
                header = unit
            elif unit.separator == "\n\n":
                header = None  # a new block: the previous table's header no longer applies
            if current and used + unit.tokens > budget:
                out.append(_join(current))
                current = self._overlap(current, header, budget - unit.tokens)
                used = sum(u.tokens for u in current)
            current.append(unit)
            used += unit.tokens
        if current:
            out.append(_join(current))
        return out

    def _overlap(self, previous: list[_Unit], header: _Unit | None, room: int) -> list[_Unit]:
        """The start of the next chunk: the table header if inside a table, else trailing sentences."""
        if header is not None and previous[-1] is not header and previous[-1].separator == "\n":
            return [header] if header.tokens <= room else []
        carried: list[_Unit] = []
        total = 0
        for unit in reversed(previous):
            if unit.is_header or total + unit.tokens > min(self.overlap_tokens, room):
                break
            carried.insert(0, unit)
            total += unit.tokens
        return carried

    def _fit(self, unit: _Unit, budget: int) -> list[_Unit]:
        """`unit` itself, or pieces of it that fit `budget` when one sentence is longer than a chunk."""
        if unit.tokens <= budget:
            return [unit]
        parts = math.ceil(unit.tokens / budget) + 1
        text = unit.text
        cuts, start = [], 0
        for i in range(1, parts):
            target = round(len(text) * i / parts)
            window = text[max(start + 1, target - 40) : target]
            soft = [m.end() for m in _SOFT_BREAK.finditer(window)]
            cut = max(start + 1, target - 40) + soft[-1] if soft else target
            cuts.append(text[start:cut])
            start = cut
        cuts.append(text[start:])
        pieces = [c for c in cuts if c.strip()]
        counts = self.counter.count_tokens(pieces)
        return [
            _Unit(piece, unit.separator if i == 0 else "", tokens, unit.is_header)
            for i, (piece, tokens) in enumerate(zip(pieces, counts, strict=True))
        ]


def _join(units: list[_Unit]) -> str:
    text = units[0].text
    for unit in units[1:]:
        text += unit.separator + unit.text
    return text.strip()


def _sections(blocks: list[Block]) -> list[_Section]:
    """Group blocks under their heading path; a heading with nothing under it is kept as text."""
    sections: list[_Section] = []
    path: list[tuple[int, str]] = []
    for i, block in enumerate(blocks):
        if block.kind is BlockKind.HEADING and _has_body(blocks, i):
            path = [(level, text) for level, text in path if level < block.level] + [(block.level, block.text)]
            continue
        headings = tuple(text for _, text in path)
        if not sections or sections[-1].headings != headings or sections[-1].page != block.page:
            sections.append(_Section(headings, block.page, []))
        sections[-1].units.extend(_units(block, first=not sections[-1].units))
    return [s for s in sections if s.units]


def _has_body(blocks: list[Block], i: int) -> bool:
    """Whether heading i is followed by content before the next heading of the same or a higher level."""
    for block in blocks[i + 1 :]:
        if block.kind is not BlockKind.HEADING:
            return True
        if block.level <= blocks[i].level:
            return False
    return False


def _units(block: Block, *, first: bool) -> list[_Unit]:
    lead = "" if first else "\n\n"
    if block.kind is BlockKind.TABLE and block.rows:
        rows = [" | ".join(row) for row in block.rows]
        return [_Unit(rows[0], lead, is_header=True)] + [_Unit(row, "\n") for row in rows[1:]]
    sentences = split_sentences(block.text)
    return [_Unit(s, lead if i == 0 else "") for i, s in enumerate(sentences)]
