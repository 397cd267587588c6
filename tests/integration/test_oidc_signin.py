"""The web page's sign-in through a real OpenID Connect provider process (oidc-provider-mock): the authorization
code flow with PKCE, the session cookie, its CSRF token, the state check of the callback, and logout."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from serve.app import create_app
from serve.audit import AuditLog
from serve.oidc.authenticator import OIDCAuthenticator
from serve.oidc.session import CSRF_HEADER, SESSION_COOKIE
from serve.stores.audit import AuditStore
from serve.stores.sessions import SessionStore
from tests.integration.test_oidc_tokens import keys, oidc_settings, provider  # noqa: F401 - fixtures
from tests.support.oidc_provider import CLIENT_SECRET
from tests.support.stores import database


def session_store(folder) -> SessionStore:
    return SessionStore(database(folder))


@pytest.fixture
def client(provider, retriever, edge_index, keys, tmp_path):
    oidc = OIDCAuthenticator(
        oidc_settings(provider.issuer, client_secret=CLIENT_SECRET), sessions=session_store(tmp_path)
    )
    with TestClient(create_app(retriever=retriever, index=edge_index, keys=keys["store"], oidc=oidc)) as c:
        yield c
    oidc.close()


def sign_in(client: TestClient, provider, sub: str) -> httpx.Response:
    """The browser's path: Docent's /auth/login, the provider's form submitted as `sub`, back to the callback."""
    start = client.get("/auth/login", follow_redirects=False)
    assert start.status_code == 302, start.text
    authorize = start.headers["location"]
    query = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(provider.issuer) and query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == ["http://testserver/auth/callback"] and query["state"] and query["nonce"]
    form = httpx.post(authorize, data={"sub": sub}, timeout=10)  # the reader signs in at the provider
    assert form.status_code in (302, 303), form.text
    back = urlsplit(form.headers["location"])
    return client.get(f"{back.path}?{back.query}", follow_redirects=False)


def test_sign_in_sets_a_session_the_api_takes_and_logout_ends_it(client, provider):
    provider.set_user("ann-sub", {"email": "ann@corp.com", "groups": ["human-resources", "docent-admins"]})
    done = sign_in(client, provider, "ann-sub")
    assert done.status_code == 303 and done.headers["location"] == "/", done.text
    cookie = done.headers["set-cookie"]
    assert SESSION_COOKIE in cookie and "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()  # http here; DOCENT_PUBLIC_URL=https://... makes it Secure
    me = client.get("/v1/me").json()
    assert (me["user"], me["groups"], me["role"]) == ("ann@corp.com", ["docent-admins", "hr"], "admin") and me["csrf"]
    assert 'data-session="true"' in client.get("/").text

    # A cross-site form or script can make the browser send the cookie, not the page's CSRF token.
    search = {"query": "leave", "k": 3}
    forged = client.post("/v1/search", json=search)
    assert forged.status_code == 403 and "x-docent-csrf" in forged.json()["error"]["message"]
    assert client.post("/v1/search", json=search, headers={CSRF_HEADER: "guess"}).status_code == 403
    assert client.post("/v1/search", json=search, headers={CSRF_HEADER: me["csrf"]}).status_code == 200
    assert client.delete("/v1/keys/nope").status_code == 403
    assert client.delete("/v1/keys/nope", headers={CSRF_HEADER: me["csrf"]}).status_code == 404

    stolen = client.cookies.get(SESSION_COOKIE)  # a copy of the cookie, taken before the reader signs out
    out = client.get("/auth/logout", follow_redirects=False)
    assert out.status_code == 303
    end = urlsplit(out.headers["location"])
    assert f"{end.scheme}://{end.netloc}{end.path}" == f"{provider.issuer}/oauth2/end_session"  # RP-initiated
    assert parse_qs(end.query)["post_logout_redirect_uri"] == ["http://testserver/"]
    assert client.get("/v1/me").status_code == 401  # the cookie is gone
    replayed = TestClient(client.app).get("/v1/me", cookies={SESSION_COOKIE: stolen})
    assert replayed.status_code == 401  # and its copy is refused: the session ended in the database
    assert 'data-session="false"' in client.get("/").text


def test_the_callback_refuses_a_missing_or_mismatched_state(client, provider):
    provider.set_user("bob-sub", {"email": "bob@corp.com"})
    no_flow = client.get("/auth/callback?code=abc&state=xyz", follow_redirects=False)
    assert no_flow.status_code == 401 and no_flow.json()["error"]["code"] == "unauthorized"
    start = client.get("/auth/login", follow_redirects=False)  # the flow cookie is set now
    authorized = httpx.post(start.headers["location"], data={"sub": "bob-sub"}, timeout=10)
    back = parse_qs(urlsplit(authorized.headers["location"]).query)
    wrong = client.get(f"/auth/callback?code={back['code'][0]}&state=another", follow_redirects=False)
    assert wrong.status_code == 401 and "state" in wrong.json()["error"]["message"]
    missing = client.get(f"/auth/callback?code={back['code'][0]}", follow_redirects=False)
    assert missing.status_code == 401
    assert client.get("/v1/me").status_code == 401  # no session came of it
    forged = client.get("/v1/me", cookies={SESSION_COOKIE: "eyJ1IjoiZXZlIn0.forged.sig"})
    assert forged.status_code == 401


