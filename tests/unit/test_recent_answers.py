import pytest

from retrieval.errors import PathNotFoundError
from serve.recent_answers import RecentAnswer, RecentAnswers, record_vote
from tests.support.stores import feedback_store


def answer(key_id: str, text: str = "It is 30 days [1].") -> RecentAnswer:
    return RecentAnswer("How long?", text, "generated", [{"number": 1, "source": "/hr/leave.pdf"}], key_id)


def test_an_answer_is_found_by_its_caller_only():
    recent = RecentAnswers()
    recent.remember("r1", answer("k1"))
    assert recent.find("r1", "k1").text == "It is 30 days [1]."
    for request_id, key_id in (("r1", "k2"), ("r2", "k1")):
        with pytest.raises(PathNotFoundError, match="no such answer"):
            recent.find(request_id, key_id)


def test_the_oldest_answers_are_forgotten_past_the_capacity():
    recent = RecentAnswers(capacity=3)
    for n in range(5):
        recent.remember(f"r{n}", answer("k1"))
    with pytest.raises(PathNotFoundError):
        recent.find("r1", "k1")
    assert recent.find("r4", "k1") and recent.find("r2", "k1")


def test_a_chosen_request_id_does_not_take_over_another_callers_answer():
    recent = RecentAnswers()
    recent.remember("r1", answer("k1"))
    recent.remember("r1", answer("k2", "mine now"))  # the same X-Request-ID from another caller
    assert recent.find("r1", "k1").text == "It is 30 days [1]."
    recent.remember("r1", answer("k1", "asked again"))  # the same caller may reuse its own id
    assert recent.find("r1", "k1").text == "asked again"


def test_a_vote_is_stored_with_its_answer_and_never_replaces_anothers(tmp_path):
    store, recent = feedback_store(tmp_path), RecentAnswers()
    try:
        recent.remember("r1", answer("k1"))
        record_vote(store, recent, answer_id="r1", key_id="k1", vote="up", comment="clear")
        record_vote(store, recent, answer_id="r1", key_id="k1", vote="down", comment=None)  # a change of mind
        (vote,) = store.votes()
        assert (vote["channel"], vote["asked_by"], vote["user"], vote["vote"]) == ("web", "k1", "k1", "down")
        assert vote["sources"] == [{"number": 1, "source": "/hr/leave.pdf"}]
        # A Slack answer's id reused as a request id by a web caller: refused, the Slack record stays.
        store.record_answer("s1", question="q", answer="a", mode="generated", sources=[], user="U1", channel="C1")
        recent.remember("s1", answer("k2"))
        with pytest.raises(PathNotFoundError):
            record_vote(store, recent, answer_id="s1", key_id="k2", vote="up", comment=None)
        assert store.asker("s1") == ("U1", "C1")
    finally:
        store.close()
