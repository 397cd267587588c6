"""The key store's lifecycle on both backends (SQLite, a real PostgreSQL): create, look up, list, revoke, rotate
with a grace period, expire; the key cache's bounds (a revocation seen within `cache_s` by another replica's store;
cached keys keep working through a database outage for `stale_s`, new ones get 503)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from retrieval.errors import ConfigError, DatabaseUnavailableError, PathNotFoundError
from serve.stores.database import Database
from serve.stores.keys import KeyStore


def test_a_created_key_is_found_with_its_grant_and_stored_hashed(database):
    store = KeyStore(database)
    secret, record = store.create("ann", ("hr", "x"), role="ingest", name="nightly sync")
    found = store.lookup(secret)
    assert found is not None and found.key_id == record.key_id
    assert (found.principal.user_id, found.principal.groups, found.role, found.name) == (
        "ann",
        ("hr", "x"),
        "ingest",
        "nightly sync",
    )
    assert not found.admin
    assert store.lookup(secret + "x") is None and store.lookup("not-a-key") is None
    [listed] = store.list_keys()
    assert listed.key_id == record.key_id and listed.last_used_at is not None  # the lookup recorded its use
    with database.connect() as db:
        dump = "".join(str(row) for row in db.exec_driver_sql("SELECT * FROM api_keys"))
    assert secret not in dump and secret[3:] not in dump


def test_a_revoked_key_is_refused_by_another_replica_within_the_cache_time(database):
    one, other = KeyStore(database, cache_s=0.5), KeyStore(database, cache_s=0.5)
    secret, record = one.create("bob")
    assert other.lookup(secret) is not None  # cached by the other replica
    one.revoke(record.key_id)
    assert one.lookup(secret) is None  # at once on the replica that revoked it
    deadline = time.monotonic() + 5
    while other.lookup(secret) is not None:
        assert time.monotonic() < deadline, "the other replica still accepts a revoked key after 5 s"
        time.sleep(0.05)
    assert [k.key_id for k in one.list_keys()] == []
    [revoked] = one.list_keys(include_revoked=True)
    assert revoked.revoked_at is not None
    with pytest.raises(PathNotFoundError):
        one.revoke("nope")
    with pytest.raises(ConfigError):
        one.rotate(record.key_id)  # a revoked key is not brought back by a rotation


def test_rotation_keeps_the_old_secret_for_its_grace_period_only(database):
    store = KeyStore(database, cache_s=0)
    old, record = store.create("cy", role="admin")
    new, rotated = store.rotate(record.key_id, grace_s=1.0)
    assert new != old and rotated.key_id == record.key_id
    assert store.lookup(new).key_id == record.key_id  # type: ignore[union-attr]
    assert store.lookup(old).key_id == record.key_id  # type: ignore[union-attr]  # within the grace period
    time.sleep(1.2)
    assert store.lookup(old) is None
    assert store.lookup(new) is not None
    newer, _ = store.rotate(record.key_id, grace_s=0)
    assert store.lookup(new) is None and store.lookup(newer) is not None  # no grace: refused at once


def test_an_expired_key_is_refused(database):
    store = KeyStore(database, cache_s=0)
    with pytest.raises(ConfigError):
        store.create("dee", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    secret, _ = store.create("dee", expires_at=datetime.now(UTC) + timedelta(seconds=0.6))
    assert store.lookup(secret) is not None
    time.sleep(0.8)
    assert store.lookup(secret) is None


def test_unknown_roles_and_users_are_refused(database):
    store = KeyStore(database)
    with pytest.raises(ConfigError):
        store.create("eve", role="root")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        store.create("")


def test_with_the_database_down_recent_keys_work_and_unknown_ones_get_503_quickly(tmp_path, postgres):
    url = postgres.create_database("outage")
    database = Database(url, timeout_s=1.0)
    database.upgrade()
    store = KeyStore(database, cache_s=0.2, stale_s=60)
    seen, _ = store.create("fay")
    unseen, _ = store.create("gus")
    assert store.lookup(seen) is not None
    # the database goes away: point a store at a port nothing listens on (the same as the server being down,
    # without stopping the session's server under the other tests)
    down = Database(url.replace(f":{postgres.port}/", ":9/"), timeout_s=1.0)
    store.database = down
    time.sleep(0.3)  # past the cache time: the store must ask the database, and cannot
    started = time.monotonic()
    assert store.lookup(seen) is not None  # served from what it saw within stale_s
    with pytest.raises(DatabaseUnavailableError):
        store.lookup(unseen)
    assert time.monotonic() - started < 4.0
    with pytest.raises(DatabaseUnavailableError):
        store.create("hal")
    store.database = database  # back
    assert store.lookup(unseen) is not None
