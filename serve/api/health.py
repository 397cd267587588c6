"""Liveness, readiness (the index and the generator answer) and the Prometheus endpoint."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel

from answer.routing import Tier
from retrieval.errors import DocentError, ErrorCode
from serve.api.errors import error_responses, respond
from serve.api.services import ServicesDep

router = APIRouter()


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    """Ready: the index and the generator answer. Larger tiers, the queue and the
    shared rate limits are reported, not required."""

    status: str
    index: dict[str, Any]  # chunks
    generator: dict[str, Any]  # model
    tiers: list[dict[str, Any]] | None = None  # name, model, status, reason: present with model routing
    queue: dict[str, Any] | None = None  # status, depth or reason: present with an indexing queue
    # "shared" (counted in Redis for all replicas) or "local (redis unreachable)": present with DOCENT_REDIS_URL
    rate_limits: str | None = None


@router.get("/healthz")
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses=error_responses(503))
def readyz(request: Request, s: ServicesDep) -> JSONResponse:
    problems, chunks = [], None
    try:
        chunks = s.index.count()
    except DocentError as exc:
        problems.append(f"index not reachable: {exc.message}")
    if s.generator is not None:
        try:
            s.generator.ping()
        except DocentError as exc:
            problems.append(f"generator not reachable: {exc.message}")
    if problems:
        return respond(request, ErrorCode.NOT_READY, "; ".join(problems))
    model = s.generator.model if s.generator is not None else None
    body: dict[str, object] = {"status": "ready", "index": {"chunks": chunks}, "generator": {"model": model}}
    if s.answerer is not None and s.answerer.routing:
        # Reported, not required: with a larger tier down, the small model's answers stand.
        small = s.answerer.tiers[0]  # the generator pinged above
        body["tiers"] = [
            {"name": small.name, "model": small.generator.model, "status": "ok"},
            *(_tier_status(t) for t in s.answerer.tiers[1:]),
        ]
    if s.jobs is not None:
        # Reported, not required: with the queue down, search and answers still work (new jobs get 503).
        try:
            s.jobs.check()
            body["queue"] = {"status": "ok", "depth": s.jobs.queue.depth()}
        except DocentError as exc:
            body["queue"] = {"status": "unavailable", "reason": exc.message}
    if s.shared_limits is not None:
        # Reported, not required: with Redis down, each replica enforces the limits on its own.
        body["rate_limits"] = s.shared_limits.state()
    return JSONResponse(body)


def _tier_status(tier: Tier) -> dict[str, object]:
    try:
        tier.generator.ping()
    except DocentError as exc:
        return {"name": tier.name, "model": tier.generator.model, "status": "unavailable", "reason": exc.message}
    return {"name": tier.name, "model": tier.generator.model, "status": "ok"}


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(s: ServicesDep) -> PlainTextResponse:
    return PlainTextResponse(s.metrics.render(), media_type=s.metrics.content_type)
