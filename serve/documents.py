"""Document management for the API: uploads indexed through the ingest pipeline, listing, lookup, deletion.

Uploaded files are kept under `<data_dir>/uploads/<folder>/<name>`: the saved file is the document's source, so
re-uploading a file of the same name to the same folder replaces that document (same id, no duplicate), and
the folder works as a `source_prefix` filter. An upload returns at once with a job (ingest/jobs/queue.py) that the
queue's workers run: threads of the API process by default, `docent worker` processes with Redis.

A document's original file (`file`) is served only to a principal its ACL admits, and only from the folders the
server may serve: the uploads folder, the configured `file_roots` (DOCENT_API__FILE_ROOTS) and the paths
`docent ingest` was given on this data dir (`ingested_roots`).
"""

from __future__ import annotations

import mimetypes
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ingest.discovery import document_id as document_id_of
from ingest.jobs.queue import JobService
from ingest.jobs.store import Grant, JobStatus
from retrieval.access import ALL_ACCESS, Access
from retrieval.errors import ConfigError, PathNotFoundError
from retrieval.index import Index
from retrieval.models import point_id
from serve.stores.ingested_roots import IngestedRoots

_UNSAFE = re.compile(r"[^\w.\- ]+", re.UNICODE)


def safe_name(name: str) -> str:
    """A file or folder name that cannot climb out of its folder or hide: no separators, no leading dots."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).strip(" .")
    if not cleaned:
        raise ConfigError(f"unusable file name: {name!r}")
    return cleaned[:200]


def safe_folder(folder: str) -> Path:
    parts = [safe_name(p) for p in folder.replace("\\", "/").split("/") if p.strip(" .")]
    return Path(*parts) if parts else Path()


def distinct_name(name: str, taken: set[str]) -> str:
    """`name`, or `stem (2).ext`, `stem (3).ext`... when an earlier file of the same request took it."""
    candidate, number = name, 1
    stem, dot, ext = name.rpartition(".") if "." in name.lstrip(".") else (name, "", "")
    while candidate.casefold() in taken:
        number += 1
        candidate = f"{stem} ({number}){dot}{ext}"
    taken.add(candidate.casefold())
    return candidate


@dataclass(frozen=True, slots=True)
class Upload:
    filename: str
    stream: BinaryIO


@dataclass(slots=True)
class UploadResult:
    filename: str
    document_id: str
    source: str
    status: str  # "queued" | "indexed" | "unchanged" | "failed" | "dead" (retried to the limit)
    chunks: int = 0
    reason: str | None = None


@dataclass(slots=True)
class DocumentInfo:
    document_id: str
    source: str
    status: str  # "indexed" | "incomplete" (a write was interrupted; the next ingest of the file heals it)
    chunks: int
    title: str = ""
    doc_type: str = ""
    acl: tuple[str, ...] = ()  # who may read it (besides everyone, when public)
    public: bool = False
    tags: tuple[str, ...] = ()


# Shown in the browser: formats that cannot run script on our origin. Anything else (HTML, SVG, Office files...)
# is a download, so an uploaded page can never act as the site.
_INLINE_TYPES = ("application/pdf", "text/plain")


@dataclass(frozen=True, slots=True)
class DocumentFile:
    """A document's original file, checked: where it is on disk, its name, its type and how to present it."""

    path: Path  # resolved: no symlink left
    name: str
    media_type: str
    inline: bool  # True: `Content-Disposition: inline` (PDF, plain text, images but SVG); else `attachment`


def presentation(name: str) -> tuple[str, bool]:
    """The media type of a file called `name` (application/octet-stream when unknown) and whether it may be
    shown inline."""
    media_type = mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"
    inline = media_type in _INLINE_TYPES or (media_type.startswith("image/") and media_type != "image/svg+xml")
    return media_type, inline


