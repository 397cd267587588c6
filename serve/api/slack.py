"""Slack's request URLs (events, interactivity, the slash command) and the feedback the bot collects.

The Slack routes take no API key: Bolt verifies Slack's signature and timestamp (401 otherwise) before any
listener runs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from retrieval.errors import ConfigError
from serve.api.auth import AdminDep
from serve.api.errors import error_responses
from serve.api.services import ServicesDep

router = APIRouter(responses=error_responses(400, 401, 403, 422, 429, 503))


class Feedback(BaseModel):
    feedback: list[dict[str, Any]]  # each vote with its question, answer, sources, who voted and when


async def _to_bolt(request: Request) -> Response:
    handler = request.app.state.slack_handler
    if handler is None:
        raise ConfigError("this server has no Slack bot (set DOCENT_SLACK__BOT_TOKEN and __SIGNING_SECRET)")
    return await handler.handle(request)


@router.post("/slack/events", include_in_schema=False)
async def slack_events(request: Request) -> Response:
    return await _to_bolt(request)


@router.post("/slack/interactions", include_in_schema=False)
async def slack_interactions(request: Request) -> Response:
    return await _to_bolt(request)


@router.post("/slack/commands", include_in_schema=False)
async def slack_commands(request: Request) -> Response:
    return await _to_bolt(request)


@router.get("/v1/feedback")
def feedback(admin: AdminDep, s: ServicesDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Feedback:
    """Votes on the bot's answers, newest first, each with its question, answer and sources (admin)."""
    if s.feedback is None:
        raise ConfigError("this server keeps no feedback")
    return Feedback(feedback=s.feedback.votes(limit))
