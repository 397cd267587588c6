"""`POST /v1/search` and `POST /v1/ask` (JSON, or Server-Sent Events with `stream: true`)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, field_validator
from sse_starlette import ServerSentEvent

from answer.answerer import Answer, AnswerMode, AskRequest, Citation, Delta, Sources
from answer.deadline import AnswerCancelled
from answer.generation import ChatMessage
from retrieval.filters import SearchFilters
from retrieval.passages import Passage
from retrieval.search import Mode, SearchRequest
from serve.api.auditing import audit
from serve.api.auth import ReaderDep
from serve.api.errors import error_of, error_responses
from serve.api.services import AnswererDep, ServicesDep
from serve.api.streaming import AnswerStream
from serve.api.streaming import event as event_of
from serve.recent_answers import RecentAnswer

router = APIRouter(responses=error_responses(400, 401, 422, 429, 503))


def event_stream(events: dict[str, str] | None, description: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI entry of a 200 that is Server-Sent Events when `stream` is true, and JSON (the route's response
    model) otherwise. `events` maps each event name to the schema of its JSON `data` (under components/schemas,
    added by `serve.app`); None: unnamed events, each `data` a JSON chunk."""
    event: dict[str, Any] = {
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"type": "string"}, "id": {"type": "string"}},
    }
    if events:
        event["properties"]["event"] = {"type": "string", "enum": list(events)}
        event["x-event-data"] = {name: {"$ref": f"#/components/schemas/{schema}"} for name, schema in events.items()}
    return {200: {"description": description, "content": {"text/event-stream": {"schema": event}}}}


MAX_QUESTION_CHARS = 4000  # a question longer than this is refused (422), on every route that takes one


class Filters(BaseModel):
    source_prefix: str | None = None
    doc_types: list[str] = []
    languages: list[str] = []
    tags: list[str] = []
    modified_after: datetime | None = None
    modified_before: datetime | None = None

    @field_validator("modified_after", "modified_before", mode="before")
    @classmethod
    def _iso_text(cls, value: object) -> object:
        """A date as the schema says, ISO 8601 text: not a number that pydantic would read as a Unix time."""
        if value is not None and not isinstance(value, str):
            raise ValueError("a date as ISO 8601 text, e.g. 2026-01-31 or 2026-01-31T09:00:00Z")
        return value

    def to_search(self) -> SearchFilters:
        return SearchFilters(
            source_prefix=self.source_prefix,
            doc_types=tuple(self.doc_types),
            languages=tuple(self.languages),
            tags=tuple(self.tags),
            modified_after=self.modified_after,
            modified_before=self.modified_before,
        )


class SearchBody(BaseModel):
    """`POST /v1/search`. The principal comes from the API key, never from the body."""

    query: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    k: int = Field(10, ge=1, le=100)
    filters: Filters = Filters()
    mode: Mode = Mode.HYBRID
    neighbours: int | None = Field(None, ge=0, le=10)


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=20_000)


class AskBody(BaseModel):
    """`POST /v1/ask`."""

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    filters: Filters = Filters()
    stream: bool = False
    conversation: list[Turn] = Field([], max_length=40)  # earlier turns, oldest first
    mode: Literal["generate", "extractive"] = "generate"


class SearchResponse(BaseModel):
    """The passages found for a query, best first, each with its source and the score of each stage."""

    query: str
    language: str  # the query's language, as detected
    # The domain's own dataclass: a passage is sent as it is, so its fields are documented where they are made.
    passages: list[Passage]
    timings_ms: dict[str, float]


class RouteReport(BaseModel):
    """Which model tier answered and why (`answer.routing.Route`, without what only logs may show)."""

    tier: str
    model: str | None
    tiers: list[str]
    escalated: bool = False
    reasons: list[str] = []
    budget_exhausted: str | None = None
    failed: list[str] = []
    evidence: dict[str, Any] = {}
    timings_ms: dict[str, float] = {}
    plan: dict[str, Any] = {}
    failed_checks: list[str] = []


class AnswerResponse(BaseModel):
    """An answer and its sources (`Answer.to_dict`), with the request id of the server's log line."""

    text: str
    mode: AnswerMode
    citations: list[Citation]
    question: str  # the standalone question that was searched (the condensed one in a conversation)
    language: str
    grounded: bool
    cited: bool  # True: `citations` are the passages cited as [n]; False: those the text was written from
    unsupported: list[str]
    removed_citations: list[int]
    removed_links: list[str]
    fallback_reason: str | None
    model: str | None
    usage: dict[str, int]
    timings_ms: dict[str, float]
    route: RouteReport | None
    request_id: str


