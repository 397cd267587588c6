"""The HTTP API (FastAPI): search, answers (JSON or Server-Sent Events), an OpenAI-compatible chat endpoint,
document management, health, readiness and Prometheus metrics; and the web page (`serve/web/`) at `/`.

`create_app` takes started components and builds no models itself, so the server's composition root (`docent
serve`) and the tests wire the same app. The routes live in `serve/api/`, one module per concern, and reach the
components through `app.state.services`. Every error leaves as one JSON shape,
`{"error": {"message", "type", "code"}, "request_id"}`, with the request id that is also in the `X-Request-ID`
header and in the log line of the request; an error in the middle of a stream is the stream's last event.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from pydantic.json_schema import models_json_schema
from slack_bolt.adapter.fastapi import SlackRequestHandler

from answer.answerer import Answerer
from answer.generation import Generator
from ingest.jobs.queue import JobService
from retrieval.errors import DocentError
from retrieval.index import Index
from retrieval.search import Retriever
from serve import mcp
from serve.api import answers, chat, completions, docs, health, me, signin
from serve.api import audit as audit_routes
from serve.api import documents as document_routes
from serve.api import feedback as feedback_routes
from serve.api import jobs as job_routes
from serve.api import keys as key_routes
from serve.api import slack as slack_routes
from serve.api.errors import error_body, install_error_handlers
from serve.api.observability import Metrics, RequestContext
from serve.api.security import SecurityHeaders
from serve.api.services import Services
from serve.audit import AuditLog
from serve.documents import DocumentService
from serve.limits import BodyLimit
from serve.oidc.authenticator import OIDCAuthenticator
from serve.slack import SlackBot
from serve.stores.feedback import FeedbackStore
from serve.stores.keys import KeyStore
from serve.stores.ratelimit import Limiter
from serve.stores.shared_limits import SharedLimits
from serve.web import page


def create_app(
    *,
    retriever: Retriever,
    index: Index,
    keys: KeyStore,
    answerer: Answerer | None = None,
    documents: DocumentService | None = None,
    generator: Generator | None = None,
    limiter: Limiter | None = None,
    max_upload_bytes: int = 50 * 1024 * 1024,
    max_upload_files: int = 100,
    anonymous: bool = False,
    jobs: JobService | None = None,
    max_upload_wait_s: float = 120.0,
    registry: CollectorRegistry | None = None,
    slack: SlackBot | None = None,
    feedback: FeedbackStore | None = None,
    auth_failures: Limiter | None = None,
    shared_limits: SharedLimits | None = None,
    audit: AuditLog | None = None,
    oidc: OIDCAuthenticator | None = None,
) -> FastAPI:
    """The app over started components; `registry` is where metrics go (the in-process queue's task metrics
    may already be in it); `shared_limits`, when the limiters count in Redis, is reported by /readyz."""
    app = FastAPI(
        title="Docent",
        version="0.1",
        description="Enterprise document search and question answering.",
        docs_url=None,  # served by `serve.api.docs`, without a CDN
        redoc_url=None,
    )
    metrics = Metrics(
        index_size=lambda: _or_nan(index.count),
        queue_depth=(lambda: _or_nan(jobs.queue.depth)) if jobs is not None else None,
        registry=registry,
    )
    if jobs is not None and jobs.on_submit is None:
        jobs.on_submit = lambda job: metrics.jobs.labels(job.kind).inc()
    app.state.services = Services(
        retriever=retriever,
        index=index,
        keys=keys,
        metrics=metrics,
        answerer=answerer,
        documents=documents,
        generator=generator,
        limiter=limiter,
        anonymous=anonymous,
        max_upload_files=max_upload_files,
        jobs=jobs,
        max_upload_wait_s=max_upload_wait_s,
        feedback=feedback or (slack.feedback if slack else None),
        auth_failures=auth_failures,
        shared_limits=shared_limits,
        audit=audit,
        oidc=oidc,
    )
    app.state.slack_handler = SlackRequestHandler(slack.app) if slack is not None else None
    # Added inner first: the body limit sees the request id the outer request context has set.
    app.add_middleware(BodyLimit, limits={"/v1/documents": max_upload_bytes}, render=error_body)
    app.add_middleware(RequestContext, metrics=metrics)
    app.add_middleware(SecurityHeaders)  # outermost: every response has them, errors and 413s included
    install_error_handlers(app)
    routers = (
        *(docs, health, me, answers, chat, completions),
        *(document_routes, job_routes, feedback_routes, key_routes, slack_routes, audit_routes, signin),
    )
    for module in routers:
        app.include_router(module.router)
    mcp.install(app, app.state.services)  # the MCP tools at /mcp, as each request's key (serve/mcp.py)
    page.install(app)
    _document_events(app)
    return app


def _document_events(app: FastAPI) -> None:
    """Add the schemas of the streamed events' data to /openapi.json: FastAPI documents JSON bodies only, and
    `/v1/ask`'s Server-Sent Events name theirs (see `answers.event_stream`)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            _, defs = models_json_schema(
                [(m, "serialization") for m in answers.EVENT_MODELS], ref_template="#/components/schemas/{model}"
            )
            known = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, definition in defs.get("$defs", {}).items():
                known.setdefault(name, definition)
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]


def _or_nan(read: Callable[[], int]) -> float:
    """A gauge's value, or NaN while what it reads is unavailable (the scrape must not fail)."""
    try:
        return float(read())
    except DocentError:
        return math.nan
