"""What a source of documents is: it lists its documents (a stable key, a modification marker, who may read
each) and fetches one document's bytes. `ingest.sync` does the rest — fetching only what changed, parsing in
the sandbox, embedding, removing what the source no longer has, refreshing permissions without re-embedding.

A connector knows its protocol and nothing of the index. It is built from its source's options (a pydantic
model of its own, so a typo in a setting fails at start-up with the field's name) and must:
- list every document of the source, each once, with a `key` that stays the same across syncs (an S3 key, a
  page URL, a path in a repository, a Confluence page id) and a `marker` that changes when the bytes do (an
  ETag, a version number, a Git blob id); listing the same unchanged source twice gives the same markers;
- raise `SourceUnavailableError` when it cannot list the whole source (down, refused, forbidden, throttled past
  its retries): a partial listing must never be mistaken for documents deleted at the source;
- raise `FetchError` for one document that cannot be fetched (gone since listing, too large, refused): that
  document fails in the report, the others go on;
- set an attribute `listing_complete = False` after a listing it cut short on purpose (a website's page limit):
  the sync then deletes nothing, since the documents it did not reach are not known to be gone (a connector
  without the attribute always lists whole);
- report permissions only where the source has them (`acl` as Docent principals `user:<email>` /
  `group:<name>`, before the source's principal mapping); `acl=None` means "the source's configured ACL".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from retrieval.errors import SourceUnavailableError

__all__ = ["Connector", "FetchError", "SourceDocument", "SourceUnavailableError"]


@dataclass(frozen=True, slots=True)
class SourceDocument:
    """One document as its source lists it (nothing fetched yet)."""

    key: str  # stable within the source: an S3 key, a URL, a path in a repository, a page id
    marker: str  # changes when the document's bytes change: an ETag, a version number, a blob id
    name: str  # a file name whose extension hints at the format ("report.pdf", "page.html"); the bytes decide
    title: str | None = None  # the source's own title, when it has one (a Confluence page's)
    url: str | None = None  # where a person opens the original
    modified_at: datetime | None = None
    size: int | None = None  # bytes, when the listing says (a document over the limit is not fetched)
    acl: tuple[str, ...] | None = None  # the source's own permissions as principals; None: the configured ACL


class Connector(Protocol):
    """A source of documents (see the module docstring for the contract)."""

    def documents(self) -> Iterator[SourceDocument]:
        """Every document of the source; raises SourceUnavailableError when the listing cannot be completed."""
        ...

    def fetch(self, document: SourceDocument, *, max_bytes: int) -> bytes:
        """The document's bytes; raises FetchError (too large, gone, refused) for this document alone."""
        ...

    def close(self) -> None:
        """Release connections and temporary files."""
        ...


class FetchError(Exception):
    """One document could not be fetched; `transient` when another try may succeed (a timeout, a 5xx)."""

    def __init__(self, reason: str, *, transient: bool = False) -> None:
        super().__init__(reason)
        self.transient = transient
