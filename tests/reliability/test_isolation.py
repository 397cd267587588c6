"""What held in the review, kept holding: a principal never sees another group's documents, in any search mode,
any answer path or any document route, alone or among many concurrent users."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from serve.documents import DocumentService
from tests.reliability.conftest import bearer, make_app
from tests.support.queueing import in_process_jobs

HR_ONLY = "stipend"  # a word only the HR folder's documents have
IT_ONLY = "51820"  # the VPN port, only in the IT folder's document


@pytest.fixture
def client(world, stub, tmp_path):
    from answer.generation import OpenAICompatibleGenerator

    # The scripted model repeats its whole prompt: whatever passage reached it would show in the answer.
    stub.script.reply = lambda messages: messages[-1]["content"]
    jobs = in_process_jobs(world.pipeline)
    app = make_app(
        world.retriever,
        world.index,
        world.keys["store"],
        OpenAICompatibleGenerator(stub.url, "stub"),
        jobs=jobs,
        documents=DocumentService(world.index, tmp_path / "uploads", jobs),
    )
    with TestClient(app) as c:
        yield c


@pytest.fixture
def keys(world):
    return world.keys


@pytest.fixture
def corpus(world):
    return world.corpus


def test_no_search_mode_shows_another_groups_documents(client, keys, corpus):
    for mode in ("dense", "sparse", "hybrid"):
        for query in (f"VPN gateway port {IT_ONLY}", f"home office {HR_ONLY}"):
            for key, forbidden in (("hr", str(corpus["it"])), ("it", str(corpus["hr"]))):
                found = client.post(
                    "/v1/search",
                    json={"query": query, "mode": mode, "k": 100, "neighbours": 2},
                    headers=bearer(keys[key]),
                )
                assert found.status_code == 200 and forbidden not in found.text, (mode, query, key)


def test_no_answer_path_shows_another_groups_documents(client, keys, corpus, stub):
    question = f"What is the VPN gateway port {IT_ONLY}?"
    chat = {"model": "docent", "messages": [{"role": "user", "content": question}]}
    for path, body in (
        ("/v1/ask", {"question": question}),
        ("/v1/ask", {"question": question, "stream": True}),
        ("/v1/ask", {"question": question, "mode": "extractive"}),
        (
            "/v1/ask",
            {
                "question": "and its port?",
                "conversation": [{"role": "user", "content": f"Tell me about the VPN {IT_ONLY}"}],
            },
        ),
        ("/v1/chat/completions", chat),
        ("/v1/chat/completions", {**chat, "stream": True}),
    ):
        response = client.post(path, json=body, headers=bearer(keys["hr"]))
        assert response.status_code == 200, response.text
        assert str(corpus["it"]) not in response.text and "WireGuard" not in response.text, (path, body)
    for request in stub.script.requests:
        assert "WireGuard" not in request["messages"][-1]["content"]  # nothing of IT's reached the model either


def test_document_routes_are_for_admins_and_do_not_leak(client, keys, world):
    some = next(iter(world.index.documents()))[0]
    for method, path in (
        ("GET", "/v1/documents"),
        ("GET", f"/v1/documents/{some}"),
        ("DELETE", f"/v1/documents/{some}"),
        ("GET", "/v1/jobs"),
    ):
        response = client.request(method, path, headers=bearer(keys["hr"]))
        assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden", path
    assert client.get(f"/v1/documents/{some}").status_code == 401
    assert client.get(f"/v1/documents/{some}", headers=bearer(keys["admin"])).status_code == 200
    assert client.get("/v1/documents/nope", headers=bearer(keys["admin"])).status_code == 404


def test_concurrent_searches_of_different_users_never_mix(client, keys, corpus):
    def search(n: int) -> tuple[str, str]:
        key = ("hr", "it")[n % 2]
        response = client.post(
            "/v1/search", json={"query": "VPN port stipend leave password", "k": 20}, headers=bearer(keys[key])
        )
        assert response.status_code == 200
        return key, response.text

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(search, range(64)))
    for key, text in results:
        forbidden = corpus["it"] if key == "hr" else corpus["hr"]
        assert str(forbidden) not in text
    assert {key for key, text in results if str(corpus[key]) in text} == {"hr", "it"}  # each saw its own
