"""Small model first, through the real app and the real index: the planner, escalation on evidence, the budget,
failures of either tier, streaming, the metrics, and `docent eval --answers`.

The tiers are real OpenAI-compatible servers: two llama.cpp servers running two different packaged GGUF models
(SmolLM2-135M-Instruct as the small tier, Gemma 3 270M as the large one), and scripted servers
(`tests/support/openai_stub.py`) where a test needs answers of a known quality: deliberately ungrounded ones to prove
that escalation fires, grounded ones to prove that it does not."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
from fastapi.testclient import TestClient

from answer.answerer import Answerer, AnswerOptions, AskRequest
from answer.generation import OpenAICompatibleGenerator
from answer.planner import ModelPlanner, RulePlanner
from answer.prompts import LOCAL_STOPS
from answer.routing import NO_CHECKS, EscalationBudget, EscalationPolicy, Reason, Tier
from retrieval.access import Principal
from retrieval.search import SPARSE_TRANSLATED, SearchRequest
from serve.app import create_app
from tests.integration.test_api import corpus, keys  # noqa: F401 - fixtures
from tests.support.llama_servers import free_port, gemma3_server, smollm2_server
from tests.support.openai_stub import OpenAIStub

VPN_QUESTION = "Which port does the VPN gateway listen on?"
UNGROUNDED = "The VPN gateway runs on purple llama servers orbiting Jupiter [1]."
PASSAGE = re.compile(r"^\[(\d+)\]", re.MULTILINE)


def grounded(messages: list[dict]) -> str:
    """A correct, cited answer to the VPN question, citing the passage that holds it."""
    documents = messages[-1]["content"]
    numbers = [int(m.group(1)) for m in PASSAGE.finditer(documents)]
    pieces = PASSAGE.split(documents)
    texts = {int(pieces[i]): pieces[i + 1] for i in range(1, len(pieces) - 1, 2)}
    number = next((n for n in numbers if "8443" in texts.get(n, "")), 1)
    return f"The VPN gateway listens on TCP port 8443 [{number}]."


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def stubs():
    with OpenAIStub() as small, OpenAIStub() as large:
        yield small, large


def tiers_of(
    small_url: str,
    large_url: str,
    *,
    small_model: str = "small-model",
    large_model: str = "large-model",
    timeout_s: float = 10,
) -> list[Tier]:
    def client(url: str, model: str) -> OpenAICompatibleGenerator:
        return OpenAICompatibleGenerator(
            url, model, connect_timeout_s=1, read_timeout_s=timeout_s, retries=0, context_length=4096
        )

    return [Tier("small", client(small_url, small_model), 160), Tier("large", client(large_url, large_model), 160)]


# The grounding check alone: these tests control answer quality, not retrieval confidence.
GROUNDING = EscalationPolicy(min_confidence={}, min_fused=None, max_unsupported=0.0)


def build(retriever, index, store, tiers, *, policy=None, budget=None, planner=None, checks=None) -> TestClient:
    # Two real CPU models in turn on a busy machine can take longer than an answer's deadline: not what these
    # tests are about (tests/reliability/test_dependencies.py is).
    answerer = Answerer(
        retriever,
        None,
        AnswerOptions(deadline_s=180),
        tiers=tiers,
        planner=planner or RulePlanner(),
        policy=policy or GROUNDING,
        budget=budget or EscalationBudget(None, None),
        checks=checks,
    )
    return TestClient(
        create_app(retriever=retriever, index=index, keys=store, answerer=answerer, generator=tiers[0].generator)
    )


def metric(client: TestClient, name: str, **labels: str) -> float:
    text = client.get("/metrics").text
    wanted = "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else ""
    for line in text.splitlines():
        if line.startswith(f"{name}{wanted} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# -- escalation on evidence, with scripted tiers -------------------------------------------------------------


def test_an_ungrounded_small_answer_is_handed_on_with_the_same_messages(corpus, keys, retriever, edge_index, stubs):
    small, large = stubs
    small.script.reply = lambda m: UNGROUNDED
    large.script.reply = grounded
    with build(retriever, edge_index, keys["store"], tiers_of(small.url, large.url)) as client:
        response = client.post("/v1/ask", json={"question": VPN_QUESTION}, headers=bearer(keys["it"]))
        assert response.status_code == 200, response.text
        answer = response.json()
        route = answer["route"]
        assert (route["tier"], route["model"], route["tiers"], route["escalated"]) == (
            "large",
            "large-model",
            ["small", "large"],
            True,
        )
        assert Reason.UNSUPPORTED in route["reasons"] and route["budget_exhausted"] is None
        assert route["evidence"]["unsupported"] == 1 and route["evidence"]["sentences"] == 1
        assert set(route["timings_ms"]) == {"small", "large"} and route["plan"]["type"] == "lookup"
        assert "8443" in answer["text"] and answer["grounded"] and answer["model"] == "large-model"
        assert answer["usage"]["prompt_tokens"] == 200  # both tiers' prompts (the stub counts 100 each)
        # The very same packed context went to the large tier.
        assert len(small.script.requests) == len(large.script.requests) == 1
        assert small.script.requests[0]["messages"] == large.script.requests[0]["messages"]
        assert "8443" in large.script.requests[0]["messages"][-1]["content"]
        assert metric(client, "docent_tier_answers_total", tier="large") == 1
        assert metric(client, "docent_escalations_total", reason="unsupported_sentences") == 1
        assert metric(client, "docent_tier_generation_seconds_count", tier="small") == 1
        assert metric(client, "docent_questions_total", type="lookup") == 1


def test_a_grounded_small_answer_stands(corpus, keys, retriever, edge_index, stubs):
    small, large = stubs
    small.script.reply = grounded
    large.script.reply = lambda m: pytest.fail("the large tier must not be asked")
    with build(retriever, edge_index, keys["store"], tiers_of(small.url, large.url)) as client:
        answer = client.post("/v1/ask", json={"question": VPN_QUESTION}, headers=bearer(keys["it"])).json()
        route = answer["route"]
        assert (route["tier"], route["tiers"], route["escalated"], route["reasons"]) == ("small", ["small"], False, [])
        assert "8443" in answer["text"] and answer["grounded"] and answer["model"] == "small-model"
        assert large.script.requests == []
        assert metric(client, "docent_tier_answers_total", tier="small") == 1
        assert metric(client, "docent_escalations_total", reason="unsupported_sentences") == 0


def test_when_the_budget_is_spent_the_quotes_replace_a_failed_small_answer(corpus, keys, retriever, edge_index, stubs):
    small, large = stubs
    small.script.reply = lambda m: UNGROUNDED
    large.script.reply = grounded
    second_it = keys["store"].create("ines", ("group:it",))[0]
    third_it = keys["store"].create("ivo", ("group:it",))[0]
    budget = EscalationBudget(per_minute=2, per_caller_per_minute=1)
    with build(retriever, edge_index, keys["store"], tiers_of(small.url, large.url), budget=budget) as client:

        def ask(key: str) -> dict:
            return client.post("/v1/ask", json={"question": VPN_QUESTION}, headers=bearer(key)).json()

        first, again = ask(keys["it"]), ask(keys["it"])
        assert first["route"]["tier"] == "large" and first["route"]["escalated"]
        assert (again["route"]["tier"], again["route"]["escalated"], again["route"]["budget_exhausted"]) == (
            "extractive",
            False,
            "caller",
        )
        # why it was due, and why it was replaced: unsupported, and "Jupiter" is a name in no passage
        assert again["route"]["reasons"] == ["unsupported_sentences", "invented_facts"]
        assert again["route"]["failed_checks"] == ["unsupported_sentences", "invented_facts"]
        assert again["mode"] == "extractive" and "Jupiter" not in again["text"] and "8443" in again["text"]
        assert ask(second_it)["route"]["tier"] == "large"  # another key has its own budget
        assert ask(third_it)["route"]["budget_exhausted"] == "global"  # the process's 2 a minute are spent
        assert len(large.script.requests) == 2
        assert metric(client, "docent_escalations_refused_total", budget="caller") == 1
        assert metric(client, "docent_escalations_refused_total", budget="global") == 1


def test_a_large_tier_that_is_down_leaves_the_quotes_for_a_failed_small_answer(
    corpus, keys, retriever, edge_index, stubs
):
    small, _ = stubs
    small.script.reply = lambda m: UNGROUNDED
    tiers = tiers_of(small.url, f"http://127.0.0.1:{free_port()}")
    with build(retriever, edge_index, keys["store"], tiers) as client:
        started = time.perf_counter()
        answer = client.post("/v1/ask", json={"question": VPN_QUESTION}, headers=bearer(keys["it"])).json()
        assert time.perf_counter() - started < 10
        route = answer["route"]
        assert (route["tier"], route["tiers"], route["failed"], route["escalated"]) == (
            "extractive",
            ["small", "large"],
            ["large"],
            True,
        )
        assert answer["mode"] == "extractive" and "Jupiter" not in answer["text"] and "8443" in answer["text"]
        assert metric(client, "docent_tier_failures_total", tier="large") == 1
        ready = client.get("/readyz").json()  # reported, not failing readiness: the small tier still answers
        assert ready["status"] == "ready"
        assert [(t["name"], t["status"]) for t in ready["tiers"]] == [("small", "ok"), ("large", "unavailable")]


def test_an_answer_across_languages_is_judged_by_the_multilingual_model(corpus, keys, retriever, edge_index, stubs):
    """A Chinese answer over the English VPN guide shares no words with it: a faithful translation stands, an
    invented sentence (no number to catch it) is replaced by the quotes, introduced as quoted from English."""
    small, large = stubs
    tiers = tiers_of(small.url, large.url)[:1]  # one tier: a failed answer goes straight to the quotes

    def translated(messages: list[dict]) -> str:
        number = re.search(r"\[(\d+)\]", grounded(messages)).group(1)
        return f"我们使用 TCP 8443 端口，因为很多酒店网络会屏蔽 UDP [{number}]。"

    with build(retriever, edge_index, keys["store"], tiers) as client:
        small.script.reply = translated
        answer = client.post("/v1/ask", json={"question": "VPN 网关的端口是多少？"}, headers=bearer(keys["it"])).json()
        assert answer["mode"] == "generated" and answer["grounded"], answer
        assert answer["route"]["failed_checks"] == [] and answer["text"].startswith("我们使用 TCP 8443 端口")
        small.script.reply = lambda m: "公司每周五为所有员工提供免费午餐 [1]。"
        answer = client.post("/v1/ask", json={"question": "VPN 网关的端口是多少？"}, headers=bearer(keys["it"])).json()
        route = answer["route"]
        assert (answer["mode"], route["tier"], route["failed_checks"]) == (
            "extractive",
            "extractive",
            ["unsupported_sentences"],
        ), answer
        assert (
            answer["text"].startswith("以下摘自英文文档：")
            and "8443" in answer["text"]
            and "午餐" not in answer["text"]
        )


def test_the_model_server_translates_the_question_for_the_keyword_side(corpus, keys, retriever, edge_index, stubs):
    """With translation on, one short turn before retrieval gives BM25 the question in English; a reply that
    does not mean the question, or a translator that is down, costs the answer nothing."""
    from answer.prompts import TRANSLATE_PROMPT as PROMPTS
    from answer.translation import QueryTranslator

    small, large = stubs
    small.script.reply = lambda m: (
        "Translation: Which port does the VPN gateway listen on?" if m[0]["content"] == PROMPTS["en"] else grounded(m)
    )
    tiers = tiers_of(small.url, large.url)[:1]
    answerer = Answerer(
        retriever,
        None,
        AnswerOptions(deadline_s=60),
        tiers=tiers,
        planner=RulePlanner(),
        translator=QueryTranslator(tiers[0].generator, embed=retriever.multilingual_embedder),
    )
    request = AskRequest("VPN 网关的端口是多少？", Principal("ivan", ("group:it",)))
    _plan, result, timings = answerer._prepare(request, answerer.deadline())
    assert small.script.requests[0]["messages"][1]["content"] == "VPN 网关的端口是多少？"
    assert SPARSE_TRANSLATED in result.lists and "translate" in timings
    assert any(SPARSE_TRANSLATED in p.scores for p in result.passages if "8443" in p.text)
    answer = answerer.answer(request)
    assert "8443" in answer.text and "translate" in answer.timings_ms
    assert len(small.script.requests) == 3  # a translation for each question asked, and one answer

    small.script.reply = lambda m: "10 points." if m[0]["content"] == PROMPTS["en"] else grounded(m)
    _plan, result, timings = answerer._prepare(request, answerer.deadline())  # English, and not a translation
    assert SPARSE_TRANSLATED not in result.lists and len(small.script.requests) == 4

    down = QueryTranslator(tiers_of(f"http://127.0.0.1:{free_port()}", large.url)[0].generator)
    answerer.translator = down
    started = time.perf_counter()
    _plan, result, timings = answerer._prepare(request, answerer.deadline())
    assert time.perf_counter() - started < 10 and SPARSE_TRANSLATED not in result.lists and result.passages


def test_a_small_tier_that_is_down_is_handed_on(corpus, keys, retriever, edge_index, stubs):
    _, large = stubs
    large.script.reply = grounded
    tiers = tiers_of(f"http://127.0.0.1:{free_port()}", large.url)
    with build(retriever, edge_index, keys["store"], tiers) as client:
        answer = client.post("/v1/ask", json={"question": VPN_QUESTION}, headers=bearer(keys["it"])).json()
        assert (answer["route"]["tier"], answer["route"]["reasons"], answer["route"]["failed"]) == (
            "large",
            ["tier_failed"],
            ["small"],
        )
        assert "8443" in answer["text"] and answer["fallback_reason"] is None


def test_an_escalated_stream_is_prepared_and_checked_like_a_whole_answer(corpus, keys, retriever, edge_index, stubs):
    small, large = stubs
    small.script.reply = lambda m: UNGROUNDED
    large.script.reply = grounded
    with build(retriever, edge_index, keys["store"], tiers_of(small.url, large.url)) as client:
        response = client.post("/v1/ask", json={"question": VPN_QUESTION, "stream": True}, headers=bearer(keys["it"]))
        events = [
            (block.split("\n")[0][7:], json.loads(block.split("\n")[1][6:]))
            for block in response.text.strip().split("\n\n")
            if block.startswith("event:")
        ]
        deltas = "".join(data["text"] for kind, data in events if kind == "delta")
        done = events[-1][1]
        assert "purple" not in deltas and "8443" in deltas  # nothing of the small answer reached the client
        assert done["route"]["tier"] == "large" and done["route"]["escalated"]
        assert " ".join(deltas.split()) == " ".join(done["text"].split())
        # The large tier's answer is checked before it is sent (it could be replaced by the quotes), so both
        # tiers are asked for whole answers, exactly as for `stream: false`.
        assert small.script.requests[0]["stream"] is False and large.script.requests[0]["stream"] is False
        # Not escalated: the small answer is sent whole.
        small.script.reply = grounded
        response = client.post("/v1/ask", json={"question": VPN_QUESTION, "stream": True}, headers=bearer(keys["it"]))
        assert '"tier": "small"' in response.text and len(large.script.requests) == 1


def test_a_slow_escalated_answer_keeps_its_stream_alive(corpus, keys, retriever, edge_index, stubs, monkeypatch):
    """An answer still being prepared (the large tier is slow) starts its stream and sends keep-alive comments
    until the checked answer comes."""
    from serve.api import streaming

    monkeypatch.setattr(streaming, "START_AFTER_S", 0.3)
    monkeypatch.setattr(streaming, "PING_S", 0.5)
    small, large = stubs
    small.script.reply = lambda m: UNGROUNDED
    large.script.reply = grounded
    large.script.delay_s = 2.5
    with build(retriever, edge_index, keys["store"], tiers_of(small.url, large.url)) as client:
        response = client.post("/v1/ask", json={"question": VPN_QUESTION, "stream": True}, headers=bearer(keys["it"]))
        assert response.status_code == 200
        before = response.text.split("event: delta", 1)[0]
        assert before.count(": ping") >= 2, response.text[:500]
        assert '"tier": "large"' in response.text and "8443" in response.text
        # The large tier times out (10 s) after the stream started: the quotes answer, in the same stream.
        large.script.delay_s = 12
        response = client.post("/v1/ask", json={"question": VPN_QUESTION, "stream": True}, headers=bearer(keys["it"]))
        assert response.status_code == 200 and response.text.count(": ping") >= 10
        assert '"tier": "extractive"' in response.text and "Jupiter" not in response.text


@pytest.mark.parametrize("stream", [False, True])
def test_three_tiers_route_the_same_whole_and_streamed(corpus, keys, retriever, edge_index, stream):
    """Small (ungrounded), a middle tier that is down, a large one that answers: both ways of asking walk all
    three, record the middle one's failure, and answer from the large one."""
    with OpenAIStub() as small, OpenAIStub() as large:
        small.script.reply = lambda m: UNGROUNDED
        large.script.reply = grounded
        two = tiers_of(small.url, large.url)
        down = OpenAICompatibleGenerator(
            f"http://127.0.0.1:{free_port()}",
            "middle-model",
            connect_timeout_s=1,
            read_timeout_s=5,
            retries=0,
            context_length=4096,
        )
        tiers = [two[0], Tier("middle", down, 160), Tier("large", two[1].generator, 160)]
        with build(retriever, edge_index, keys["store"], tiers) as client:
            response = client.post(
                "/v1/ask", json={"question": VPN_QUESTION, "stream": stream}, headers=bearer(keys["it"])
            )
            assert response.status_code == 200, response.text
            if stream:
                blocks = [b for b in response.text.strip().split("\n\n") if b.startswith("event: done")]
                answer = json.loads(blocks[-1].split("\n")[1][6:])
            else:
                answer = response.json()
            route = answer["route"]
            assert (route["tier"], route["tiers"], route["failed"], route["escalated"]) == (
                "large",
                ["small", "middle", "large"],
                ["middle"],
                True,
            )
            assert route["reasons"][-1] == Reason.FAILED and Reason.UNSUPPORTED in route["reasons"]
            assert "8443" in answer["text"] and "Jupiter" not in answer["text"]
            assert set(route["timings_ms"]) == {"small", "middle", "large"}
            assert metric(client, "docent_tier_failures_total", tier="middle") == 1
            assert metric(client, "docent_tier_answers_total", tier="large") == 1
            assert len(small.script.requests) == len(large.script.requests) == 1


