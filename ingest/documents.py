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
    """The structure of one file; `title` is the best title the format offers (metadata, first heading, name).

    An e-mail's `attachments` are parsed as documents of their own (indexed apart from the message, see
    ingest/attachments.py); every other format has none."""

    title: str
    doc_type: str
    blocks: list[Block] = field(default_factory=list)
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file attached to an e-mail: its parsed document, or why it could not be parsed (never both).

    `index` is its 1-based position among the message's attachments and, with `name`, what identifies it
    across runs; `content_hash` is the SHA-256 of its bytes (empty when they could not be read)."""

    index: int
    name: str
    content_hash: str = ""
    document: ParsedDocument | None = None
    error: str | None = None
