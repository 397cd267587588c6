"""Two `docent serve` processes (two API replicas) sharing one real PostgreSQL: a key created through one works on
the other at once, and a key revoked through one is refused by the other within 5 s (its key cache is 2 s).

Each replica has its own data directory (the embedded index has one writer) and no documents: keys are checked
before any route runs. Extractive mode: no model is loaded beyond retrieval's.
"""

from __future__ import annotations

import time

import httpx
import pytest

from serve.stores.database import Database
from serve.stores.keys import KeyStore
from tests.support.docent_server import Server

pytestmark = pytest.mark.slow


def test_a_key_revoked_on_one_replica_is_refused_by_the_other_within_5_s(tmp_path, postgres):
    url = postgres.create_database("replicas")
    database = Database(url)
    database.upgrade()
    admin, _ = KeyStore(database).create("root", role="admin")
    database.close()
    settings = {"DOCENT_ANSWER__MODE": "extractive", "DOCENT_DATABASE_URL": url}
    with (
        Server(tmp_path / "a", tmp_path / "a.log", **settings) as a,
        Server(tmp_path / "b", tmp_path / "b.log", **settings) as b,
    ):
        created = httpx.post(
            f"{a.url}/v1/keys", json={"user": "ann", "groups": ["hr"]}, headers={"Authorization": f"Bearer {admin}"}
        )
        assert created.status_code == 201, created.text
        key = created.json()
        who = httpx.get(f"{b.url}/v1/me", headers={"Authorization": f"Bearer {key['key']}"}, timeout=10)
        assert who.status_code == 200 and who.json()["user"] == "ann"  # the other replica knows it at once

        revoked = httpx.delete(f"{a.url}/v1/keys/{key['key_id']}", headers={"Authorization": f"Bearer {admin}"})
        assert revoked.status_code == 200, revoked.text
        started = time.monotonic()
        while True:
            status = httpx.get(f"{b.url}/v1/me", headers={"Authorization": f"Bearer {key['key']}"}).status_code
            if status == 401:
                break
            assert status == 200 and time.monotonic() - started < 5.0, "replica b still accepts the revoked key"
            time.sleep(0.1)
        refused_after = time.monotonic() - started
        assert refused_after < 5.0
        print(f"revoked key refused by the other replica after {refused_after:.2f} s")
        listed = httpx.get(f"{b.url}/v1/keys", headers={"Authorization": f"Bearer {admin}"}).json()["keys"]
        assert [k["user"] for k in listed] == ["root"]  # one store: b lists what a changed
