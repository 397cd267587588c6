"""The HTTP API (FastAPI): search today; answers, chat completions and documents follow in issue #4.

`create_app` takes started components and builds no models itself, so the server's composition root (`docent
serve`) and the tests wire the same app. Every error leaves as one JSON shape,
`{"error": {"message", "type", "code"}}`, with the request id that is also in the `X-Request-ID` header and in
the log line of the request.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from retrieval.access import PUBLIC_ONLY, Principal
from retrieval.errors import DocentError, ErrorCode, UnauthorizedError
from retrieval.filters import SearchFilters
from retrieval.index import Index
from retrieval.search import Mode, Retriever, SearchRequest
from serve.keys import ApiKey, KeyStore

log = logging.getLogger("docent.api")

# How each error code is answered; the type names the family as OpenAI's API does.
STATUS = {
    ErrorCode.UNAUTHORIZED: (401, "authentication_error"),
    ErrorCode.FORBIDDEN: (403, "permission_error"),
    ErrorCode.PATH_NOT_FOUND: (404, "not_found_error"),
    ErrorCode.CONFIG_INVALID: (400, "invalid_request_error"),
    ErrorCode.INDEX_UNAVAILABLE: (503, "service_unavailable"),
    ErrorCode.INDEX_LOCKED: (503, "service_unavailable"),
    ErrorCode.INDEX_MISMATCH: (503, "service_unavailable"),
    ErrorCode.MODEL_UNAVAILABLE: (503, "service_unavailable"),
    ErrorCode.GENERATOR_UNAVAILABLE: (503, "service_unavailable"),
}


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the principal every search runs as, and whether it may administer."""

    principal: Principal
    admin: bool = False


class Filters(BaseModel):
    source_prefix: str | None = None
    doc_types: list[str] = []
    languages: list[str] = []
    tags: list[str] = []
    modified_after: datetime | None = None
    modified_before: datetime | None = None


class SearchBody(BaseModel):
    """`POST /v1/search`. The principal comes from the API key, never from the body."""

    query: str = Field(min_length=1, max_length=4000)
    k: int = Field(10, ge=1, le=100)
    filters: Filters = Filters()
    mode: Mode = Mode.HYBRID
    neighbours: int | None = Field(None, ge=0, le=10)


def current_caller(request: Request) -> Caller:
    """The caller of a request, from its bearer key; without one, public-only access if anonymous mode is on."""
    header = request.headers.get("authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    if not token:
        if request.app.state.anonymous and not header:
            return Caller(PUBLIC_ONLY)
        raise UnauthorizedError("an API key is required: send 'Authorization: Bearer <key>'")
    record: ApiKey | None = request.app.state.keys.lookup(token)
    if record is None:
        raise UnauthorizedError("unknown API key")
    return Caller(record.principal, record.admin)


def error_body(message: str, kind: str, code: str, request_id: str) -> dict[str, object]:
    return {"error": {"message": message, "type": kind, "code": code}, "request_id": request_id}


def create_app(*, retriever: Retriever, index: Index, keys: KeyStore, anonymous: bool = False) -> FastAPI:
    app = FastAPI(title="Docent", version="0.1", description="Enterprise document search and question answering.")
    registry = CollectorRegistry()
    requests = Counter("docent_http_requests", "HTTP requests", ["route", "status"], registry=registry)
    latency = Histogram("docent_http_request_seconds", "HTTP request latency", ["route"], registry=registry)
    search_latency = Histogram("docent_search_seconds", "Retrieval latency", ["mode"], registry=registry)
    app.state.keys = keys
    app.state.anonymous = anonymous

    @app.middleware("http")
    async def request_context(request: Request, call_next):  # noqa: ANN001, ANN202 - Starlette's signature
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        request.state.request_id = request_id
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        elapsed = time.perf_counter() - started
        requests.labels(path, str(response.status_code)).inc()
        latency.labels(path).observe(elapsed)
        response.headers["X-Request-ID"] = request_id
        log.info("request id=%s method=%s route=%s status=%d ms=%.1f", request_id, request.method, path,
                 response.status_code, elapsed * 1000)
        return response

    def respond(request: Request, status: int, message: str, kind: str, code: str) -> JSONResponse:
        request_id = getattr(request.state, "request_id", "")
        return JSONResponse(error_body(message, kind, code, request_id), status_code=status,
                            headers={"X-Request-ID": request_id})

    @app.exception_handler(DocentError)
    async def docent_error(request: Request, exc: DocentError) -> JSONResponse:
        status, kind = STATUS.get(exc.code, (500, "api_error"))
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
        response = respond(request, status, exc.message, kind, str(exc.code))
        response.headers.update(headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return respond(request, 422, details, "invalid_request_error", "invalid_request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else "http_error"
        return respond(request, exc.status_code, str(exc.detail), "invalid_request_error", code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error id=%s", getattr(request.state, "request_id", ""))
        return respond(request, 500, "internal error; the request id is in the server log", "api_error", "internal")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz(request: Request) -> JSONResponse:
        try:
            chunks = index.count()
        except DocentError as exc:
            return respond(request, 503, f"index not reachable: {exc.message}", "service_unavailable", str(exc.code))
        return JSONResponse({"status": "ready", "index": {"chunks": chunks}})

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/search")
    def search(body: SearchBody, who: Annotated[Caller, Depends(current_caller)]) -> dict[str, object]:
        f = body.filters
        filters = SearchFilters(
            source_prefix=f.source_prefix,
            doc_types=tuple(f.doc_types),
            languages=tuple(f.languages),
            tags=tuple(f.tags),
            modified_after=f.modified_after,
            modified_before=f.modified_before,
        )
        request = SearchRequest(body.query, who.principal, k=body.k, filters=filters, mode=body.mode,
                                neighbours=body.neighbours)
        started = time.perf_counter()
        result = retriever.search(request)
        search_latency.labels(body.mode.value).observe(time.perf_counter() - started)
        return {
            "query": body.query,
            "language": result.language,
            "passages": [asdict(p) for p in result.passages],
            "timings_ms": result.timings_ms,
        }

    return app
