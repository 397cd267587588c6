"""The checks on a generated answer that need the multilingual model: an answer in one language over passages
in the other is vouched for by cosine, not by shared terms (the model-free checks are in tests/unit)."""

from __future__ import annotations

from tests.unit.test_prompt_and_grounding import passage


def test_a_translation_is_vouched_for_across_languages_and_its_made_up_names_are_invented(multilingual_embedder):
    from answer.grounding import cosine_across, invented_facts, unsupported_across
    from answer.routing import AnswerChecks

    checks = AnswerChecks()
    chinese = [passage(1, "新一代流式计算引擎的项目代号为“青鳉”，由上海研发中心主导开发。")]
    question = "What is the code name of the new stream processing engine?"
    faithful = "The new stream processing engine is developed under the lead of the Shanghai R&D Center [1]."
    made_up = "The code name of the new stream processing engine is Aeropress [1]."
    unrelated = "Expense reports are due within thirty days [1]."
    assert unsupported_across([faithful, unrelated], chinese, multilingual_embedder, checks.min_cosine_across) == [
        unrelated
    ]
    close, invented, _ = cosine_across([faithful, made_up, unrelated], chinese, multilingual_embedder)
    assert close >= checks.min_cosine_translation > invented  # a translation, and a sentence around a made-up name
    # "Shanghai" and "Center" are in no passage (上海研发中心 is): a translation's names are not counted
    assert invented_facts(faithful, chinese, question) == ["Shanghai", "Center"]
    assert invented_facts(faithful, chinese, question, [faithful]) == []
    assert invented_facts(made_up, chinese, question) == ["Aeropress"]


class Counting:
    """The real multilingual model, recording the texts of each `embed_documents` call."""

    def __init__(self, model) -> None:
        self.model = model
        self.calls: list[list[str]] = []

    def embed_query(self, text: str):
        return self.model.embed_query(text)

    def embed_documents(self, texts: list[str]):
        self.calls.append(list(texts))
        return self.model.embed_documents(texts)


def test_only_sentences_in_another_language_are_embedded(multilingual_embedder):
    from answer.grounding import cosine_across

    model = Counting(multilingual_embedder)
    mixed = [
        passage(1, "Annual leave is 25 days. It is booked in the HR portal."),
        passage(2, "年假为二十五天。"),
    ]
    assert cosine_across(["Annual leave is twenty-five days [1]."], mixed[:1], model) == [-1.0]
    assert model.calls == []  # one language on both sides: nothing to compare, no model call
    (best,) = cosine_across(["Annual leave is twenty-five days [2]."], mixed, model)
    assert len(model.calls) == 2 and model.calls[1] == ["年假为二十五天。"]  # the English passage is not embedded
    assert best > 0.5


def test_one_answer_embeds_each_sentence_once(multilingual_embedder):
    import numpy as np

    from answer.sentence_vectors import SentenceVectors

    model = Counting(multilingual_embedder)
    vectors = SentenceVectors(model)
    first = vectors.embed_documents(["年假有多少天？", "Annual leave is 25 days.", "年假有多少天？"])
    second = vectors.embed_documents(["Annual leave is 25 days.", "The office is in Berlin."])
    assert model.calls == [["年假有多少天？", "Annual leave is 25 days."], ["The office is in Berlin."]]
    expected = multilingual_embedder.embed_documents(["年假有多少天？", "Annual leave is 25 days."])
    np.testing.assert_allclose(first, expected[[0, 1, 0]], atol=1e-6)
    np.testing.assert_array_equal(second[0], first[1])
    assert vectors.embed_documents([]).shape == (0, multilingual_embedder.dimension)
