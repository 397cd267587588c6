"""Requests as careless and hostile clients send them: the bearer scheme in any case, a long question refused
alike by both answer routes, failed authentication limited per address, malformed bodies never a 5xx, and
request fields that try to widen access doing nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from serve.stores.ratelimit import RateLimiter
from tests.reliability.conftest import bearer, make_app


@pytest.fixture
def client(world):
    app = make_app(
        world.retriever, world.index, world.keys["store"], None, auth_failures=RateLimiter(per_minute=60, burst=5)
    )
    with TestClient(app) as c:
        yield c


@pytest.fixture
def keys(world):
    return world.keys


def test_the_bearer_scheme_is_case_insensitive(client, keys):
    for scheme in ("Bearer", "bearer", "BEARER", "bEaReR"):
        response = client.post(
            "/v1/search", json={"query": "leave"}, headers={"Authorization": f"{scheme} {keys['hr']}"}
        )
        assert response.status_code == 200, (scheme, response.text)
    for header in (f"Basic {keys['hr']}", keys["hr"], f"Bearer{keys['hr']}"):
        assert client.post("/v1/search", json={"query": "leave"}, headers={"Authorization": header}).status_code == 401


def test_a_question_too_long_is_422_on_both_answer_routes(client, keys):
    long = "Why " + "x" * 4000
    ask = client.post("/v1/ask", json={"question": long}, headers=bearer(keys["hr"]))
    chat = client.post(
        "/v1/chat/completions",
        headers=bearer(keys["hr"]),
        json={"model": "docent", "messages": [{"role": "user", "content": long}]},
    )
    assert ask.status_code == chat.status_code == 422
    assert ask.json()["error"]["code"] == chat.json()["error"]["code"] == "invalid_request"
    assert "4000" in chat.json()["error"]["message"]
    fits = client.post(
        "/v1/chat/completions",
        headers=bearer(keys["hr"]),
        json={"model": "docent", "messages": [{"role": "user", "content": "Why " + "x" * 3990}]},
    )
    assert fits.status_code == 200


def test_failed_authentication_is_429_after_a_burst_and_a_real_key_still_works(client, keys):
    statuses = [
        client.post("/v1/search", json={"query": "leave"}, headers=bearer(f"dk_guess{n}")).status_code
        for n in range(12)
    ]
    assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}, statuses
    refused = client.post("/v1/search", json={"query": "leave"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert client.post("/v1/search", json={"query": "leave"}, headers=bearer(keys["hr"])).status_code == 200
    assert "docent_auth_failures_total 13.0" in client.get("/metrics").text


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"null",
        b"[]",
        b'"text"',
        b'{"query": null}',
        b'{"query": 5}',
        b'{"query": ""}',
        b'{"query": "x", "k": -1}',
        b'{"query": "x", "k": 1e9}',
        b'{"query": "x", "filters": "hr"}',
        b'{"query": "x", "filters": {"modified_after": "yesterday"}}',
        b'{"query": "x", "mode": "magic"}',
        b"\xff\xfe\x00garbage",
        '{"query": "\ud800"}'.encode("utf-8", "surrogatepass"),
    ],
)
def test_malformed_bodies_are_4xx_with_the_error_shape(client, keys, body):
    for path in ("/v1/search", "/v1/ask", "/v1/chat/completions"):
        response = client.post(path, content=body, headers={**bearer(keys["hr"]), "Content-Type": "application/json"})
        assert 400 <= response.status_code < 500, (path, body, response.status_code, response.text)
        assert set(response.json()["error"]) == {"message", "type", "code"}


def test_fields_that_try_to_widen_access_change_nothing(client, keys, world):
    it_folder = str(world.corpus["it"])
    widen = {
        "principal": {"user_id": "root", "groups": ["it"]},
        "user": "root",
        "groups": ["it"],
        "acl": ["it"],
        "public": True,
        "access": "all",
        "admin": True,
    }
    for path, body in (
        ("/v1/search", {"query": "VPN gateway port", "k": 50}),
        ("/v1/ask", {"question": "What is the VPN gateway port?", "mode": "extractive"}),
        (
            "/v1/chat/completions",
            {"model": "docent", "user": "root", "messages": [{"role": "user", "content": "VPN gateway port?"}]},
        ),
    ):
        for extra in (widen, {"filters": {"source_prefix": it_folder}}, {"filters": {"tags": ["it"]}}):
            response = client.post(path, json={**body, **extra}, headers=bearer(keys["hr"]))
            assert response.status_code in (200, 422), response.text
            assert it_folder not in response.text, (path, extra)