# -- the planner ---------------------------------------------------------------------------------------------


def test_chit_chat_and_out_of_scope_questions_skip_retrieval_and_the_models(corpus, keys, retriever, edge_index, stubs):
    small, large = stubs
    with build(retriever, edge_index, keys["store"], tiers_of(small.url, large.url)) as client:
        hello = client.post("/v1/ask", json={"question": "Hello!"}, headers=bearer(keys["it"])).json()
        assert hello["mode"] == "chat" and "Docent" in hello["text"] and hello["citations"] == []
        assert "retrieve" not in hello["timings_ms"] and hello["route"]["plan"]["type"] == "chit_chat"
        poem = client.post("/v1/ask", json={"question": "写一首关于VPN的诗"}, headers=bearer(keys["it"])).json()
        assert poem["mode"] == "out_of_scope" and "文档" in poem["text"] and "retrieve" not in poem["timings_ms"]
        assert small.script.requests == [] and large.script.requests == []
        # Through the OpenAI-compatible endpoint too.
        chat = client.post(
            "/v1/chat/completions",
            json={"model": "docent", "messages": [{"role": "user", "content": "thanks!"}]},
            headers=bearer(keys["it"]),
        ).json()
        assert "welcome" in chat["choices"][0]["message"]["content"]
        assert chat["docent"]["route"]["plan"]["type"] == "chit_chat"


