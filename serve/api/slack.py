"""Slack's request URLs (events, interactivity, the slash command); the votes it collects are in `feedback`.

The Slack routes take no API key: Bolt verifies Slack's signature and timestamp (401 otherwise) before any
listener runs."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from retrieval.errors import ConfigError
from serve.api.errors import error_responses

router = APIRouter(responses=error_responses(400, 401, 403, 422, 429, 503))


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
