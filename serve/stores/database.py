"""The relational store of keys, feedback and the audit trail: SQLite in the data folder by default,
PostgreSQL when `DOCENT_DATABASE_URL` names one (what several API replicas share).

`Database.upgrade()` brings the schema to the newest Alembic migration under a lock, so replicas starting together
migrate once: PostgreSQL's advisory lock, or a file lock beside the SQLite file. `docent db upgrade` runs the same
thing as a Kubernetes init container would. Errors reaching the database (down, refused, timed out) become
`DatabaseUnavailableError` (503) with the reason, within the connect timeout.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from retrieval.errors import DatabaseUnavailableError

MIGRATIONS = Path(__file__).with_name("migrations")
# pg_advisory_lock's key for "a process is migrating Docent's schema" (any constant; this one spells "docent")
MIGRATION_LOCK = 0x646F63656E74


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def redact(url: str) -> str:
    """The URL without its password, for logs and errors."""
    return sa.make_url(url).render_as_string(hide_password=True)


class Database:
    """One engine (a connection pool) for the process; `connect()` / `begin()` hand out connections."""

    def __init__(self, url: str, *, timeout_s: float = 2.0, pool_size: int = 5) -> None:
        self.url = url
        self.dialect = sa.make_url(url).get_backend_name()
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if self.dialect == "sqlite":
            database = sa.make_url(url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            # SQLite waits this long for another writer's lock (several processes share the file)
            kwargs["connect_args"] = {"timeout": 15, "check_same_thread": False}
        else:
            kwargs.update(
                pool_size=pool_size,
                max_overflow=pool_size * 2,
                pool_timeout=timeout_s,
                connect_args={"connect_timeout": max(1, round(timeout_s))},
            )
        self.engine: Engine = sa.create_engine(url, **kwargs)
        self.closed = False
        if self.dialect == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection (reads, or writes committed by the caller); unreachable database → 503."""
        self._check_open()
        with _unavailable(self.url), self.engine.connect() as connection:
            yield connection

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection in a transaction, committed when the block ends without an exception."""
        self._check_open()
        with _unavailable(self.url), self.engine.begin() as connection:
            yield connection

    def ping(self) -> None:
        with self.connect() as connection:
            connection.execute(sa.text("SELECT 1"))

    def _alembic(self, connection: Connection) -> Config:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        return config

    def upgrade(self, legacy_dir: Path | None = None) -> dict[str, int]:
        """Migrate to the newest schema, once across processes (the lock), then import the legacy SQLite files of
        `legacy_dir` (the data folder); returns the rows imported per legacy file."""
        from serve.stores.legacy import import_legacy

        with self._migration_lock():
            with self.begin() as connection:
                command.upgrade(self._alembic(connection), "head")
            return import_legacy(self, legacy_dir) if legacy_dir is not None else {}

    def revision(self) -> str | None:
        """The schema's current migration (None: an empty database)."""
        with self.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def head(self) -> str | None:
        return ScriptDirectory(str(MIGRATIONS)).get_current_head()

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        if self.dialect == "postgresql":
            with self.connect() as connection:
                connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
                try:
                    yield
                finally:
                    connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                    connection.commit()
            return
        database = sa.make_url(self.url).database
        if not database or database == ":memory:":
            yield
            return
        with open(f"{database}.migrate.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _check_open(self) -> None:
        # a disposed engine would quietly open a new pool; a store used after its process closed it is a bug
        if self.closed:
            raise RuntimeError(f"the database ({redact(self.url)}) is closed")

    def close(self) -> None:
        self.closed = True
        self.engine.dispose()


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """WAL lets readers run beside a writer (the API and `docent` commands share the file); foreign keys on."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@contextlib.contextmanager
def _unavailable(url: str) -> Iterator[None]:
    """Connection-level failures as `DatabaseUnavailableError`; a bad statement stays the programming error it is."""
    try:
        yield
    except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError) as exc:
        if isinstance(exc, sa.exc.OperationalError) and "database is locked" in str(exc):
            raise DatabaseUnavailableError(f"the database is busy: {exc.orig}") from exc
        reason = getattr(exc, "orig", None) or exc
        raise DatabaseUnavailableError(f"the database ({redact(url)}) is unavailable: {reason}") from exc
