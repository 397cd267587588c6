"""The relational store for tests: a migrated SQLite database in a test's folder (what `docent serve` opens in its
data folder), shared by every store a test builds on the same folder."""

from __future__ import annotations

from pathlib import Path

from serve.stores.database import Database, sqlite_url
from serve.stores.feedback import FeedbackStore
from serve.stores.keys import KeyStore


def database(folder: Path) -> Database:
    """The migrated database `docent.sqlite` in `folder` (created on first use)."""
    db = Database(sqlite_url(Path(folder) / "docent.sqlite"))
    db.upgrade()
    return db


def key_store(folder: Path) -> KeyStore:
    return KeyStore(database(folder))


def feedback_store(folder: Path) -> FeedbackStore:
    return FeedbackStore(database(folder))


def team_keys(folder: Path) -> dict:
    """The API tests' callers: hana of group:hr, ivan of group:it (read keys) and root (admin), with their store."""
    store = key_store(folder)
    return {
        "hr": store.create("hana", ("group:hr",))[0],
        "it": store.create("ivan", ("group:it",))[0],
        "admin": store.create("root", (), role="admin")[0],
        "store": store,
    }
