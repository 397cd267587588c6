"""The web page's sign-in sessions in the relational store (single sign-on).

The browser's cookie carries a random token; the row, found by the token's SHA-256, holds who signed in, their
CSRF token, until when, and whether they signed out. So signing out ends the session everywhere — on every
replica, and for a copy of the cookie taken before — which a cookie holding the identity itself could not do.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from retrieval.access import Principal
from serve.oidc.claims import Identity
from serve.oidc.session import Session
from serve.stores.database import Database
from serve.stores.keys import Role
from serve.stores.schema import web_sessions


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _utc(value: datetime) -> datetime:
    """SQLite gives datetimes back without their zone; every stored one is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class SessionStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def create(
        self,
        identity: Identity,
        *,
        max_age_s: float,
        refresh_token: str = "",
        refresh_after_s: float | None = None,
    ) -> tuple[str, Session]:
        """A new session for `identity`, lasting `max_age_s` and due for a refresh after `refresh_after_s`
        (None: never): its token (for the cookie) and the session."""
        token = secrets.token_urlsafe(32)
        session = Session(identity, secrets.token_urlsafe(24), refresh_token)
        now = datetime.now(UTC)
        refresh_at = None if refresh_after_s is None else now + timedelta(seconds=refresh_after_s)
        p = identity.principal
        with self.database.begin() as db:
            db.execute(web_sessions.delete().where(web_sessions.c.expires_at < now))  # the expired go
            db.execute(
                web_sessions.insert().values(
                    digest=_digest(token),
                    user_id=p.user_id,
                    groups=json.dumps(list(p.groups)),
                    role=identity.role,
                    subject=identity.subject,
                    session=identity.session,
                    csrf=session.csrf,
                    refresh_token=refresh_token or None,
                    refresh_at=refresh_at,
                    created_at=now,
                    expires_at=now + timedelta(seconds=max_age_s),
                )
            )
        return token, session

    def get(self, token: str) -> Session | None:
        """The live session of `token`; None if there is none, it expired or its reader signed out."""
        with self.database.connect() as db:
            row = db.execute(sa.select(web_sessions).where(web_sessions.c.digest == _digest(token))).first()
        now = datetime.now(UTC)
        if row is None or row.ended_at is not None or _utc(row.expires_at) <= now:
            return None
        role: Role = row.role if row.role in ("read", "admin") else "read"
        identity = Identity(Principal(row.user_id, tuple(json.loads(row.groups))), role, row.subject, row.session)
        due = bool(row.refresh_token) and row.refresh_at is not None and _utc(row.refresh_at) <= now
        return Session(identity, row.csrf, row.refresh_token or "", due)

    def claim_refresh(self, token: str, *, retry_after_s: float) -> bool:
        """Whether this caller is the one to refresh the session now (its refresh pushed `retry_after_s` on, so
        the reader's other requests meanwhile neither wait nor spend a rotating refresh token twice)."""
        now = datetime.now(UTC)
        with self.database.begin() as db:
            claimed = db.execute(
                web_sessions.update()
                .where(
                    web_sessions.c.digest == _digest(token),
                    web_sessions.c.ended_at.is_(None),
                    web_sessions.c.refresh_at <= now,
                )
                .values(refresh_at=now + timedelta(seconds=retry_after_s))
            )
        return claimed.rowcount == 1

    def refreshed(self, token: str, identity: Identity, *, refresh_token: str, refresh_after_s: float) -> None:
        """Keep who the provider says the reader is now, and when to ask again."""
        p = identity.principal
        with self.database.begin() as db:
            db.execute(
                web_sessions.update()
                .where(web_sessions.c.digest == _digest(token))
                .values(
                    user_id=p.user_id,
                    groups=json.dumps(list(p.groups)),
                    role=identity.role,
                    refresh_token=refresh_token,
                    refresh_at=datetime.now(UTC) + timedelta(seconds=refresh_after_s),
                )
            )

    def end(self, token: str) -> None:
        """Sign out: the session is refused from now on, wherever its cookie is presented."""
        with self.database.begin() as db:
            db.execute(
                web_sessions.update()
                .where(web_sessions.c.digest == _digest(token), web_sessions.c.ended_at.is_(None))
                .values(ended_at=datetime.now(UTC))
            )
