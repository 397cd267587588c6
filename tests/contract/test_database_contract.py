"""The relational store on both backends: the migrated schema matches the tables the code uses, migrations run
once when several processes start together, and several processes writing keys and votes at once lose nothing."""

from __future__ import annotations

import multiprocessing

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from serve.stores.database import Database
from serve.stores.feedback import FeedbackStore
from serve.stores.keys import KeyStore
from serve.stores.schema import metadata

WRITERS, EACH = 4, 15


def test_the_migrations_build_exactly_the_schema_the_code_uses(database):
    with database.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []
    assert database.revision() == database.head()


def _upgrade(url: str) -> str | None:
    db = Database(url)
    try:
        db.upgrade()
        return db.revision()
    finally:
        db.close()


def _write(url: str, writer: int) -> list[str]:
    """One process's keys and votes, each in its own transaction, as replicas write them."""
    db = Database(url)
    keys, feedback = KeyStore(db), FeedbackStore(db)
    secrets = []
    try:
        for i in range(EACH):
            secrets.append(keys.create(f"user-{writer}-{i}")[0])
            feedback.record_answer(
                f"a-{writer}-{i}", question="q", answer="a", mode="extractive", sources=[], user="u", channel="web"
            )
            assert feedback.vote("shared", user=f"voter-{writer}-{i}", vote="up")
        return secrets
    finally:
        db.close()


def test_processes_starting_together_migrate_once_and_concurrent_writers_lose_nothing(database):
    url = database.url
    with database.begin() as db:  # a fresh start: an empty database for the racing migrations
        for table in reversed(metadata.sorted_tables):
            db.execute(sa.text(f"DROP TABLE {table.name}"))
        db.execute(sa.text("DROP TABLE alembic_version"))
    context = multiprocessing.get_context("spawn")
    with context.Pool(WRITERS) as pool:
        assert set(pool.map(_upgrade, [url] * WRITERS)) == {database.head()}
        FeedbackStore(database).record_answer(
            "shared", question="q", answer="a", mode="extractive", sources=[], user="u", channel="web"
        )
        written = pool.starmap(_write, [(url, w) for w in range(WRITERS)])
    store = KeyStore(database)
    assert len(store.list_keys()) == WRITERS * EACH
    assert all(store.lookup(secret) is not None for batch in written for secret in batch)
    votes = FeedbackStore(database).votes(limit=10_000)
    assert len(votes) == WRITERS * EACH and {v["answer_id"] for v in votes} == {"shared"}