def test_a_multi_part_question_retrieves_each_part(corpus, keys, retriever, edge_index, stubs):
    small, large = stubs
    small.script.reply = lambda m: "The stipend is USD 450 [1]."
    question = "How much is the one-time home office stipend? And what is the internal code name of KelpGrid 4.2?"
    with build(
        retriever,
        edge_index,
        keys["store"],
        tiers_of(small.url, large.url),
        policy=EscalationPolicy(min_confidence={}, min_fused=None, min_words={}),
    ) as client:
        answer = client.post("/v1/ask", json={"question": question}, headers=bearer(keys["hr"])).json()
        plan = answer["route"]["plan"]
        assert plan["type"] == "multi_part" and len(plan["sub_questions"]) == 2
        documents = small.script.requests[0]["messages"][-1]["content"]
        # Merged turn by turn: the whole question's best passage, then each part's best, come first.
        first_three = "".join(PASSAGE.split(documents)[1:7])
        assert "450" in first_three and "Driftwood" in first_three
    # Each part was searched on its own: the parts' best passages lead their own searches.
    for part, fact in zip(plan["sub_questions"], ("450", "Driftwood"), strict=True):
        best = retriever.search(SearchRequest(part, Principal("hana", ("group:hr",)), k=1)).passages[0]
        assert fact in best.text


