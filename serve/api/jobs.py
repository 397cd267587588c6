"""Indexing jobs (keys with role ingest or admin): list recent jobs, follow one, cancel one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from serve.api.auth import IngestDep
from serve.api.errors import error_responses
from serve.api.services import JobsDep

router = APIRouter(responses=error_responses(400, 401, 403, 404, 422, 429, 503))


class FileFailure(BaseModel):
    path: str
    reason: str | None
    attempts: int


class Job(BaseModel):
    """An indexing job as it stands (`JobStatus.to_dict`)."""

    id: str
    kind: str
    label: str
    state: str  # queued, running, succeeded, failed, partially_failed, cancelled
    progress: dict[str, int]  # documents_total, documents_done, indexed, unchanged, failed, dead, chunks, ...
    failures: list[FileFailure]
    dead_letter: list[FileFailure]  # retried to the limit
    retrying: list[dict[str, Any]]  # tasks that failed and will be tried again: task, attempts, error
    access: dict[str, Any]  # acl, public, tags
    timings: dict[str, Any]  # created_at, started_at, finished_at (ISO 8601), queued_s, elapsed_s, working_s


class JobList(BaseModel):
    jobs: list[Job]


@router.get("/v1/jobs")
def list_jobs(who: IngestDep, jobs: JobsDep, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> JobList:
    """The most recent jobs first, each with its state and progress."""
    return JobList.model_validate({"jobs": [status.to_dict() for status in jobs.recent(limit)]})


@router.get("/v1/jobs/{job_id}")
def get_job(job_id: str, who: IngestDep, jobs: JobsDep) -> Job:
    """State (queued, running, succeeded, failed, partially_failed, cancelled), progress, failures, timings."""
    return Job.model_validate(jobs.status(job_id).to_dict())


@router.post("/v1/jobs/{job_id}/cancel")
def cancel_job(job_id: str, who: IngestDep, jobs: JobsDep) -> Job:
    """Queued tasks are skipped and running ones stop after their current file; what was indexed stays."""
    return Job.model_validate(jobs.cancel(job_id).to_dict())
