"""Server-Sent Events from an answer that is written in a worker thread, and stopped when its client leaves.

An answer is produced by a plain iterator (`Answerer.stream`) that holds the model's turn while it runs; each item
is produced in a worker thread. The response waits up to `START_AFTER_S` for the first item, so that an error
before the answer begins (the index down, the model down with the fallback off) is an HTTP error, not an event; a
client that leaves meanwhile (while its question waits for the model's turn, say) cancels the answer there. An
answer still being prepared after that (a larger tier writing an escalated answer, which is checked whole before
it is sent) starts the response without it: keep-alive comments then go out every `PING_S` until the first event,
so no proxy closes a quiet stream, and an error from then on is an `error` event.
Once streaming, sse-starlette notices a disconnect and stops sending. Whatever the reason the response ends early,
the answer's deadline is cancelled, so the model stops at its next token (or a call still waiting for its turn
stops waiting), and the iterators are closed once the item in progress is done, which gives the model's turn
back at once: a dropped stream never keeps the model from the next caller. (Leaving this to the garbage
collector is what once held the local model's turn for ever.)
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Generic, TypeVar, cast

import anyio
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.types import Receive, Scope, Send

from answer.deadline import AnswerCancelled, Deadline
from serve.api.errors import error_response

log = logging.getLogger("docent.api")

SEP = "\n"  # between an event's lines; "\r\n" is as valid, but "\n" is what every client and test reads
PING_S = 15  # a comment line this often keeps proxies from closing a stream that waits for the model
START_AFTER_S = 10.0  # past this, the response starts before the first item (longer than any index timeout)
CLOSE_WAIT_S = 30.0  # the longest the close waits for the item in progress (a model stops within a token)
_END = object()
_PENDING = object()  # the first item is still being produced when the response starts
T = TypeVar("T")


def event(data: str, name: str | None = None) -> ServerSentEvent:
    """One Server-Sent Event: `event: name` (if any) and `data: ...` lines."""
    return ServerSentEvent(data, event=name, sep=SEP)


class AnswerStream(EventSourceResponse, Generic[T]):
    """`answer`'s items, rendered to events by `render`, sent as Server-Sent Events. When the response ends
    early, `deadline` is cancelled and both iterators are closed; `on_abandoned` is called."""

    def __init__(
        self,
        answer: Iterator[T],
        render: Callable[[Iterator[T]], Iterator[ServerSentEvent]],
        *,
        deadline: Deadline,
        request_id: str,
        on_abandoned: Callable[[], None] = lambda: None,
    ) -> None:
        self._answer = answer
        self._render = render
        self._events: Iterator[ServerSentEvent] = iter(())
        self._deadline = deadline
        self._request_id = request_id
        self._on_abandoned = on_abandoned
        self._lock = threading.Lock()  # held while an item is produced: a generator cannot be closed mid-step
        self._closed = False
        self._finished = False
        self._start_after_s = START_AFTER_S
        self._first_started = threading.Event()  # the first item's producer holds the lock
        self._first_done = threading.Event()
        self._first_outcome: tuple[bool, object] = (False, None)  # (ok, the item or the exception)
        super().__init__(
            self._produce(), ping=PING_S, sep=SEP, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        )

    async def _produce(self) -> AsyncIterator[ServerSentEvent]:
        while True:
            # abandon_on_cancel: a disconnect ends the response at once; `_close` waits for this item instead.
            item = await anyio.to_thread.run_sync(self._next, self._events, abandon_on_cancel=True)
            if item is _END:
                self._finished = True
                return
            yield item

    def _next(self, source: Iterator[object]) -> object:
        with self._lock:
            return _END if self._closed else next(source, _END)

    def _produce_first(self) -> None:
        """Produce the first item (in a worker thread), keeping the outcome for whoever sends it."""
        with self._lock:
            self._first_started.set()
            try:
                self._first_outcome = (True, _END if self._closed else next(self._answer, _END))
            except BaseException as exc:  # handed to the response: an HTTP error, or an error event
                self._first_outcome = (False, exc)
            finally:
                self._first_done.set()

    def _after_first(self) -> Iterator[T]:
        """The first item (produced already: its producer set it before releasing the lock), then the rest."""
        ok, first = self._first_outcome
        if not ok:
            assert isinstance(first, BaseException)
            raise first
        if first is not _END:
            yield cast(T, first)  # an item of the answer (not the sentinel)
            yield from self._answer

    async def _first(self, receive: Receive) -> object:
        """The answer's first item, produced while watching for the client to leave (then the answer is
        cancelled: it stops waiting for the model, and this raises `AnswerCancelled`); `_PENDING` when it is
        still being produced after `START_AFTER_S`."""
        async with anyio.create_task_group() as watching:

            async def watch() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                self._deadline.cancel()

            watching.start_soon(watch)
            with anyio.move_on_after(self._start_after_s):
                # Left running when the wait ends: the outcome is kept for `_after_first`.
                await anyio.to_thread.run_sync(self._produce_first, abandon_on_cancel=True)
            while not self._first_done.is_set() and not self._first_started.is_set():
                await anyio.sleep(0.05)  # the producer has not taken the lock yet: never start before it does
            watching.cancel_scope.cancel()
        if not self._first_done.is_set():
            return _PENDING
        ok, first = self._first_outcome
        if not ok:
            assert isinstance(first, BaseException)
            raise first
        return first

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            try:
                first = await self._first(receive)
            except AnswerCancelled:
                return  # the client left before the answer started
            except Exception as exc:
                await error_response(exc, self._request_id)(scope, receive, send)
                self._finished = True
                return
            if first is _PENDING:
                log.info("the answer is still being prepared: the stream starts, keep-alive comments until it comes")
                self._events = self._render(self._after_first())
            else:
                self._events = self._render(itertools.chain([first], self._answer) if first is not _END else iter(()))
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
            log.error(
                "an abandoned answer did not stop within %.0f s; its iterator is left to the collector", CLOSE_WAIT_S
            )
            return
        try:
            self._closed = True
            for iterator in (self._events, self._answer):
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()
        finally:
            self._lock.release()
