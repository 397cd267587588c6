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

    def create(self, identity: Identity, *, max_age_s: float) -> tuple[str, Session]:
        """A new session for `identity`, lasting `max_age_s`: its token (for the cookie) and the session."""
        token = secrets.token_urlsafe(32)
        session = Session(identity, secrets.token_urlsafe(24))
        now = datetime.now(UTC)
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
                    created_at=now,
                    expires_at=now + timedelta(seconds=max_age_s),
                )
            )
        return token, session

    def get(self, token: str) -> Session | None:
        """The live session of `token`; None if there is none, it expired or its reader signed out."""
        with self.database.connect() as db:
            row = db.execute(sa.select(web_sessions).where(web_sessions.c.digest == _digest(token))).first()
        if row is None or row.ended_at is not None or _utc(row.expires_at) <= datetime.now(UTC):
            return None
        role: Role = row.role if row.role in ("read", "admin") else "read"
        identity = Identity(Principal(row.user_id, tuple(json.loads(row.groups))), role, row.subject, row.session)
        return Session(identity, row.csrf)

    def end(self, token: str) -> None:
        """Sign out: the session is refused from now on, wherever its cookie is presented."""
        with self.database.begin() as db:
            db.execute(
                web_sessions.update()
                .where(web_sessions.c.digest == _digest(token), web_sessions.c.ended_at.is_(None))
                .values(ended_at=datetime.now(UTC))
            )
