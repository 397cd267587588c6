"""The web page's session after a single sign-on: a signed cookie holding who signed in, until when, and the
token the page must echo on state-changing requests (CSRF). And the short-lived cookie that carries one sign-in's
state, nonce and PKCE verifier from /auth/login to /auth/callback.

The cookies are signed (itsdangerous, HMAC-SHA1 over the content and the time), HttpOnly, SameSite=Lax, and
Secure when the public URL is https. They are not a server-side record: signing out removes the cookie from the
browser, and a copy of it taken before stays valid until its lifetime (`session_hours`) ends.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from retrieval.access import Principal
from serve.oidc.claims import Identity
from serve.stores.keys import Role

SESSION_COOKIE = "docent_session"
FLOW_COOKIE = "docent_signin"
FLOW_MAX_AGE_S = 600  # the reader has ten minutes at the provider's sign-in form
CSRF_HEADER = "x-docent-csrf"


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in reader: the identity of their ID token, and their CSRF token."""

    identity: Identity
    csrf: str


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
    """Signs and reads the session and sign-in cookies with `secret`; a session lasts `max_age_s`."""

    def __init__(self, secret: str, *, max_age_s: float) -> None:
        self.max_age_s = max_age_s
        self._sessions = URLSafeTimedSerializer(secret, salt="docent-session")
        self._flows = URLSafeTimedSerializer(secret, salt="docent-signin")

    def session_value(self, identity: Identity) -> str:
        p = identity.principal
        return self._sessions.dumps(
            {
                "u": p.user_id,
                "g": list(p.groups),
                "r": identity.role,
                "sub": identity.subject,
                "sid": identity.session,
                "csrf": secrets.token_urlsafe(24),
            }
        )

    def session(self, value: str) -> Session | None:
        """The session of a cookie's value; None if it is forged, altered or older than its lifetime."""
        try:
            data = self._sessions.loads(value, max_age=self.max_age_s)
            role: Role = data["r"] if data["r"] in ("read", "admin") else "read"
            identity = Identity(Principal(data["u"], tuple(data["g"])), role, data["sub"], data["sid"])
            return Session(identity, data["csrf"])
        except (BadSignature, KeyError, TypeError, ValueError):
            return None

    def flow_value(self, flow: Flow) -> str:
        return self._flows.dumps([flow.state, flow.nonce, flow.verifier])

    def flow(self, value: str) -> Flow | None:
        try:
            state, nonce, verifier = self._flows.loads(value, max_age=FLOW_MAX_AGE_S)
            return Flow(state, nonce, verifier)
        except (BadSignature, TypeError, ValueError):
            return None
