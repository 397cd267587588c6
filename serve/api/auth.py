"""Who is calling: the bearer key's principal, or the identity provider's token's (single sign-on), or anonymous
public-only access; counted against its rate limit."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from retrieval.access import PUBLIC_ONLY, Principal
from retrieval.errors import ForbiddenError, UnauthorizedError
from serve.api.services import Services, services
from serve.oidc.claims import Identity
from serve.oidc.session import CSRF_HEADER, SESSION_COOKIE
from serve.oidc.tokens import looks_like_jwt
from serve.stores.keys import Role

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# In anonymous mode, `Bearer anonymous` is the same as no key: SDKs (openai) insist on sending some key.
ANONYMOUS_TOKEN = "anonymous"


@dataclass(frozen=True, slots=True)
class Caller:
    """The principal every search runs as, and what its key's role lets it do (serve/stores/keys.py)."""

    principal: Principal
    role: Role = "read"
    key_id: str = ""  # the API key's id, "oidc:<subject>" or "anonymous:<address>": whose budgets a request spends
    anonymous: bool = False  # no key (anonymous mode): public documents only
    session: str = ""  # a provider token's session or token id (sid, jti), for the audit trail
    csrf: str = ""  # a web page session's CSRF token (the page sends it back in X-Docent-CSRF)

    @property
    def admin(self) -> bool:
        return self.role == "admin"

    def require_admin(self) -> None:
        if not self.admin:
            raise ForbiddenError("this needs an admin key (docent keys create --role admin)")

    def require_reader(self) -> None:
        if self.role not in ("admin", "read"):
            raise ForbiddenError(f"a key with role {self.role!r} may not search or ask (it needs role read)")

    def require_ingest(self) -> None:
        if self.role not in ("admin", "ingest"):
            raise ForbiddenError("document management needs a key with role ingest or admin (docent keys create)")


def bearer_token(header: str) -> str:
    """The token of an `Authorization: Bearer <token>` header ("" when there is none); the scheme is
    case-insensitive (RFC 9110), so `bearer KEY` works as well."""
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


# Declares the bearer scheme in /openapi.json (and on each route that takes a key). It refuses nothing itself
# (auto_error off): the header is read below, because anonymous mode takes `Bearer anonymous` as no key.
BEARER = HTTPBearer(
    auto_error=False,
    description="an API key (`docent keys create`), or a JWT of the identity provider when single sign-on is on",
)


def current_caller(
    request: Request,
    s: Annotated[Services, Depends(services)],
    _declared: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
) -> Caller:
    """The caller of a request, from its bearer key; without one, public-only access if anonymous mode is on.

    Each caller's requests are counted against the rate limit here, after authentication, so a flood of bad
    keys cannot spend a real key's budget. Failed authentications are counted per client address instead: past
    a burst, they are answered 429, so a client cannot probe keys at the speed of the server. A valid key is
    never refused for its address's failures (colleagues behind one NAT share it)."""
    header = request.headers.get("authorization", "")
    token = bearer_token(header)
    address = request.client.host if request.client else ""
    if not header and s.oidc is not None and SESSION_COOKIE in request.cookies:
        signed_in = _session_caller(request, s)
        if signed_in is not None:
            return signed_in
    if not token or token == ANONYMOUS_TOKEN:
        if s.anonymous and (not header or token == ANONYMOUS_TOKEN):
            who = f"anonymous:{address}"
            if s.limiter:
                s.limiter.check(who)
            return Caller(PUBLIC_ONLY, key_id=who, anonymous=True)
        _failed(s, address)
        raise UnauthorizedError("an API key is required: send 'Authorization: Bearer <key>'")
    if s.oidc is not None and looks_like_jwt(token):
        return _provider_caller(s, token, address)
    record = s.keys.lookup(token)
    if record is None:
        _failed(s, address)
        raise UnauthorizedError("unknown API key")
    if s.limiter:
        s.limiter.check(record.key_id)
    return Caller(record.principal, record.role, record.key_id)


def _provider_caller(s: Services, token: str, address: str) -> Caller:
    """The caller of a JWT of the identity provider: refused like an unknown key when invalid (and counted as a
    failed authentication); 503 when the provider's keys cannot be fetched (not the caller's fault)."""
    assert s.oidc is not None
    try:
        identity = s.oidc.identity(token)
    except UnauthorizedError:
        _failed(s, address)
        raise
    caller = identity_caller(identity)
    if s.limiter:
        s.limiter.check(caller.key_id)
    return caller


def _session_caller(request: Request, s: Services) -> Caller | None:
    """The reader of the web page's session cookie (None for a forged or expired one: as if there were none).

    A cookie goes with every request the browser makes to this site, those another site's page causes included,
    so a state-changing request must also carry the session's CSRF token, which only the page can read (from
    /v1/me): 403 without it."""
    assert s.oidc is not None
    session = s.oidc.session(request.cookies[SESSION_COOKIE])
    if session is None:
        return None
    sent = request.headers.get(CSRF_HEADER, "").encode()  # bytes: compare_digest refuses non-ASCII text
    if request.method not in SAFE_METHODS and not hmac.compare_digest(sent, session.csrf.encode()):
        raise ForbiddenError(f"a request of a signed-in page must carry its {CSRF_HEADER} header (cross-site request?)")
    caller = identity_caller(session.identity, csrf=session.csrf)
    if s.limiter:
        s.limiter.check(caller.key_id)
    return caller


def identity_caller(identity: Identity, *, csrf: str = "") -> Caller:
    """The caller the identity provider names: its key id `oidc:<subject>` is whose budget the requests spend
    and what the audit trail records beside the user id."""
    return Caller(identity.principal, identity.role, f"oidc:{identity.subject}", session=identity.session, csrf=csrf)


def _failed(s: Services, address: str) -> None:
    """Count a failed authentication of `address`; `RateLimitedError` once its failures pass the burst."""
    s.metrics.auth_failures.inc()
    if s.auth_failures is not None:
        s.auth_failures.check(f"auth-failure:{address}")


CallerDep = Annotated[Caller, Depends(current_caller)]


def admin_caller(who: CallerDep) -> Caller:
    """The caller of a request, if it holds an admin key; 403 otherwise (after 401 for no key or a bad one)."""
    who.require_admin()
    return who


AdminDep = Annotated[Caller, Depends(admin_caller)]


def reader_caller(who: CallerDep) -> Caller:
    """A caller that may search and ask (roles read and admin): an ingestion key may not read the index."""
    who.require_reader()
    return who


ReaderDep = Annotated[Caller, Depends(reader_caller)]


def ingest_caller(who: CallerDep) -> Caller:
    """A caller that may upload, list and delete documents and follow jobs (roles ingest and admin)."""
    who.require_ingest()
    return who


IngestDep = Annotated[Caller, Depends(ingest_caller)]
