"""Indexing jobs (admin keys): list recent jobs, follow one, cancel one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from serve.api.auth import CallerDep, ServicesDep
from serve.api.errors import error_responses

router = APIRouter(responses=error_responses(400, 401, 403, 404, 422, 429, 503))


@router.get("/v1/jobs")
def list_jobs(who: CallerDep, s: ServicesDep,
              limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, object]:
    """The most recent jobs first, each with its state and progress."""
    who.require_admin()
    return {"jobs": [status.to_dict() for status in s.need_jobs().recent(limit)]}


@router.get("/v1/jobs/{job_id}")
def get_job(job_id: str, who: CallerDep, s: ServicesDep) -> dict[str, object]:
    """State (queued, running, succeeded, failed, partially_failed, cancelled), progress, failures, timings."""
    who.require_admin()
    return s.need_jobs().status(job_id).to_dict()


@router.post("/v1/jobs/{job_id}/cancel")
def cancel_job(job_id: str, who: CallerDep, s: ServicesDep) -> dict[str, object]:
    """Queued tasks are skipped and running ones stop after their current file; what was indexed stays."""
    who.require_admin()
    return s.need_jobs().cancel(job_id).to_dict()
