"""Key management over HTTP (`/v1/keys`, admin only) and what each role may do: the real app and key store, on
an empty real index (what a key may reach does not depend on the documents)."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from serve.app import create_app
from serve.documents import DocumentService
from tests.support.stores import team_keys


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def keys(tmp_path):
    return team_keys(tmp_path)


@pytest.fixture
def client(keys, retriever, edge_index, tmp_path):
    (tmp_path / "uploads").mkdir()
    app = create_app(
        retriever=retriever,
        index=edge_index,
        keys=keys["store"],
        documents=DocumentService(edge_index, tmp_path / "uploads", None),
    )
    with TestClient(app) as c:
        yield c


def test_an_admin_creates_lists_rotates_and_revokes_keys(client, keys):
    admin = bearer(keys["admin"])
    created = client.post(
        "/v1/keys", json={"user": "sam", "groups": ["ops"], "role": "ingest", "name": "nightly sync"}, headers=admin
    )
    assert created.status_code == 201, created.text
    new = created.json()
    assert new["key"].startswith("dk_") and (new["user"], new["groups"], new["role"]) == ("sam", ["ops"], "ingest")
    listed = client.get("/v1/keys", headers=admin).json()["keys"]
    assert new["key_id"] in {k["key_id"] for k in listed}
    assert all("key" not in k and "digest" not in k for k in listed)  # secrets are never listed

    assert client.get("/v1/documents", headers=bearer(new["key"])).status_code == 200
    rotated = client.post(f"/v1/keys/{new['key_id']}/rotate", json={"grace_hours": 0}, headers=admin).json()
    assert rotated["key_id"] == new["key_id"] and rotated["key"] != new["key"]
    time.sleep(2.1)  # past the key cache
    assert client.get("/v1/documents", headers=bearer(new["key"])).status_code == 401  # no grace asked for
    assert client.get("/v1/documents", headers=bearer(rotated["key"])).status_code == 200

    revoked = client.delete(f"/v1/keys/{new['key_id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    refused = client.get("/v1/documents", headers=bearer(rotated["key"]))  # this replica forgot it at once
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
    assert new["key_id"] not in {k["key_id"] for k in client.get("/v1/keys", headers=admin).json()["keys"]}
    with_revoked = client.get("/v1/keys?include_revoked=true", headers=admin).json()["keys"]
    assert new["key_id"] in {k["key_id"] for k in with_revoked}
    missing = client.delete("/v1/keys/nope", headers=admin)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "path_not_found"


def test_only_admins_manage_keys_and_bad_requests_are_refused(client, keys):
    for key in (keys["hr"], keys["it"]):
        assert client.get("/v1/keys", headers=bearer(key)).status_code == 403
        assert client.post("/v1/keys", json={"user": "x"}, headers=bearer(key)).status_code == 403
    assert client.get("/v1/keys").status_code == 401
    admin = bearer(keys["admin"])
    assert client.post("/v1/keys", json={"user": "x", "role": "root"}, headers=admin).status_code == 422
    assert client.post("/v1/keys", json={"user": ""}, headers=admin).status_code == 422
    assert client.post("/v1/keys", json={"user": "x", "expires_in_days": -1}, headers=admin).status_code == 422


def test_each_role_reaches_its_own_routes_only(client, keys):
    store = keys["store"]
    ingest, _ = store.create("cron", role="ingest")
    read = keys["hr"]
    search = {"query": "leave policy"}
    assert client.post("/v1/search", json=search, headers=bearer(read)).status_code == 200
    assert client.post("/v1/search", json=search, headers=bearer(keys["admin"])).status_code == 200
    refused = client.post("/v1/search", json=search, headers=bearer(ingest))
    assert refused.status_code == 403 and "role" in refused.json()["error"]["message"]
    assert client.post("/v1/ask", json={"question": "leave?"}, headers=bearer(ingest)).status_code == 403
    assert client.get("/v1/documents", headers=bearer(ingest)).status_code == 200
    assert client.get("/v1/jobs", headers=bearer(ingest)).status_code == 400  # allowed; this app has no queue
    assert client.get("/v1/documents", headers=bearer(read)).status_code == 403
    assert client.get("/v1/keys", headers=bearer(ingest)).status_code == 403
    assert client.get("/v1/me", headers=bearer(ingest)).json()["role"] == "ingest"


def test_an_expired_key_is_refused(client, keys):
    from datetime import UTC, datetime, timedelta

    key, _ = keys["store"].create("tmp", expires_at=datetime.now(UTC) + timedelta(seconds=1))
    assert client.post("/v1/search", json={"query": "x"}, headers=bearer(key)).status_code == 200
    time.sleep(1.2)
    assert client.post("/v1/search", json={"query": "x"}, headers=bearer(key)).status_code == 401


def test_with_the_database_down_known_keys_still_search_and_the_rest_get_503_quickly(
    postgres, retriever, edge_index, tmp_path
):
    from serve.stores.database import Database
    from serve.stores.keys import KeyStore

    url = postgres.create_database("api_outage")
    database = Database(url, timeout_s=1.0)
    database.upgrade()
    store = KeyStore(database, cache_s=0.2, stale_s=60)
    reader, admin = store.create("ana")[0], store.create("root", role="admin")[0]
    unseen = store.create("new")[0]
    app = create_app(retriever=retriever, index=edge_index, keys=store)
    with TestClient(app) as client:
        for key in (reader, admin):
            assert client.get("/v1/me", headers=bearer(key)).status_code == 200
        store.database = Database(url.replace(f":{postgres.port}/", ":9/"), timeout_s=1.0)  # nothing listens there
        time.sleep(0.3)
        started = time.monotonic()
        assert client.post("/v1/search", json={"query": "leave"}, headers=bearer(reader)).status_code == 200
        for response in (
            client.post("/v1/search", json={"query": "leave"}, headers=bearer(unseen)),
            client.post("/v1/keys", json={"user": "x"}, headers=bearer(admin)),
            client.get("/v1/keys", headers=bearer(admin)),
        ):
            assert response.status_code == 503, response.text
            error = response.json()["error"]
            assert error["code"] == "database_unavailable" and "unavailable" in error["message"]
            assert "secret" not in error["message"]
        assert time.monotonic() - started < 2.0 * 4  # four requests, each within 2 s
        store.database = database
        assert client.post("/v1/search", json={"query": "leave"}, headers=bearer(unseen)).status_code == 200
