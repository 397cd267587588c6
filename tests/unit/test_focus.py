"""Fewer, better passages for the small model (answer/focus.py), the sources sent before its first token, and the
answer's token cap by question type: the answerer's rules with in-memory models (tests/support/fakes.py)."""

from __future__ import annotations

import pytest

from answer.answerer import Answer, Answerer, AnswerOptions, AskRequest, Delta, Sources
from answer.focus import Focus, focus_passages
from answer.routing import NO_CHECKS, Tier
from retrieval.access import ALL_ACCESS
from tests.support.fakes import FixedRetriever, ScriptedGenerator, passage

QUESTION = "Which port does the VPN gateway listen on?"
VPN = (
    "Staff connect from home with the Kelp client. The client updates itself every week. "
    "The VPN gateway listens on TCP port 8443. Printers are serviced on Mondays. "
    "Guests use the KELP-GUEST network instead."
)
PASSAGES = [
    passage(VPN),
    passage("The cafeteria opens at eight. The VPN gateway was renamed in March. Parking is free.", 2),
    passage("Expense reports are due within fifteen days. Receipts are scanned.", 3),
    passage("The gateway port was 443 until 2024. It moved for security reasons.", 4),
]


def test_the_best_passages_keep_their_best_sentences_in_document_order():
    focused = focus_passages(QUESTION, PASSAGES, Focus(passages=2, sentences=2), embed=None)
    assert [p.document_id for p in focused] == ["doc-1", "doc-2"]  # the first two, in rank order
    first = focused[0].text
    assert "TCP port 8443" in first and "Printers" not in first and "renamed" in focused[1].text
    sentences = [s for s in VPN.split(". ") if s.rstrip(".") in first]
    assert len(sentences) == 2 and first.index(sentences[0]) < first.index(sentences[1])  # document order
    assert focused[0].title == PASSAGES[0].title and focused[0].chunks == PASSAGES[0].chunks  # only the text


def test_zero_keeps_every_passage_or_every_sentence():
    assert focus_passages(QUESTION, PASSAGES, Focus(passages=0, sentences=0)) == PASSAGES
    whole = focus_passages(QUESTION, PASSAGES, Focus(passages=1, sentences=0))
    assert whole == PASSAGES[:1]
    cut = focus_passages(QUESTION, PASSAGES, Focus(passages=0, sentences=1))
    assert len(cut) == 4 and all(len(p.text) < len(o.text) for p, o in zip(cut, PASSAGES, strict=True))
    with pytest.raises(ValueError):
        Focus(passages=-1)


def test_the_model_reads_the_focused_context_within_its_token_bound():
    model = ScriptedGenerator("The VPN gateway listens on TCP port 8443 [1].")
    options = AnswerOptions(focus=Focus(passages=2, sentences=1), context_tokens=40)
    answerer = Answerer(FixedRetriever(list(PASSAGES)), None, options, tiers=[Tier("small", model, 160)])
    answer = answerer.answer(AskRequest(QUESTION, ALL_ACCESS))
    documents = model.requests[-1]["messages"][-1].content.split("</documents>")[0]
    assert "TCP port 8443" in documents and "Printers" not in documents and "Expense" not in documents
    assert model.count_tokens([documents])[0] <= 40 + 3  # the bound, and the "<documents>" line's tokens
    assert answer.citations[0].snippet == "The VPN gateway listens on TCP port 8443."  # what the model read


@pytest.mark.parametrize("fallback", [True, False])
@pytest.mark.parametrize("checks", [None, NO_CHECKS])
def test_the_sources_come_before_the_first_token(fallback, checks):
    model = ScriptedGenerator("The VPN gateway listens on TCP port 8443 [1].")
    options = AnswerOptions(fallback_extractive=fallback)
    kwargs = {"checks": checks} if checks is not None else {}
    answerer = Answerer(FixedRetriever(list(PASSAGES)), None, options, tiers=[Tier("small", model, 160)], **kwargs)
    events = list(answerer.events(AskRequest(QUESTION, ALL_ACCESS)))
    assert isinstance(events[0], Sources) and isinstance(events[-1], Answer)
    assert all(isinstance(e, Delta) for e in events[1:-1]) and len(events) > 2
    assert [c.number for c in events[0].citations] == list(range(1, len(PASSAGES) + 1))
    assert [c.document_id for c in events[0].citations] == [p.document_id for p in PASSAGES]
    assert not any(isinstance(e, Sources) for e in answerer.stream(AskRequest(QUESTION, ALL_ACCESS)))


def test_with_the_fallback_off_a_model_that_is_down_fails_before_the_sources_are_sent():
    down = ScriptedGenerator(down=True)
    options = AnswerOptions(fallback_extractive=False)
    answerer = Answerer(FixedRetriever(list(PASSAGES)), None, options, tiers=[Tier("small", down, 160)])
    events = answerer.events(AskRequest(QUESTION, ALL_ACCESS))
    with pytest.raises(Exception, match="down"):
        next(events)  # an error before anything was sent: the API's 503, not an error event


def test_with_the_fallback_on_the_sources_go_before_the_model_is_asked():
    model = ScriptedGenerator("The VPN gateway listens on TCP port 8443 [1].")
    answerer = Answerer(FixedRetriever(list(PASSAGES)), None, AnswerOptions(), tiers=[Tier("small", model, 160)])
    events = answerer.events(AskRequest(QUESTION, ALL_ACCESS))
    assert isinstance(next(events), Sources) and model.requests == []  # the client has them while the model reads
    events.close()


def test_the_answer_cap_follows_the_question_type():
    model = ScriptedGenerator("The VPN gateway listens on TCP port 8443 [1].")
    options = AnswerOptions(max_tokens_by_type={"lookup": 48, "comparison": 400})
    answerer = Answerer(FixedRetriever(list(PASSAGES)), None, options, tiers=[Tier("small", model, 160)])
    answerer.answer(AskRequest(QUESTION, ALL_ACCESS))
    answerer.answer(AskRequest("Give an overview of the VPN setup.", ALL_ACCESS))
    answerer.answer(AskRequest("Compare the VPN gateway and the guest network.", ALL_ACCESS))
    assert [r["max_tokens"] for r in model.requests] == [48, 160, 160]  # never above the tier's own cap