def test_the_small_model_plans_when_it_can(corpus, keys, retriever, edge_index, stubs):
    small, large = stubs

    def reply(messages: list[dict]) -> str:
        if "You plan searches" in messages[0]["content"]:
            return json.dumps(
                {
                    "query": "Which port does the corporate VPN gateway listen on?",
                    "language": "en",
                    "type": "lookup",
                    "sub_questions": [],
                }
            )
        return grounded(messages)

    small.script.reply = reply
    tiers = tiers_of(small.url, large.url)
    with build(retriever, edge_index, keys["store"], tiers, planner=ModelPlanner(tiers[0].generator)) as client:
        answer = client.post(
            "/v1/ask",
            json={
                "question": "and which port does it use?",
                "conversation": [
                    {"role": "user", "content": "What is the VPN gateway's hostname?"},
                    {"role": "assistant", "content": "vpn.brightkelp.example [1]"},
                ],
            },
            headers=bearer(keys["it"]),
        ).json()
        assert answer["question"] == "Which port does the corporate VPN gateway listen on?"
        assert answer["route"]["plan"]["planner"] == "model" and "8443" in answer["text"]
        assert "vpn.brightkelp.example" in small.script.requests[0]["messages"][1]["content"]  # the conversation
        # The model's plan for a greeting: a reply of its own, without retrieval.
        small.script.reply = lambda m: (
            '{"query": "hi", "type": "chit_chat"}'
            if "You plan" in m[0]["content"]
            else "Hi! Ask me about your documents."
        )
        hello = client.post("/v1/ask", json={"question": "hi"}, headers=bearer(keys["it"])).json()
        assert (hello["mode"], hello["text"], hello["route"]["tier"]) == (
            "chat",
            "Hi! Ask me about your documents.",
            "small",
        )
        # An extractive request asks no model, not even to plan.
        asked = len(small.script.requests)
        quoted = client.post(
            "/v1/ask", json={"question": VPN_QUESTION, "mode": "extractive"}, headers=bearer(keys["it"])
        ).json()
        assert (
            quoted["mode"] == "extractive"
            and "8443" in quoted["text"]
            and quoted["route"]["plan"]["planner"] == "rules"
        )
        assert len(small.script.requests) == asked


