"""The HTTP API (FastAPI): search, answers (JSON or Server-Sent Events), an OpenAI-compatible chat endpoint,
document management, health, readiness and Prometheus metrics.

`create_app` takes started components and builds no models itself, so the server's composition root (`docent
serve`) and the tests wire the same app. Every error leaves as one JSON shape,
`{"error": {"message", "type", "code"}, "request_id"}`, with the request id that is also in the `X-Request-ID`
header and in the log line of the request; an error in the middle of a stream is the stream's last event.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from retrieval.access import PUBLIC_ONLY, Principal
from retrieval.errors import (
    ConfigError,
    DocentError,
    ErrorCode,
    ForbiddenError,
    ModelNotFoundError,
    RateLimitedError,
    UnauthorizedError,
)
from retrieval.filters import SearchFilters
from retrieval.index import Index
from retrieval.search import Mode, Retriever, SearchRequest
from serve.answer import Answer, Answerer, AskRequest, Delta
from serve.documents import DocumentService, Upload
from serve.generation import ChatMessage, Generator
from serve.keys import ApiKey, KeyStore
from serve.limits import BodyLimit
from serve.ratelimit import RateLimiter

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
    ErrorCode.RATE_LIMITED: (429, "rate_limit_error"),
    ErrorCode.PAYLOAD_TOO_LARGE: (413, "invalid_request_error"),
    ErrorCode.MODEL_NOT_FOUND: (404, "invalid_request_error"),
}

MODEL_ID = "docent"  # the one model /v1/models lists and /v1/chat/completions answers as
# In anonymous mode, `Bearer anonymous` is the same as no key: SDKs (openai) insist on sending some key.
ANONYMOUS_TOKEN = "anonymous"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the principal every search runs as, and whether it may administer."""

    principal: Principal
    admin: bool = False

    def require_admin(self) -> None:
        if not self.admin:
            raise ForbiddenError("document management needs an admin key (docent keys create --admin)")


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


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=20_000)


class AskBody(BaseModel):
    """`POST /v1/ask`."""

    question: str = Field(min_length=1, max_length=4000)
    filters: Filters = Filters()
    stream: bool = False
    conversation: list[Turn] = Field([], max_length=40)  # earlier turns, oldest first
    mode: Literal["generate", "extractive"] = "generate"


class ChatContentPart(BaseModel):
    type: str
    text: str = ""


class ChatTurn(BaseModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ChatContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content if part.type == "text")
        return self.content or ""


class ChatBody(BaseModel):
    """`POST /v1/chat/completions`, OpenAI's request shape; `filters` is Docent's extra (the SDK's
    `extra_body`). Sampling parameters are accepted and ignored: answers are generated at temperature 0."""

    model: str
    messages: list[ChatTurn] = Field(min_length=1, max_length=80)
    stream: bool = False
    filters: Filters = Filters()
    max_tokens: int | None = None
    temperature: float | None = None
    user: str | None = None


def current_caller(request: Request) -> Caller:
    """The caller of a request, from its bearer key; without one, public-only access if anonymous mode is on.

    Each caller's requests are counted against the rate limit here, after authentication, so a flood of bad
    keys cannot spend a real key's budget."""
    header = request.headers.get("authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    limiter: RateLimiter | None = request.app.state.limiter
    if not token or token == ANONYMOUS_TOKEN:
        if request.app.state.anonymous and (not header or token == ANONYMOUS_TOKEN):
            if limiter:
                limiter.check(f"anonymous:{request.client.host if request.client else ''}")
            return Caller(PUBLIC_ONLY)
        raise UnauthorizedError("an API key is required: send 'Authorization: Bearer <key>'")
    record: ApiKey | None = request.app.state.keys.lookup(token)
    if record is None:
        raise UnauthorizedError("unknown API key")
    if limiter:
        limiter.check(record.key_id)
    return Caller(record.principal, record.admin)


def search_filters(f: Filters) -> SearchFilters:
    return SearchFilters(
        source_prefix=f.source_prefix,
        doc_types=tuple(f.doc_types),
        languages=tuple(f.languages),
        tags=tuple(f.tags),
        modified_after=f.modified_after,
        modified_before=f.modified_before,
    )


def sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def references_block(answer: Answer) -> str:
    """The sources as plain text after an answer, for clients that show only the message content."""
    if not answer.citations:
        return ""
    title = "Closest sources" if answer.mode == "not_found" else "References" if answer.cited else "Sources"
    return f"\n\n{title}:\n" + "\n".join(c.label for c in answer.citations)


def error_body(message: str, kind: str, code: str, request_id: str) -> dict[str, object]:
    return {"error": {"message": message, "type": kind, "code": code}, "request_id": request_id}


def error_of(exc: Exception, request_id: str) -> dict[str, object]:
    """The error body of an exception raised in the middle of a stream."""
    if isinstance(exc, DocentError):
        _, kind = STATUS.get(exc.code, (500, "api_error"))
        return error_body(exc.message, kind, str(exc.code), request_id)
    log.error("unexpected error in a stream id=%s", request_id, exc_info=exc)
    return error_body("internal error; the request id is in the server log", "api_error", "internal", request_id)


class RequestContext:
    """Request ids, the per-route metrics and one log line per request (ASGI middleware).

    The id comes from the client's `X-Request-ID` or is made here; it is put in `request.state`, the response
    headers and the log line. A streamed response is measured and logged when its last byte is sent, so the
    latency of an answer stream is the whole answer, not the time to its headers."""

    def __init__(self, app: ASGIApp, *, requests: Counter, latency: Histogram) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:200] or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                route = getattr(scope.get("route"), "path", "unmatched")
                elapsed = time.perf_counter() - started
                self.requests.labels(route, str(status)).inc()
                self.latency.labels(route).observe(elapsed)
                log.info("request id=%s method=%s route=%s status=%d ms=%.1f", request_id, scope["method"], route,
                         status, elapsed * 1000)

        await self.app(scope, receive, send_with_id)


