"""API keys and their lifecycle: each maps to a principal (user id and groups) and a role, and can expire, be
revoked, or be rotated with a grace period for the old secret.

Keys are random 32-byte tokens shown once, at creation (or rotation); only their SHA-256 is stored, so a stolen
database reveals no usable key. A key is looked up by its hash, which is as strong as comparing it in constant
time: the attacker never sees stored hashes.

Roles: `read` (search and answers: a Slack bot's or a person's key), `ingest` (uploads, jobs, the document list:
a sync CronJob's key), `admin` (everything, keys and the audit trail included).

Lookups run on every request, so a found key is cached for `cache_s` (2 s): a revocation reaches every replica
within that. When the database is down, a key found in the last `stale_s` (5 min) keeps working, so answers go on
through a database restart; a key not seen recently gets 503 with the reason.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa

from retrieval.access import Principal
from retrieval.errors import ConfigError, DatabaseUnavailableError, PathNotFoundError
from serve.stores.database import Database
from serve.stores.schema import api_keys

KEY_PREFIX = "dk_"
Role = Literal["admin", "read", "ingest"]
ROLES: tuple[Role, ...] = ("admin", "read", "ingest")

log = logging.getLogger(__name__)


def _utc(value: datetime | None) -> datetime | None:
    """SQLite gives datetimes back without their zone; every stored one is UTC."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


@dataclass(frozen=True, slots=True)
class ApiKey:
    """What a key grants (its principal and role), and its lifecycle."""

    key_id: str
    principal: Principal
    role: Role = "read"
    name: str = ""
    created_at: datetime | None = None
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def admin(self) -> bool:
        return self.role == "admin"

    def valid(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "name": self.name,
            "user": self.principal.user_id,
            "groups": list(self.principal.groups),
            "role": self.role,
            "admin": self.admin,
            "created_at": _iso(self.created_at),
            "expires_at": _iso(self.expires_at),
            "last_used_at": _iso(self.last_used_at),
            "revoked_at": _iso(self.revoked_at),
        }


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _record(row: sa.Row[Any]) -> ApiKey:
    m = row._mapping
    return ApiKey(
        key_id=m["key_id"],
        principal=Principal(m["user_id"], tuple(g for g in m["groups"].split(",") if g)),
        role=m["role"],
        name=m["name"],
        created_at=_utc(m["created_at"]),
        expires_at=_utc(m["expires_at"]),
        last_used_at=_utc(m["last_used_at"]),
        revoked_at=_utc(m["revoked_at"]),
    )


@dataclass(slots=True)
class _Cached:
    key: ApiKey
    fetched: float  # monotonic
    grace_until: datetime | None  # set when this secret is a rotated key's previous one


