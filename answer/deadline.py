"""An answer's time limit and its caller's presence, and the turns of a model that answers few at a time.

Every model call an answer makes (planner, small tier, larger tiers) is bounded by one `Deadline`, so a hung
model costs the answer's deadline (`DOCENT_ANSWER__DEADLINE_S`) and no more, however many calls there are. The
same object carries cancellation: when the client of a streamed answer goes away, the API cancels its deadline,
and the model call in progress stops at its next token and gives its turn back instead of writing an answer
that nobody reads.

`Turns` admits a bounded number of model calls at once (one for the in-process model, which has one context;
a few for a model server). It remembers when each turn began, so readiness can tell a model that is busy from
one whose turns were never given back.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from retrieval.errors import GeneratorTimeoutError, GeneratorUnavailableError


class AnswerCancelled(Exception):
    """The caller went away: stop working on its answer. Not an error anybody sees (nobody is listening)."""


class _Cancellation:
    """Whether the caller has gone, and what to run when it goes: shared by a deadline and the ones capped from it."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.callbacks: list[Callable[[], None]] = []
        self.lock = threading.Lock()


class Deadline:
    """A point in time (or none) by which an answer must be finished, and whether its caller has gone.

    Thread-safe: the API cancels it from the event loop while the answer runs in a worker thread."""

    def __init__(
        self, seconds: float | None, *, clock: Callable[[], float] = time.monotonic, _parent: Deadline | None = None
    ) -> None:
        self.seconds = seconds
        self._clock = clock
        self._at = None if seconds is None else clock() + seconds
        self._parent = _parent
        self._cancellation: _Cancellation = _parent._cancellation if _parent is not None else _Cancellation()

    def remaining(self) -> float:
        """Seconds left (infinite without a deadline, 0 once passed)."""
        own = math.inf if self._at is None else max(0.0, self._at - self._clock())
        return min(own, self._parent.remaining()) if self._parent is not None else own

    def bound(self, seconds: float) -> float:
        """`seconds`, or the time left when that is shorter: a timeout that cannot outlive the deadline."""
        return min(seconds, self.remaining())

    def capped(self, seconds: float) -> Deadline:
        """A deadline `seconds` from now or this one's, whichever comes first (one model call's limit);
        cancelling or lifting this one reaches it."""
        return Deadline(seconds, clock=self._clock, _parent=self)

    def lift(self) -> None:
        """No time limit from now on (cancellation still works): an answer that has started to reach its client
        is no longer waiting for a hung model; its calls' own caps and read timeouts bound it from here."""
        self._at = None

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0

    @property
    def cancelled(self) -> bool:
        return self._cancellation.event.is_set()

    @property
    def stopped(self) -> bool:
        """Whether the work must stop now: the caller left or the time is up."""
        return self.cancelled or self.expired

    def cancel(self) -> None:
        """The caller is gone: every check raises `AnswerCancelled` from now on, and the registered callbacks
        run (once), e.g. to close a connection that a blocked read is waiting on."""
        c = self._cancellation
        with c.lock:
            if c.event.is_set():
                return
            c.event.set()
            callbacks = list(c.callbacks)
            c.callbacks.clear()
        for callback in callbacks:
            callback()

    @contextmanager
    def on_cancel(self, callback: Callable[[], None]) -> Iterator[None]:
        """Run `callback` if the deadline is cancelled while the block runs (at once if it already is)."""
        c = self._cancellation
        with c.lock:
            registered = not c.event.is_set()
            if registered:
                c.callbacks.append(callback)
        if not registered:
            callback()
        try:
            yield
        finally:
            with c.lock:
                if callback in c.callbacks:
                    c.callbacks.remove(callback)

    def check(self, what: str) -> None:
        """Raise `AnswerCancelled` when the caller left, `GeneratorTimeoutError` when the time is up."""
        if self.cancelled:
            raise AnswerCancelled(what)
        if self.expired:
            raise GeneratorTimeoutError(f"{what}: the answer's deadline passed")


NO_DEADLINE = Deadline(None)  # for calls made outside an answer (a benchmark, a test); never cancel it
CANCEL_POLL_S = 0.1  # how often a call waiting for its turn looks whether its caller has left


class Turns:
    """Up to `size` model calls at once; the others wait, each for a bounded time.

    `stuck_for()` is how long the model has been unable to take a new call because every turn has been held
    for at least that long: with every call bounded by a deadline, a large value means turns that were never
    given back (the failure readiness must report), not a busy model."""

    def __init__(self, size: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.size = size
        self._clock = clock
        self._held: dict[int, float] = {}  # turn number -> when it began
        self._next = 0
        self._free = threading.Condition()

    @contextmanager
    def turn(self, wait_s: float, busy: str, deadline: Deadline | None = None) -> Iterator[None]:
        """Hold a turn for the block; `GeneratorUnavailableError(busy)` when none is free within `wait_s`, and
        `AnswerCancelled` as soon as `deadline` is cancelled while waiting (its caller left the queue)."""
        number = self._take(wait_s, deadline)
        if number is None:
            if deadline is not None and deadline.cancelled:
                raise AnswerCancelled("while waiting for the model")
            raise GeneratorUnavailableError(busy)
        try:
            yield
        finally:
            with self._free:
                del self._held[number]
                self._free.notify()

    def _take(self, wait_s: float, deadline: Deadline | None) -> int | None:
        end = self._clock() + max(0.0, wait_s)
        with self._free:
            while len(self._held) >= self.size:
                if deadline is not None and deadline.cancelled:
                    return None
                left = end - self._clock()
                if left <= 0:
                    return None
                self._free.wait(min(left, CANCEL_POLL_S))  # a cancelled caller leaves the queue within this
            self._next += 1
            self._held[self._next] = self._clock()
            return self._next

    @property
    def taken(self) -> int:
        """Turns given out so far."""
        with self._free:
            return self._next

    @property
    def in_use(self) -> int:
        with self._free:
            return len(self._held)

    def stuck_for(self) -> float:
        """0 while a turn is free; else how long the most recent of the held turns has been held."""
        with self._free:
            if len(self._held) < self.size:
                return 0.0
            return self._clock() - max(self._held.values())
