"""Generation through an OpenAI-compatible server (vLLM in production, llama.cpp's server in tests).

One small interface, `Generator`: `complete()` returns a whole answer, `stream()` yields text as it arrives;
both are bounded by the answer's `Deadline` and stop when it is cancelled. The HTTP client is strict about
time, because a slow or dead model server must become a clear error within the deadline, never a hung request:
a short connect timeout, a read timeout per received chunk (never past the deadline), a retry only of a request
the server never received (a refused connection), and a bound on concurrent requests so that a burst queues
here, in the open, instead of inside the model server.
"""

from __future__ import annotations

import collections.abc as abc
import json
import socket
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from answer.deadline import NO_DEADLINE, AnswerCancelled, Deadline, Turns
from retrieval.errors import GeneratorTimeoutError, GeneratorUnavailableError


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


# What `stream` returns: the answer's pieces as they come, closable (closing it stops the model's work).
Deltas = abc.Generator[str, None, None]


class Generator(Protocol):
    """A chat model. `context_length` bounds prompt + answer; `count_tokens` measures text in its tokens (or a
    safe over-estimate of them); `ping` raises `GeneratorUnavailableError` when it cannot answer now.

    `complete` and `stream` give up with `GeneratorTimeoutError` when `deadline` passes and raise
    `AnswerCancelled` when it is cancelled; either way the model's turn is given back and its work stops.
    A stream that is closed early (its consumer stopped) stops the model's work too."""

    model: str
    context_length: int

    def count_tokens(self, texts: list[str]) -> list[int]: ...

    def ping(self) -> None: ...

    def close(self) -> None: ...

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        deadline: Deadline = NO_DEADLINE,
    ) -> Completion: ...

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        deadline: Deadline = NO_DEADLINE,
    ) -> Deltas: ...


STUCK_GRACE_S = 15.0  # beyond the longest turn, before readiness calls a model whose turns are all held stuck


class OpenAICompatibleGenerator:
    """`/v1/chat/completions` of an OpenAI-compatible server, with bounded time and concurrency.

    Connections are not kept alive between calls: each call's socket is known, so a cancelled answer can shut
    it down at once, even while the call waits for a whole (non-streamed) answer; the server then sees the
    request closed and stops generating (vLLM aborts a request whose client disconnected)."""

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
        max_turn_s: float = 120.0,
        transport: httpx.BaseTransport | None = None,  # tests: httpx.MockTransport
    ) -> None:
        self.base_url = base_url.rstrip("/").removesuffix("/v1")  # the paths below start with /v1
        self.model = model
        self.context_length = context_length
        self.retries = retries
        self.read_timeout_s = read_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.max_turn_s = max_turn_s  # the longest one call may take, whatever its deadline
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        timeout = httpx.Timeout(read_timeout_s, connect=connect_timeout_s)
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=timeout,
            limits=httpx.Limits(max_keepalive_connections=0),
            transport=transport,
        )
        self._turns = Turns(max_concurrency)

    def close(self) -> None:
        self._client.close()

    def count_tokens(self, texts: list[str]) -> list[int]:
        """An over-estimate of the server model's token counts, without its tokenizer: one token per three
        UTF-8 bytes. Byte-level BPE tokenizers (Qwen, Llama, Phi) average about four bytes per English token
        and three per Chinese character, so a context packed by this count fits the real one."""
        return [-(-len(t.encode()) // 3) for t in texts]

    def ping(self) -> None:
        """Raise unless the server answers `GET /v1/models` within the connect timeout and a call could get a
        turn here (the readiness probe)."""
        stuck = self._turns.stuck_for()
        if stuck > self.max_turn_s + STUCK_GRACE_S:
            raise GeneratorUnavailableError(
                f"the generator at {self.base_url} cannot take a call: all "
                f"{self._turns.size} have been in use for {stuck:.0f} s"
            )
        try:
            response = self._client.get("/v1/models", timeout=self.connect_timeout_s)
        except httpx.TransportError as exc:
            raise GeneratorUnavailableError(
                f"the generator at {self.base_url} is not reachable: {_describe(exc)}"
            ) from exc
        if response.status_code >= 400:
            raise GeneratorUnavailableError(f"the generator at {self.base_url} answered {response.status_code}")

    def _body(
        self, messages: Sequence[ChatMessage], max_tokens: int, temperature: float, stop: Sequence[str], stream: bool
    ) -> dict[str, object]:
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

    def _turn(self, deadline: Deadline) -> AbstractContextManager[None]:
        return self._turns.turn(
            deadline.bound(self.read_timeout_s),
            f"the generator at {self.base_url} is busy: no free slot within "
            f"{deadline.bound(self.read_timeout_s):.0f} s",
            deadline,
        )

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        deadline: Deadline = NO_DEADLINE,
    ) -> Completion:
        deadline = deadline.capped(self.max_turn_s)
        body = self._body(messages, max_tokens, temperature, stop, stream=False)
        with self._turn(deadline), _Exchange(self, body, deadline) as response:
            try:
                response.read()
            except httpx.TransportError as exc:
                raise _failure(exc, deadline, self.base_url, "before answering") from exc
            return _completion(response, self.base_url)

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        deadline: Deadline = NO_DEADLINE,
    ) -> Deltas:
        """Text deltas as the server sends them. A failure after the first delta is raised, because the caller
        has already passed part of the answer on; closing the iterator closes the request."""
        deadline = deadline.capped(self.max_turn_s)
        body = self._body(messages, max_tokens, temperature, stop, stream=True)
        with self._turn(deadline), _Exchange(self, body, deadline) as response:
            if response.status_code >= 400:
                response.read()
                _completion(response, self.base_url)  # raises with the server's message
            started = False
            try:
                for delta in _sse_deltas(response.iter_lines(), self.base_url):
                    deadline.check("in the middle of the answer")
                    started = True
                    yield delta
            except httpx.TransportError as exc:
                raise _failure(
                    exc, deadline, self.base_url, "in the middle of the answer" if started else "before answering"
                ) from exc


