"""`GET /v1/audit` (admin): the audit trail, newest first, filtered by user, time range, document and action."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from retrieval.errors import ConfigError
from serve.api.auth import AdminDep
from serve.api.errors import error_responses
from serve.api.services import ServicesDep
from serve.stores.audit import AuditEvent

router = APIRouter(responses=error_responses(400, 401, 403, 422, 429, 503))


class AuditDocument(BaseModel):
    doc_id: str
    title: str


class AuditEntry(BaseModel):
    """One recorded action: who, from where, what, which documents it showed or touched, and the outcome."""

    event_id: int
    at: datetime
    action: str  # search | answer | read | list_sources | upload | delete | key | reindex
    user_id: str
    key_id: str
    groups: list[str]
    client: str  # the client's address
    channel: str  # api | web | chat | completions | mcp | slack:<channel> | cli
    request_id: str
    query: str | None  # the query or question (or what was uploaded, deleted, changed)
    filters: dict[str, Any] | None
    status: int
    error_code: str | None
    mode: str | None  # the answer's mode
    tier: str | None  # the model tier that answered
    detail: dict[str, Any] | None
    answer: str | None  # the answer's text, only when DOCENT_AUDIT__ANSWER_TEXT is on
    documents: list[AuditDocument]

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEntry:
        return cls(
            event_id=event.event_id or 0,
            at=event.at,
            action=event.action,
            user_id=event.user_id,
            key_id=event.key_id,
            groups=[g for g in event.groups.split(",") if g],
            client=event.client,
            channel=event.channel,
            request_id=event.request_id,
            query=event.query,
            filters=json.loads(event.filters) if event.filters else None,
            status=event.status,
            error_code=event.error_code,
            mode=event.mode,
            tier=event.tier,
            detail=json.loads(event.detail) if event.detail else None,
            answer=event.answer,
            documents=[AuditDocument(doc_id=d, title=t) for d, t in event.documents],
        )


class AuditPage(BaseModel):
    events: list[AuditEntry]
    next_cursor: str | None  # pass as `cursor` for the next (older) page; None: this was the last


@router.get("/v1/audit")
def audit_trail(
    who: AdminDep,
    s: ServicesDep,
    user: Annotated[str | None, Query(description="the user id (or Slack user)")] = None,
    since: Annotated[datetime | None, Query(description="ISO 8601, inclusive")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601, exclusive")] = None,
    document: Annotated[str | None, Query(description="a document id: the events that showed or touched it")] = None,
    action: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(pattern=r"^\d+$")] = None,
) -> AuditPage:
    if s.audit is None:
        raise ConfigError("this server records no audit trail (DOCENT_AUDIT__ENABLED is off)")
    s.audit.flush(0.5)  # what this replica has just recorded, when the database takes it at once
    events = s.audit.store.query(
        user=user,
        since=since,
        until=until,
        document=document,
        action=action,
        limit=limit,
        before_id=int(cursor) if cursor else None,
    )
    more = len(events) == limit and events
    return AuditPage(events=[AuditEntry.of(e) for e in events], next_cursor=str(events[-1].event_id) if more else None)
