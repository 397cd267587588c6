"""Answers in OpenAI's shapes, whole or streamed: shared by chat completions and legacy completions.

The two endpoints differ only in where the text goes (`message`/`delta` against `text`) and their object names;
the answer, its references block, usage and Docent's extras (`sources`, `docent`) are the same, and so is the
stream: the text as it is written, the references, a last chunk with `finish_reason: stop`, usage and the
extras, then `data: [DONE]`; an error after the stream started is its last event, in the error shape.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any, Literal

from pydantic import BaseModel
from sse_starlette import ServerSentEvent

from answer.answerer import Answer, AskRequest, Citation, Delta, Sources
from answer.deadline import AnswerCancelled
from answer.generation import ChatMessage
from retrieval.errors import ConfigError
from serve.api.answers import Filters
from serve.api.auditing import Audit
from serve.api.auth import Caller
from serve.api.errors import error_of
from serve.api.services import Services
from serve.api.streaming import AnswerStream
from serve.api.streaming import event as sse_event
from serve.presenting import CHAT, sources_block

MODEL_ID = "docent"  # the one model /v1/models lists and the completion endpoints answer as
STREAMED = "the completion (JSON), or with `stream: true` its chunks, each a `data:` event, then `data: [DONE]`"


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Message(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int = 0
    finish_reason: str = "stop"
    logprobs: None = None
    message: Message


class TextChoice(BaseModel):
    index: int = 0
    finish_reason: str = "stop"
    logprobs: None = None
    text: str


class Completion(BaseModel):
    """A whole completion in OpenAI's shape, with Docent's extras: `sources` (the citations) and `docent` (how
    the answer was made: mode, the searched question, grounding, timings, route, request id)."""

    id: str
    object: str
    created: int
    model: str
    usage: Usage
    sources: list[Citation]
    docent: dict[str, Any]


class ChatCompletion(Completion):
    object: Literal["chat.completion"] = "chat.completion"
    choices: list[ChatChoice]


class TextCompletion(Completion):
    object: Literal["text_completion"] = "text_completion"
    choices: list[TextChoice]


def refuse(parameter: str, asked: bool, why: str) -> None:
    """`ConfigError` (400, OpenAI's error shape) when a request `asked` for what Docent cannot honour: answering
    as if it had not asked would hand the client a reply of a shape it did not ask for."""
    if asked:
        raise ConfigError(f"unsupported parameter '{parameter}': {why}")


def ask_request(question: str, earlier: list[tuple[str, str]], filters: Filters, who: Caller) -> AskRequest:
    """The question asked through an OpenAI endpoint, with the earlier (role, text) turns as its conversation."""
    return AskRequest(
        question,
        who.principal,
        filters.to_search(),
        tuple(ChatMessage(role, text) for role, text in earlier),
        caller=who.key_id,
    )


def references_block(answer: Answer) -> str:
    """The sources as plain text after an answer, for clients that show only the message content."""
    block = sources_block(answer, CHAT)
    return f"\n\n{block}" if block else ""


def extras(answer: Answer, request_id: str) -> dict[str, object]:
    data = answer.to_dict()
    how = ("mode", "question", "language", "grounded", "cited", "unsupported", "fallback_reason", "timings_ms", "route")
    return {"sources": data["citations"], "docent": {k: data[k] for k in how} | {"request_id": request_id}}


def usage(answer: Answer) -> dict[str, int]:
    prompt, completion = answer.usage.get("prompt_tokens", 0), answer.usage.get("completion_tokens", 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class OpenAIAnswer:
    """One answer to one request, in the shape of `kind`: "chat" (`chat.completion`) or "text" (the legacy
    `text_completion`)."""

    def __init__(self, kind: Literal["chat", "text"], s: Services, request_id: str, audited: Audit) -> None:
        self.kind = kind
        self.s = s
        self.request_id = request_id
        self.audited = audited
        self.id = f"chatcmpl-{uuid.uuid4().hex}" if kind == "chat" else f"cmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())

    def respond(self, asked: AskRequest, *, stream: bool) -> ChatCompletion | TextCompletion | AnswerStream:
        answerer = self.s.need_answerer()
        deadline = answerer.deadline()
        if stream:
            return AnswerStream(
                answerer.events(asked, deadline),
                self._events,
                deadline=deadline,
                request_id=self.request_id,
                on_abandoned=self.s.metrics.cancelled.inc,
            )
        answer = answerer.answer(asked, deadline)  # a failure is recorded by the route's `audited.failures()`
        self.s.metrics.record(answer)
        self.audited.answered(answer)
        text = answer.text + references_block(answer)
        whole: dict[str, Any] = {
            "id": self.id,
            "created": self.created,
            "model": MODEL_ID,
            "usage": usage(answer),
            **extras(answer, self.request_id),
        }
        if self.kind == "chat":
            return ChatCompletion(choices=[ChatChoice(message=Message(content=text))], **whole)
        return TextCompletion(choices=[TextChoice(text=text)], **whole)

    def _object(self, *, stream: bool) -> str:
        if self.kind == "chat":
            return "chat.completion.chunk" if stream else "chat.completion"
        return "text_completion"

    def _chunk(self, text: str | None, finish: str | None = None, **more: object) -> ServerSentEvent:
        """One streamed chunk; for chat, `text` None is the opening delta that names the role."""
        choice: dict[str, object] = {"index": 0, "finish_reason": finish, "logprobs": None}
        if self.kind == "chat" and text is None:
            choice["delta"] = {"role": "assistant", "content": ""}
        elif self.kind == "chat":
            choice["delta"] = {"content": text} if text else {}  # the last chunk's delta is empty
        else:
            choice["text"] = text or ""
        data = {
            "id": self.id,
            "object": self._object(stream=True),
            "created": self.created,
            "model": MODEL_ID,
            "choices": [choice],
            **more,
        }
        return sse_event(json.dumps(data, ensure_ascii=False))

    def _events(self, events: Iterator[Delta | Sources | Answer]) -> Iterator[ServerSentEvent]:
        if self.kind == "chat":
            yield self._chunk(None)
        try:
            for event in events:
                if isinstance(event, Delta):
                    yield self._chunk(event.text)
                    continue
                if isinstance(event, Sources):  # an empty chunk carrying them, before the model's first token
                    yield self._chunk("", sources=[asdict(c) for c in event.citations])
                    continue
                self.s.metrics.record(event)
                self.audited.answered(event)
                references = references_block(event)
                if references:
                    yield self._chunk(references)
                yield self._chunk("", "stop", usage=usage(event), **extras(event, self.request_id))
        except AnswerCancelled:
            return  # the client left
        except Exception as exc:
            self.audited.failed(exc)
            yield sse_event(json.dumps(error_of(exc, self.request_id), ensure_ascii=False))
            return
        yield sse_event("[DONE]")
