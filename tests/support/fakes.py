"""In-memory stand-ins that keep the answerer's own logic testable in milliseconds.

`ScriptedGenerator` is a chat model that answers from a script (a fixed text, a function of the messages, or a
failure); it honours the `Generator` protocol — deadlines, cancellation, streaming, token counts — and the
generator contract suite (tests/contract/test_generator_contract.py) holds it to the same rules as the real
clients. `FixedRetriever` returns the same passages for every search. Integration tests use the real models,
servers and index; these are for the rules around them (routing, fallbacks, the last rung)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from answer.deadline import NO_DEADLINE, Deadline
from answer.generation import ChatMessage, Completion, Deltas
from retrieval.errors import GeneratorUnavailableError
from retrieval.passages import Passage
from retrieval.search import SearchRequest, SearchResult

Reply = str | Callable[[Sequence[ChatMessage]], str]
_TOKEN = re.compile(r"[\u3400-\u9fff]|\w+|[^\w\s]")


class ScriptedGenerator:
    """A chat model answering `reply` (a text, or a function of the messages); `down` makes every call fail as
    a model server that cannot be reached does. Every request is recorded in `requests`."""

    def __init__(
        self, reply: Reply = "", *, model: str = "scripted", down: bool = False, context_length: int = 4096
    ) -> None:
        self.reply = reply
        self.model = model
        self.down = down
        self.context_length = context_length
        self.requests: list[dict[str, object]] = []
        self.closed = False

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(_TOKEN.findall(text)) for text in texts]

    def ping(self) -> None:
        if self.down:
            raise GeneratorUnavailableError(f"{self.model} is down")

    def close(self) -> None:
        self.closed = True

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        deadline: Deadline = NO_DEADLINE,
    ) -> Completion:
        text, finish = self._answer(messages, max_tokens, stop, deadline, stream=False)
        prompt = sum(self.count_tokens([m.content for m in messages]))
        return Completion(text, self.model, finish, prompt, self.count_tokens([text])[0])

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        deadline: Deadline = NO_DEADLINE,
    ) -> Deltas:
        text, _ = self._answer(messages, max_tokens, stop, deadline, stream=True)
        for piece in re.findall(r"\S+\s*", text):
            deadline.check("streaming")
            yield piece

    def _answer(
        self, messages: Sequence[ChatMessage], max_tokens: int, stop: Sequence[str], deadline: Deadline, *, stream: bool
    ) -> tuple[str, str]:
        self.requests.append({"messages": list(messages), "max_tokens": max_tokens, "stream": stream})
        deadline.check("asking the model")
        self.ping()
        text = self.reply(messages) if callable(self.reply) else self.reply
        for s in stop:
            text = text.split(s, 1)[0]
        words = re.findall(r"\S+\s*", text)
        if self.count_tokens([text])[0] > max_tokens:
            return "".join(words[:max_tokens]).rstrip(), "length"
        return text, "stop"


@dataclass
class FixedRetriever:
    """A retriever that finds `passages` for every question (in `language`), recording the requests."""

    passages: list[Passage]
    language: str = "en"
    multilingual_embedder: object | None = None
    requests: list[SearchRequest] = field(default_factory=list)

    def search(self, request: SearchRequest) -> SearchResult:
        self.requests.append(request)
        return SearchResult(list(self.passages), self.language, ("sparse",), {"sparse": 0.1})


def passage(text: str, number: int = 1, *, title: str = "Handbook", language: str = "en") -> Passage:
    """A passage of document `doc-<number>`, as retrieval returns it."""
    return Passage(
        f"doc-{number}",
        f"docs/{number}.md",
        title,
        "md",
        (title,),
        None,
        (0, 0),
        text,
        language,
        1.0 - number / 100,
        {"fused": 1.0 - number / 100},
    )
