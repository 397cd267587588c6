"""The web page's sign-in sessions on each database (SQLite and a real PostgreSQL): a session comes back as it
was started, until it expires or its reader signs out; the token is what finds it, and only its hash is stored."""

from __future__ import annotations

import time

import sqlalchemy as sa

from retrieval.access import Principal
from serve.oidc.claims import Identity
from serve.stores.schema import web_sessions
from serve.stores.sessions import SessionStore

ANN = Identity(Principal("ann@corp.com", ("group:hr", "group:docent-admins")), "admin", "00u-ann", "sid-1")


def test_a_session_comes_back_until_its_reader_signs_out(database):
    store = SessionStore(database)
    token, started = store.create(ANN, max_age_s=3600)
    other, _ = store.create(ANN, max_age_s=3600)  # the same reader in another browser
    assert store.get(token) == started and started.identity == ANN and started.csrf
    store.end(token)
    assert store.get(token) is None  # refused wherever the cookie is presented
    assert store.get(other) is not None  # the other browser's session goes on
    assert store.get("no-such-token") is None and store.get("") is None


def test_a_session_expires_and_only_the_tokens_hash_is_stored(database):
    store = SessionStore(database)
    token, _ = store.create(ANN, max_age_s=0.3)
    with database.connect() as db:
        (digest,) = db.execute(sa.select(web_sessions.c.digest)).scalars()
    assert token not in digest and len(digest) == 64
    time.sleep(0.5)
    assert store.get(token) is None
    store.create(ANN, max_age_s=3600)  # a new session clears the expired ones
    with database.connect() as db:
        assert db.execute(sa.select(sa.func.count()).select_from(web_sessions)).scalar() == 1


def test_one_request_claims_a_due_refresh_and_keeps_what_the_provider_says(database):
    store = SessionStore(database)
    token, _ = store.create(ANN, max_age_s=3600, refresh_token="rt-1", refresh_after_s=0.2)
    assert not store.get(token).refresh_due
    time.sleep(0.3)
    assert store.get(token).refresh_due and store.get(token).refresh_token == "rt-1"
    assert store.claim_refresh(token, retry_after_s=60)
    assert not store.claim_refresh(token, retry_after_s=60)  # the reader's other requests go on meanwhile
    fewer = Identity(Principal("ann@corp.com", ("group:hr",)), "read", "00u-ann", "sid-1")
    store.refreshed(token, fewer, refresh_token="rt-2", refresh_after_s=3600)
    again = store.get(token)
    assert (again.identity, again.refresh_token, again.refresh_due) == (fewer, "rt-2", False)
    without, _ = store.create(ANN, max_age_s=3600)  # a provider that sent no refresh token: never due
    assert not store.get(without).refresh_due and not store.claim_refresh(without, retry_after_s=60)