# -- two real llama.cpp servers ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def llama_tiers():
    with smollm2_server() as small, gemma3_server() as large:
        yield small.url, large.url


def real_tiers(urls) -> list[Tier]:
    small_url, large_url = urls
    tiers = tiers_of(small_url, large_url, small_model="smollm2", large_model="gemma3", timeout_s=60)
    tiers[0].stop = LOCAL_STOPS
    tiers[1].stop = ("\nQuestion:",)  # the base model writes its own next question otherwise
    for tier in tiers:
        tier.generator.context_length = 2048
    return tiers


def test_two_real_llama_servers_as_tiers(corpus, keys, retriever, edge_index, llama_tiers):
    # Neither model cites [n] (see tests/support/llama_servers.py): an uncited answer is handed on; a "not found" too.
    eager = EscalationPolicy(min_confidence={}, min_fused=None, escalate_uncited=True, missed_above={"en": 0.0})
    # The answer checks would replace a real model's wording that they judge unsupported by the passages' own
    # sentences: right in production, but which wording these two tiny models produce is not what this test is
    # about (the checks' last rung is tested above with scripted tiers), so they are off here.
    real = {"policy": eager, "checks": NO_CHECKS}
    with build(retriever, edge_index, keys["store"], real_tiers(llama_tiers), **real) as client:
        response = client.post("/v1/ask", json={"question": VPN_QUESTION}, headers=bearer(keys["it"]))
        assert response.status_code == 200, response.text
        route = response.json()["route"]
        assert (route["tier"], route["model"], route["tiers"], route["escalated"]) == (
            "large",
            "gemma3",
            ["small", "large"],
            True,
        ), route
        assert route["reasons"] and set(route["reasons"]) <= {
            "no_citations",
            "missed_answer",
            "unsupported_sentences",
            "truncated",
        }
        assert route["timings_ms"]["small"] > 0 and route["timings_ms"]["large"] > 0
        assert metric(client, "docent_tier_answers_total", tier="large") == 1
    off = EscalationPolicy(min_confidence={}, min_fused=None)  # and the grounding signals, off by default
    with build(retriever, edge_index, keys["store"], real_tiers(llama_tiers), policy=off, checks=NO_CHECKS) as client:
        answer = client.post("/v1/ask", json={"question": VPN_QUESTION}, headers=bearer(keys["it"])).json()
        assert (answer["route"]["tier"], answer["route"]["tiers"], answer["model"]) == ("small", ["small"], "smollm2")


