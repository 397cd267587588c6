"""Metadata filters a search may add. They are ANDed with the access rule, so they can only narrow a search."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath


def path_prefixes(source: str) -> list[str]:
    """Every folder above `source` and `source` itself: stored with each chunk so that a source-prefix filter
    is an exact keyword match (Qdrant has no prefix match on keyword indexes)."""
    path = PurePosixPath(source)
    return [str(p) for p in reversed(path.parents) if str(p) not in (".", "")] + [str(path)]


def normalize_prefix(prefix: str) -> str:
    """'/data/docs/hr/' → '/data/docs/hr': a prefix names a folder or a file, never part of a name."""
    text = prefix.strip()
    return text if text == "/" else text.rstrip("/")


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """Optional restrictions; empty means "no restriction" for each field.

    `source_prefix` is a folder (or file) path as stored in `source`; `doc_types` ("pdf", "docx", …),
    `languages` ("en", "zh") and `tags` match any of the given values; the date range applies to the
    document's modification time and includes both ends.
    """

    source_prefix: str | None = None
    doc_types: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    modified_after: datetime | None = None
    modified_before: datetime | None = None

    @property
    def empty(self) -> bool:
        return not (
            self.source_prefix
            or self.doc_types
            or self.languages
            or self.tags
            or self.modified_after
            or self.modified_before
        )


NO_FILTERS = SearchFilters()