class DocumentService:
    def __init__(
        self,
        index: Index,
        uploads_dir: Path,
        jobs: JobService | None,
        *,
        file_roots: tuple[Path, ...] = (),
        ingested_roots: IngestedRoots | None = None,
    ) -> None:
        self.index = index
        self.uploads_dir = Path(uploads_dir)
        self.jobs = jobs
        self.file_roots = tuple(Path(root) for root in file_roots)
        self.ingested_roots = ingested_roots

    def upload(
        self,
        files: list[Upload],
        *,
        folder: str = "",
        acl: tuple[str, ...] = (),
        public: bool = False,
        tags: tuple[str, ...] = (),
    ) -> tuple[JobStatus, dict[str, str]]:
        """Save `files` and submit a job that indexes them; the job and the saved path of each file name.

        A file is written to a temporary name and moved into place, so a half-received upload never replaces a
        good file; its document keeps its old chunks until the new ones are written (see `Index`). Files of the
        same name in one request are kept apart (`a.pdf`, `a (2).pdf`): each is its own document and outcome.
        A file that then fails to index is moved out of the uploads folder (see `ingest.quarantine`)."""
        if self.jobs is None:
            raise ConfigError("this server was started without an indexing queue")
        grant = Grant(acl, public, tags)  # an unusable principal is refused before anything is saved
        self.jobs.check()
        target = self.uploads_dir / safe_folder(folder)
        target.mkdir(parents=True, exist_ok=True)
        paths: dict[str, str] = {}
        taken: set[str] = set()
        for upload in files:
            path = target / distinct_name(safe_name(upload.filename), taken)
            with tempfile.NamedTemporaryFile(dir=target, prefix=".upload-", delete=False) as out:
                shutil.copyfileobj(upload.stream, out, 1 << 20)
            Path(out.name).replace(path)
            paths[str(path.resolve())] = upload.filename
        label = f"upload of {len(paths)} file(s) to {safe_folder(folder) or '/'}"
        try:
            status = self.jobs.submit([Path(p) for p in paths], grant, kind="upload", label=label)
        except Exception:
            for path in paths:  # no job will index them: they must not stay among the uploads
                Path(path).unlink(missing_ok=True)
            raise
        return status, paths

    @staticmethod
    def results(status: JobStatus, paths: dict[str, str]) -> list[UploadResult]:
        """Each uploaded file's outcome so far ("queued" until its task reaches it)."""
        outcomes = status.finished_files
        results = []
        for path, filename in paths.items():
            outcome = outcomes.get(path)
            results.append(
                UploadResult(
                    filename,
                    document_id_of(path),
                    path,
                    outcome.status if outcome else "queued",
                    outcome.chunks if outcome else 0,
                    outcome.reason if outcome else None,
                )
            )
        return results

    def _info(self, document_id: str, source: str) -> DocumentInfo | None:
        state = self.index.document_state(document_id)
        if state is None:
            return None
        info = DocumentInfo(
            document_id, source or state.source, "indexed" if state.complete else "incomplete", state.chunk_count
        )
        first = self.index.fetch([point_id(document_id, 0)], ALL_ACCESS)
        if first:
            info.title, info.doc_type = first[0].title, first[0].doc_type
        return info

    def _with_grants(self, infos: list[DocumentInfo]) -> list[DocumentInfo]:
        """`infos` with their access lists and tags (what `docent reindex --server` rebuilds them with)."""
        wanted = {i.document_id for i in infos}
        grants = {g.document_id: g for g in self.index.grants() if g.document_id in wanted}
        for info in infos:
            grant = grants.get(info.document_id)
            if grant is not None:
                info.acl, info.public, info.tags = grant.acl, grant.public, grant.tags
        return infos

    def list(self, *, offset: int = 0, limit: int = 50, prefix: str | None = None) -> tuple[int, list[DocumentInfo]]:
        """The total number of documents (under `prefix`, a source path prefix) and one page of them, by source."""
        everything = sorted(self.index.documents(), key=lambda d: d[1])
        if prefix:
            everything = [d for d in everything if d[1].startswith(prefix)]
        page = [self._info(doc, source) for doc, source in everything[offset : offset + limit]]
        return len(everything), self._with_grants([p for p in page if p is not None])

    def get(self, document_id: str) -> DocumentInfo:
        info = self._info(document_id, "")
        if info is None:
            raise PathNotFoundError(f"no document {document_id}")
        return self._with_grants([info])[0]  # with who may read it, as in `list`

    def delete(self, document_id: str) -> DocumentInfo:
        """Remove a document's chunks, and its file when it was uploaded (else the next sync would re-add it)."""
        info = self.get(document_id)
        self.index.delete_document(document_id)
        path = Path(info.source)
        if path.is_relative_to(self.uploads_dir.resolve()):
            path.unlink(missing_ok=True)
        return info

    def file(self, document_id: str, access: Access) -> DocumentFile:
        """The original file of `document_id`, for a caller with `access`.

        A document `access` may not read is "no document", exactly as one that does not exist, so an id says
        nothing about documents of other groups. The check is the index's own ACL filter on the document's first
        chunk: the rule every search applies.

        Only a file under the uploads folder, a configured root (DOCENT_API__FILE_ROOTS) or a path `docent ingest`
        was given on this data dir is served, after resolving symlinks, so a link planted in a served folder, or
        a document whose source moved, cannot reach other files of the server. Both lists, because neither is
        enough alone: the recorded paths make `docent ingest ./docs; docent serve` work with no setting, but the
        API often does not see what ingestion saw (a sync CronJob or a worker in another pod, another data dir,
        another mount), where the configured list names the folders as the API's pod mounts them. The roots are
        read at each request, so an ingest run while the server runs counts at once.

        Raises:
            PathNotFoundError: no such document for `access`; its file is outside the served folders; or it is
                no longer on disk.
        """
        first = self.index.fetch([point_id(document_id, 0)], access)
        if not first:  # the same words for every id: nothing to compare between a guess and a real one
            raise PathNotFoundError("no such document")
        source = Path(first[0].source)
        path = source.resolve()
        recorded = self.ingested_roots.read() if self.ingested_roots is not None else ()
        roots = (self.uploads_dir, *self.file_roots, *recorded)
        if not any(path.is_relative_to(root.resolve()) for root in roots):
            raise PathNotFoundError(
                "the document's file is not served: it is outside the uploads folder, DOCENT_API__FILE_ROOTS and "
                "the folders `docent ingest` was given here"
            )
        if not path.is_file() or not os.access(path, os.R_OK):
            raise PathNotFoundError("the document's file is no longer available")
        media_type, inline = presentation(source.name)
        return DocumentFile(path, source.name, media_type, inline)
