"""A dependency that is down, hung or slow is answered within a deadline, and what it cannot spoil goes on.

The review's third defect: a model server that accepts a connection and never answers cost `/v1/ask` 60 s (a
30 s read timeout, then a retry). An answer now has one deadline for all its model calls; a request the server
accepted is never sent twice.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from fastapi.testclient import TestClient
from qdrant_client import QdrantClient

from answer.answerer import AnswerOptions
from answer.generation import OpenAICompatibleGenerator
from ingest.jobs.celery_queue import CeleryQueue
from ingest.jobs.queue import JobService
from ingest.jobs.redis_store import RedisJobStore
from retrieval.models import IndexSpec
from retrieval.qdrant_index import QdrantServerIndex
from retrieval.search import Retriever
from retrieval.sparse import SparseEncoder
from serve.app import create_app
from serve.documents import DocumentService
from tests.reliability.conftest import HR_QUESTION, bearer, make_app, sse_events
from tests.support.llama_servers import free_port

DEADLINE_S = 2.0


class HungServer:
    """Accepts connections and reads the requests, then never answers: a wedged model server."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.listener.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def keys(world):
    return world.keys


@pytest.fixture
def hung():
    server = HungServer()
    yield server
    server.close()


def test_a_hung_model_costs_one_deadline_then_the_quotes(world, keys, hung):
    generator = OpenAICompatibleGenerator(hung.url, "m", read_timeout_s=30)  # the read timeout is not the bound
    app = make_app(world.retriever, world.index, keys["store"], generator, options=AnswerOptions(deadline_s=DEADLINE_S))
    with TestClient(app) as client:
        for stream in (False, True):
            started = time.perf_counter()
            response = client.post(
                "/v1/ask", json={"question": HR_QUESTION, "stream": stream}, headers=bearer(keys["hr"])
            )
            elapsed = time.perf_counter() - started
            assert response.status_code == 200 and elapsed < DEADLINE_S + 1.5, (elapsed, response.text)
            answer = sse_events(response.text)[-1][1] if stream else response.json()
            assert answer["mode"] == "extractive" and "deadline" in answer["fallback_reason"], answer
        chat = client.post(
            "/v1/chat/completions",
            headers=bearer(keys["hr"]),
            json={"model": "docent", "messages": [{"role": "user", "content": HR_QUESTION}]},
        )
        assert chat.status_code == 200 and chat.json()["docent"]["mode"] == "extractive"
    assert len(hung.accepted) == 3  # one request each: a request the server accepted is never sent again


def test_without_the_fallback_a_hung_model_is_a_503_at_the_deadline(world, keys, hung):
    generator = OpenAICompatibleGenerator(hung.url, "m", read_timeout_s=30)
    options = AnswerOptions(deadline_s=DEADLINE_S, fallback_extractive=False)
    with TestClient(make_app(world.retriever, world.index, keys["store"], generator, options=options)) as client:
        started = time.perf_counter()
        response = client.post("/v1/ask", json={"question": HR_QUESTION}, headers=bearer(keys["hr"]))
        assert response.status_code == 503 and response.json()["error"]["code"] == "generator_timeout"
        assert time.perf_counter() - started < DEADLINE_S + 1.5
        assert response.headers["content-type"] == "application/json"


def test_a_refused_model_server_falls_back_within_seconds(world, keys):
    generator = OpenAICompatibleGenerator(f"http://127.0.0.1:{free_port()}", "m", connect_timeout_s=1)
    with TestClient(make_app(world.retriever, world.index, keys["store"], generator)) as client:
        started = time.perf_counter()
        answer = client.post("/v1/ask", json={"question": HR_QUESTION}, headers=bearer(keys["hr"])).json()
        assert answer["mode"] == "extractive" and "connection failed" in answer["fallback_reason"]
        assert time.perf_counter() - started < 5
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "generator not reachable" in ready.json()["error"]["message"]


def test_qdrant_down_is_a_503_within_its_timeout_for_every_route_that_reads(embedder, keys):
    index = QdrantServerIndex(IndexSpec("docent", embedder.name, embedder.dimension), timeout_s=2)
    index._client = QdrantClient(url=f"http://127.0.0.1:{free_port()}", timeout=2)
    retriever = Retriever(index, embedder, SparseEncoder())
    with TestClient(make_app(retriever, index, keys["store"], None)) as client:
        for path, body in (
            ("/v1/search", {"query": "VPN port"}),
            ("/v1/ask", {"question": "VPN port?"}),
            ("/v1/ask", {"question": "VPN port?", "stream": True}),
        ):
            started = time.perf_counter()
            response = client.post(path, json=body, headers=bearer(keys["hr"]))
            assert response.status_code == 503 and response.json()["error"]["code"] == "index_unavailable"
            assert time.perf_counter() - started < 10
        assert client.get("/healthz").status_code == 200  # alive, not ready
        assert client.get("/readyz").status_code == 503


def test_redis_down_refuses_uploads_and_keeps_search(world, keys, tmp_path):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    jobs = JobService(RedisJobStore(dead, timeout_s=1), CeleryQueue(dead, timeout_s=1))
    admin = keys["admin"]
    app = create_app(
        retriever=world.retriever,
        index=world.index,
        keys=keys["store"],
        jobs=jobs,
        documents=DocumentService(world.index, tmp_path / "uploads", jobs),
    )
    with TestClient(app) as client:
        started = time.perf_counter()
        response = client.post(
            "/v1/documents",
            files=[("files", ("a.md", b"# A\n\nText."))],
            data={"public": "true"},
            headers=bearer(admin),
        )
        assert response.status_code == 503 and response.json()["error"]["code"] == "queue_unavailable"
        assert time.perf_counter() - started < 10 and not (tmp_path / "uploads").exists()
        assert client.post("/v1/search", json={"query": "leave"}, headers=bearer(keys["hr"])).status_code == 200
