"""What a parser hands to the chunker: a document as an ordered list of typed blocks."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class BlockKind(StrEnum):
    HEADING = "heading"
    TEXT = "text"
    TABLE = "table"


@dataclass(frozen=True, slots=True)
class Block:
    """A heading (with its level, 1 = top), a paragraph, or a table (with its rows, header first)."""

    kind: BlockKind
    text: str
    level: int = 0
    page: int | None = None
    rows: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """The structure of one file; `title` is the best title the format offers (metadata, first heading, name)."""

    title: str
    doc_type: str
    blocks: list[Block] = field(default_factory=list)