class _Exchange:
    """One request to the server, its response open (headers received, body not read) inside the block.

    Only a request the server never received is tried again (the connection was refused or timed out): a
    request it accepted may be generating, and a second one would double its work and the wait. A cancelled
    deadline shuts the connection's socket down, which ends a read blocked on it at once."""

    def __init__(self, owner: OpenAICompatibleGenerator, body: dict[str, object], deadline: Deadline) -> None:
        self.owner, self.body, self.deadline = owner, body, deadline
        self._socket: socket.socket | None = None
        self._response: httpx.Response | None = None
        self._cancel = deadline.on_cancel(self._shut_down)

    def _trace(self, event: str, info: dict[str, Any]) -> None:
        if event in ("connection.connect_tcp.complete", "connection.connect_unix_socket.complete"):
            stream = info.get("return_value")
            self._socket = stream.get_extra_info("socket") if stream is not None else None

    def _shut_down(self) -> None:
        if self._socket is not None:
            with suppress(OSError):  # already closed
                self._socket.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> httpx.Response:
        o, deadline = self.owner, self.deadline
        self._cancel.__enter__()
        for attempt in range(o.retries + 1):
            deadline.check("before the generator answered")
            timeout = httpx.Timeout(deadline.bound(o.read_timeout_s), connect=deadline.bound(o.connect_timeout_s))
            request = o._client.build_request(
                "POST", "/v1/chat/completions", json=self.body, timeout=timeout, extensions={"trace": self._trace}
            )
            try:
                self._response = o._client.send(request, stream=True)
                return self._response
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt < o.retries and not deadline.stopped:
                    continue
                self._cancel.__exit__(None, None, None)
                raise _failure(exc, deadline, o.base_url, "before answering") from exc
            except httpx.TransportError as exc:
                self._cancel.__exit__(None, None, None)
                raise _failure(exc, deadline, o.base_url, "before answering") from exc
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def __exit__(self, *exc: object) -> None:
        try:
            if self._response is not None:
                self._response.close()
        finally:
            self._cancel.__exit__(None, None, None)


def _failure(exc: httpx.TransportError, deadline: Deadline, base_url: str, where: str) -> Exception:
    """What a transport error means for the answer: its caller left, its deadline passed, or the server failed."""
    if deadline.cancelled:
        return AnswerCancelled(f"the answer was cancelled {where}")
    if deadline.expired:
        return GeneratorTimeoutError(f"the generator at {base_url} timed out {where}: the answer's deadline passed")
    return GeneratorUnavailableError(f"the generator at {base_url} failed {where}: {_describe(exc)}")


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
    raise GeneratorUnavailableError(
        f"the generator at {base_url} stopped in the middle of the answer: the stream ended without [DONE]"
    )