class KeyStore:
    """Hashed API keys in the relational store (`Database`)."""

    def __init__(
        self,
        database: Database,
        *,
        cache_s: float = 2.0,
        stale_s: float = 300.0,
        touch_every_s: float = 60.0,
        max_cached: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.database = database
        self.cache_s = cache_s
        self.stale_s = stale_s
        self.touch_every_s = touch_every_s
        self.max_cached = max_cached
        self.clock = clock
        self._cache: dict[str, _Cached] = {}  # digest -> what the database said, and when
        self._touched: dict[str, float] = {}  # key id -> when last_used_at was last written by this process
        self._lock = threading.Lock()

    # -- the lifecycle (CLI and admin routes) --

    def create(
        self,
        user_id: str,
        groups: tuple[str, ...] = (),
        *,
        role: Role = "read",
        name: str = "",
        expires_at: datetime | None = None,
    ) -> tuple[str, ApiKey]:
        """A new key for `user_id`; returns the key itself (shown once) and what it grants."""
        principal = Principal(user_id, groups)  # the canonical form (ConfigError for an unusable group)
        if not principal.user_id:
            raise ConfigError("a key needs a user id")
        if role not in ROLES:
            raise ConfigError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
        now = datetime.now(UTC)
        if expires_at is not None and _utc(expires_at) <= now:  # type: ignore[operator]
            raise ConfigError("the expiry is in the past")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        record = ApiKey(
            key_id=secrets.token_hex(6),
            principal=principal,
            role=role,
            name=name,
            created_at=now,
            expires_at=_utc(expires_at),
        )
        with self.database.begin() as db:
            db.execute(
                api_keys.insert().values(
                    key_id=record.key_id,
                    name=name,
                    digest=_digest(key),
                    user_id=principal.user_id,
                    groups=",".join(principal.groups),
                    role=role,
                    created_at=now,
                    expires_at=record.expires_at,
                )
            )
        return key, record

    def list_keys(self, *, include_revoked: bool = False) -> list[ApiKey]:
        query = sa.select(api_keys).order_by(api_keys.c.created_at)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        with self.database.connect() as db:
            return [_record(row) for row in db.execute(query)]

    def get(self, key_id: str) -> ApiKey:
        with self.database.connect() as db:
            row = db.execute(sa.select(api_keys).where(api_keys.c.key_id == key_id)).first()
        if row is None:
            raise PathNotFoundError(f"no key {key_id}")
        return _record(row)

    def revoke(self, key_id: str) -> ApiKey:
        """Refuse the key (and a rotated-out secret of it) from now on; revoking twice keeps the first time."""
        now = datetime.now(UTC)
        with self.database.begin() as db:
            updated = db.execute(
                api_keys.update()
                .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now, previous_valid_until=None)
            )
            if (
                updated.rowcount == 0
                and not db.execute(sa.select(api_keys.c.key_id).where(api_keys.c.key_id == key_id)).first()
            ):
                raise PathNotFoundError(f"no key {key_id}")
        self._forget(key_id)
        return self.get(key_id)

    def rotate(self, key_id: str, *, grace_s: float = 3600.0) -> tuple[str, ApiKey]:
        """A new secret for the key; the old one stays valid `grace_s` more (0: refused at once), so clients can
        be moved over without an outage. Returns the new secret (shown once)."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        with self.database.begin() as db:
            row = db.execute(
                sa.select(api_keys.c.digest, api_keys.c.revoked_at).where(api_keys.c.key_id == key_id)
            ).first()
            if row is None:
                raise PathNotFoundError(f"no key {key_id}")
            if row.revoked_at is not None:
                raise ConfigError(f"key {key_id} is revoked; create a new one")
            db.execute(
                api_keys.update()
                .where(api_keys.c.key_id == key_id)
                .values(
                    digest=_digest(key),
                    previous_digest=row.digest if grace_s > 0 else None,
                    previous_valid_until=now + timedelta(seconds=grace_s) if grace_s > 0 else None,
                )
            )
        self._forget(key_id)
        return key, self.get(key_id)

    # -- every request --

    def lookup(self, key: str) -> ApiKey | None:
        """The key's grant if it is known and valid now (not revoked, expired or past its rotation grace);
        None otherwise. `DatabaseUnavailableError` only when the database is down and the key was not seen in
        the last `stale_s`."""
        if not key.startswith(KEY_PREFIX):
            return None
        digest = _digest(key)
        now_s = self.clock()
        with self._lock:
            cached = self._cache.get(digest)
        if cached is None or now_s - cached.fetched >= self.cache_s:
            try:
                cached = self._fetch(digest, now_s)
            except DatabaseUnavailableError:
                if cached is None or now_s - cached.fetched >= self.stale_s:
                    raise
                log.warning("key_lookup_from_cache", extra={"key_id": cached.key.key_id})
        if cached is None:
            return None
        now = datetime.now(UTC)
        if not cached.key.valid(now) or (cached.grace_until is not None and now >= cached.grace_until):
            return None
        self._touch(cached.key.key_id, now, now_s)
        return cached.key

    def _fetch(self, digest: str, now_s: float) -> _Cached | None:
        with self.database.connect() as db:
            row = db.execute(
                sa.select(api_keys).where(sa.or_(api_keys.c.digest == digest, api_keys.c.previous_digest == digest))
            ).first()
        with self._lock:
            if row is None:
                self._cache.pop(digest, None)
                return None
            grace = _utc(row.previous_valid_until) if row.previous_digest == digest else None
            if row.previous_digest == digest and grace is None:
                return None
            if len(self._cache) >= self.max_cached:
                self._cache.clear()  # rare (10,000 live keys in seconds); the next lookups refill it
            cached = _Cached(_record(row), now_s, grace)
            self._cache[digest] = cached
            return cached

    def _touch(self, key_id: str, now: datetime, now_s: float) -> None:
        """Record when the key was last used, at most once a `touch_every_s` per process: not a write a request."""
        with self._lock:
            last = self._touched.get(key_id)
            if last is not None and now_s - last < self.touch_every_s:
                return
            self._touched[key_id] = now_s
        try:
            with self.database.begin() as db:
                db.execute(api_keys.update().where(api_keys.c.key_id == key_id).values(last_used_at=now))
        except DatabaseUnavailableError:
            pass  # a missed "last used" is not worth failing a request over

    def _forget(self, key_id: str) -> None:
        with self._lock:
            self._cache = {d: c for d, c in self._cache.items() if c.key.key_id != key_id}
