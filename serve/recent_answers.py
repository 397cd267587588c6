"""The answers the API gave lately, kept in memory so that a vote on one (`POST /v1/feedback`) has its context.

The API records nothing per answer on disk: only an answer that gets a vote is written to the feedback store,
with what is kept here. The memory is bounded (the oldest answer goes first) and per process, so a vote long
after its answer, or on another replica, finds nothing: "no such answer", as for an id never given.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from answer.answerer import Answer
from retrieval.errors import PathNotFoundError
from serve.stores.feedback import FeedbackStore


@dataclass(frozen=True, slots=True)
class RecentAnswer:
    """What a vote records of its answer: the question, the text, how it was made, its sources and who asked."""

    question: str
    text: str
    mode: str
    sources: list[dict[str, object]]
    key_id: str  # the caller's API key id ("anonymous:<address>" without a key): the only one who may vote

    @classmethod
    def of(cls, question: str, answer: Answer, key_id: str) -> RecentAnswer:
        sources: list[dict[str, object]] = [
            {"number": c.number, "document_id": c.document_id, "title": c.title, "source": c.source, "page": c.page}
            for c in answer.citations
        ]  # as the Slack bot records them, so `docent eval --feedback` reads both alike
        return cls(question, answer.text, answer.mode.value, sources, key_id)


class RecentAnswers:
    """The last `capacity` answers by request id; thread-safe (sync routes run on a thread pool)."""

    def __init__(self, capacity: int = 2000) -> None:
        self.capacity = capacity
        self._answers: OrderedDict[str, RecentAnswer] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, request_id: str, answer: RecentAnswer) -> None:
        """Keep `answer` under `request_id`, unless another caller's answer already has that id: a client may
        choose its request id (`X-Request-ID`), and must not take over someone else's answer with it."""
        with self._lock:
            known = self._answers.get(request_id)
            if known is not None and known.key_id != answer.key_id:
                return
            self._answers[request_id] = answer
            self._answers.move_to_end(request_id)
            while len(self._answers) > self.capacity:
                self._answers.popitem(last=False)

    def find(self, request_id: str, key_id: str) -> RecentAnswer:
        """The answer `request_id` given to `key_id`; `PathNotFoundError` when it is unknown, forgotten, or was
        given to another caller (the same error: an id says nothing about answers to others)."""
        with self._lock:
            answer = self._answers.get(request_id)
        if answer is None or answer.key_id != key_id:
            raise PathNotFoundError("no such answer (it may be too old to rate)")
        return answer


def record_vote(
    store: FeedbackStore, answers: RecentAnswers, *, answer_id: str, key_id: str, vote: str, comment: str | None
) -> None:
    """Store a vote of `key_id` on one of its recent answers, with the answer (channel "web").

    The store keys answers by id, and a client may choose its request id: an id the store already holds for
    another asker (a Slack answer, an older web answer of someone else) is "no such answer", never replaced."""
    answer = answers.find(answer_id, key_id)
    if store.asker(answer_id) not in (None, (key_id, "web")):
        raise PathNotFoundError("no such answer (it may be too old to rate)")
    store.record_answer(
        answer_id,
        question=answer.question,
        answer=answer.text,
        mode=answer.mode,
        sources=answer.sources,
        user=key_id,
        channel="web",
    )
    store.vote(answer_id, user=key_id, vote=vote, comment=comment)
