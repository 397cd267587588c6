"""Server-Sent Events from an answer that is written in a worker thread, and stopped when its client leaves.

An answer is produced by a plain iterator (`Answerer.stream`) that holds the model's turn while it runs. Each
item is produced in a worker thread. When the client goes away (a closed tab, `curl --max-time`, a proxy
timeout), sse-starlette notices the disconnect and stops sending; then, whatever the reason the response ended,
the answer's deadline is cancelled, so the model stops at its next token, and the iterator is closed once the
item in progress is done, so the model's turn is given back at once: a dropped stream never keeps the model
from the next caller. (Leaving this to garbage collection is what once held the local model's turn for ever.)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator

import anyio
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.types import Receive, Scope, Send

from serve.deadline import Deadline

log = logging.getLogger("docent.api")

SEP = "\n"  # between an event's lines; "\r\n" is as valid, but "\n" is what every client and test reads
PING_S = 15  # a comment line this often keeps proxies from closing a stream that waits for the model
CLOSE_WAIT_S = 30.0  # the longest the close waits for the item in progress (a model stops within a token)
_END = object()


def event(data: str, name: str | None = None) -> ServerSentEvent:
    """One Server-Sent Event: `event: name` (if any) and `data: ...` lines."""
    return ServerSentEvent(data, event=name, sep=SEP)


class AnswerStream(EventSourceResponse):
    """`events` (sync, each rendered to SSE by the route) sent as Server-Sent Events; `answer` (the iterator
    behind them, holding the model) is closed, and `deadline` cancelled, when the response ends early."""

    def __init__(self, events: Iterator[ServerSentEvent], *, answer: Iterator[object], deadline: Deadline,
                 on_abandoned: Callable[[], None] = lambda: None) -> None:
        self._events = events
        self._answer = answer
        self._deadline = deadline
        self._on_abandoned = on_abandoned
        self._lock = threading.Lock()  # held while an item is produced: a generator cannot be closed mid-step
        self._closed = False
        self._finished = False
        super().__init__(self._produce(), ping=PING_S, sep=SEP,
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def _produce(self) -> AsyncIterator[ServerSentEvent]:
        while True:
            # abandon_on_cancel: a disconnect ends the response at once; `_close` waits for this item instead.
            item = await anyio.to_thread.run_sync(self._next, abandon_on_cancel=True)
            if item is _END:
                self._finished = True
                return
            yield item

    def _next(self) -> object:
        with self._lock:
            return _END if self._closed else next(self._events, _END)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if not self._finished:
                self._deadline.cancel()  # the model stops at its next token
                self._on_abandoned()
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._close)

    def _close(self) -> None:
        """Close the iterators once no item is in progress (the cancelled model finishes its token first)."""
        if not self._lock.acquire(timeout=CLOSE_WAIT_S):
            log.error("an abandoned answer did not stop within %.0f s; its iterator is left to the collector",
                      CLOSE_WAIT_S)
            return
        try:
            self._closed = True
            for iterator in (self._events, self._answer):
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()
        finally:
            self._lock.release()
