"""Document management (admin keys): upload and index, list, look up, delete."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile

from retrieval.errors import ConfigError
from serve.api.auth import CallerDep, ServicesDep
from serve.documents import Upload

router = APIRouter()


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


@router.post("/v1/documents", status_code=201)
def upload(
    who: CallerDep,
    s: ServicesDep,
    files: Annotated[list[UploadFile], File(description="one or more documents")],
    folder: Annotated[str, Form(max_length=500)] = "",
    acl: Annotated[str, Form(description="comma-separated principals: group:x, user:y")] = "",
    public: Annotated[bool, Form()] = False,
    tags: Annotated[str, Form(description="comma-separated tags")] = "",
) -> dict[str, object]:
    """Upload and index documents. Each file's outcome is reported; a failed file fails alone."""
    who.require_admin()
    documents = s.need_documents()
    if len(files) > s.max_upload_files:
        raise ConfigError(f"at most {s.max_upload_files} files per upload, not {len(files)}")
    grant = _split(acl)
    if not grant and not public:
        raise ConfigError("say who may read the documents: acl (e.g. group:hr) and/or public=true")
    results = documents.upload([Upload(f.filename or "upload", f.file) for f in files], folder=folder, acl=grant,
                               public=public, tags=_split(tags))
    return {"documents": [asdict(r) for r in results],
            "indexed": sum(r.status == "indexed" for r in results),
            "unchanged": sum(r.status == "unchanged" for r in results),
            "failed": sum(r.status == "failed" for r in results)}


@router.get("/v1/documents")
def list_documents(
    who: CallerDep,
    s: ServicesDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    prefix: Annotated[str | None, Query(max_length=1000)] = None,
) -> dict[str, object]:
    who.require_admin()
    total, page = s.need_documents().list(offset=offset, limit=limit, prefix=prefix)
    return {"total": total, "offset": offset, "limit": limit, "documents": [asdict(d) for d in page]}


@router.get("/v1/documents/{document_id}")
def get_document(document_id: str, who: CallerDep, s: ServicesDep) -> dict[str, object]:
    who.require_admin()
    return asdict(s.need_documents().get(document_id))


@router.delete("/v1/documents/{document_id}")
def delete_document(document_id: str, who: CallerDep, s: ServicesDep) -> dict[str, object]:
    who.require_admin()
    return {"deleted": True, "document": asdict(s.need_documents().delete(document_id))}
