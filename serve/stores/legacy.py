"""Import the SQLite files of the layout before the relational store (`keys.sqlite`, `feedback.sqlite` in the data
folder) into the database, once, so an upgrade loses no key and no vote.

Each file is copied in one transaction together with its row in `legacy_imports`, so a crash half-way imports it
again from the start on the next start-up, and a file already imported is never copied twice. The old file is
renamed `*.imported` afterwards (kept, not deleted: it is the operator's to remove).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from serve.stores import schema

if TYPE_CHECKING:
    from serve.stores.database import Database

log = logging.getLogger(__name__)


def _keys(old: sqlite3.Connection, db: Connection) -> int:
    rows = old.execute("SELECT key_id, digest, user_id, groups, admin, created_at FROM api_keys").fetchall()
    for key_id, digest, user_id, groups, admin, created_at in rows:
        db.execute(
            schema.api_keys.insert().values(
                key_id=key_id,
                name="",
                digest=digest,
                user_id=user_id,
                groups=groups,
                role="admin" if admin else "read",
                created_at=datetime.fromisoformat(created_at),
            )
        )
    return len(rows)


def _feedback(old: sqlite3.Connection, db: Connection) -> int:
    answers = old.execute(
        "SELECT answer_id, question, answer, mode, sources, user, channel, created_at FROM answers"
    ).fetchall()
    for row in answers:
        db.execute(schema.answers.insert().values(dict(zip(schema.answers.c.keys(), row, strict=True))))
    columns = {r[1] for r in old.execute("PRAGMA table_info(votes)")}
    comment = "comment" if "comment" in columns else "NULL"
    votes = old.execute(f"SELECT answer_id, user, vote, voted_at, {comment} FROM votes").fetchall()
    for row in votes:
        db.execute(schema.votes.insert().values(dict(zip(schema.votes.c.keys(), row, strict=True))))
    return len(answers) + len(votes)


IMPORTERS: dict[str, Callable[[sqlite3.Connection, Connection], int]] = {
    "keys.sqlite": _keys,
    "feedback.sqlite": _feedback,
}


def import_legacy(database: Database, data_dir: Path) -> dict[str, int]:
    """Import every legacy file found in `data_dir`; returns the rows imported per file. Called by
    `Database.upgrade` under its migration lock, so replicas sharing a data folder import it once."""
    imported: dict[str, int] = {}
    for name, importer in IMPORTERS.items():
        path = Path(data_dir) / name
        if not path.is_file():
            continue
        with database.begin() as db:
            if db.execute(sa.select(schema.imports.c.name).where(schema.imports.c.name == name)).first():
                path.rename(path.with_name(name + ".imported"))  # imported before; the rename did not happen
                continue
            with contextlib.closing(sqlite3.connect(path)) as old:
                try:
                    rows = importer(old, db)
                except sqlite3.OperationalError as exc:  # an empty file, or one that never got its tables
                    log.warning("legacy_import_skipped", extra={"file": str(path), "reason": str(exc)})
                    rows = 0
            db.execute(schema.imports.insert().values(name=name, imported_at=datetime.now(UTC), rows=rows))
        path.rename(path.with_name(name + ".imported"))
        log.warning("legacy_imported", extra={"file": str(path), "rows": rows})
        imported[name] = rows
    return imported
