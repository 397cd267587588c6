"""API keys: each maps to a principal (user id and groups) and may be an admin key.

Keys are random 32-byte tokens shown once, at creation; only their SHA-256 is stored (a SQLite file in the data
folder), so a stolen database reveals no usable key. A key is looked up by its hash, which is as strong as
comparing it in constant time: the attacker never sees stored hashes.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from retrieval.access import Principal
from retrieval.errors import ConfigError

KEY_PREFIX = "dk_"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """What a key grants: the principal it searches as, and whether it may manage documents."""

    key_id: str
    principal: Principal
    admin: bool


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    """Hashed API keys in `<data_dir>/keys.sqlite`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._schema_ready = False

    def _connect(self) -> sqlite3.Connection:
        """A connection; the table is created by the first one only (lookups run on every request)."""
        if not self._schema_ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path)
        if not self._schema_ready:
            db.execute(
                "CREATE TABLE IF NOT EXISTS api_keys (key_id TEXT PRIMARY KEY, digest TEXT UNIQUE NOT NULL, "
                "user_id TEXT NOT NULL, groups TEXT NOT NULL, admin INTEGER NOT NULL, created_at TEXT NOT NULL)"
            )
            db.commit()
            self._schema_ready = True
        return db

    def create(self, user_id: str, groups: tuple[str, ...] = (), *, admin: bool = False) -> tuple[str, ApiKey]:
        """A new key for `user_id`; returns the key itself (shown once) and what it grants."""
        principal = Principal(user_id, groups)  # the canonical form (ConfigError for an unusable group)
        if not principal.user_id:
            raise ConfigError("a key needs a user id")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        record = ApiKey(key_id=secrets.token_hex(6), principal=principal, admin=admin)
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?)",
                (
                    record.key_id,
                    _digest(key),
                    principal.user_id,
                    ",".join(principal.groups),
                    int(admin),
                    datetime.now(UTC).isoformat(),
                ),
            )
        return key, record

    def lookup(self, key: str) -> ApiKey | None:
        if not key.startswith(KEY_PREFIX):
            return None
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT key_id, user_id, groups, admin FROM api_keys WHERE digest = ?", (_digest(key),)
            ).fetchone()
        if row is None:
            return None
        key_id, user_id, groups, admin = row
        return ApiKey(key_id, Principal(user_id, tuple(g for g in groups.split(",") if g)), bool(admin))
