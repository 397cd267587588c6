"""Feedback on answers: votes from the web page (`POST /v1/feedback`) and the votes collected (`GET`, admin)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from retrieval.errors import ConfigError
from serve.api.auth import AdminDep, ReaderDep
from serve.api.errors import error_responses
from serve.api.services import ServicesDep
from serve.recent_answers import record_vote
from serve.stores.feedback import FeedbackStore

router = APIRouter(responses=error_responses(400, 401, 403, 404, 422, 429))


class Feedback(BaseModel):
    # each vote with its question, answer, sources, who asked and voted where (channel: a Slack channel or "web"),
    # its comment and when
    feedback: list[dict[str, Any]]


class VoteBody(BaseModel):
    """A vote on an answer this caller was given: `answer_id` is the `request_id` of its `/v1/ask`."""

    answer_id: str = Field(min_length=1, max_length=200)
    vote: Literal["up", "down"]
    comment: str | None = Field(None, max_length=2000)


class Recorded(BaseModel):
    recorded: bool


def _store(feedback: FeedbackStore | None) -> FeedbackStore:
    if feedback is None:
        raise ConfigError("this server keeps no feedback")
    return feedback


@router.post("/v1/feedback", status_code=201)
def vote(body: VoteBody, who: ReaderDep, s: ServicesDep) -> Recorded:
    """Vote on one of your recent answers (404 "no such answer" for an unknown, old, or someone else's answer)."""
    record_vote(
        _store(s.feedback),
        s.recent_answers,
        answer_id=body.answer_id,
        key_id=who.key_id,
        vote=body.vote,
        comment=body.comment.strip() if body.comment else None,
    )
    return Recorded(recorded=True)


@router.get("/v1/feedback")
def feedback(admin: AdminDep, s: ServicesDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Feedback:
    """Votes on answers (the Slack bot's and the web page's), newest first, each with its question, answer,
    sources, channel and comment (admin)."""
    return Feedback(feedback=_store(s.feedback).votes(limit))
