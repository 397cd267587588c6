"""The ingestion pipeline: files → parse (sandboxed) → chunk → embed (dense + sparse) → replace in the index.

Correctness under change comes from three rules:
- a document's revision hashes its bytes, its ACL and the chunking/embedding settings; a file whose stored
  revision is complete is skipped before parsing (a re-run of an unchanged corpus embeds nothing);
- chunks are written with deterministic ids and stale ones removed afterwards (`Index.replace_document`), so
  a killed run leaves at worst an incomplete revision, which the next run sees and rewrites;
- a file that fails keeps whatever was indexed for it before; only `prune` deletes, and only files that are gone.

Parsing runs in worker processes while this process embeds, and chunks from several small documents are
embedded in one batch, which keeps the embedding model (the bottleneck) busy.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import numpy as np

from ingest.attachments import attachment_source, attachment_title, owner_source
from ingest.chunking import Chunker, embed_text
from ingest.discovery import discover, document_id, file_sha256, source_of, under_roots
from ingest.documents import ParsedDocument
from ingest.report import Failure, IngestReport
from ingest.sandbox import ParserPool
from retrieval.access import acl_entries
from retrieval.embedding import Embedder
from retrieval.index import Index
from retrieval.models import Chunk, DocumentMeta, IndexedChunk
from retrieval.sparse import SparseEncoder

log = logging.getLogger(__name__)


class MultilingualEmbedder(Protocol):
    """The multilingual model of the cross-language vector (retrieval.embedding.UniversalSentenceEncoder or any
    Embedder)."""

    name: str

    def embed_documents(self, texts: list[str]) -> np.ndarray: ...


def _load_malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to trim
        return None


# Embedding batches of ever-different padded shapes leave glibc holding freed memory in its arenas; without
# trimming after each batch the process grew by ~40 KB per chunk (1.26 → 1.51 GB from 2,209 to 8,540 chunks).
_malloc_trim = _load_malloc_trim()

# Bump when chunking or sparse encoding changes in a way that must re-index every document.
PIPELINE_VERSION = "3"  # 2: tags, path prefixes and the CJK vector; 3: the multilingual vector on every chunk


class WriteLocks(Protocol):
    """A lock per document around its replace or delete: two interleaved replaces of one document (two jobs
    with the same file) could otherwise each delete the other's chunks as stale."""

    def of(self, document_id: str) -> AbstractContextManager[object]: ...


class DocumentLocks:
    """`WriteLocks` among the threads of one process (the embedded index has no other writer);
    `ingest.jobs.redis_store.RedisDocumentLocks` across the processes that share a Qdrant server."""

    def __init__(self, stripes: int = 64) -> None:
        self._locks = [threading.Lock() for _ in range(stripes)]

    def of(self, document_id: str) -> threading.Lock:
        return self._locks[hash(document_id) % len(self._locks)]


@dataclass(frozen=True, slots=True)
class FileDone:
    """One file finished (indexed, unchanged or failed); for progress displays."""

    path: Path
    status: str  # "indexed" | "unchanged" | "failed"
    chunks: int = 0  # written, or already in the index when unchanged
    reason: str | None = None  # why it failed
    transient: bool = False  # a failure that may pass on another try (see ParseOutcome.transient)


@dataclass(slots=True)
class _Pending:
    meta: DocumentMeta
    chunks: list[Chunk]
    path: Path
    notify: bool = True  # False for an e-mail's attachment: progress counts files, and its message is the file


@dataclass(frozen=True, slots=True)
class TextDocument:
    """A document that arrives already parsed (an evaluation corpus, a connector), not as a file."""

    document_id: str
    source: str
    document: ParsedDocument
    content_hash: str
    modified_at: datetime


@dataclass(frozen=True, slots=True)
class PlannedFile:
    """A file to parse and index as one document: its identity, its revision and who may read it.

    A folder's files are known by their path; a connector's documents (`ingest.sync`) are fetched to a
    scratch file and known by their source name and key, with the source's own title and modification time."""

    path: Path
    source: str
    document_id: str
    content_hash: str
    revision: str
    grant: Grant
    modified_at: datetime | None = None  # None: the file's modification time
    title: str | None = None  # the source's own title, preferred to the parsed one
    marker: str = ""  # the source's modification marker, stored with the document

    @property
    def label(self) -> Path:
        """What progress and failures name: the file, or the connector document's source id."""
        return self.path if self.source == str(self.path) else Path(self.source)


