"""A client that leaves a streamed answer must not keep the model from the next caller.

The review's most urgent defect: one `curl -N --max-time 1` on a streamed `/v1/ask` locked the local model for
good (every later answer waited 30 s and fell back to quotes, while /readyz said ready), because the abandoned
answer's iterator, which held the model's turn, was left to the garbage collector. Against the in-process model
and against a real llama.cpp server: abandoned streams stop the model at once and give its turn back.
"""

from __future__ import annotations

import threading
import time

import httpx
import openai
import pytest

from answer.generation import OpenAICompatibleGenerator
from answer.routing import NO_CHECKS
from retrieval.errors import GeneratorUnavailableError
from tests.reliability.conftest import LONG_QUESTION, bearer, local_options, make_app
from tests.support.live_server import LiveServer, wait_until
from tests.support.llama_servers import SMOLLM2_ALIAS, LlamaServer, smollm2_gguf

ASK = {"question": LONG_QUESTION, "stream": True}
CHAT = {"model": "docent", "messages": [{"role": "user", "content": LONG_QUESTION}], "stream": True}


def abandon(url: str, path: str, body: dict, headers: dict[str, str], *, events: int = 1) -> None:
    """Start a streamed request, read `events` events and drop the connection, as `curl --max-time 1` does. The
    sources, sent before the model's first token, do not count: the client leaves an answer being written."""
    with httpx.Client(timeout=60) as client, client.stream("POST", url + path, json=body, headers=headers) as r:
        assert r.status_code == 200, r.read()
        seen = 0
        for line in r.iter_lines():
            seen += line.startswith("data:") and '"sources": [' not in line
            if seen >= events:
                break


def generated(client: httpx.Client, key: str) -> float:
    """Seconds for one whole generated answer (it must be the model's, not the busy fallback)."""
    started = time.perf_counter()
    response = client.post("/v1/ask", json={"question": LONG_QUESTION}, headers=bearer(key))
    answer = response.json()
    assert response.status_code == 200 and answer["fallback_reason"] is None, answer
    assert answer["mode"] in {"generated", "not_found"} and answer["model"], answer
    return time.perf_counter() - started


def test_twenty_abandoned_streams_leave_the_local_model_free(world, keys, local_model):
    app = make_app(world.retriever, world.index, keys["store"], local_model, options=local_options(), checks=NO_CHECKS)
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=120) as client:
        normal = generated(client, keys["hr"])
        for _ in range(20):
            started = time.perf_counter()
            abandon(server.url, "/v1/ask", ASK, bearer(keys["hr"]))
            assert wait_until(lambda: local_model._turns.in_use == 0, 5), "the abandoned answer holds the model"
            assert time.perf_counter() - started < 10
        for _ in range(5):  # the OpenAI-compatible stream, left the same way
            abandon(server.url, "/v1/chat/completions", CHAT, bearer(keys["hr"]), events=2)
            assert wait_until(lambda: local_model._turns.in_use == 0, 5)
        assert client.get("/readyz").status_code == 200
        after = generated(client, keys["hr"])
        assert after < 2 * normal + 3, (normal, after)
        assert "docent_answers_cancelled_total 25.0" in client.get("/metrics").text


def test_an_sdk_client_that_closes_its_stream_frees_the_model(world, keys, local_model):
    app = make_app(world.retriever, world.index, keys["store"], local_model, options=local_options(), checks=NO_CHECKS)
    with LiveServer(app) as server:
        sdk = openai.OpenAI(base_url=server.url + "/v1", api_key=keys["hr"], max_retries=0)
        for _ in range(3):
            stream = sdk.chat.completions.create(model="docent", stream=True, messages=CHAT["messages"])
            next(iter(stream))
            stream.close()
            assert wait_until(lambda: local_model._turns.in_use == 0, 5)
        answer = sdk.chat.completions.create(model="docent", messages=CHAT["messages"])
        assert answer.model_extra["docent"]["fallback_reason"] is None


def test_clients_that_leave_a_checked_answer_before_it_is_sent_free_the_model(world, keys, local_model):
    """With the answer checks on (the default), a stream sends nothing until the whole answer passed them; a
    client that gives up meanwhile still stops the model at its next token."""
    app = make_app(world.retriever, world.index, keys["store"], local_model, options=local_options())
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=120) as client:
        for _ in range(5):
            started = time.perf_counter()
            with pytest.raises(httpx.ReadTimeout):
                httpx.post(server.url + "/v1/ask", json=ASK, headers=bearer(keys["hr"]), timeout=1.5)
            assert wait_until(lambda: local_model._turns.in_use == 0, 5), "the abandoned answer holds the model"
            assert time.perf_counter() - started < 10
        answer = client.post("/v1/ask", json=ASK | {"stream": False}, headers=bearer(keys["hr"])).json()
        assert answer["fallback_reason"] is None and answer["mode"] in {"generated", "extractive"}, answer
        assert "docent_answers_cancelled_total 5.0" in client.get("/metrics").text


