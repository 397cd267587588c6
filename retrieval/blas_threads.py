"""The process's BLAS thread pool (numpy's OpenBLAS): one thread for the small calls of serving, shared by them;
more for a large batch, which takes the pool for itself.

One query, or the sentences of one answer, is a handful of small matrix products. Spread over two threads they
wait on each other, and on cores that other requests keep busy the wait is long: the multilingual USE model
embedded a query in 5 ms on one BLAS thread and in 90 ms on two, on a 2-core machine under load. So the pool is
kept at one thread, and small calls run side by side on it, each on its own core. An indexing batch gains from
more threads: it resizes the pool for its call alone and holds it exclusively meanwhile, because OpenBLAS must
not be resized while another thread is inside one of its calls. Waiting resizers go before new small calls, so
a steady stream of queries cannot hold an indexing batch off for ever.

The pool is process-wide, so there is one `BlasThreads` per process: `BLAS`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class BlasThreads:
    """Shared use of the BLAS pool at `default` threads, or exclusive use at more (a readers–writer lock)."""

    def __init__(self, default: int = 1) -> None:
        self.default = default
        self._changed = threading.Condition()
        self._sharing = 0  # small calls running
        self._exclusive = False  # a resized call running
        self._resizers = 0  # resized calls waiting
        self._controller: Any = None  # threadpoolctl's view of the loaded BLAS libraries, found by `start`

    def start(self) -> None:
        """Set the pool to `default` threads, once (idempotent); before it, small calls run at the pool's size."""
        with self.exclusive(None):
            if self._controller is None:
                from threadpoolctl import ThreadpoolController

                controller = ThreadpoolController()
                controller.limit(limits=self.default, user_api="blas")  # kept: the limiter is never restored
                self._controller = controller

    @contextmanager
    def shared(self) -> Iterator[None]:
        """A small call at the pool's default size, beside other small calls."""
        with self._changed:
            while self._exclusive or self._resizers:
                self._changed.wait()
            self._sharing += 1
        try:
            yield
        finally:
            with self._changed:
                self._sharing -= 1
                if not self._sharing:
                    self._changed.notify_all()

    @contextmanager
    def exclusive(self, threads: int | None) -> Iterator[None]:
        """A large call with the pool resized to `threads` (None: left as it is), alone in the pool."""
        with self._changed:
            self._resizers += 1
            while self._exclusive or self._sharing:
                self._changed.wait()
            self._resizers -= 1
            self._exclusive = True
        try:
            if threads is None or self._controller is None or threads == self.default:
                yield
            else:
                with self._controller.limit(limits=threads, user_api="blas"):
                    yield
        finally:
            with self._changed:
                self._exclusive = False
                self._changed.notify_all()


BLAS = BlasThreads()
