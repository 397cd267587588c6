"""API keys (admin keys): list them, create one (its secret shown once, in the response), revoke one, rotate one.

The same operations as `docent keys`; a revocation reaches every replica within the key cache's seconds
(DOCENT_AUTH__KEY_CACHE_S), because each replica asks the shared database again after that.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from serve.api.auditing import audit
from serve.api.auth import AdminDep, Caller
from serve.api.errors import error_responses
from serve.api.services import Services, ServicesDep
from serve.audit import key_change
from serve.stores.keys import ApiKey, Role

router = APIRouter(responses=error_responses(400, 401, 403, 404, 422, 429, 503))


class Key(BaseModel):
    """A key as listed: never its secret."""

    key_id: str
    name: str
    user: str
    groups: list[str]
    role: str  # read | ingest | admin
    admin: bool
    created_at: str | None
    expires_at: str | None
    last_used_at: str | None
    revoked_at: str | None

    @classmethod
    def of(cls, record: ApiKey) -> Key:
        return cls.model_validate(record.to_dict())


class KeyList(BaseModel):
    keys: list[Key]


class NewKey(Key):
    """A created or rotated key, with its secret: shown this once, stored only hashed."""

    key: str


class CreateKeyBody(BaseModel):
    user: str = Field(min_length=1, max_length=200)
    groups: list[str] = Field(default_factory=list, max_length=100)
    role: Role = "read"
    name: str = Field("", max_length=200)
    expires_in_days: float | None = Field(None, gt=0, le=3650)


class RotateKeyBody(BaseModel):
    grace_hours: float = Field(1.0, ge=0, le=24 * 30)  # how long the old secret keeps working


@router.get("/v1/keys")
def list_keys(who: AdminDep, s: ServicesDep, include_revoked: Annotated[bool, Query()] = False) -> KeyList:
    """Every key (revoked ones with `include_revoked`), oldest first, with when each was last used."""
    return KeyList(keys=[Key.of(r) for r in s.keys.list_keys(include_revoked=include_revoked)])


@router.post("/v1/keys", status_code=201)
def create_key(body: CreateKeyBody, request: Request, who: AdminDep, s: ServicesDep) -> NewKey:
    expires = datetime.now(UTC) + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    secret, record = s.keys.create(body.user, tuple(body.groups), role=body.role, name=body.name, expires_at=expires)
    _audited(request, s, who, "create", record)
    return NewKey(key=secret, **Key.of(record).model_dump())


@router.delete("/v1/keys/{key_id}")
def revoke_key(key_id: str, request: Request, who: AdminDep, s: ServicesDep) -> Key:
    """Refuse the key from now on (404 for an unknown id); it stays listed with `revoked_at`."""
    record = s.keys.revoke(key_id)
    _audited(request, s, who, "revoke", record)
    return Key.of(record)


@router.post("/v1/keys/{key_id}/rotate")
def rotate_key(
    key_id: str, request: Request, who: AdminDep, s: ServicesDep, body: RotateKeyBody | None = None
) -> NewKey:
    """A new secret; the old one keeps working `grace_hours` (default 1) so clients can move over."""
    grace = (body or RotateKeyBody()).grace_hours
    secret, record = s.keys.rotate(key_id, grace_s=grace * 3600)
    _audited(request, s, who, "rotate", record, grace_hours=grace)
    return NewKey(key=secret, **Key.of(record).model_dump())


def _audited(request: Request, s: Services, who: Caller, change: str, record: ApiKey, **more: object) -> None:
    audit(request, s, who, "key", query=f"{change} {record.key_id}").done(detail=key_change(change, record, **more))
