"""The BLAS pool: small calls share it at one thread; a resized call has it alone, and gets it back as it was."""

from __future__ import annotations

import threading
import time

import numpy as np
from threadpoolctl import threadpool_info

from retrieval.blas_threads import BlasThreads


def blas_threads() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


def test_the_pool_is_kept_at_one_thread_and_a_resized_call_gets_its_own_size():
    pool = BlasThreads()
    pool.start()
    assert blas_threads() == {1}
    with pool.exclusive(2):
        assert blas_threads() == {2}
        np.ones((64, 64)) @ np.ones((64, 64))
    assert blas_threads() == {1}
    with pool.shared():
        assert blas_threads() == {1}


def test_small_calls_run_side_by_side_and_a_resized_call_waits_for_them():
    pool = BlasThreads()
    pool.start()
    inside, events = threading.Barrier(2, timeout=5), []

    def small() -> None:
        with pool.shared():
            inside.wait()  # both are inside at once, or this times out
            time.sleep(0.1)
            events.append("small done")

    def resized() -> None:
        time.sleep(0.03)  # after the small calls began
        with pool.exclusive(2):
            events.append("resized")

    threads = [threading.Thread(target=f) for f in (small, small, resized)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=5)
    assert events == ["small done", "small done", "resized"]


def test_a_waiting_resize_goes_before_later_small_calls():
    pool = BlasThreads()
    pool.start()
    events: list[str] = []
    first_in = threading.Event()

    def first() -> None:
        with pool.shared():
            first_in.set()
            time.sleep(0.15)
            events.append("first small")

    def resized() -> None:
        first_in.wait(5)
        with pool.exclusive(2):
            events.append("resized")

    def later() -> None:
        first_in.wait(5)
        time.sleep(0.05)  # the resize is waiting by now
        with pool.shared():
            events.append("later small")

    threads = [threading.Thread(target=f) for f in (first, resized, later)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=5)
    assert events == ["first small", "resized", "later small"]
