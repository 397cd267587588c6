"""The web page's session after a single sign-on, and the short-lived cookie that carries one sign-in's state,
nonce and PKCE verifier from /auth/login to /auth/callback.

The session cookie holds only a random token; the session itself (who signed in, their CSRF token, until when,
whether they signed out) is a row in the relational store (`serve.stores.sessions`), so signing out ends it on
every replica, a copy of the cookie taken before included. The sign-in cookie is signed (itsdangerous, HMAC over
the content and the time). Both are HttpOnly, SameSite=Lax, and Secure when the public URL is https.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from itsdangerous import BadSignature, URLSafeTimedSerializer

from serve.oidc.claims import Identity

if TYPE_CHECKING:  # the store builds sessions: a run-time import would be circular
    from serve.stores.sessions import SessionStore

SESSION_COOKIE = "docent_session"
FLOW_COOKIE = "docent_signin"
FLOW_MAX_AGE_S = 600  # the reader has ten minutes at the provider's sign-in form
CSRF_HEADER = "x-docent-csrf"


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in reader: the identity of their ID token, and their CSRF token."""

    identity: Identity
    csrf: str
    refresh_token: str = ""  # the provider's ("" when it sent none: the sign-in's groups hold until it ends)
    refresh_due: bool = False  # time to ask the provider again who the reader is


@dataclass(frozen=True, slots=True)
class Flow:
    """One sign-in under way: what the callback must find again (state), and what it needs (nonce, verifier)."""

    state: str
    nonce: str
    verifier: str

    @classmethod
    def new(cls) -> Flow:
        return cls(secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48))


class SessionCookies:
    """Starts, reads and ends sessions (in `store`, lasting `max_age_s`); signs the sign-in cookie with `secret`."""

    def __init__(self, secret: str, *, max_age_s: float, store: SessionStore, refresh_s: float = 0.0) -> None:
        self.max_age_s = max_age_s
        self.refresh_s = refresh_s  # how often a session asks the provider again (0: never)
        self.store = store
        self._flows = URLSafeTimedSerializer(secret, salt="docent-signin")

    def start(self, identity: Identity, refresh_token: str = "") -> str:
        """A new session for `identity`: the session cookie's value."""
        token, _ = self.store.create(
            identity,
            max_age_s=self.max_age_s,
            refresh_token=refresh_token,
            refresh_after_s=self.refresh_s if refresh_token and self.refresh_s else None,
        )
        return token

    def session(self, value: str) -> Session | None:
        """The live session of a cookie's value; None for an unknown, expired or ended one."""
        return self.store.get(value) if value else None

    def end(self, value: str) -> Session | None:
        """Sign out: the session as it was (for the audit trail), now refused wherever its cookie goes."""
        session = self.session(value)
        if session is not None:
            self.store.end(value)
        return session

    def flow_value(self, flow: Flow) -> str:
        return self._flows.dumps([flow.state, flow.nonce, flow.verifier])

    def flow(self, value: str) -> Flow | None:
        try:
            state, nonce, verifier = self._flows.loads(value, max_age=FLOW_MAX_AGE_S)
            return Flow(state, nonce, verifier)
        except (BadSignature, TypeError, ValueError):
            return None
