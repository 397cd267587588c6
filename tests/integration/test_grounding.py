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
