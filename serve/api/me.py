"""`GET /v1/me`: who the caller is, as the web page needs it (its name, groups, and whether to show admin)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from serve.api.auth import CallerDep
from serve.api.errors import error_responses

router = APIRouter(responses=error_responses(401, 429))


class Me(BaseModel):
    """The caller of the request: its user id ("anonymous" without a key), its groups, whether it may administer."""

    user: str
    groups: list[str]
    admin: bool
    role: str  # read | ingest | admin: what the page offers (an ingest key sees Documents, not Ask)
    anonymous: bool
    # Signed in by single sign-on: the token the page sends back in X-Docent-CSRF on requests that change things.
    csrf: str | None = None


@router.get("/v1/me", response_model_exclude_none=True)  # csrf only for a signed-in page
def me(who: CallerDep) -> Me:
    return Me(
        user="anonymous" if who.anonymous else who.principal.user_id,
        groups=list(who.principal.groups),
        admin=who.admin,
        role=who.role,
        anonymous=who.anonymous,
        csrf=who.csrf or None,
    )
