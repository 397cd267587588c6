"""`POST /v1/search` and `POST /v1/ask` (JSON, or Server-Sent Events with `stream: true`)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from retrieval.filters import SearchFilters
from retrieval.search import Mode, SearchRequest
from serve.answer import Answer, AskRequest, Delta
from serve.api.auth import CallerDep, ServicesDep
from serve.api.errors import error_of
from serve.generation import ChatMessage

router = APIRouter()
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class Filters(BaseModel):
    source_prefix: str | None = None
    doc_types: list[str] = []
    languages: list[str] = []
    tags: list[str] = []
    modified_after: datetime | None = None
    modified_before: datetime | None = None

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


def started(events: Iterator[Delta | Answer]) -> Iterator[Delta | Answer]:
    """The stream with its first event already produced, so that an error before the answer starts (the index
    down, the generator down with fallback off) is an HTTP error, not an event."""
    first = next(events)

    def replay() -> Iterator[Delta | Answer]:
        yield first
        yield from events

    return replay()


def sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post("/v1/search")
def search(body: SearchBody, who: CallerDep, s: ServicesDep) -> dict[str, object]:
    request = SearchRequest(body.query, who.principal, k=body.k, filters=body.filters.to_search(), mode=body.mode,
                            neighbours=body.neighbours)
    began = time.perf_counter()
    result = s.retriever.search(request)
    s.metrics.search.labels(body.mode.value).observe(time.perf_counter() - began)
    return {
        "query": body.query,
        "language": result.language,
        "passages": [asdict(p) for p in result.passages],
        "timings_ms": result.timings_ms,
    }


@router.post("/v1/ask", response_model=None)
def ask(body: AskBody, request: Request, who: CallerDep, s: ServicesDep) -> dict[str, object] | StreamingResponse:
    """An answer with citations; `stream: true` sends Server-Sent Events: `delta` ({"text"}) as the answer is
    written, then `citations`, then `done` (mode, timings, usage, the final text); or `error`."""
    answerer = s.need_answerer()
    ask_request = AskRequest(body.question, who.principal, body.filters.to_search(),
                             tuple(ChatMessage(t.role, t.content) for t in body.conversation),
                             extractive=body.mode == "extractive", caller=who.key_id)
    request_id = request.state.request_id
    if not body.stream:
        answer = answerer.answer(ask_request)
        s.metrics.record(answer)
        return {**answer.to_dict(), "request_id": request_id}
    events = started(answerer.stream(ask_request))

    def stream() -> Iterator[str]:
        try:
            for event in events:
                if isinstance(event, Delta):
                    yield sse("delta", {"text": event.text})
                    continue
                s.metrics.record(event)
                final = event.to_dict()
                yield sse("citations", {"citations": final.pop("citations")})
                yield sse("done", {**final, "request_id": request_id})
        except Exception as exc:  # noqa: BLE001 - the stream has started: the error becomes its last event
            yield sse("error", error_of(exc, request_id))

    return StreamingResponse(stream(), media_type="text/event-stream", headers=STREAM_HEADERS)
