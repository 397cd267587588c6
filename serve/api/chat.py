"""OpenAI-compatible `POST /v1/chat/completions`, `GET /v1/models` and `GET /v1/models/{id}`, answered from the
documents.

The last user message is the question and earlier user and assistant turns are the conversation (condensed
before retrieval); system messages are ignored, because the rules are Docent's. The sources come as a
references block at the end of the content and, structured, in the extra `sources` field (in the last chunk
when streaming), with `docent` saying how the answer was made. The official `openai` SDK works unchanged.
A request asking for what Docent cannot do (several choices, tools, a JSON response) is refused with a 400
rather than answered as if it had not asked.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, model_validator

from retrieval.errors import ConfigError, ModelNotFoundError
from serve.api.answers import MAX_QUESTION_CHARS, Filters, event_stream
from serve.api.auditing import audit
from serve.api.auth import ReaderDep
from serve.api.errors import error_responses
from serve.api.openai_answers import MODEL_ID, STREAMED, ChatCompletion, OpenAIAnswer, ask_request, refuse
from serve.api.services import ServicesDep
from serve.api.streaming import AnswerStream

router = APIRouter(responses=error_responses(400, 401, 404, 422, 429, 503))


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


class ResponseFormat(BaseModel):
    type: str


class ChatBody(BaseModel):
    """OpenAI's request shape; `filters` is Docent's extra (the SDK's `extra_body`). Sampling parameters are
    accepted and ignored: answers are generated at temperature 0. What would change the answer's shape (`n` > 1,
    tools, functions, a response format other than text) is refused (400)."""

    model: str
    messages: list[ChatTurn] = Field(min_length=1, max_length=80)
    stream: bool = False
    filters: Filters = Filters()
    max_tokens: int | None = None
    temperature: float | None = None
    user: str | None = None
    n: int | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: str | dict[str, Any] | None = None
    response_format: ResponseFormat | None = None

    @model_validator(mode="after")
    def _question_fits(self) -> ChatBody:
        """The question (the last user message) has the limit of `/v1/ask`'s: refused, never silently cut."""
        asked = next((t.text() for t in reversed(self.messages) if t.role == "user"), "")
        if len(asked) > MAX_QUESTION_CHARS:
            raise ValueError(
                f"the question (the last user message) has {len(asked)} characters; at most {MAX_QUESTION_CHARS}"
            )
        return self

    def refuse_unsupported(self) -> None:
        """`ConfigError` (400) naming the first parameter Docent cannot honour; sent as `null` or empty, a
        parameter asks for nothing (SDKs send `tools: []`, `n: 1`)."""
        refuse("n", self.n not in (None, 1), "Docent writes one answer per request: n must be 1")
        refuse(
            "tools",
            bool(self.tools) or self.tool_choice not in (None, "none"),
            "Docent does not call tools: it answers from its documents",
        )
        refuse(
            "functions",
            bool(self.functions) or self.function_call not in (None, "none"),
            "Docent does not call functions: it answers from its documents",
        )
        refuse(
            "response_format",
            self.response_format is not None and self.response_format.type != "text",
            "Docent answers in text (Markdown with citations): response_format must be text",
        )


class Model(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "docent"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]


@router.get("/v1/models")
def models(who: ReaderDep) -> ModelList:
    """The one model this server answers as (OpenAI's shape)."""
    return ModelList(data=[Model(id=MODEL_ID)])


@router.get("/v1/models/{model_id}")
def model(model_id: str, who: ReaderDep) -> Model:
    """One model (OpenAI's shape); 404 in OpenAI's error shape for any other id."""
    if model_id != MODEL_ID:
        raise ModelNotFoundError(f"the model '{model_id}' does not exist; this server offers '{MODEL_ID}'")
    return Model(id=MODEL_ID)


@router.post("/v1/chat/completions", response_model=ChatCompletion, responses=event_stream(None, STREAMED))
def chat(body: ChatBody, request: Request, who: ReaderDep, s: ServicesDep) -> ChatCompletion | AnswerStream:
    question = body.messages[-1].text() if body.messages else None
    audited = audit(request, s, who, "answer", query=question, filters=body.filters, channel="chat")
    with audited.failures():
        if body.model != MODEL_ID:
            raise ModelNotFoundError(f"the model '{body.model}' does not exist; this server offers '{MODEL_ID}'")
        body.refuse_unsupported()
        turns = [(t.role, t.text()) for t in body.messages if t.role in {"user", "assistant"}]
        if not turns or turns[-1][0] != "user" or not turns[-1][1].strip():
            raise ConfigError("the last message must be a non-empty user message: it is the question")
        asked = ask_request(turns[-1][1], turns[:-1], body.filters, who)
        return OpenAIAnswer("chat", s, request.state.request_id, audited).respond(asked, stream=body.stream)
