"""The audit trail's store: events (who did what, from where, with what outcome) and the documents each showed.

`write` stores a batch in one transaction (events and their documents together, or nothing); `query` pages through
events newest first (`before_id` is the cursor); `shown_document` answers "which users were shown document X" in
one join; `purge` removes what retention no longer keeps. All raise `DatabaseUnavailableError` when the database is
down: the recorder (serve/audit.py) keeps its events and retries.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa

from serve.stores.database import Database
from serve.stores.schema import audit_documents, audit_events

# what a reader was shown (the documents of other actions were touched, not shown)
SHOWN = ("search", "answer", "read")  # read: a whole document, through MCP's get_document (serve/mcp.py)


@dataclass(slots=True)
class AuditEvent:
    """One recorded action. `documents` are (doc_id, title) pairs: the citations or results shown, or the
    documents uploaded or deleted. `filters` and `detail` are JSON text; `answer` is kept only when the
    deployment records answers' text."""

    action: str  # search | answer | read | list_sources | upload | delete | key | reindex
    user_id: str = ""
    key_id: str = ""
    groups: str = ""
    client: str = ""
    channel: str = ""
    request_id: str = ""
    query: str | None = None
    filters: str | None = None
    status: int = 200
    error_code: str | None = None
    mode: str | None = None
    tier: str | None = None
    detail: str | None = None
    answer: str | None = None
    documents: list[tuple[str, str]] = field(default_factory=list)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    event_id: int | None = None  # set once stored


@dataclass(frozen=True, slots=True)
class Sighting:
    """One time a user was shown a document."""

    event_id: int
    at: datetime
    action: str
    user_id: str
    key_id: str
    channel: str
    title: str


_COLUMNS = tuple(c.name for c in audit_events.columns if c.name != "event_id")


def _utc(value: datetime) -> datetime:
    """A time in UTC; a naive one is taken as UTC (SQLite returns what it stored, UTC, without the zone)."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _param(value: datetime | None) -> datetime | None:
    """In UTC, as stored: SQLite compares the text it stores, without the zone."""
    return None if value is None else _utc(value)


class AuditStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def write(self, events: Sequence[AuditEvent]) -> list[int]:
        """Store `events` and their documents in one transaction; returns their ids, in order."""
        if not events:
            return []
        rows = [{name: getattr(e, name) for name in _COLUMNS} | {"at": _utc(e.at)} for e in events]
        insert = audit_events.insert().returning(audit_events.c.event_id, sort_by_parameter_order=True)
        with self.database.begin() as connection:
            ids = [row[0] for row in connection.execute(insert, rows)]
            documents = [
                {"event_id": event_id, "doc_id": doc_id, "title": title}
                for event_id, event in zip(ids, events, strict=True)
                for doc_id, title in dict(event.documents).items()  # one row per document, if cited twice
            ]
            if documents:
                connection.execute(audit_documents.insert(), documents)
        return ids

    def query(
        self,
        *,
        user: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        document: str | None = None,
        action: str | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[AuditEvent]:
        """Events matching every filter given, newest first; the next page is `before_id=` the last one's id."""
        e = audit_events.c
        since, until = _param(since), _param(until)
        where: list[sa.ColumnElement[bool]] = []
        if user is not None:
            where.append(e.user_id == user)
        if since is not None:
            where.append(e.at >= since)
        if until is not None:
            where.append(e.at < until)
        if action is not None:
            where.append(e.action == action)
        if before_id is not None:
            where.append(e.event_id < before_id)
        if document is not None:
            shown = sa.select(audit_documents.c.event_id).where(audit_documents.c.doc_id == document)
            where.append(e.event_id.in_(shown))
        statement = sa.select(audit_events).where(*where).order_by(e.event_id.desc()).limit(limit)
        with self.database.connect() as connection:
            return self._with_documents(connection, connection.execute(statement).mappings().all())

    def export(
        self, *, since: datetime | None = None, until: datetime | None = None, batch: int = 1000
    ) -> Iterator[AuditEvent]:
        """Every event of the time range, oldest first, read `batch` at a time (for a SIEM)."""
        e = audit_events.c
        since, until = _param(since), _param(until)
        after = 0
        while True:
            where = [e.event_id > after]
            if since is not None:
                where.append(e.at >= since)
            if until is not None:
                where.append(e.at < until)
            statement = sa.select(audit_events).where(*where).order_by(e.event_id).limit(batch)
            with self.database.connect() as connection:
                events = self._with_documents(connection, connection.execute(statement).mappings().all())
            yield from events
            if len(events) < batch:
                return
            after = events[-1].event_id or 0

    def shown_document(self, doc_id: str, *, limit: int = 10_000) -> list[Sighting]:
        """Who was shown `doc_id` (in search results or an answer's citations), newest first: one join."""
        e, d = audit_events.c, audit_documents.c
        statement = (
            sa.select(e.event_id, e.at, e.action, e.user_id, e.key_id, e.channel, d.title)
            .join(audit_documents, d.event_id == e.event_id)
            .where(d.doc_id == doc_id, e.action.in_(SHOWN))
            .order_by(e.event_id.desc())
            .limit(limit)
        )
        with self.database.connect() as connection:
            return [
                Sighting(r.event_id, _utc(r.at), r.action, r.user_id, r.key_id, r.channel, r.title)
                for r in connection.execute(statement)
            ]

    def purge(self, older_than: datetime) -> int:
        """Remove the events before `older_than` and their documents; returns how many events went."""
        before = _utc(older_than)
        old = sa.select(audit_events.c.event_id).where(audit_events.c.at < before)
        with self.database.begin() as connection:
            connection.execute(audit_documents.delete().where(audit_documents.c.event_id.in_(old)))
            return connection.execute(audit_events.delete().where(audit_events.c.at < before)).rowcount

    @staticmethod
    def _with_documents(connection: sa.Connection, rows: Sequence[sa.RowMapping]) -> list[AuditEvent]:
        ids = [row["event_id"] for row in rows]
        documents: dict[int, list[tuple[str, str]]] = {i: [] for i in ids}
        if ids:
            d = audit_documents.c
            statement = sa.select(d.event_id, d.doc_id, d.title).where(d.event_id.in_(ids)).order_by(d.doc_id)
            for event_id, doc_id, title in connection.execute(statement):
                documents[event_id].append((doc_id, title))
        return [
            AuditEvent(
                **{name: row[name] for name in _COLUMNS if name != "at"},
                at=_utc(row["at"]),
                event_id=row["event_id"],
                documents=documents[row["event_id"]],
            )
            for row in rows
        ]
