"""The OpenAI-compatible generator client against a real llama.cpp server process (the packaged SmolLM2 GGUF),
and against small local servers that misbehave on purpose (refuse, hang, fail with 500, die mid-stream)."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from answer.deadline import AnswerCancelled, Deadline
from answer.generation import ChatMessage, OpenAICompatibleGenerator
from retrieval.errors import GeneratorTimeoutError, GeneratorUnavailableError
from tests.support.llama_servers import SMOLLM2_ALIAS, LlamaServer, free_port, smollm2_gguf

QUESTION = [ChatMessage("system", "You answer in one short sentence."), ChatMessage("user", "What colour is the sky?")]


@pytest.fixture(scope="module")
def llama():
    with LlamaServer() as server:
        yield server.start(smollm2_gguf(), SMOLLM2_ALIAS, n_ctx=1024)


def test_complete_and_stream_agree_at_temperature_zero(llama):
    generator = OpenAICompatibleGenerator(llama, "smollm2")
    whole = generator.complete(QUESTION, max_tokens=24)
    assert whole.text.strip() and 0 < whole.completion_tokens <= 24 and whole.prompt_tokens > 10
    assert whole.finish_reason in {"stop", "length"}
    streamed = list(generator.stream(QUESTION, max_tokens=24))
    assert len(streamed) > 1 and "".join(streamed) == whole.text


def test_a_refused_connection_is_a_clear_error_quickly():
    generator = OpenAICompatibleGenerator(f"http://127.0.0.1:{free_port()}", "m", connect_timeout_s=1)
    started = time.perf_counter()
    with pytest.raises(GeneratorUnavailableError, match="connection failed"):
        generator.complete(QUESTION, max_tokens=8)
    with pytest.raises(GeneratorUnavailableError, match="before answering"):
        list(generator.stream(QUESTION, max_tokens=8))
    assert time.perf_counter() - started < 10


def test_a_server_that_never_answers_times_out_once_without_a_retry():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections (the kernel does), never reads or answers
    generator = OpenAICompatibleGenerator(f"http://127.0.0.1:{listener.getsockname()[1]}", "m", read_timeout_s=1.5)
    try:
        started = time.perf_counter()
        with pytest.raises(GeneratorUnavailableError, match="timed out"):
            generator.complete(QUESTION, max_tokens=8)
        assert time.perf_counter() - started < 3  # one read timeout: the server accepted the request
    finally:
        listener.close()


def test_the_answer_deadline_bounds_a_hung_server_whatever_its_read_timeout():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    generator = OpenAICompatibleGenerator(f"http://127.0.0.1:{listener.getsockname()[1]}", "m", read_timeout_s=30)
    try:
        started = time.perf_counter()
        with pytest.raises(GeneratorTimeoutError, match="deadline"):
            generator.complete(QUESTION, max_tokens=8, deadline=Deadline(1.0))
        with pytest.raises(GeneratorTimeoutError, match="deadline"):
            list(generator.stream(QUESTION, max_tokens=8, deadline=Deadline(1.0)))
        assert time.perf_counter() - started < 4
    finally:
        listener.close()


def test_only_a_request_the_server_never_received_is_retried():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(
            200, json={"model": "m", "choices": [{"message": {"content": "Blue."}, "finish_reason": "stop"}]}
        )

    generator = OpenAICompatibleGenerator("http://model", "m", transport=httpx.MockTransport(handler))
    assert generator.complete(QUESTION, max_tokens=8).text == "Blue." and len(calls) == 2


def test_a_cancelled_deadline_shuts_a_waiting_call_down_at_once():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    generator = OpenAICompatibleGenerator(f"http://127.0.0.1:{listener.getsockname()[1]}", "m", read_timeout_s=30)
    deadline = Deadline(60)
    threading.Timer(0.5, deadline.cancel).start()
    started = time.perf_counter()
    try:
        with pytest.raises(AnswerCancelled):
            generator.complete(QUESTION, max_tokens=8, deadline=deadline)  # a whole answer: one blocked read
        assert time.perf_counter() - started < 2.5
        assert generator._turns.in_use == 0
    finally:
        listener.close()


class Stub(BaseHTTPRequestHandler):
    """An OpenAI-style endpoint that fails with 500 `fail` times, then answers after `delay` seconds."""

    fail = 0
    delay = 0.0
    seen = 0
    active = 0
    peak = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        with Stub.lock:
            Stub.seen += 1
            Stub.active += 1
            Stub.peak = max(Stub.peak, Stub.active)
            failing = Stub.seen <= Stub.fail
        time.sleep(Stub.delay)
        with Stub.lock:
            Stub.active -= 1
        if failing:
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b'{"error": "boom"}')
            return
        body = json.dumps(
            {
                "model": "stub",
                "choices": [{"message": {"content": "Blue."}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 2},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def stub():
    Stub.fail, Stub.delay, Stub.seen, Stub.active, Stub.peak = 0, 0.0, 0, 0, 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_server_error_is_not_retried_and_is_a_clear_error(stub):
    Stub.fail = 1
    with pytest.raises(GeneratorUnavailableError, match="answered 500"):
        OpenAICompatibleGenerator(stub, "m").complete(QUESTION, max_tokens=8)
    assert Stub.seen == 1  # the server accepted it: a second try would only double the wait
    assert OpenAICompatibleGenerator(stub, "m").complete(QUESTION, max_tokens=8).text == "Blue."


def test_concurrent_requests_are_bounded(stub):
    Stub.delay = 0.3
    generator = OpenAICompatibleGenerator(stub, "m", max_concurrency=2)
    threads = [
        threading.Thread(target=generator.complete, args=(QUESTION,), kwargs={"max_tokens": 4}) for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert Stub.seen == 6 and Stub.peak == 2


def test_a_server_killed_mid_stream_ends_with_an_error_not_a_hang():
    server = LlamaServer()
    url = server.start(smollm2_gguf(), SMOLLM2_ALIAS, n_ctx=1024)
    generator = OpenAICompatibleGenerator(url, "smollm2", read_timeout_s=5)
    long_answer = [ChatMessage("user", "Write a long story about a lighthouse keeper, at least 300 words.")]
    received = []
    started = time.perf_counter()
    try:
        with pytest.raises(GeneratorUnavailableError, match="in the middle of the answer"):
            for delta in generator.stream(long_answer, max_tokens=400, temperature=0.7):
                received.append(delta)
                if len(received) == 3:
                    server.kill()
    finally:
        server.kill()
        server.stop()
    assert len(received) >= 3 and time.perf_counter() - started < 60
