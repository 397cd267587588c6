"""OpenAI-compatible `POST /v1/chat/completions` and `GET /v1/models`, answered from the documents.

The last user message is the question and earlier user and assistant turns are the conversation (condensed
before retrieval); system messages are ignored, because the rules are Docent's. The sources come as a
references block at the end of the content and, structured, in the extra `sources` field (in the last chunk
when streaming), with `docent` saying how the answer was made. The official `openai` SDK works unchanged.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, model_validator
from sse_starlette import ServerSentEvent

from retrieval.errors import ConfigError, ModelNotFoundError
from answer.answerer import Answer, AskRequest, Delta
from serve.api.answers import MAX_QUESTION_CHARS, Filters, event_stream
from serve.api.auth import CallerDep, ServicesDep
from serve.api.errors import error_of, error_responses
from serve.api.streaming import AnswerStream
from serve.api.streaming import event as sse_event
from answer.deadline import AnswerCancelled
from answer.generation import ChatMessage

router = APIRouter(responses=error_responses(400, 401, 404, 422, 429, 503))
MODEL_ID = "docent"  # the one model /v1/models lists and /v1/chat/completions answers as


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
    """OpenAI's request shape; `filters` is Docent's extra (the SDK's `extra_body`). Sampling parameters are
    accepted and ignored: answers are generated at temperature 0."""

    model: str
    messages: list[ChatTurn] = Field(min_length=1, max_length=80)
    stream: bool = False
    filters: Filters = Filters()
    max_tokens: int | None = None
    temperature: float | None = None
    user: str | None = None

    @model_validator(mode="after")
    def _question_fits(self) -> ChatBody:
        """The question (the last user message) has the limit of `/v1/ask`'s: refused, never silently cut."""
        asked = next((t.text() for t in reversed(self.messages) if t.role == "user"), "")
        if len(asked) > MAX_QUESTION_CHARS:
            raise ValueError(f"the question (the last user message) has {len(asked)} characters; "
                             f"at most {MAX_QUESTION_CHARS}")
        return self


def references_block(answer: Answer) -> str:
    """The sources as plain text after an answer, for clients that show only the message content."""
    if not answer.citations:
        return ""
    title = "Closest sources" if answer.mode == "not_found" else "References" if answer.cited else "Sources"
    return f"\n\n{title}:\n" + "\n".join(c.label for c in answer.citations)


def _extras(answer: Answer, request_id: str) -> dict[str, object]:
    data = answer.to_dict()
    how = ("mode", "question", "language", "grounded", "cited", "unsupported", "fallback_reason", "timings_ms",
           "route")
    return {"sources": data["citations"], "docent": {k: data[k] for k in how} | {"request_id": request_id}}


def _usage(answer: Answer) -> dict[str, int]:
    prompt, completion = answer.usage.get("prompt_tokens", 0), answer.usage.get("completion_tokens", 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


@router.get("/v1/models")
def models(who: CallerDep) -> dict[str, object]:
    return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "docent"}]}


@router.post("/v1/chat/completions", response_model=None, responses=event_stream(None))
def chat(body: ChatBody, request: Request, who: CallerDep, s: ServicesDep) -> dict[str, object] | AnswerStream:
    if body.model != MODEL_ID:
        raise ModelNotFoundError(f"the model '{body.model}' does not exist; this server offers '{MODEL_ID}'")
    turns = [(t.role, t.text()) for t in body.messages if t.role in {"user", "assistant"}]
    if not turns or turns[-1][0] != "user" or not turns[-1][1].strip():
        raise ConfigError("the last message must be a non-empty user message: it is the question")
    conversation = tuple(ChatMessage(role, text) for role, text in turns[:-1])
    ask_request = AskRequest(turns[-1][1], who.principal, body.filters.to_search(), conversation,
                             caller=who.key_id)
    answerer = s.need_answerer()
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    request_id = request.state.request_id

    deadline = answerer.deadline()
    if not body.stream:
        answer = answerer.answer(ask_request, deadline)
        s.metrics.record(answer)
        return {
            "id": completion_id, "object": "chat.completion", "created": created, "model": MODEL_ID,
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": answer.text + references_block(answer)}}],
            "usage": _usage(answer),
            **_extras(answer, request_id),
        }

    def chunk(delta: dict[str, str], finish: str | None = None, **more: object) -> ServerSentEvent:
        data = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **more}
        return sse_event(json.dumps(data, ensure_ascii=False))

    def stream(events: Iterator[Delta | Answer]) -> Iterator[ServerSentEvent]:
        yield chunk({"role": "assistant", "content": ""})
        try:
            for event in events:
                if isinstance(event, Delta):
                    yield chunk({"content": event.text})
                    continue
                s.metrics.record(event)
                references = references_block(event)
                if references:
                    yield chunk({"content": references})
                yield chunk({}, "stop", usage=_usage(event), **_extras(event, request_id))
        except AnswerCancelled:
            return  # the client left
        except Exception as exc:  # noqa: BLE001 - the stream has started: the error becomes its last event
            yield sse_event(json.dumps(error_of(exc, request_id), ensure_ascii=False))
            return
        yield sse_event("[DONE]")

    return AnswerStream(answerer.stream(ask_request, deadline), stream, deadline=deadline, request_id=request_id,
                        on_abandoned=s.metrics.cancelled.inc)