class IngestPipeline:
    """Indexes files into `index`. Holds no state between runs; every collaborator is passed in."""

    def __init__(
        self,
        *,
        index: Index,
        embedder: Embedder,
        sparse: SparseEncoder,
        chunker: Chunker,
        parsers: ParserPool | None,
        multilingual_embedder: MultilingualEmbedder | None = None,
        batch_chunks: int = 256,
        optimize_after_chunks: int = 5000,
        exclude: Sequence[Path] = (),
        locks: WriteLocks | None = None,
        overlap_models: bool = False,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.multilingual_embedder = multilingual_embedder
        self.sparse = sparse
        self.chunker = chunker
        self.parsers = parsers
        self.batch_chunks = batch_chunks
        self.optimize_after_chunks = optimize_after_chunks
        self.exclude = tuple(exclude)
        self.locks = locks or DocumentLocks()
        self.min_batch = embedder.batch_size
        self._sparse_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="docent-sparse")
        # With `overlap_models`, the multilingual model runs beside the main one, on cores the main model leaves
        # idle. Where the main model already uses every core, the two fight: on 2 cores, ingest ran at 0.56x of the
        # models in turn (bench/ingest_speed.py), so the composition root turns it on only when cores are left over.
        self.overlap_models = overlap_models
        self._multilingual_thread = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="docent-multilingual") if overlap_models else None
        )

    def with_parsers(self, parsers: ParserPool) -> IngestPipeline:
        """The same pipeline with its own parser pool (a pool serves one run at a time): for worker threads,
        which share the models, the index and the document locks."""
        return IngestPipeline(
            index=self.index,
            embedder=self.embedder,
            sparse=self.sparse,
            chunker=self.chunker,
            parsers=parsers,
            multilingual_embedder=self.multilingual_embedder,
            overlap_models=self.overlap_models,
            batch_chunks=self.batch_chunks,
            optimize_after_chunks=self.optimize_after_chunks,
            exclude=self.exclude,
            locks=self.locks,
        )

    def settings_fingerprint(self) -> str:
        multilingual = self.multilingual_embedder.name if self.multilingual_embedder else ""
        chunker = self.chunker
        return f"{PIPELINE_VERSION}|{self.embedder.name}|{multilingual}|{chunker.chunk_tokens}|{chunker.overlap_tokens}"

    def run(
        self,
        paths: Sequence[Path],
        *,
        acl: Sequence[str] = (),
        public: bool = False,
        tags: Sequence[str] = (),
        prune: bool = False,
        on_start: Callable[[int], None] | None = None,
        on_file: Callable[[FileDone], None] | None = None,
    ) -> IngestReport:
        if self.parsers is None:
            raise RuntimeError("IngestPipeline.run() needs parsers; run_parsed() does not")
        started = time.perf_counter()
        files = discover(paths, exclude=self.exclude)
        report = IngestReport(files=len(files))
        notify = on_file or (lambda done: None)
        if on_start:
            on_start(len(files))
        grant = Grant.of(acl, public, tags)
        planned: list[PlannedFile] = []
        for path in files:
            plan = self._plan(path, grant)
            state = self.index.document_state(plan.document_id)
            if state is not None and state.revision == plan.revision and state.complete:
                report.unchanged += 1
                notify(FileDone(path, "unchanged", state.chunk_count))
            else:
                planned.append(plan)
        self.index_files(planned, report, notify)
        if prune:
            report.removed = self._prune(paths, files)
        self._optimize(report)
        report.seconds = time.perf_counter() - started
        return report

    def index_files(
        self, planned: Sequence[PlannedFile], report: IngestReport, notify: Callable[[FileDone], None]
    ) -> None:
        """Parse (in the sandbox), chunk, embed and write each planned file as its document; failures go to
        `report`, never raise. Callers have already skipped the unchanged ones."""
        if self.parsers is None:
            raise RuntimeError("IngestPipeline.index_files() needs parsers")
        by_path = {plan.path: plan for plan in planned}
        pending: list[_Pending] = []
        ingested_at = datetime.now(UTC)
        for outcome in self.parsers.parse_all(list(by_path)):
            plan = by_path[outcome.path]
            if outcome.document is None:
                reason = outcome.error or "unknown error"
                log.warning("failed source=%s reason=%s", plan.source, reason)
                report.failed.append(Failure(str(plan.label), reason))
                notify(FileDone(plan.label, "failed", reason=reason, transient=outcome.transient))
                continue
            document = outcome.document
            pending.extend(self._attachments(plan, document, report, ingested_at))
            if plan.title:
                document = replace(document, title=plan.title)
            chunks = self.chunker.chunk(document)
            if not chunks:
                report.failed.append(Failure(str(plan.label), "no text to index"))
                notify(FileDone(plan.label, "failed", reason="no text to index"))
                continue
            modified_at = plan.modified_at or datetime.fromtimestamp(outcome.path.stat().st_mtime, UTC)
            meta = plan.grant.meta(
                plan.document_id,
                plan.source,
                document,
                plan.content_hash,
                plan.revision,
                modified_at=modified_at,
                ingested_at=ingested_at,
                chunks=len(chunks),
                marker=plan.marker,
            )
            pending.append(_Pending(meta, chunks, plan.label))
            waiting = sum(len(p.chunks) for p in pending)
            # Embed when the batch is full, or when the parsers are behind and a model batch is ready:
            # large batches sort better by length, but the model must not sit idle waiting for them.
            if waiting >= self.batch_chunks or (waiting >= self.min_batch and self.parsers.backlog() == 0):
                self._write(pending, report, notify)
                pending = []
        self._write(pending, report, notify)

    def finish(self, report: IngestReport) -> None:
        """After a run's writes: rebuild the vector indexes if it wrote many chunks."""
        self._optimize(report)

    def run_parsed(
        self,
        documents: Iterable[TextDocument],
        *,
        acl: Sequence[str] = (),
        public: bool = False,
        tags: Sequence[str] = (),
        on_file: Callable[[FileDone], None] | None = None,
    ) -> IngestReport:
        """Index documents that are already parsed, with the same chunking, embedding and revision rules."""
        started = time.perf_counter()
        report = IngestReport()
        notify = on_file or (lambda done: None)
        grant = Grant.of(acl, public, tags)
        ingested_at = datetime.now(UTC)
        pending: list[_Pending] = []
        for item in documents:
            report.files += 1
            path = Path(item.source)
            revision = self.revision(item.content_hash, grant.key)
            state = self.index.document_state(item.document_id)
            if state is not None and state.revision == revision and state.complete:
                report.unchanged += 1
                notify(FileDone(path, "unchanged", state.chunk_count))
                continue
            chunks = self.chunker.chunk(item.document)
            if not chunks:
                report.failed.append(Failure(item.source, "no text to index"))
                notify(FileDone(path, "failed", reason="no text to index"))
                continue
            meta = grant.meta(
                item.document_id,
                item.source,
                item.document,
                item.content_hash,
                revision,
                modified_at=item.modified_at,
                ingested_at=ingested_at,
                chunks=len(chunks),
            )
            pending.append(_Pending(meta, chunks, path))
            if sum(len(p.chunks) for p in pending) >= self.batch_chunks:
                self._write(pending, report, notify)
                pending = []
        self._write(pending, report, notify)
        self._optimize(report)
        report.seconds = time.perf_counter() - started
        return report

    def prune(self, roots: Sequence[Path]) -> int:
        """Remove the indexed documents under `roots` whose files are gone; the number removed."""
        return self._prune(roots, discover(roots, exclude=self.exclude))

    def _prune(self, roots: Sequence[Path], files: Sequence[Path]) -> int:
        present = {source_of(p) for p in files}
        gone = [
            doc
            for doc, source in self.index.documents()
            if under_roots(source, roots) and source not in present and owner_source(source) not in present
        ]
        for doc in gone:
            with self.locks.of(doc):
                self.index.delete_document(doc)
        return len(gone)

    def _attachments(
        self, plan: PlannedFile, message: ParsedDocument, report: IngestReport, ingested_at: datetime
    ) -> list[_Pending]:
        """The attachments of a message to write as documents of their own (those changed since their last
        write), their failures added to `report`; attachments the message no longer has are deleted."""
        if message.doc_type not in ("eml", "msg"):
            return []
        pending = []
        keep = set()
        for attachment in message.attachments:
            source = attachment_source(plan.source, attachment)
            keep.add(source)
            if attachment.document is None:
                report.failed.append(Failure(source, attachment.error or "unknown error"))
                continue
            doc_id = document_id(source)
            revision = self.revision(attachment.content_hash, plan.grant.key)
            state = self.index.document_state(doc_id)
            if state is not None and state.revision == revision and state.complete:
                continue
            document = replace(attachment.document, title=attachment_title(attachment, message.title))
            chunks = self.chunker.chunk(document)
            if not chunks:
                report.failed.append(Failure(source, "no text to index"))
                continue
            meta = plan.grant.meta(
                doc_id,
                source,
                document,
                attachment.content_hash,
                revision,
                modified_at=plan.modified_at or datetime.fromtimestamp(plan.path.stat().st_mtime, UTC),
                ingested_at=ingested_at,
                chunks=len(chunks),
            )
            pending.append(_Pending(meta, chunks, plan.label, notify=False))
        if self.index.document_state(plan.document_id) is not None:  # a message written before: had it more?
            self._delete_stale_attachments(plan.source, keep)
        return pending

    def _delete_stale_attachments(self, message_source: str, keep: set[str]) -> None:
        """Delete the documents of attachments a message had at its last write and has no longer."""
        stale = [
            doc
            for doc, source in self.index.documents()
            if source != message_source and owner_source(source) == message_source and source not in keep
        ]
        for doc in stale:
            with self.locks.of(doc):
                self.index.delete_document(doc)

    def _optimize(self, report: IngestReport) -> None:
        """After a large write, build the vector indexes (HNSW): at 100k chunks an exact dense search takes
        13 ms and an indexed one 2 ms (bench/README.md). Small updates are not worth a rebuild: they land in a
        segment small enough to scan."""
        if report.chunks >= self.optimize_after_chunks:
            started = time.perf_counter()
            self.index.optimize()
            if _malloc_trim is not None:  # the rebuild's working memory, freed but kept by the allocator
                _malloc_trim(0)
            report.optimize_seconds = round(time.perf_counter() - started, 2)
            log.info("optimized chunks=%d seconds=%.1f", report.chunks, report.optimize_seconds)

    def revision(self, content: str, access_key: str) -> str:
        """A document's revision: its content (the bytes' hash, or a connector's marker), what else is stored
        with it (`Grant.key`), and the chunking and embedding settings. An unchanged revision is not rewritten."""
        digest = hashlib.sha256(f"{content}|{access_key}|{self.settings_fingerprint()}".encode())
        return digest.hexdigest()[:32]

    def _plan(self, path: Path, grant: Grant) -> PlannedFile:
        source = source_of(path)
        content_hash = file_sha256(path)
        return PlannedFile(
            path, source, document_id(source), content_hash, self.revision(content_hash, grant.key), grant
        )

    def _write(self, pending: list[_Pending], report: IngestReport, notify: Callable[[FileDone], None]) -> None:
        """Embed the chunks of several documents in one batch, then replace each document in the index."""
        if not pending:
            return
        texts = [embed_text(p.meta.title, c.headings, c.text) for p in pending for c in p.chunks]
        # BM25 terms are pure Python and the model mostly runs outside the GIL: compute them meanwhile.
        sparse_future = self._sparse_thread.submit(lambda: [self.sparse.encode_document(t) for t in texts])
        if self._multilingual_thread is None:
            dense = self.embedder.embed_documents(texts)
            multilingual = self._embed_multilingual(texts)
        else:
            multilingual_future = self._multilingual_thread.submit(self._embed_multilingual, texts)
            try:
                dense = self.embedder.embed_documents(texts)
            finally:
                multilingual = multilingual_future.result()  # waited for even when the main model failed
        sparse = sparse_future.result()
        report.embedded += len(texts)
        row = 0
        for item in pending:
            indexed = []
            for chunk in item.chunks:
                indexed.append(IndexedChunk(item.meta, chunk, dense[row], sparse[row], multilingual.get(row)))
                row += 1
            with self.locks.of(item.meta.document_id):
                self.index.replace_document(item.meta.document_id, item.meta.revision, indexed)
            report.indexed += 1
            report.chunks += len(indexed)
            log.info("indexed source=%s chunks=%d revision=%s", item.meta.source, len(indexed), item.meta.revision)
            if item.notify:
                notify(FileDone(item.path, "indexed", len(indexed)))
        if _malloc_trim is not None:
            _malloc_trim(0)

    def _embed_multilingual(self, texts: list[str]) -> dict[int, np.ndarray]:
        """The multilingual vector of every chunk, by row: it is what lets a question in one language find a
        passage written in another."""
        if self.multilingual_embedder is None:
            return {}
        vectors = self.multilingual_embedder.embed_documents(texts)
        return dict(enumerate(vectors))


