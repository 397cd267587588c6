"""Generation through an OpenAI-compatible server (vLLM in production, llama.cpp's server in tests).

One small interface, `Generator`: `complete()` returns a whole answer, `stream()` yields text as it arrives.
The HTTP client is strict about time, because a slow or dead model server must become a clear error within
seconds, never a hung request: a short connect timeout, a read timeout per received chunk, at most one retry
(only before any text has been returned), and a bound on concurrent requests so that a burst queues here, in
the open, instead of inside the model server.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx

from retrieval.errors import GeneratorUnavailableError


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    model: str
    finish_reason: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Generator(Protocol):
    """A chat model. `context_length` bounds prompt + answer; `count_tokens` measures text in its tokens (or a
    safe over-estimate of them); `ping` raises `GeneratorUnavailableError` when it cannot answer now."""

    model: str
    context_length: int

    def count_tokens(self, texts: list[str]) -> list[int]: ...

    def ping(self) -> None: ...

    def close(self) -> None: ...

    def complete(self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float = 0.0,
                 stop: Sequence[str] = ()) -> Completion: ...

    def stream(self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float = 0.0,
               stop: Sequence[str] = ()) -> Iterator[str]: ...


class OpenAICompatibleGenerator:
    """`/v1/chat/completions` of an OpenAI-compatible server, with bounded time and concurrency."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = 30.0,
        retries: int = 1,
        max_concurrency: int = 4,
        context_length: int = 8192,
    ) -> None:
        self.base_url = base_url.rstrip("/").removesuffix("/v1")  # the paths below start with /v1
        self.model = model
        self.context_length = context_length
        self.retries = retries
        self.read_timeout_s = read_timeout_s
        self.connect_timeout_s = connect_timeout_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        timeout = httpx.Timeout(read_timeout_s, connect=connect_timeout_s)
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
        self._slots = threading.BoundedSemaphore(max_concurrency)

    def close(self) -> None:
        self._client.close()

    def count_tokens(self, texts: list[str]) -> list[int]:
        """An over-estimate of the server model's token counts, without its tokenizer: one token per three
        UTF-8 bytes. Byte-level BPE tokenizers (Qwen, Llama, Phi) average about four bytes per English token
        and three per Chinese character, so a context packed by this count fits the real one."""
        return [-(-len(t.encode()) // 3) for t in texts]

    def ping(self) -> None:
        """Raise unless the server answers `GET /v1/models` within the connect timeout (the readiness probe)."""
        try:
            response = self._client.get("/v1/models", timeout=self.connect_timeout_s)
        except httpx.TransportError as exc:
            raise GeneratorUnavailableError(f"the generator at {self.base_url} is not reachable: {_describe(exc)}") from exc
        if response.status_code >= 400:
            raise GeneratorUnavailableError(f"the generator at {self.base_url} answered {response.status_code}")

    def _body(self, messages: Sequence[ChatMessage], max_tokens: int, temperature: float, stop: Sequence[str],
              stream: bool) -> dict[str, object]:
        body: dict[str, object] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": stream,
        }
        if stop:
            body["stop"] = list(stop)
        return body

    def _slot(self) -> None:
        if not self._slots.acquire(timeout=self.read_timeout_s):
            raise GeneratorUnavailableError(
                f"the generator at {self.base_url} is busy: no free slot within {self.read_timeout_s:.0f} s"
            )

    def complete(self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float = 0.0,
                 stop: Sequence[str] = ()) -> Completion:
        body = self._body(messages, max_tokens, temperature, stop, stream=False)
        self._slot()
        try:
            for attempt in range(self.retries + 1):
                try:
                    response = self._client.post("/v1/chat/completions", json=body)
                except httpx.TransportError as exc:
                    if attempt < self.retries:
                        continue
                    raise GeneratorUnavailableError(f"the generator at {self.base_url} failed: {_describe(exc)}") from exc
                if response.status_code >= 500 and attempt < self.retries:
                    continue
                return _completion(response, self.base_url)
            raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises
        finally:
            self._slots.release()

    def stream(self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float = 0.0,
               stop: Sequence[str] = ()) -> Iterator[str]:
        """Text deltas as the server sends them. A failure before the first delta is retried once; after it,
        it is raised, because the caller has already passed part of the answer on."""
        body = self._body(messages, max_tokens, temperature, stop, stream=True)
        self._slot()
        try:
            for attempt in range(self.retries + 1):
                started = False
                try:
                    with self._client.stream("POST", "/v1/chat/completions", json=body) as response:
                        if response.status_code >= 400:
                            response.read()
                            if response.status_code >= 500 and attempt < self.retries:
                                continue
                            _completion(response, self.base_url)  # raises with the server's message
                        for delta in _sse_deltas(response.iter_lines(), self.base_url):
                            started = True
                            yield delta
                    return
                except httpx.TransportError as exc:
                    if not started and attempt < self.retries:
                        continue
                    where = "in the middle of the answer" if started else "before answering"
                    raise GeneratorUnavailableError(
                        f"the generator at {self.base_url} failed {where}: {_describe(exc)}"
                    ) from exc
        finally:
            self._slots.release()


def _describe(exc: httpx.TransportError) -> str:
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
    return f"{kind} ({type(exc).__name__}: {exc})" if str(exc) else f"{kind} ({type(exc).__name__})"


def _completion(response: httpx.Response, base_url: str) -> Completion:
    if response.status_code >= 400:
        raise GeneratorUnavailableError(
            f"the generator at {base_url} answered {response.status_code}: {response.text[:300]}"
        )
    try:
        data = response.json()
        choice = data["choices"][0]
        usage = data.get("usage") or {}
        return Completion(
            text=choice["message"]["content"] or "",
            model=str(data.get("model", "")),
            finish_reason=str(choice.get("finish_reason") or ""),
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
        )
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise GeneratorUnavailableError(f"the generator at {base_url} sent an unreadable answer: {exc}") from exc


def _sse_deltas(lines: Iterator[str], base_url: str) -> Iterator[str]:
    """The content deltas of an OpenAI chat-completion event stream (`data: {...}` lines, `data: [DONE]`).

    A stream that ends without `[DONE]` was cut off (a server that died and closed the connection): an error,
    not a short answer."""
    for line in lines:
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            return
        try:
            delta = json.loads(payload)["choices"][0].get("delta", {}).get("content")
        except (ValueError, KeyError, IndexError) as exc:
            raise GeneratorUnavailableError(f"unreadable event from the generator: {payload[:200]}") from exc
        if delta:
            yield delta
    raise GeneratorUnavailableError(f"the generator at {base_url} stopped in the middle of the answer: "
                                    "the stream ended without [DONE]")
