"""The answerer's rules with in-memory models (tests/support/fakes.py): routing over tiers, failures, the last rung,
and that a whole and a streamed answer take the same route. Milliseconds each; the real models and servers are in
tests/integration/test_routing.py."""

from __future__ import annotations

import dataclasses

import pytest

from answer.answerer import Answer, Answerer, AnswerMode, AnswerOptions, AskRequest, Delta
from answer.routing import NO_CHECKS, EscalationBudget, EscalationPolicy, Reason, Tier
from retrieval.access import ALL_ACCESS
from retrieval.errors import GeneratorUnavailableError
from tests.support.fakes import FixedRetriever, ScriptedGenerator, passage

QUESTION = "Which port does the VPN gateway listen on?"
PASSAGES = [
    passage("The VPN gateway listens on TCP port 8443 for all staff connections."),
    passage("Printers on the third floor are serviced every Monday morning.", 2),
]
UNGROUNDED = "The VPN gateway runs on purple llama servers orbiting Jupiter [1]."
GROUNDED = "The VPN gateway listens on TCP port 8443 [1]."
GROUNDING = EscalationPolicy(min_confidence={}, min_fused=None, max_unsupported=0.0)


def answerer(*generators: ScriptedGenerator, checks=None, budget=None) -> Answerer:
    tiers = [Tier(name, g, 160) for name, g in zip(("small", "middle", "large"), generators, strict=False)]
    kwargs = {"checks": checks} if checks is not None else {}
    return Answerer(
        FixedRetriever(list(PASSAGES)),
        None,
        AnswerOptions(),
        tiers=tiers,
        policy=GROUNDING,
        budget=budget or EscalationBudget(None, None),
        **kwargs,
    )


def request() -> AskRequest:
    return AskRequest(QUESTION, ALL_ACCESS, caller="tester")


def streamed(a: Answerer) -> tuple[str, Answer]:
    events = list(a.stream(request()))
    assert isinstance(events[-1], Answer) and all(isinstance(e, Delta) for e in events[:-1])
    return "".join(e.text for e in events[:-1]), events[-1]


def both_ways(make) -> tuple[Answer, Answer, str]:
    whole = make().answer(request())
    deltas, last = streamed(make())
    return whole, last, deltas


def test_three_tiers_walk_past_a_failing_middle_one_both_ways():
    gens = {}

    def make() -> Answerer:
        gens["small"], gens["middle"], gens["large"] = (
            ScriptedGenerator(UNGROUNDED, model="s"),
            ScriptedGenerator(model="m", down=True),
            ScriptedGenerator(GROUNDED, model="l"),
        )
        return answerer(gens["small"], gens["middle"], gens["large"])

    whole, last, deltas = both_ways(make)
    for answer in (whole, last):
        assert (answer.route.tier, answer.route.tiers, answer.route.failed) == (
            "large",
            ["small", "middle", "large"],
            ["middle"],
        )
        assert answer.route.reasons == [Reason.UNSUPPORTED, Reason.INVENTED, Reason.FAILED]
        assert answer.mode is AnswerMode.GENERATED and "8443" in answer.text and answer.model == "l"
        assert set(answer.route.timings_ms) == {"small", "middle", "large"}
        assert {"plan", "retrieve", "generate"} <= set(answer.timings_ms)
    assert whole.text == last.text == deltas
    assert whole.to_dict()["route"] == {**last.to_dict()["route"], "timings_ms": whole.to_dict()["route"]["timings_ms"]}
    assert gens["large"].requests[0]["stream"] is False  # checked before it is sent, so asked whole


def test_every_tier_down_answers_with_the_quotes_and_records_each_failure():
    def make() -> Answerer:
        return answerer(ScriptedGenerator(down=True), ScriptedGenerator(down=True), ScriptedGenerator(down=True))

    whole, last, deltas = both_ways(make)
    for answer in (whole, last):
        assert answer.mode is AnswerMode.EXTRACTIVE and "8443" in answer.text
        assert answer.route.failed == ["small", "middle", "large"] and answer.route.tier == "none"
        assert answer.fallback_reason and "down" in answer.fallback_reason
        assert "extract" in answer.timings_ms and "generate" not in answer.timings_ms
    assert deltas == last.text


def test_the_last_rung_replaces_an_answer_that_fails_the_checks_when_it_cannot_be_handed_on():
    def make() -> Answerer:
        return answerer(
            ScriptedGenerator(UNGROUNDED),
            ScriptedGenerator(GROUNDED),
            budget=EscalationBudget(per_minute=0, per_caller_per_minute=None),
        )

    whole, last, _ = both_ways(make)
    for answer in (whole, last):
        assert answer.route.tier == "extractive" and answer.route.budget_exhausted == "global"
        assert answer.route.discarded == UNGROUNDED and "Jupiter" not in answer.text
        assert answer.usage["completion_tokens"] > 0  # the discarded answer's tokens were spent all the same


def test_a_stream_nothing_checks_falls_back_before_its_first_token_and_records_the_failure():
    a = answerer(ScriptedGenerator(down=True), checks=NO_CHECKS)
    assert not a.holds_back
    deltas, answer = streamed(a)
    assert answer.mode is AnswerMode.EXTRACTIVE and deltas == answer.text
    assert answer.route.failed == ["small"]  # counted by docent_tier_failures_total like a whole answer's failure


def test_a_stream_nothing_checks_streams_token_by_token():
    a = answerer(ScriptedGenerator(GROUNDED), checks=NO_CHECKS)
    events = list(a.stream(request()))
    assert len(events) > 3 and "first_token" in events[-1].timings_ms
    assert events[-1].route.tier == "small" and events[-1].route.failed == []


def test_without_fallback_a_failing_model_raises():
    a = Answerer(FixedRetriever(list(PASSAGES)), ScriptedGenerator(down=True), AnswerOptions(fallback_extractive=False))
    with pytest.raises(GeneratorUnavailableError):
        a.answer(request())


def test_an_answer_is_immutable():
    answer = answerer(ScriptedGenerator(GROUNDED)).answer(request())
    with pytest.raises(dataclasses.FrozenInstanceError):
        answer.text = "changed"  # type: ignore[misc]
