"""The identity provider's JWTs as bearer tokens on `/v1`: a real OpenID Connect provider process
(oidc-provider-mock) issues them through the authorization code flow, and what it cannot do (a chosen key id,
expired tokens, another issuer) comes from `KeyServer`, which publishes real keys over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import RSAKey

from serve.app import create_app
from serve.audit import AuditLog
from serve.oidc.authenticator import OIDCAuthenticator
from serve.settings import OIDCSettings
from serve.stores.audit import AuditStore
from serve.stores.sessions import SessionStore
from tests.integration.test_api import (
    corpus,  # noqa: F401 - the fixture: HR, IT and public documents
    folders,
)
from tests.support.key_server import KeyServer
from tests.support.oidc_provider import CLIENT_ID, OIDCProvider
from tests.support.stores import database, team_keys


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@pytest.fixture(scope="module")
def provider():
    with OIDCProvider() as p:
        yield p


def oidc_settings(issuer: str, **more) -> OIDCSettings:
    return OIDCSettings(
        issuer=issuer,
        client_id=CLIENT_ID,
        group_map={"human-resources": "hr"},
        admin_group="docent-admins",
        **more,
    )


@pytest.fixture
def keys(tmp_path):
    return team_keys(tmp_path)


@pytest.fixture
def app_for(retriever, edge_index, keys, tmp_path):
    """A client of the real app whose single sign-on trusts the provider at `issuer`."""
    made = []

    def make(issuer: str, **more) -> TestClient:
        oidc = OIDCAuthenticator(oidc_settings(issuer, **more), sessions=SessionStore(database(tmp_path)))
        client = TestClient(create_app(retriever=retriever, index=edge_index, keys=keys["store"], oidc=oidc))
        made.append((client, oidc))
        return client

    yield make
    for client, oidc in made:
        client.close()
        oidc.close()


def refused(response: httpx.Response, words: str) -> None:
    assert response.status_code == 401, response.text
    error = response.json()["error"]
    assert error["code"] == "unauthorized" and words in error["message"], error


def test_a_providers_token_is_the_callers_principal_and_its_groups_decide_what_it_reads(provider, corpus, app_for):
    provider.set_user("ann-sub", {"email": "Ann@Corp.com", "groups": ["human-resources", "staff"]})
    provider.set_user("root-sub", {"email": "root@corp.com", "groups": ["docent-admins"]})
    client = app_for(provider.issuer)
    ann = bearer(provider.id_token("ann-sub"))
    me = client.get("/v1/me", headers=ann)
    assert me.status_code == 200, me.text
    assert me.json() == {"user": "ann@corp.com", "groups": ["hr", "staff"], "admin": False, "role": "read",
                         "anonymous": False}  # fmt: skip
    found = client.post("/v1/search", json={"query": "VPN gateway port password leave policy", "k": 20}, headers=ann)
    assert folders(found, corpus) == {"hr", "public"}
    root = client.get("/v1/me", headers=bearer(provider.id_token("root-sub"))).json()
    assert (root["user"], root["role"], root["admin"]) == ("root@corp.com", "admin", True)

    # A group removed at the provider is gone with the next token.
    provider.set_user("ann-sub", {"email": "ann@corp.com", "groups": ["staff"]})
    assert client.get("/v1/me", headers=bearer(provider.id_token("ann-sub"))).json()["groups"] == ["staff"]


def test_tokens_that_are_not_the_providers_valid_ones_are_refused(provider, app_for):
    provider.set_user("ann-sub", {"email": "ann@corp.com", "groups": ["human-resources"]})
    client = app_for(provider.issuer)
    token = provider.id_token("ann-sub")
    header, payload, signature = token.split(".")
    claims = json.loads(unb64(payload))

    other_client = provider.id_token("ann-sub", client_id="another-app")  # a real token, for another audience
    refused(client.get("/v1/me", headers=bearer(other_client)), "meant for")

    tampered = b64(json.dumps({**claims, "groups": ["it", "docent-admins"]}).encode())
    refused(client.get("/v1/me", headers=bearer(f"{header}.{tampered}.{signature}")), "signature does not verify")

    unsigned = f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{payload}."
    refused(client.get("/v1/me", headers=bearer(unsigned)), "signed with 'none'")

    # HS256 "signed" with the provider's public key as the HMAC secret: the RS/HS confusion.
    public = RSAKey.import_key(httpx.get(f"{provider.issuer}/jwks").json()["keys"][0])
    pem = public.as_pem(private=False)
    hs_header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    mac = hmac.new(pem, f"{hs_header}.{payload}".encode(), hashlib.sha256).digest()
    refused(client.get("/v1/me", headers=bearer(f"{hs_header}.{payload}.{b64(mac)}")), "signed with 'HS256'")

    with KeyServer() as keys:  # a key the provider never published, with and without a key id
        stranger = keys.new_key("stranger")
        forged = keys.sign(stranger, CLIENT_ID, issuer=provider.issuer, sub="ann-sub", email="ann@corp.com")
        refused(client.get("/v1/me", headers=bearer(forged)), "not one of the identity provider's keys")
        unnamed = f"{b64(json.dumps({'alg': 'RS256'}).encode())}.{forged.split('.', 1)[1]}"
        refused(client.get("/v1/me", headers=bearer(unnamed)), "signature does not verify")

    assert client.get("/v1/me", headers=bearer(token)).status_code == 200  # the real one still works
    assert client.get("/v1/me", headers=bearer("not.a-jwt")).status_code == 401  # neither key nor token


def test_issuer_expiry_and_not_before_are_checked_with_the_clock_skew(app_for):
    with KeyServer() as keys:
        key = keys.publish("k1")
        client = app_for(keys.issuer, clock_skew_s=30)
        now = int(time.time())
        ok = keys.sign(key, CLIENT_ID, sub="ann", email="ann@corp.com")
        assert client.get("/v1/me", headers=bearer(ok)).json()["user"] == "ann@corp.com"
        cases = {
            "issued by": keys.sign(key, CLIENT_ID, issuer="https://evil.example", sub="ann"),
            "expired": keys.sign(key, CLIENT_ID, sub="ann", exp=now - 31),
            "not valid yet": keys.sign(key, CLIENT_ID, sub="ann", nbf=now + 60),
            "no expiry": keys.sign(key, CLIENT_ID, sub="ann", exp=None),
        }
        for words, token in cases.items():
            refused(client.get("/v1/me", headers=bearer(token)), words)
        within_skew = keys.sign(key, CLIENT_ID, sub="ann", exp=now - 10, nbf=now + 10)
        assert client.get("/v1/me", headers=bearer(within_skew)).status_code == 200


def test_a_new_key_id_is_fetched_without_a_restart_but_not_once_per_forged_token(app_for):
    with KeyServer() as keys:
        old = keys.publish("2024")
        client = app_for(keys.issuer, jwks_refresh_min_s=2)
        assert client.get("/v1/me", headers=bearer(keys.sign(old, CLIENT_ID, sub="ann"))).status_code == 200
        assert keys.jwks_requests == 1
        time.sleep(2.1)
        new = keys.publish("2025")  # the provider rotates: the new key is published, then used
        assert client.get("/v1/me", headers=bearer(keys.sign(new, CLIENT_ID, sub="ann"))).status_code == 200
        assert keys.jwks_requests == 2
        stranger = KeyServer.new_key("stranger")
        for n in range(20):  # forged key ids, just after the fetch: none fetches the keys again
            forged = keys.sign(stranger, CLIENT_ID, kid=f"forged-{n}", sub="ann")
            refused(client.get("/v1/me", headers=bearer(forged)), "not one of the identity provider's keys")
        assert keys.jwks_requests == 2


def test_the_providers_own_key_rotation_is_picked_up(provider, app_for):
    """oidc-provider-mock names no key id in its tokens: a restart gives it a new key, and the first token that
    no known key verifies fetches the keys again."""
    client = app_for(provider.issuer, jwks_refresh_min_s=0)
    provider.set_user("ann-sub", {"email": "ann@corp.com"})
    assert client.get("/v1/me", headers=bearer(provider.id_token("ann-sub"))).status_code == 200
    provider.stop()
    provider.start()  # same issuer (port), new signing key
    provider.set_user("ann-sub", {"email": "ann@corp.com"})
    assert client.get("/v1/me", headers=bearer(provider.id_token("ann-sub"))).status_code == 200


def test_a_provider_that_is_down_or_hung_is_a_503_in_bounded_time(app_for):
    with KeyServer() as keys:
        token = keys.sign(keys.publish("k"), CLIENT_ID, sub="ann")
    down = app_for(keys.issuer)  # the server is gone: connections are refused
    response = down.get("/v1/me", headers=bearer(token))
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "identity_provider_unavailable"

    with socket.socket() as hung:  # accepts connections (the backlog), never answers
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        client = app_for(f"http://127.0.0.1:{hung.getsockname()[1]}", http_timeout_s=1)
        started = time.monotonic()
        response = client.get("/v1/me", headers=bearer(token))
        assert response.status_code == 503 and time.monotonic() - started < 5, response.text


def test_api_keys_still_work_beside_single_sign_on(provider, app_for, keys):
    client = app_for(provider.issuer)
    assert client.get("/v1/me", headers=bearer(keys["hr"])).json()["user"] == "hana"
    refused(client.get("/v1/me", headers=bearer("dk_unknown")), "unknown API key")


def test_the_audit_trail_records_the_providers_subject_and_session(retriever, edge_index, keys, tmp_path):
    audit = AuditLog(AuditStore(database(tmp_path)), interval_s=0.05)
    audit.start()
    with KeyServer() as provider:
        key = provider.publish("k")
        oidc = OIDCAuthenticator(oidc_settings(provider.issuer), sessions=SessionStore(database(tmp_path)))
        app = create_app(retriever=retriever, index=edge_index, keys=keys["store"], audit=audit, oidc=oidc)
        token = provider.sign(key, CLIENT_ID, sub="00u-ann", email="ann@corp.com", groups=["human-resources"], sid="s1")
        with TestClient(app) as client:
            found = client.post("/v1/search", json={"query": "leave", "k": 3}, headers=bearer(token))
            assert found.status_code == 200, found.text
            assert audit.flush(10)
    audit.close()
    oidc.close()
    (event,) = AuditStore(database(tmp_path)).query(user="ann@corp.com")
    assert (event.action, event.key_id, event.groups) == ("search", "oidc:00u-ann", "hr")
    assert json.loads(event.detail or "{}") == {"session": "s1"}