@dataclass(frozen=True, slots=True)
class Grant:
    """Who may read a document, and its tags: the same for every document of a folder run; a connector's
    documents may each have their own ACL."""

    acl: tuple[str, ...]
    public: bool
    tags: tuple[str, ...]

    @classmethod
    def of(cls, acl: Sequence[str], public: bool, tags: Sequence[str]) -> Grant:
        return cls(acl_entries(acl), public, tuple(sorted(set(tags))))

    @property
    def key(self) -> str:
        """What besides the bytes goes into a revision: changing who may read a document, or its tags, rewrites it."""
        return ",".join(self.acl) + ("|public" if self.public else "") + "|tags=" + ",".join(self.tags)

    def meta(
        self,
        document_id: str,
        source: str,
        document: ParsedDocument,
        content_hash: str,
        revision: str,
        *,
        modified_at: datetime,
        ingested_at: datetime,
        chunks: int,
        marker: str = "",
    ) -> DocumentMeta:
        return DocumentMeta(
            document_id=document_id,
            source=source,
            title=document.title,
            doc_type=document.doc_type,
            content_hash=content_hash,
            revision=revision,
            modified_at=modified_at,
            ingested_at=ingested_at,
            acl=self.acl,
            public=self.public,
            chunk_count=chunks,
            tags=self.tags,
            marker=marker,
        )
