"""`docent sync` over a connector: keep the index in step with a source of documents.

One sync of one source:
1. list the source whole (`Connector.documents()`); a listing that fails raises `SourceUnavailableError` and
   nothing of the source is changed or deleted;
2. a listed document whose stored revision is complete and was built from the same marker is not fetched; if
   only its permissions changed at the source, they are rewritten on its points (`Index.update_access`), its
   text and vectors untouched;
3. the others are fetched (in batches, to a scratch folder), parsed in the sandbox by content, embedded and
   written, each with its own ACL;
4. documents of the source that the listing no longer has are deleted.

A document's id is derived from "<source name>:<key>", so two sources never collide, and its revision from
the marker (not the bytes: deciding "unchanged" must not need a download) plus the tags and the pipeline's
settings. The ACL is not in the revision, so a permission change never re-embeds. A sync killed midway loses
nothing: what it wrote is complete and is skipped next time; what it had not reached is fetched then.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from ingest.attachments import owner_source
from ingest.connectors.base import Connector, FetchError, SourceDocument
from ingest.discovery import document_id
from ingest.pipeline import FileDone, Grant, IngestPipeline, PlannedFile
from ingest.report import Failure, IngestReport
from retrieval.access import acl_entry
from retrieval.errors import ConfigError, SourceUnavailableError
from retrieval.models import DocumentGrant

log = logging.getLogger(__name__)

_UNSAFE_NAME = re.compile(r"[^\w.\-]+")


@dataclass(frozen=True, slots=True)
class Source:
    """A configured source: its name (unique; part of every document id), its kind and who may read it.

    `acl` and `public` apply to the documents of a source that has no permissions of its own (S3, a website,
    Git). For a source that has them (Confluence, SharePoint), each document's ACL comes from the source,
    with `principals` mapping the source's names to Docent's (`{"group:confluence-hr": "group:hr"}`; a name
    mapped to "" is dropped); names without a mapping are kept as the source gives them."""

    name: str
    kind: str
    acl: tuple[str, ...] = ()
    public: bool = False
    tags: tuple[str, ...] = ()
    principals: Mapping[str, str] = field(default_factory=dict)

    def source_id(self, key: str) -> str:
        """What a document of this source is known by (its `source` in the index)."""
        return f"{self.name}:{key}"

    def owns(self, source: str) -> bool:
        return source.startswith(f"{self.name}:")

    def access(self, document: SourceDocument) -> tuple[tuple[str, ...], bool]:
        """The ACL and visibility of a listed document, in Docent's principals."""
        if document.acl is None:
            return tuple(sorted({acl_entry(e) for e in self.acl})), self.public
        principals = {k.strip().lower(): v for k, v in self.principals.items()}
        entries: set[str] = set()
        for entry in document.acl:
            mapped = principals.get(entry.strip().lower(), entry)
            if not mapped.strip():
                continue
            try:
                entries.add(acl_entry(mapped))
            except ConfigError:  # a principal Docent cannot express grants nothing (rather than everything)
                log.warning("unusable principal source=%s principal=%r", self.name, mapped)
        return tuple(sorted(entries)), False


