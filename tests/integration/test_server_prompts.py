"""What Docent sends a model server, as it keeps time to first token low under load (README, "Generation"):
the fixed rules first and the same for every question of a language (the prefix vLLM's prefix caching reuses),
a bounded number of passages, and `max_tokens` by question type. Against a real llama.cpp server (the packaged
SmolLM2), which answers every request; a recording transport keeps what was sent."""

from __future__ import annotations

import json
import re
import shutil

import httpx
import pytest

from answer.answerer import AskRequest
from answer.generation import OpenAICompatibleGenerator
from retrieval.access import ALL_ACCESS
from serve.components import make_answerer
from serve.settings import AnswerSettings, LLMSettings, Settings
from tests.conftest import SAMPLE_DOCS
from tests.support.llama_servers import SMOLLM2_ALIAS, LlamaServer, smollm2_gguf

DOCS = ("travel-policy.pdf", "remote-work-policy.docx", "vpn-setup.md", "报销制度.docx")
QUESTIONS = {
    "lookup": ["How much is the one-time home office stipend?", "Which port does the VPN gateway listen on?"],
    "summarisation": ["Give an overview of the travel policy."],
    "zh": ["出差结束后，报销单必须在多长时间内提交？", "财务部每月哪几天集中付款？"],
}


class RecordingTransport(httpx.HTTPTransport):
    """The real transport, keeping each request's JSON body."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[dict] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        return super().handle_request(request)


@pytest.fixture(scope="module")
def llama():
    with LlamaServer() as server:
        yield server.start(smollm2_gguf(), SMOLLM2_ALIAS, n_ctx=2048)


def test_requests_to_a_model_server_keep_a_stable_prefix_few_passages_and_a_cap_by_type(
    llama, pipeline, retriever, tmp_path
):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in DOCS:
        shutil.copy(SAMPLE_DOCS / name, docs / name)
    assert pipeline.run([docs], public=True).ok
    settings = Settings(
        data_dir=tmp_path / "data",
        llm=LLMSettings(base_url=llama, model=SMOLLM2_ALIAS, context_length=2048, max_answer_tokens=96),
        # A busy CI machine reads a 2k prompt slowly: this is not a speed test.
        answer=AnswerSettings(passages=3, max_tokens_by_type={"lookup": 48}, replace_failed=False, deadline_s=300),
    )
    transport = RecordingTransport()
    generator = OpenAICompatibleGenerator(
        llama, SMOLLM2_ALIAS, context_length=2048, read_timeout_s=300, transport=transport
    )
    answerer = make_answerer(settings, retriever, generator)
    sent: dict[str, list[dict]] = {}
    for kind, questions in QUESTIONS.items():
        for question in questions:
            transport.bodies.clear()
            answer = answerer.answer(AskRequest(question, ALL_ACCESS))
            assert answer.mode.value in {"generated", "not_found"} and answer.text.strip(), answer
            assert len(transport.bodies) == 1, "one request an answer: nothing else asks the server"
            sent.setdefault(kind, []).append(transport.bodies[0])

    english = sent["lookup"] + sent["summarisation"]
    for bodies in (english, sent["zh"]):
        # The fixed rules come first and are the same for every question of a language; everything that varies
        # (documents, question) is in the last message, after them.
        systems = {b["messages"][0]["content"] for b in bodies}
        assert len(systems) == 1 and all(b["messages"][0]["role"] == "system" for b in bodies)
        assert all(len(b["messages"]) == 2 and b["messages"][1]["role"] == "user" for b in bodies)
        assert all(b["messages"][1]["content"].startswith("<documents>\n[1] ") for b in bodies)
    assert sent["zh"][0]["messages"][0]["content"] != english[0]["messages"][0]["content"]
    for kind, bodies in sent.items():
        for body in bodies:
            documents = body["messages"][1]["content"].split("</documents>")[0]
            numbers = [int(n) for n in re.findall(r"^\[(\d+)\] ", documents, re.MULTILINE)]
            bound = 6 if kind == "summarisation" else 3  # DOCENT_ANSWER__PASSAGES, twice that for a summary
            assert numbers and numbers == list(range(1, len(numbers) + 1)) and len(numbers) <= bound, numbers
            assert body["stream"] is False and body["model"] == SMOLLM2_ALIAS
    assert [b["max_tokens"] for b in sent["lookup"] + sent["zh"]] == [48] * 4  # a lookup: its type's cap
    assert [b["max_tokens"] for b in sent["summarisation"]] == [96]  # no cap for its type: the model's own
