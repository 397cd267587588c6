"""The answer's deadline and the model's turns, on a fake clock: no sleeping, no model."""

from __future__ import annotations

import threading

import pytest

from answer.deadline import AnswerCancelled, Deadline, Turns
from retrieval.errors import GeneratorTimeoutError, GeneratorUnavailableError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_deadline_bounds_timeouts_and_expires():
    clock = Clock()
    deadline = Deadline(10, clock=clock)
    assert deadline.bound(30) == 10 and deadline.bound(3) == 3 and not deadline.stopped
    clock.now += 9.5
    assert deadline.bound(30) == pytest.approx(0.5)
    clock.now += 1
    assert deadline.expired and deadline.remaining() == 0
    with pytest.raises(GeneratorTimeoutError, match="deadline"):
        deadline.check("waiting")
    assert isinstance(GeneratorTimeoutError("x"), GeneratorUnavailableError)  # a timeout falls back like a failure


def test_a_capped_deadline_takes_the_sooner_limit_and_shares_cancellation_and_lifting():
    clock = Clock()
    answer = Deadline(10, clock=clock)
    call = answer.capped(60)
    assert call.remaining() == 10
    answer.lift()  # the answer reached its client: only the call's own cap is left
    assert call.remaining() == 60 and not answer.expired
    clock.now += 61
    assert call.expired and not answer.expired
    cancelled = []
    with call.on_cancel(lambda: cancelled.append("closed")):
        answer.cancel()
    assert cancelled == ["closed"] and call.cancelled
    with pytest.raises(AnswerCancelled):
        call.check("generating")
    late = []
    with answer.on_cancel(lambda: late.append(1)):  # registered after the cancel: runs at once
        pass
    assert late == [1]
    answer.cancel()  # twice is harmless
    assert cancelled == ["closed"]


def test_turns_bound_concurrency_and_tell_stuck_from_busy():
    clock = Clock()
    turns = Turns(2, clock=clock)
    with turns.turn(0, "busy"):
        assert turns.stuck_for() == 0  # a turn is free
        clock.now += 5
        with turns.turn(0, "busy"):
            clock.now += 3
            assert turns.stuck_for() == 3  # every turn taken; the newest for 3 s
            with pytest.raises(GeneratorUnavailableError, match="busy"), turns.turn(0, "busy"):
                pass
    assert turns.in_use == 0 and turns.stuck_for() == 0


def test_a_waiting_call_gets_the_turn_when_it_is_given_back():
    turns = Turns(1)
    got = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with turns.turn(1, "busy"):
            got.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    got.wait(5)
    threading.Timer(0.1, release.set).start()
    with turns.turn(5, "busy"):
        assert turns.in_use == 1
    thread.join()


def test_a_caller_that_leaves_the_queue_stops_waiting_for_its_turn():
    turns = Turns(1)
    deadline = Deadline(30)
    left = []

    def waiter() -> None:
        try:
            with turns.turn(30, "busy", deadline):
                left.append("got a turn")
        except AnswerCancelled:
            left.append("left")

    with turns.turn(1, "busy"):
        thread = threading.Thread(target=waiter)
        thread.start()
        deadline.cancel()
        thread.join(2)  # well before the 30 s it would otherwise wait
        assert left == ["left"] and not thread.is_alive()
