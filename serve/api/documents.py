"""Document management (keys with role ingest or admin): upload and index, list, look up, delete; and any
reader's original files."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel

from retrieval.errors import ConfigError
from serve.api.auditing import audit
from serve.api.auth import IngestDep, ReaderDep
from serve.api.errors import error_responses
from serve.api.jobs import Job
from serve.api.services import DocumentsDep, ServicesDep
from serve.documents import DocumentInfo, Upload, UploadResult

router = APIRouter(responses=error_responses(400, 401, 403, 404, 413, 422, 429, 503))


class UploadResponse(BaseModel):
    """The upload's job, each file's outcome (the domain's `UploadResult`, sent as it is) and their counts."""

    job: Job
    documents: list[UploadResult]
    queued: int
    indexed: int
    unchanged: int
    failed: int
    dead: int


class DocumentPage(BaseModel):
    total: int
    offset: int
    limit: int
    documents: list[DocumentInfo]  # the domain's record, sent as it is


class Deleted(BaseModel):
    deleted: bool
    document: DocumentInfo


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


@router.post(
    "/v1/documents", status_code=202, responses={200: {"description": "with `wait`: the job finished within it"}}
)
def upload(
    request: Request,
    who: IngestDep,
    s: ServicesDep,
    documents: DocumentsDep,
    response: Response,
    files: Annotated[list[UploadFile], File(description="one or more documents")],
    folder: Annotated[str, Form(max_length=500)] = "",
    acl: Annotated[str, Form(description="comma-separated principals: group:x, user:y")] = "",
    public: Annotated[bool, Form()] = False,
    tags: Annotated[str, Form(description="comma-separated tags")] = "",
    wait: Annotated[float, Query(ge=0, description="seconds to wait for the job to finish (0: return at once)")] = 0,
) -> UploadResponse:
    """Upload documents and queue a job that indexes them: 202 with the job (follow it at /v1/jobs/{id}), or,
    with `wait`, the job as it stands when it finished (200) or the wait ran out (202). A failed file fails alone."""
    if len(files) > s.max_upload_files:
        raise ConfigError(f"at most {s.max_upload_files} files per upload, not {len(files)}")
    grant = _split(acl)
    if not grant and not public:
        raise ConfigError("say who may read the documents: acl (e.g. group:hr) and/or public=true")
    status, paths = documents.upload(
        [Upload(f.filename or "upload", f.file) for f in files],
        folder=folder,
        acl=grant,
        public=public,
        tags=_split(tags),
    )
    if wait:
        status = s.need_jobs().wait(status.job.job_id, min(wait, s.max_upload_wait_s))
    response.status_code = 200 if status.finished else 202
    response.headers["Location"] = f"/v1/jobs/{status.job.job_id}"
    results = documents.results(status, paths)
    audit(request, s, who, "upload", query=folder or None).done(
        [(r.document_id, r.filename) for r in results],
        detail={"job": status.job.job_id, "acl": list(grant), "public": public, "tags": list(_split(tags))},
    )
    return UploadResponse.model_validate(
        {
            "job": status.to_dict(),
            "documents": [asdict(r) for r in results],
            **{
                state: sum(r.status == state for r in results)
                for state in ("queued", "indexed", "unchanged", "failed", "dead")
            },
        }
    )


@router.get("/v1/documents")
def list_documents(
    who: IngestDep,
    documents: DocumentsDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    prefix: Annotated[str | None, Query(max_length=1000)] = None,
) -> DocumentPage:
    total, page = documents.list(offset=offset, limit=limit, prefix=prefix)
    return DocumentPage(total=total, offset=offset, limit=limit, documents=page)


@router.get("/v1/documents/{document_id}")
def get_document(document_id: str, who: IngestDep, documents: DocumentsDep) -> DocumentInfo:
    return documents.get(document_id)


@router.delete("/v1/documents/{document_id}")
def delete_document(
    document_id: str, request: Request, who: IngestDep, s: ServicesDep, documents: DocumentsDep
) -> Deleted:
    deleted = documents.delete(document_id)
    audit(request, s, who, "delete", query=document_id).done(
        [(deleted.document_id, deleted.title)], detail={"source": deleted.source}
    )
    return Deleted(deleted=True, document=deleted)


# A file is the document as it was uploaded or ingested, not a page of ours: in a browser it runs in a sandbox
# (no script, no same-origin access), and the middleware adds `nosniff`.
FILE_HEADERS = {"Content-Security-Policy": "sandbox", "Cache-Control": "private, no-cache"}


@router.get(
    "/v1/documents/{document_id}/file",
    response_class=FileResponse,
    responses={200: {"description": "the original file", "content": {"application/octet-stream": {}}}},
)
def document_file(document_id: str, who: ReaderDep, documents: DocumentsDep) -> FileResponse:
    """The document's original file, to a caller its ACL admits (404, as for a missing document, otherwise).
    PDF, plain text and images are `inline`; everything else is an `attachment`."""
    found = documents.file(document_id, who.principal)
    return FileResponse(
        found.path,
        media_type=found.media_type,
        filename=found.name,
        content_disposition_type="inline" if found.inline else "attachment",
        headers=FILE_HEADERS,
    )
