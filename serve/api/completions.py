"""OpenAI-compatible legacy `POST /v1/completions`: the prompt is the question, answered from the documents.

Clients that speak only this endpoint (LlamaIndex's `OpenAILike` with its default `is_chat_model=False`) get the
same answer as from `/v1/chat/completions`, with the references block after the text and the `sources` and
`docent` extras. The prompt is taken as the question, whole: a client that writes its own retrieval prompt
around the question should use the chat endpoint, or Docent's `/v1/ask`, instead.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, model_validator

from retrieval.errors import ConfigError, ModelNotFoundError
from serve.api.answers import MAX_QUESTION_CHARS, Filters, event_stream
from serve.api.auditing import audit
from serve.api.auth import ReaderDep
from serve.api.errors import error_responses
from serve.api.openai_answers import MODEL_ID, STREAMED, OpenAIAnswer, TextCompletion, ask_request, refuse
from serve.api.services import ServicesDep
from serve.api.streaming import AnswerStream

router = APIRouter(responses=error_responses(400, 401, 404, 422, 429, 503))


class CompletionBody(BaseModel):
    """OpenAI's legacy completion request; sampling parameters are accepted and ignored, as in chat completions.
    Several prompts, several choices, an echo of the prompt or a suffix are refused (400)."""

    model: str
    prompt: str | list[str]
    stream: bool = False
    filters: Filters = Filters()
    max_tokens: int | None = None
    temperature: float | None = None
    user: str | None = None
    n: int | None = None
    best_of: int | None = None
    echo: bool | None = None
    suffix: str | None = None

    def question(self) -> str:
        """The one prompt, as the question; `ConfigError` (400) for what Docent cannot honour."""
        prompts = [self.prompt] if isinstance(self.prompt, str) else self.prompt
        refuse("prompt", len(prompts) != 1, "Docent answers one prompt per request")
        refuse(
            "n",
            self.n not in (None, 1) or self.best_of not in (None, 1),
            "Docent writes one answer per request: n and best_of must be 1",
        )
        refuse("echo", bool(self.echo), "Docent does not echo the prompt")
        refuse("suffix", bool(self.suffix), "Docent does not complete text before a suffix")
        if not prompts[0].strip():
            raise ConfigError("the prompt must not be empty: it is the question")
        return prompts[0]

    @model_validator(mode="after")
    def _question_fits(self) -> CompletionBody:
        """Each prompt has the limit of `/v1/ask`'s question (422, as on the other routes): never silently cut."""
        for prompt in [self.prompt] if isinstance(self.prompt, str) else self.prompt:
            if len(prompt) > MAX_QUESTION_CHARS:
                raise ValueError(
                    f"the prompt (the question) has {len(prompt)} characters; at most {MAX_QUESTION_CHARS}"
                )
        return self


@router.post("/v1/completions", response_model=TextCompletion, responses=event_stream(None, STREAMED))
def completions(
    body: CompletionBody, request: Request, who: ReaderDep, s: ServicesDep
) -> TextCompletion | AnswerStream:
    prompt = body.prompt if isinstance(body.prompt, str) else None
    audited = audit(request, s, who, "answer", query=prompt, filters=body.filters, channel="completions")
    with audited.failures():
        if body.model != MODEL_ID:
            raise ModelNotFoundError(f"the model '{body.model}' does not exist; this server offers '{MODEL_ID}'")
        asked = ask_request(body.question(), [], body.filters, who)
        return OpenAIAnswer("text", s, request.state.request_id, audited).respond(asked, stream=body.stream)
