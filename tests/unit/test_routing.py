"""The parts of routing that are pure decisions: the rule planner, the model planner's reading of a reply, the
escalation policy, the budget, and the scoring of answers against gold ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from answer.evaluation import contains, exact_match, load_beir_answers, load_golden_answers, normalize, token_f1
from answer.generation import OpenAICompatibleGenerator
from answer.planner import ModelPlanner, QuestionType, RulePlanner, canned_reply
from answer.routing import NO_CHECKS, AnswerChecks, EscalationBudget, EscalationPolicy, Evidence, Reason
from tests.support.llama_servers import free_port
from tests.support.openai_stub import OpenAIStub

T = QuestionType


@pytest.mark.parametrize(
    ("question", "kind", "subs"),
    [
        ("How far in advance must domestic flights be booked?", T.LOOKUP, ()),
        ("VPN 网关的端口是多少？", T.LOOKUP, ()),
        ("Hello!", T.CHIT_CHAT, ()),
        ("thanks a lot", T.CHIT_CHAT, ()),
        ("谢谢", T.CHIT_CHAT, ()),
        ("Who are you?", T.CHIT_CHAT, ()),
        ("Write a poem about the VPN", T.OUT_OF_SCOPE, ()),
        ("what is 12 * 7?", T.OUT_OF_SCOPE, ()),
        ("讲个笑话", T.OUT_OF_SCOPE, ()),
        (
            "Compare the hotel cap in Tokyo vs the hotel cap in Portland",
            T.COMPARISON,
            ("the hotel cap in Tokyo", "the hotel cap in Portland"),
        ),
        ("年假和病假的区别是什么？", T.COMPARISON, ("年假", "病假")),
        (
            "What is the VPN port? And who is on call on Tuesday?",
            T.MULTI_PART,
            ("What is the VPN port?", "And who is on call on Tuesday?"),
        ),
        (
            "What is the hotel cap, and what is the meal per diem?",
            T.MULTI_PART,
            ("What is the hotel cap", "what is the meal per diem?"),
        ),
        ("报销的截止日期是什么？年假可以结转几天？", T.MULTI_PART, ("报销的截止日期是什么？", "年假可以结转几天？")),
        ("Summarize the travel policy", T.SUMMARISATION, ()),
        ("总结一下员工手册", T.SUMMARISATION, ()),
        # Document questions that merely look like the types that skip retrieval must keep their search.
        ("Hello, what is the VPN gateway's address?", T.LOOKUP, ()),
        ("Thanks to the new policy, how many days can I carry over?", T.LOOKUP, ()),
        ("What is the poem policy for the company newsletter?", T.LOOKUP, ()),
        ("赫哲语在什么地方比较通行？", T.LOOKUP, ()),  # 比较 as "fairly", not "compare"
    ],
)
def test_rules_classify_questions(question, kind, subs):
    plan = RulePlanner().plan(question)
    assert (plan.type, plan.sub_questions) == (kind, subs)
    assert plan.needs_retrieval == (kind not in {T.CHIT_CHAT, T.OUT_OF_SCOPE})
    assert plan.language == ("zh" if any("\u4e00" <= ch <= "\u9fff" for ch in question) else "en")


def test_direct_replies_follow_the_language_and_the_kind():
    planner = RulePlanner()
    assert "Docent" in canned_reply(planner.plan("hello"))
    assert "welcome" in canned_reply(planner.plan("thank you"))
    assert "文档" in canned_reply(planner.plan("写一首诗"))
    assert "documents" in canned_reply(planner.plan("tell me a joke"))


def model_planner(stub: OpenAIStub) -> ModelPlanner:
    return ModelPlanner(OpenAICompatibleGenerator(stub.url, "stub", read_timeout_s=5))


def test_the_model_plan_is_read_and_validated():
    with OpenAIStub() as stub:
        planner = model_planner(stub)
        stub.script.reply = lambda m: (
            'Sure! {"query": "What is the Tokyo hotel cap?", "language": "en", '
            '"type": "comparison", "sub_questions": ["Tokyo hotel cap", "Portland hotel cap"]}'
        )
        plan = planner.plan("and Tokyo compared to Portland?")
        assert (plan.query, plan.type, plan.sub_questions, plan.planner) == (
            "What is the Tokyo hotel cap?",
            T.COMPARISON,
            ("Tokyo hotel cap", "Portland hotel cap"),
            "model",
        )
        # The conversation goes into the planning prompt; the reply's language must match the query's text.
        from answer.generation import ChatMessage

        stub.script.reply = lambda m: json.dumps(
            {"query": "年假可以结转几天？", "language": "en", "type": "lookup", "sub_questions": ["ignored"]}
        )
        plan = planner.plan("几天？", [ChatMessage("user", "年假可以结转吗？"), ChatMessage("assistant", "可以。")])
        assert (plan.query, plan.language, plan.sub_questions) == ("年假可以结转几天？", "zh", ())
        assert "年假可以结转吗？" in stub.script.requests[-1]["messages"][1]["content"]
        # A multi-part plan with one part is a lookup; an unknown type is a lookup.
        stub.script.reply = lambda m: '{"query": "q about the VPN", "type": "multi_part", "sub_questions": ["a"]}'
        assert planner.plan("q about the VPN").type is T.LOOKUP
        stub.script.reply = lambda m: '{"query": "q about the VPN", "type": "riddle"}'
        assert planner.plan("q about the VPN").type is T.LOOKUP


def test_an_unusable_or_failed_model_plan_falls_back_to_the_rules():
    with OpenAIStub() as stub:
        planner = model_planner(stub)
        stub.script.reply = lambda m: "I think this is a lookup question."
        plan = planner.plan("hello")
        assert (plan.type, plan.planner) == (T.CHIT_CHAT, "rules (model failed)")
    down = ModelPlanner(
        OpenAICompatibleGenerator(f"http://127.0.0.1:{free_port()}", "m", connect_timeout_s=1, retries=0)
    )
    from answer.generation import ChatMessage

    plan = down.plan("and the second one?", [ChatMessage("user", "What is the VPN port?")])
    assert (plan.query, plan.planner) == ("What is the VPN port? and the second one?", "rules (model failed)")


def evidence(**changes) -> Evidence:
    base = dict(
        question_type=T.LOOKUP,
        language="en",
        best_dense=0.7,
        best_rerank=None,
        sentences=2,
        unsupported=0,
        cited=True,
        not_found=False,
        words=12,
        truncated=False,
    )
    return Evidence(**{**base, **changes})


def test_the_policy_names_each_reason_it_sees():
    policy = EscalationPolicy(
        min_confidence={"en": 0.5, "zh": 0.35},
        max_unsupported=0.25,
        escalate_uncited=True,
        missed_above={"en": 0.55},
        min_rerank=0.1,
        escalate_truncated=True,
        min_fused=None,
    )
    assert policy.reasons(evidence()) == []
    assert policy.reasons(evidence(best_dense=0.45)) == [Reason.LOW_CONFIDENCE]
    assert policy.reasons(evidence(language="zh", best_dense=0.45)) == []
    assert policy.reasons(evidence(best_rerank=0.05)) == [Reason.LOW_CONFIDENCE]
    assert policy.reasons(evidence(best_fused=0.2)) == []  # no fused threshold set
    assert EscalationPolicy(min_fused=0.5).reasons(evidence(best_fused=0.2)) == [Reason.LOW_CONFIDENCE]
    assert policy.reasons(evidence(sentences=4, unsupported=1)) == []  # 25 % is allowed
    assert policy.reasons(evidence(sentences=2, unsupported=1)) == [Reason.UNSUPPORTED]
    assert policy.reasons(evidence(cited=False)) == [Reason.UNCITED]
    assert policy.reasons(evidence(truncated=True)) == [Reason.TRUNCATED]
    assert policy.reasons(evidence(question_type=T.SUMMARISATION, words=10)) == [Reason.SHORT]
    assert policy.reasons(evidence(question_type=T.SUMMARISATION, words=40)) == []
    # "Not found" on strong evidence is a missed answer; on weak evidence it stands.
    assert policy.reasons(evidence(not_found=True, sentences=0, words=0, best_dense=0.6)) == [Reason.MISSED]
    assert policy.reasons(evidence(not_found=True, sentences=0, words=0, best_dense=0.5)) == []
    # The tuned defaults: weak retrieval (dense or fused) hands on; the grounding signals are off.
    assert EscalationPolicy().reasons(evidence(best_dense=0.55)) == [Reason.LOW_CONFIDENCE]
    assert EscalationPolicy().reasons(evidence(best_fused=1.0)) == [Reason.LOW_CONFIDENCE]
    assert EscalationPolicy().reasons(evidence(best_fused=1.25, unsupported=2, cited=False, truncated=True)) == []
    assert EscalationPolicy(always=("summarisation",)).reasons(evidence(question_type=T.SUMMARISATION, words=40)) == [
        Reason.TYPE
    ]


def test_the_answer_checks_name_each_failure_and_let_a_good_answer_pass():
    from answer.answerer import han_share, repeated_share

    checks = AnswerChecks()
    good = evidence(han_share=0.0, letters=60)
    assert checks.failures(good) == []
    assert checks.failures(evidence(words=0, sentences=0, letters=0)) == [Reason.EMPTY]
    assert checks.failures(evidence(han_share=0.9, letters=40)) == [Reason.LANGUAGE]  # English question
    assert checks.failures(evidence(language="zh", han_share=0.0, letters=40)) == [Reason.LANGUAGE]
    assert checks.failures(evidence(language="zh", han_share=0.0, letters=6)) == []  # "TCP 8443": too short to judge
    assert checks.failures(evidence(language="zh", han_share=0.7, letters=40)) == []
    assert checks.failures(evidence(repeated=0.6)) == [Reason.REPEATED]
    assert checks.failures(evidence(truncated=True)) == [Reason.TRUNCATED]
    assert checks.failures(evidence(markup=True)) == [Reason.MARKUP]
    assert checks.failures(evidence(sentences=2, unsupported=2)) == [Reason.UNSUPPORTED]
    # Passages in the other language: judged by the multilingual model where there is one, else not at all.
    assert checks.failures(evidence(sentences=2, unsupported=2, across=True)) == [Reason.UNSUPPORTED]
    assert checks.failures(evidence(sentences=2, unsupported=2, across=True, support_measured=False)) == []
    # An honest "not found" is never replaced; with the checks off nothing fails.
    assert checks.failures(evidence(not_found=True, words=0, truncated=True)) == []
    assert (
        NO_CHECKS.failures(
            evidence(
                words=0,
                han_share=0.9,
                letters=40,
                repeated=0.9,
                truncated=True,
                markup=True,
                sentences=2,
                unsupported=2,
            )
        )
        == []
    )
    # The measures themselves.
    assert han_share("VPN 网关的端口是 8443。") == 6 / 9 and han_share("8443 [1]") is None
    loop = "The stipend is paid once. " * 6
    assert (
        repeated_share(loop) > 0.6
        and repeated_share(
            "The stipend is USD 450, paid once per employee for a desk, a chair and a monitor within ninety days [1]."
        )
        == 0.0
    )


def test_the_budget_limits_each_caller_and_the_process_per_minute():
    now = [0.0]
    budget = EscalationBudget(per_minute=3, per_caller_per_minute=2, clock=lambda: now[0])
    assert [budget.take("ann") for _ in range(3)] == [None, None, "caller"]
    assert budget.take("bob") is None
    assert budget.take("cid") == "global"  # ann 2 + bob 1 spent the process's 3
    now[0] += 20  # a third of a minute refills one of the process's three
    assert budget.take("cid") is None and budget.take("cid") == "global"
    now[0] += 60
    assert budget.take("ann") is None
    unlimited = EscalationBudget(None, None)
    assert all(unlimited.take("x") is None for _ in range(1000))


def test_answers_are_scored_like_squad_and_cmrc():
    assert normalize("The  USD 260!") == "usd 260"
    assert exact_match("usd 260.", ["USD 260"]) == 1.0 and exact_match("USD 261", ["USD 260"]) == 0.0
    assert exact_match("每 90 天更换一次。", ["每90天更换一次"]) == 1.0
    assert token_f1("The cap is USD 260", ["USD 260"]) == pytest.approx(2 * (2 / 4) * 1 / (2 / 4 + 1))
    assert token_f1("锁定20分钟", ["锁定 20 分钟"]) == 1.0
    assert token_f1("nothing", ["USD 260"]) == 0.0
    assert contains("The nightly cap is USD 260 in Tokyo.", ["usd 260"]) == 1.0
    assert contains("上限是每 90 天更换一次。", ["每90天更换一次"]) == 1.0
    assert contains("USD 26", ["USD 260"]) == 0.0


def test_qa_sets_load_from_beir_and_golden_files(tmp_path):
    (tmp_path / "queries.jsonl").write_text(
        '{"_id": "q1", "text": "A?"}\n{"_id": "q2", "text": "B?"}\n{"_id": "q3", "text": "C?"}\n', encoding="utf-8"
    )
    (tmp_path / "answers.jsonl").write_text(
        '{"query-id": "q3", "answers": ["c"]}\n{"query-id": "q1", "answers": ["a", "alpha"]}\n', encoding="utf-8"
    )
    items = load_beir_answers(tmp_path)
    assert [(i.query_id, i.question, i.answers) for i in items] == [("q1", "A?", ("a", "alpha")), ("q3", "C?", ("c",))]
    assert len(load_beir_answers(tmp_path, max_queries=1)) == 1
    golden = tmp_path / "facts.json"
    golden.write_text(
        json.dumps(
            [
                {"question": "X?", "answer": "x", "file": "a.md"},
                {"question": "Y?"},
                {"question": "Z?", "answers": ["z", "zed"], "id": "z1"},
            ]
        ),
        encoding="utf-8",
    )
    assert [(i.query_id, i.answers) for i in load_golden_answers(golden)] == [("q1", ("x",)), ("z1", ("z", "zed"))]
    (tmp_path / "answers.jsonl").write_text("not json\n", encoding="utf-8")
    from retrieval.evaluation import EvalDataError

    with pytest.raises(EvalDataError, match="line 1"):
        load_beir_answers(tmp_path)


def test_settings_build_the_tiers_the_planner_and_the_policy(monkeypatch):
    from answer.local_model import LlamaCppGenerator
    from serve.components import make_answerer
    from serve.settings import Settings

    monkeypatch.setenv(
        "DOCENT_ROUTING__TIERS",
        json.dumps(
            [
                {"base_url": "http://big:8000", "model": "big", "stop": ["\nQuestion:"], "max_answer_tokens": 900},
                {"name": "hosted", "base_url": "https://api.example/v1", "model": "huge", "api_key": "k"},
            ]
        ),
    )
    monkeypatch.setenv("DOCENT_ROUTING__MAX_UNSUPPORTED", "0.34")
    monkeypatch.setenv("DOCENT_ROUTING__ALWAYS", '["summarisation"]')
    settings = Settings(_env_file=None)
    small = OpenAICompatibleGenerator("http://small:8000", "qwen3-4b")
    answerer = make_answerer(settings, None, small)
    assert [(t.name, t.generator.model, t.max_answer_tokens, t.stop) for t in answerer.tiers] == [
        ("small", "qwen3-4b", 512, ()),
        ("large", "big", 900, ("\nQuestion:",)),
        ("hosted", "huge", 768, ()),
    ]
    assert isinstance(answerer.planner, ModelPlanner) and answerer.routing
    assert answerer.policy.max_unsupported == 0.34 and answerer.policy.always == ("summarisation",)
    assert (answerer.budget.per_minute, answerer.budget.per_caller) == (60, 10)
    # The CPU model cannot plan; one tier keeps the rules (no extra model call per question).
    local = LlamaCppGenerator(Path("/nonexistent.gguf"))
    assert isinstance(make_answerer(settings, None, local).planner, RulePlanner)
    monkeypatch.delenv("DOCENT_ROUTING__TIERS")
    single = make_answerer(Settings(_env_file=None), None, small)
    assert not single.routing and isinstance(single.planner, RulePlanner)
    monkeypatch.setenv("DOCENT_ROUTING__TIERS", json.dumps([{"name": "small", "base_url": "http://x", "model": "m"}]))
    with pytest.raises(Exception, match="distinct names"):
        make_answerer(Settings(_env_file=None), None, small)