# -- docent eval --answers -----------------------------------------------------------------------------------


QA = {  # question -> (gold answer, document text)
    "What is the nightly hotel cap in Tokyo?": ("USD 260", "The nightly hotel cap in Tokyo is USD 260 per night."),
    "How many days of annual leave may be carried over?": (
        "5 days",
        "Up to 5 days of annual leave may be carried over into the next year.",
    ),
    "Which port does the VPN gateway listen on?": ("TCP port 8443", "The VPN gateway listens on TCP port 8443."),
}


def test_eval_answers_compares_small_large_and_routed(tmp_path, stubs):
    small, large = stubs
    dataset = tmp_path / "qa"
    dataset.mkdir()
    questions = list(QA)
    (dataset / "corpus.jsonl").write_text(
        "".join(
            json.dumps({"_id": f"d{i}", "title": f"Doc {i}", "text": QA[q][1]}) + "\n" for i, q in enumerate(questions)
        )
    )
    (dataset / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": f"q{i}", "text": q}) + "\n" for i, q in enumerate(questions))
    )
    (dataset / "answers.jsonl").write_text(
        "".join(json.dumps({"query-id": f"q{i}", "answers": [QA[q][0]]}) + "\n" for i, q in enumerate(questions))
    )

    def gold(messages: list[dict]) -> tuple[str, int]:
        asked = messages[-1]["content"].rsplit("Question: ", 1)[1].strip()
        return QA[asked][0], 1

    # The small model is right twice and makes the VPN answer up; the large one is always right.
    small.script.reply = lambda m: (
        UNGROUNDED if "VPN" in m[-1]["content"].rsplit("Question: ", 1)[1] else f"{gold(m)[0]} [1]."
    )
    large.script.reply = lambda m: f"{gold(m)[0]} [1]."
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "DOCENT_DATA_DIR": str(tmp_path / "data"),
        "DOCENT_LLM__BASE_URL": small.url,
        "DOCENT_LLM__MODEL": "small-model",
        "DOCENT_ROUTING__TIERS": json.dumps([{"base_url": large.url, "model": "large-model"}]),
        "DOCENT_ROUTING__PLANNER": "rules",
        "DOCENT_ANSWER__MIN_RELEVANCE_EN": "0",
        # Escalate on grounding only (the tuned defaults look at retrieval confidence instead).
        "DOCENT_ROUTING__MAX_UNSUPPORTED": "0",
        "DOCENT_ROUTING__MIN_CONFIDENCE_EN": "0",
        "DOCENT_ROUTING__MIN_FUSED": "-100",
    }
    report_file = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "serve.cli", "eval", str(dataset), "--answers", "--json", "--report", str(report_file)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    results = {c["name"]: c for c in report["configurations"]}
    assert list(results) == ["small", "large", "routed", "extractive", "default"] and report["questions"] == 3
    assert report["tiers"] == {"small": "small-model", "large": "large-model"}
    assert results["small"]["exact_match"] == pytest.approx(2 / 3, abs=1e-3)
    assert results["large"]["exact_match"] == 1.0 and results["routed"]["exact_match"] == 1.0
    assert results["small"]["escalated"] == 0 and results["routed"]["escalated"] == pytest.approx(1 / 3, abs=1e-3)
    assert results["routed"]["answered_by"] == {"small": 2, "large": 1}
    assert results["routed"]["reasons"] == {"unsupported_sentences": 1}
    assert results["large"]["containment"] == 1.0 and results["small"]["abstention"] == 0
    assert set(results["routed"]["tier_latency_ms"]) == {"small", "large"}
    # No model: every answer quoted. The default (the ladder) is the routed pair here, the large tier answering
    # what the small one failed.
    assert results["extractive"]["answered_by"] == {"none": 3} and results["extractive"]["containment"] == 1.0
    assert results["default"]["exact_match"] == 1.0 and results["default"]["answered_by"] == {"small": 2, "large": 1}
    assert results["routed"]["tier_latency_ms"]["large"]["n"] == 1
    # The report file holds every answer, with what the policy saw.
    saved = json.loads(report_file.read_text())
    routed = next(c for c in saved["configurations"] if c["name"] == "routed")["answers"]
    assert [a["escalated"] for a in routed] == [False, False, True] and routed[2]["evidence"]["unsupported"] == 1
    # Unknown configurations and a missing larger tier are clear errors.
    bad = subprocess.run(
        [sys.executable, "-m", "serve.cli", "eval", str(dataset), "--answers", "--configs", "huge"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode != 0 and "huge" in bad.stderr