class SourceSync:
    """Syncs sources into the index through `pipeline` (its parsers, models, index and document locks)."""

    def __init__(self, pipeline: IngestPipeline, *, max_file_mb: float, fetch_batch: int = 16) -> None:
        self.pipeline = pipeline
        self.max_bytes = int(max_file_mb * 2**20)
        self.fetch_batch = fetch_batch

    def run(
        self,
        source: Source,
        connector: Connector,
        *,
        on_start: Callable[[int], None] | None = None,
        on_file: Callable[[FileDone], None] | None = None,
    ) -> IngestReport:
        started = time.perf_counter()
        notify = on_file or (lambda done: None)
        index = self.pipeline.index
        listed = _distinct(connector.documents())  # SourceUnavailableError: nothing below happens
        report = IngestReport(files=len(listed))
        if on_start:
            on_start(len(listed))
        indexed = {g.document_id: g for g in index.grants() if source.owns(g.source)}
        attachments: dict[str, list[DocumentGrant]] = {}  # a message's source → its attachments' documents
        for grant in indexed.values():
            if owner_source(grant.source) != grant.source:
                attachments.setdefault(owner_source(grant.source), []).append(grant)
        wanted: set[str] = set()
        to_fetch: list[tuple[SourceDocument, PlannedFile]] = []
        for document in listed:
            plan = self._plan(source, document)
            wanted.add(plan.document_id)
            stored = indexed.get(plan.document_id)
            if stored is not None and self._unchanged(plan):
                self._refresh_access(plan, stored, report)
                for attachment in attachments.get(plan.source, []):  # they are read with their message's ACL
                    wanted.add(attachment.document_id)
                    self._refresh_access(replace(plan, document_id=attachment.document_id), attachment, report)
                report.unchanged += 1
                notify(FileDone(plan.label, "unchanged"))
            else:
                to_fetch.append((document, plan))
        for start in range(0, len(to_fetch), self.fetch_batch):
            self._fetch_and_index(connector, to_fetch[start : start + self.fetch_batch], report, notify)
        if not getattr(connector, "listing_complete", True):  # cut short on purpose: the rest is not gone
            log.warning("source=%s listed in part: nothing of it is removed this time", source.name)
            wanted.update(indexed)
        for message in to_fetch:  # a rewritten message keeps or deletes its attachments itself (IngestPipeline)
            wanted.update(a.document_id for a in attachments.get(message[1].source, []))
        for gone in sorted(indexed.keys() - wanted):
            with self.pipeline.locks.of(gone):
                index.delete_document(gone)
            report.removed += 1
            log.info("removed source=%s", indexed[gone].source)
        self.pipeline.finish(report)
        report.seconds = time.perf_counter() - started
        return report

    def _plan(self, source: Source, document: SourceDocument) -> PlannedFile:
        acl, public = source.access(document)
        grant = Grant(acl, public, tuple(sorted(set(source.tags))))
        source_id = source.source_id(document.key)
        # Not grant.key: the ACL stays out of the revision, so a permission change is a payload update.
        revision = self.pipeline.revision(f"marker:{document.marker}", f"tags={','.join(grant.tags)}")
        return PlannedFile(
            path=Path(),  # set when fetched
            source=source_id,
            document_id=document_id(source_id),
            content_hash="",  # set when fetched
            revision=revision,
            grant=grant,
            modified_at=document.modified_at,
            title=document.title,
            marker=document.marker,
        )

    def _unchanged(self, plan: PlannedFile) -> bool:
        state = self.pipeline.index.document_state(plan.document_id)
        return state is not None and state.revision == plan.revision and state.complete

    def _refresh_access(self, plan: PlannedFile, stored: DocumentGrant, report: IngestReport) -> None:
        if (tuple(sorted(stored.acl)), stored.public) == (plan.grant.acl, plan.grant.public):
            return
        with self.pipeline.locks.of(plan.document_id):
            self.pipeline.index.update_access(plan.document_id, plan.grant.acl, plan.grant.public)
        report.access_updated += 1
        log.info("access source=%s acl=%s public=%s", plan.source, ",".join(plan.grant.acl), plan.grant.public)

    def _fetch_and_index(
        self,
        connector: Connector,
        batch: Sequence[tuple[SourceDocument, PlannedFile]],
        report: IngestReport,
        notify: Callable[[FileDone], None],
    ) -> None:
        with tempfile.TemporaryDirectory(prefix="docent-sync-") as scratch:
            ready: list[PlannedFile] = []
            for number, (document, plan) in enumerate(batch):
                try:
                    if document.size is not None and document.size > self.max_bytes:
                        raise FetchError(_too_large(document.size, self.max_bytes))
                    data = connector.fetch(document, max_bytes=self.max_bytes)
                    if len(data) > self.max_bytes:
                        raise FetchError(_too_large(len(data), self.max_bytes))
                except FetchError as exc:
                    log.warning("fetch failed source=%s reason=%s", plan.source, exc)
                    report.failed.append(Failure(plan.source, f"fetch failed: {exc}"))
                    notify(FileDone(plan.label, "failed", reason=f"fetch failed: {exc}", transient=exc.transient))
                    continue
                path = Path(scratch) / f"{number:04d}-{_safe_name(document.name)}"
                path.write_bytes(data)
                content_hash = hashlib.sha256(data).hexdigest()
                modified_at = plan.modified_at or datetime.now(UTC)
                ready.append(replace(plan, path=path, content_hash=content_hash, modified_at=modified_at))
            if ready:
                self.pipeline.index_files(ready, report, notify)


def _distinct(documents: Iterator[SourceDocument]) -> list[SourceDocument]:
    """The listing with each key once (the first wins): a source that lists a document twice (a page reached
    by two links) must not index it twice."""
    seen: dict[str, SourceDocument] = {}
    for document in documents:
        seen.setdefault(document.key, document)
    return list(seen.values())


def _safe_name(name: str) -> str:
    """A scratch file name that keeps the source's extension (a format hint) and nothing unsafe."""
    stem = _UNSAFE_NAME.sub("_", Path(name).name)[-120:].lstrip(".")
    return stem or "document"


def _too_large(size: int, limit: int) -> str:
    return f"file too large: {size / 2**20:.1f} MiB (limit {limit / 2**20:g} MiB)"


class ConnectedSources:
    """The configured sources with their connectors: what a reindex rebuilds connector documents from (their
    `source` is "<name>:<key>", not a file)."""

    def __init__(self, sources: Sequence[tuple[Source, Connector]], *, max_file_mb: float) -> None:
        self.sources = list(sources)
        self.max_file_mb = max_file_mb

    def owner(self, source_id: str) -> Source | None:
        return next((source for source, _ in self.sources if source.owns(source_id)), None)

    def resync(
        self, names: set[str], pipeline: IngestPipeline, on_file: Callable[[FileDone], None] | None = None
    ) -> tuple[set[str], list[Failure]]:
        """Sync the named sources into `pipeline`'s index; the ids of their documents it then holds, and the
        failures (a source that cannot be listed fails as a whole: its documents are then missing)."""
        present: set[str] = set()
        failures: list[Failure] = []
        sync = SourceSync(pipeline, max_file_mb=self.max_file_mb)
        for source, connector in self.sources:
            if source.name not in names:
                continue
            try:
                report = sync.run(source, connector, on_file=on_file)
            except SourceUnavailableError as exc:
                failures.append(Failure(f"{source.name}:", exc.message))
                continue
            failures += report.failed
            present |= {doc for doc, source_id in pipeline.index.documents() if source.owns(source_id)}
        return present, failures
