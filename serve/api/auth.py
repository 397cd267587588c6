"""Who is calling: the bearer key's principal (or anonymous, public-only access), counted against its rate limit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from retrieval.access import PUBLIC_ONLY, Principal
from retrieval.errors import ForbiddenError, UnauthorizedError
from serve.api.services import Services, services

# In anonymous mode, `Bearer anonymous` is the same as no key: SDKs (openai) insist on sending some key.
ANONYMOUS_TOKEN = "anonymous"


@dataclass(frozen=True, slots=True)
class Caller:
    """The principal every search runs as, and whether it may administer."""

    principal: Principal
    admin: bool = False
    key_id: str = ""  # the API key's id, or "anonymous:<address>": whose budgets a request spends

    def require_admin(self) -> None:
        if not self.admin:
            raise ForbiddenError("document management needs an admin key (docent keys create --admin)")


def current_caller(request: Request, s: Annotated[Services, Depends(services)]) -> Caller:
    """The caller of a request, from its bearer key; without one, public-only access if anonymous mode is on.

    Each caller's requests are counted against the rate limit here, after authentication, so a flood of bad
    keys cannot spend a real key's budget."""
    header = request.headers.get("authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    if not token or token == ANONYMOUS_TOKEN:
        if s.anonymous and (not header or token == ANONYMOUS_TOKEN):
            who = f"anonymous:{request.client.host if request.client else ''}"
            if s.limiter:
                s.limiter.check(who)
            return Caller(PUBLIC_ONLY, key_id=who)
        raise UnauthorizedError("an API key is required: send 'Authorization: Bearer <key>'")
    record = s.keys.lookup(token)
    if record is None:
        raise UnauthorizedError("unknown API key")
    if s.limiter:
        s.limiter.check(record.key_id)
    return Caller(record.principal, record.admin, record.key_id)


CallerDep = Annotated[Caller, Depends(current_caller)]
ServicesDep = Annotated[Services, Depends(services)]