def test_groups_not_allowed_cannot_sign_in(provider, retriever, edge_index, keys, tmp_path):
    settings = oidc_settings(provider.issuer, client_secret=CLIENT_SECRET, allowed_groups=["hr"])
    oidc = OIDCAuthenticator(settings, sessions=session_store(tmp_path))
    provider.set_user("eve-sub", {"email": "eve@corp.com", "groups": ["sales"]})
    with TestClient(create_app(retriever=retriever, index=edge_index, keys=keys["store"], oidc=oidc)) as client:
        refused = sign_in(client, provider, "eve-sub")
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        assert client.get("/v1/me").status_code == 401
    oidc.close()


def test_without_single_sign_on_the_routes_do_not_exist(retriever, edge_index, keys):
    with TestClient(create_app(retriever=retriever, index=edge_index, keys=keys["store"])) as client:
        assert client.get("/auth/login", follow_redirects=False).status_code == 404
        assert 'data-sso=""' in client.get("/").text


def test_behind_an_https_public_url_the_cookies_are_secure_and_the_redirect_is_the_public_one(
    provider,
    retriever,
    edge_index,
    keys,
    tmp_path,
):
    oidc = OIDCAuthenticator(
        oidc_settings(provider.issuer), sessions=session_store(tmp_path), public_url="https://docent.corp.com/"
    )
    with TestClient(create_app(retriever=retriever, index=edge_index, keys=keys["store"], oidc=oidc)) as client:
        start = client.get("/auth/login", follow_redirects=False)
        query = parse_qs(urlsplit(start.headers["location"]).query)
        assert query["redirect_uri"] == ["https://docent.corp.com/auth/callback"]
        cookie = start.headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie and "path=/auth" in cookie
    oidc.close()


def test_sign_in_search_and_sign_out_are_in_the_audit_trail_with_the_subject_and_session(
    provider, retriever, edge_index, keys, tmp_path
):
    audit = AuditLog(AuditStore(database(tmp_path)), interval_s=0.05)
    audit.start()
    oidc = OIDCAuthenticator(
        oidc_settings(provider.issuer, client_secret=CLIENT_SECRET), sessions=session_store(tmp_path)
    )
    provider.set_user("kim-sub", {"email": "kim@corp.com", "groups": ["human-resources"]})
    app = create_app(retriever=retriever, index=edge_index, keys=keys["store"], audit=audit, oidc=oidc)
    with TestClient(app) as client:
        signed_in = sign_in(client, provider, "kim-sub")
        assert signed_in.status_code == 303, signed_in.text
        csrf = client.get("/v1/me").json()["csrf"]
        page = {CSRF_HEADER: csrf, "X-Docent-Channel": "web"}  # what the page sends
        assert client.post("/v1/search", json={"query": "leave", "k": 3}, headers=page).status_code == 200
        assert client.get("/auth/logout", follow_redirects=False).status_code == 303
        assert audit.flush(10)
    audit.close()
    oidc.close()
    events = AuditStore(database(tmp_path)).query(user="kim@corp.com")
    assert [e.action for e in events] == ["signout", "search", "signin"]  # newest first
    assert {(e.key_id, e.groups, e.channel) for e in events} == {("oidc:kim-sub", "hr", "web")}
    sessions = {json.loads(e.detail or "{}").get("session") for e in events}
    assert len(sessions) == 1 and sessions.pop().startswith("web:")  # the mock names no sid: one of Docent's


def test_a_session_refreshes_the_readers_groups_and_ends_when_the_provider_revokes_them(
    provider, retriever, edge_index, keys, tmp_path
):
    settings = oidc_settings(provider.issuer, client_secret=CLIENT_SECRET, refresh_minutes=0.01)  # 0.6 s
    oidc = OIDCAuthenticator(settings, sessions=session_store(tmp_path))
    provider.set_user("lin-sub", {"email": "lin@corp.com", "groups": ["human-resources", "docent-admins"]})
    with TestClient(create_app(retriever=retriever, index=edge_index, keys=keys["store"], oidc=oidc)) as client:
        assert sign_in(client, provider, "lin-sub").status_code == 303
        me = client.get("/v1/me").json()
        assert (me["groups"], me["role"]) == (["docent-admins", "hr"], "admin")
        provider.set_user("lin-sub", {"email": "lin@corp.com", "groups": ["human-resources"]})  # no longer admin
        time.sleep(0.8)
        me = client.get("/v1/me").json()  # the refresh is due: the provider's user info says who lin is now
        assert (me["groups"], me["role"]) == (["hr"], "read"), me
        provider.revoke_tokens("lin-sub")  # the user disabled at the provider
        time.sleep(0.8)
        assert client.get("/v1/me").status_code == 401  # signed out at the next refresh
        assert 'data-session="false"' in client.get("/").text
    oidc.close()