class DeltaEvent(BaseModel):
    """`event: delta`: the next piece of the answer's text."""

    text: str


class SourcesEvent(BaseModel):
    """`event: sources`: the passages the model reads, numbered as it cites them, sent before its first token
    (only when a model is asked). `citations` is the final word on what the answer cites."""

    sources: list[Citation]


class CitationsEvent(BaseModel):
    """`event: citations`: the sources, once the text is written."""

    citations: list[Citation]


class DoneEvent(BaseModel):
    """`event: done`: the answer (its final text) without the citations already sent."""

    text: str
    mode: AnswerMode
    question: str
    language: str
    grounded: bool
    cited: bool
    unsupported: list[str]
    removed_citations: list[int]
    removed_links: list[str]
    fallback_reason: str | None
    model: str | None
    usage: dict[str, int]
    timings_ms: dict[str, float]
    route: RouteReport | None
    request_id: str


# The events of a streamed `/v1/ask` and the schema of each one's data (`error`: the one error shape).
ASK_EVENTS = {
    "sources": "SourcesEvent",
    "delta": "DeltaEvent",
    "citations": "CitationsEvent",
    "done": "DoneEvent",
    "error": "ErrorBody",
}
EVENT_MODELS = (SourcesEvent, DeltaEvent, CitationsEvent, DoneEvent)


def sse(event: str, data: object) -> ServerSentEvent:
    return event_of(json.dumps(data, ensure_ascii=False), event)


@router.post("/v1/search")
def search(body: SearchBody, request: Request, who: ReaderDep, s: ServicesDep) -> SearchResponse:
    audited = audit(request, s, who, "search", query=body.query, filters=body.filters)
    asked = SearchRequest(
        body.query,
        who.principal,
        k=body.k,
        filters=body.filters.to_search(),
        mode=body.mode,
        neighbours=body.neighbours,
    )
    began = time.perf_counter()
    with audited.failures():
        result = s.retriever.search(asked)
    s.metrics.search.labels(body.mode.value).observe(time.perf_counter() - began)
    audited.searched(result.passages)
    return SearchResponse(
        query=body.query, language=result.language, passages=result.passages, timings_ms=result.timings_ms
    )


@router.post(
    "/v1/ask",
    response_model=AnswerResponse,
    responses=event_stream(ASK_EVENTS, "the answer (JSON), or with `stream: true` its events"),
)
def ask(
    body: AskBody, request: Request, who: ReaderDep, s: ServicesDep, answerer: AnswererDep
) -> AnswerResponse | AnswerStream:
    """An answer with citations; `stream: true` sends Server-Sent Events: `sources` (the passages the model
    reads) before its first token when a model is asked, `delta` ({"text"}) as the answer is written, then
    `citations`, then `done` (mode, timings, usage, the final text); or `error`. A client that
    leaves a stream stops its answer: the model is stopped and free for the next question at once. The
    `request_id` is the answer's id for a vote (`POST /v1/feedback`)."""
    ask_request = AskRequest(
        body.question,
        who.principal,
        body.filters.to_search(),
        tuple(ChatMessage(t.role, t.content) for t in body.conversation),
        extractive=body.mode == "extractive",
        caller=who.key_id,
    )
    request_id = request.state.request_id
    audited = audit(request, s, who, "answer", query=body.question, filters=body.filters)
    deadline = answerer.deadline()
    if not body.stream:
        with audited.failures():
            answer = answerer.answer(ask_request, deadline)
        s.metrics.record(answer)
        audited.answered(answer)
        s.recent_answers.remember(request_id, RecentAnswer.of(body.question, answer, who.key_id))
        return AnswerResponse.model_validate({**answer.to_dict(), "request_id": request_id})

    def stream(events: Iterator[Delta | Sources | Answer]) -> Iterator[ServerSentEvent]:
        try:
            for event in events:
                if isinstance(event, Delta):
                    yield sse("delta", {"text": event.text})
                    continue
                if isinstance(event, Sources):
                    yield sse("sources", {"sources": [asdict(c) for c in event.citations]})
                    continue
                s.metrics.record(event)
                audited.answered(event)
                s.recent_answers.remember(request_id, RecentAnswer.of(body.question, event, who.key_id))
                final = event.to_dict()
                yield sse("citations", {"citations": final.pop("citations")})
                yield sse("done", {**final, "request_id": request_id})
        except AnswerCancelled:
            return  # the client left: nobody reads an error event
        except Exception as exc:
            audited.failed(exc)
            yield sse("error", error_of(exc, request_id))

    return AnswerStream(
        answerer.events(ask_request, deadline),
        stream,
        deadline=deadline,
        request_id=request_id,
        on_abandoned=s.metrics.cancelled.inc,
    )