def create_app(
    *,
    retriever: Retriever,
    index: Index,
    keys: KeyStore,
    answerer: Answerer | None = None,
    documents: DocumentService | None = None,
    generator: Generator | None = None,
    limiter: RateLimiter | None = None,
    max_upload_bytes: int = 50 * 1024 * 1024,
    max_upload_files: int = 100,
    anonymous: bool = False,
) -> FastAPI:
    app = FastAPI(title="Docent", version="0.1", description="Enterprise document search and question answering.")
    registry = CollectorRegistry()
    requests = Counter("docent_http_requests", "HTTP requests", ["route", "status"], registry=registry)
    latency = Histogram("docent_http_request_seconds", "HTTP request latency", ["route"], registry=registry)
    search_latency = Histogram("docent_search_seconds", "Retrieval latency", ["mode"], registry=registry)
    generation_latency = Histogram("docent_generation_seconds", "Model generation latency (whole answer)",
                                   registry=registry, buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120))
    first_token = Histogram("docent_first_token_seconds", "Time to the first streamed answer token",
                            registry=registry, buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30))
    tokens = Counter("docent_generation_tokens", "Tokens sent to and produced by the model", ["kind"],
                     registry=registry)
    answers = Counter("docent_answers", "Answers by mode (generated, extractive, not_found)", ["mode"],
                      registry=registry)
    abstentions = Counter("docent_abstentions", "Answers saying the documents do not contain the answer",
                          registry=registry)
    fallbacks = Counter("docent_generator_fallbacks", "Extractive answers given because the generator failed",
                        registry=registry)
    size = Gauge("docent_index_chunks", "Chunks in the index", registry=registry)
    size.set_function(lambda: _count_or_nan(index))
    app.state.keys = keys
    app.state.anonymous = anonymous
    app.state.limiter = limiter
    app.add_middleware(BodyLimit, limits={"/v1/documents": max_upload_bytes}, render=error_body)  # inner

    app.add_middleware(RequestContext, requests=requests, latency=latency)

    def respond(request: Request, status: int, message: str, kind: str, code: str) -> JSONResponse:
        request_id = getattr(request.state, "request_id", "")
        return JSONResponse(error_body(message, kind, code, request_id), status_code=status)

    @app.exception_handler(DocentError)
    async def docent_error(request: Request, exc: DocentError) -> JSONResponse:
        status, kind = STATUS.get(exc.code, (500, "api_error"))
        response = respond(request, status, exc.message, kind, str(exc.code))
        if status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        if isinstance(exc, RateLimitedError):
            response.headers["Retry-After"] = str(exc.retry_after_s)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return respond(request, 422, details, "invalid_request_error", "invalid_request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
        return respond(request, exc.status_code, str(exc.detail), "invalid_request_error", code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error id=%s", getattr(request.state, "request_id", ""))
        return respond(request, 500, "internal error; the request id is in the server log", "api_error", "internal")

    def record(answer: Answer) -> None:
        answers.labels(answer.mode.value).inc()
        if answer.mode == "not_found":
            abstentions.inc()
        if answer.fallback_reason:
            fallbacks.inc()
        if "retrieve" in answer.timings_ms:
            search_latency.labels("hybrid").observe(answer.timings_ms["retrieve"] / 1000)
        if "generate" in answer.timings_ms:
            generation_latency.observe(answer.timings_ms["generate"] / 1000)
        if "first_token" in answer.timings_ms:
            first_token.observe(answer.timings_ms["first_token"] / 1000)
        tokens.labels("prompt").inc(answer.usage.get("prompt_tokens", 0))
        tokens.labels("completion").inc(answer.usage.get("completion_tokens", 0))
        log.info("answer mode=%s grounded=%s citations=%d fallback=%s timings=%s", answer.mode.value,
                 answer.grounded, len(answer.citations), bool(answer.fallback_reason), answer.timings_ms)

    def need_answerer() -> Answerer:
        if answerer is None:
            raise ConfigError("this server was started without an answerer")
        return answerer

    def started_stream(events: Iterator[Delta | Answer]) -> Iterator[Delta | Answer]:
        """The stream with its first event already produced, so that an error before the answer starts
        (the index down, the generator down with fallback off) is an HTTP error, not an event."""
        first = next(events)

        def replay() -> Iterator[Delta | Answer]:
            yield first
            yield from events

        return replay()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz(request: Request) -> JSONResponse:
        problems, chunks = [], None
        try:
            chunks = index.count()
        except DocentError as exc:
            problems.append(f"index not reachable: {exc.message}")
        if generator is not None:
            try:
                generator.ping()
            except DocentError as exc:
                problems.append(f"generator not reachable: {exc.message}")
        if problems:
            return respond(request, 503, "; ".join(problems), "service_unavailable", "not_ready")
        model = generator.model if generator is not None else None
        return JSONResponse({"status": "ready", "index": {"chunks": chunks}, "generator": {"model": model}})

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/search")
    def search(body: SearchBody, who: Annotated[Caller, Depends(current_caller)]) -> dict[str, object]:
        request = SearchRequest(body.query, who.principal, k=body.k, filters=search_filters(body.filters),
                                mode=body.mode, neighbours=body.neighbours)
        started = time.perf_counter()
        result = retriever.search(request)
        search_latency.labels(body.mode.value).observe(time.perf_counter() - started)
        return {
            "query": body.query,
            "language": result.language,
            "passages": [asdict(p) for p in result.passages],
            "timings_ms": result.timings_ms,
        }

    @app.post("/v1/ask", response_model=None)
    def ask(body: AskBody, request: Request,
            who: Annotated[Caller, Depends(current_caller)]) -> dict[str, object] | StreamingResponse:
        """An answer with citations; `stream: true` sends Server-Sent Events: `delta` ({"text"}) as the answer
        is written, then `citations`, then `done` (mode, timings, usage, the final text); or `error`."""
        service = need_answerer()
        ask_request = AskRequest(body.question, who.principal, search_filters(body.filters),
                                 tuple(ChatMessage(t.role, t.content) for t in body.conversation),
                                 extractive=body.mode == "extractive")
        request_id = request.state.request_id
        if not body.stream:
            answer = service.answer(ask_request)
            record(answer)
            return {**answer.to_dict(), "request_id": request_id}
        events = started_stream(service.stream(ask_request))

        def stream() -> Iterator[str]:
            try:
                for event in events:
                    if isinstance(event, Delta):
                        yield sse("delta", {"text": event.text})
                        continue
                    record(event)
                    final = event.to_dict()
                    yield sse("citations", {"citations": final.pop("citations")})
                    yield sse("done", {**final, "request_id": request_id})
            except Exception as exc:  # noqa: BLE001 - the stream has started: the error becomes its last event
                yield sse("error", error_of(exc, request_id))

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/v1/models")
    def models(who: Annotated[Caller, Depends(current_caller)]) -> dict[str, object]:
        return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "docent"}]}

    @app.post("/v1/chat/completions", response_model=None)
    def chat(body: ChatBody, request: Request,
             who: Annotated[Caller, Depends(current_caller)]) -> dict[str, object] | StreamingResponse:
        """OpenAI's chat completions, answered from the documents. The last user message is the question and
        earlier user and assistant turns are the conversation (system messages are ignored: the rules are
        Docent's). The sources come as a references block at the end of the content and, structured, in the
        extra `sources` field (in the last chunk when streaming), with `docent` saying how it was answered."""
        if body.model != MODEL_ID:
            raise ModelNotFoundError(f"the model '{body.model}' does not exist; this server offers '{MODEL_ID}'")
        turns = [(t.role, t.text()) for t in body.messages if t.role in {"user", "assistant"}]
        if not turns or turns[-1][0] != "user" or not turns[-1][1].strip():
            raise ConfigError("the last message must be a non-empty user message: it is the question")
        conversation = tuple(ChatMessage(role, text) for role, text in turns[:-1])
        ask_request = AskRequest(turns[-1][1][:4000], who.principal, search_filters(body.filters), conversation)
        service = need_answerer()
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        request_id = request.state.request_id

        def extras(answer: Answer) -> dict[str, object]:
            data = answer.to_dict()
            return {
                "sources": data["citations"],
                "docent": {k: data[k] for k in ("mode", "question", "language", "grounded", "cited", "unsupported",
                                                "fallback_reason", "timings_ms")} | {"request_id": request_id},
            }

        def usage(answer: Answer) -> dict[str, int]:
            p, c = answer.usage.get("prompt_tokens", 0), answer.usage.get("completion_tokens", 0)
            return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}

        if not body.stream:
            answer = service.answer(ask_request)
            record(answer)
            return {
                "id": completion_id, "object": "chat.completion", "created": created, "model": MODEL_ID,
                "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                             "message": {"role": "assistant", "content": answer.text + references_block(answer)}}],
                "usage": usage(answer),
                **extras(answer),
            }
        events = started_stream(service.stream(ask_request))

        def chunk(delta: dict[str, str], finish: str | None = None, **more: object) -> str:
            data = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **more}
            return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

        def stream() -> Iterator[str]:
            yield chunk({"role": "assistant", "content": ""})
            try:
                for event in events:
                    if isinstance(event, Delta):
                        yield chunk({"content": event.text})
                        continue
                    record(event)
                    references = references_block(event)
                    if references:
                        yield chunk({"content": references})
                    yield chunk({}, "stop", usage=usage(event), **extras(event))
            except Exception as exc:  # noqa: BLE001 - the stream has started: the error becomes its last event
                yield f"data: {json.dumps(error_of(exc, request_id), ensure_ascii=False)}\n\n"
                return
            yield "data: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    def need_documents(who: Caller) -> DocumentService:
        who.require_admin()
        if documents is None:
            raise ConfigError("this server was started without document management")
        return documents

    @app.post("/v1/documents", status_code=201)
    def upload(
        who: Annotated[Caller, Depends(current_caller)],
        files: Annotated[list[UploadFile], File(description="one or more documents")],
        folder: Annotated[str, Form(max_length=500)] = "",
        acl: Annotated[str, Form(description="comma-separated principals: group:x, user:y")] = "",
        public: Annotated[bool, Form()] = False,
        tags: Annotated[str, Form(description="comma-separated tags")] = "",
    ) -> dict[str, object]:
        """Upload and index documents (admin). Each file's outcome is reported; a failed file fails alone."""
        service = need_documents(who)
        if len(files) > max_upload_files:
            raise ConfigError(f"at most {max_upload_files} files per upload, not {len(files)}")
        grant = tuple(p.strip() for p in acl.split(",") if p.strip())
        if not grant and not public:
            raise ConfigError("say who may read the documents: acl (e.g. group:hr) and/or public=true")
        results = service.upload([Upload(f.filename or "upload", f.file) for f in files], folder=folder,
                                 acl=grant, public=public, tags=tuple(t.strip() for t in tags.split(",") if t.strip()))
        return {"documents": [asdict(r) for r in results],
                "indexed": sum(r.status == "indexed" for r in results),
                "unchanged": sum(r.status == "unchanged" for r in results),
                "failed": sum(r.status == "failed" for r in results)}

    @app.get("/v1/documents")
    def list_documents(
        who: Annotated[Caller, Depends(current_caller)],
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        prefix: Annotated[str | None, Query(max_length=1000)] = None,
    ) -> dict[str, object]:
        total, page = need_documents(who).list(offset=offset, limit=limit, prefix=prefix)
        return {"total": total, "offset": offset, "limit": limit, "documents": [asdict(d) for d in page]}

    @app.get("/v1/documents/{document_id}")
    def get_document(document_id: str, who: Annotated[Caller, Depends(current_caller)]) -> dict[str, object]:
        return asdict(need_documents(who).get(document_id))

    @app.delete("/v1/documents/{document_id}")
    def delete_document(document_id: str, who: Annotated[Caller, Depends(current_caller)]) -> dict[str, object]:
        return {"deleted": True, "document": asdict(need_documents(who).delete(document_id))}

    return app


def _count_or_nan(index: Index) -> float:
    try:
        return float(index.count())
    except DocentError:
        return float("nan")