@pytest.fixture
def keys(world):
    return world.keys


@pytest.fixture(scope="module")
def llama_url():
    with LlamaServer() as server:
        yield server.start(smollm2_gguf(), SMOLLM2_ALIAS, n_ctx=1024)


def test_abandoned_streams_close_the_request_to_a_model_server(world, keys, llama_url):
    """The same against a real llama.cpp server, which writes one answer at a time: a request Docent left open
    would keep it writing an answer nobody reads, and the next question would wait for all of them."""
    generator = OpenAICompatibleGenerator(llama_url, SMOLLM2_ALIAS, max_concurrency=2, context_length=1024)
    app = make_app(
        world.retriever,
        world.index,
        keys["store"],
        generator,
        options=local_options(max_answer_tokens=256),
        checks=NO_CHECKS,
    )
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=120) as client:
        normal = generated(client, keys["hr"])
        for _ in range(20):
            abandon(server.url, "/v1/ask", ASK, bearer(keys["hr"]))
            assert wait_until(lambda: generator._turns.in_use == 0, 5)
        after = generated(client, keys["hr"])
        assert after < 2 * normal + 3, (normal, after)


def test_the_model_server_sees_the_request_closed_when_the_client_leaves(world, keys, stub):
    stub.script.reply = lambda messages: " ".join(f"word{n} [1]." for n in range(400))
    stub.script.piece_delay_s = 0.02  # 8 s to write the whole answer
    generator = OpenAICompatibleGenerator(stub.url, "stub")
    app = make_app(world.retriever, world.index, keys["store"], generator, checks=NO_CHECKS)
    with LiveServer(app) as server:
        for n in range(3):
            left = time.monotonic()
            abandon(server.url, "/v1/ask", ASK, bearer(keys["hr"]))
            closed = n + 1
            assert wait_until(lambda closed=closed: len(stub.script.abandoned) == closed, 5), (
                "the upstream request stayed open"
            )
            sent, seen = stub.script.abandoned[-1]
            assert sent < 100 and seen - left < 2, (sent, seen - left)
        assert generator._turns.in_use == 0 and stub.script.streaming == 0


def test_readiness_fails_while_no_turn_can_be_taken(world, keys, local_model, monkeypatch):
    """A turn held far past any answer's limit was never given back: /readyz says so instead of "ready"."""
    monkeypatch.setattr("answer.local_model.STUCK_GRACE_S", 0.0)
    monkeypatch.setattr(local_model, "max_turn_s", 0.3)
    app = make_app(world.retriever, world.index, keys["store"], local_model, options=local_options(), checks=NO_CHECKS)
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        with local_model._turns.turn(1.0, "busy"):
            time.sleep(0.5)
            ready = client.get("/readyz")
            assert ready.status_code == 503 and "cannot take a turn" in ready.json()["error"]["message"]
            with pytest.raises(GeneratorUnavailableError, match="busy"):
                local_model.complete([], max_tokens=4)
        assert client.get("/readyz").status_code == 200


def test_a_storm_of_clients_that_leave_while_queued_costs_the_model_nothing(world, keys, local_model):
    """Eight clients ask at once while the model is busy, and leave before their turn: their questions leave the
    queue with them, so the next real question does not wait for eight answers nobody reads."""
    app = make_app(world.retriever, world.index, keys["store"], local_model, options=local_options(), checks=NO_CHECKS)
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=120) as client:
        normal = generated(client, keys["hr"])
        turns = local_model._turns
        with turns.turn(1.0, "busy"):  # the model busy with someone's answer
            taken = turns.taken

            def leave_early() -> None:
                with pytest.raises(httpx.ReadTimeout):  # nothing arrives while queued; the client gives up
                    httpx.post(server.url + "/v1/ask", json=ASK, headers=bearer(keys["hr"]), timeout=1.0)

            storm = [threading.Thread(target=leave_early) for _ in range(8)]
            for thread in storm:
                thread.start()
            for thread in storm:
                thread.join(10)
            time.sleep(0.5)  # the server notices the closed connections
        time.sleep(0.5)  # the turn is free: a question still queued would take it now
        assert turns.taken == taken  # none of them got a turn: they left the queue with their clients
        after = generated(client, keys["hr"])
        assert after < 2 * normal + 3, (normal, after)
        assert wait_until(lambda: local_model._turns.in_use == 0, 5)
        assert "docent_answers_cancelled_total 8.0" in client.get("/metrics").text
