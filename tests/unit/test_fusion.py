"""The fusion rules on hand-made lists: what each list may judge, the mean over judges, the confidence weights."""

from __future__ import annotations

import pytest

from retrieval.fusion import Candidate, Fusion, RankedList, confidence, fuse, normalised

ENGLISH_ONLY = frozenset({"en"})


def ranked(
    name: str,
    scores: dict[str, float],
    *,
    languages: frozenset[str] = frozenset(),
    crosses: bool = True,
    language_of: dict[str, str] | None = None,
) -> RankedList:
    language_of = language_of or {}
    ordered = sorted(scores.items(), key=lambda kv: -kv[1])
    return RankedList(name, [Candidate(k, language_of.get(k, "en"), s) for k, s in ordered], languages, crosses)


def flat_tail(prefix: str, n: int, score: float, step: float = 0.001) -> dict[str, float]:
    return {f"{prefix}{i}": score - i * step for i in range(n)}


LANGS = {"zh-answer": "zh", **{f"zh{i}": "zh" for i in range(50)}}


def test_a_monolingual_list_is_skipped_for_a_question_in_a_language_it_does_not_know():
    minilm = ranked("dense", {"en-noise": 0.9, **flat_tail("en", 30, 0.3)}, languages=ENGLISH_ONLY, crosses=False)
    use = ranked("multilingual", {"zh-answer": 0.6, **flat_tail("zh", 30, 0.2)}, language_of=LANGS)
    fused = fuse([minilm, use], query_language="zh")
    assert fused[0].key == "zh-answer"
    assert all(c.language == "zh" for c in fused)  # MiniLM judged nothing: none of its candidates is left


def test_bm25_does_not_judge_passages_in_another_language():
    bm25 = ranked(
        "sparse",
        {"zh-word-match": 9.0, "en-name-match": 8.0, **flat_tail("zh", 20, 1.0)},
        crosses=False,
        language_of={"zh-word-match": "zh", **LANGS},
    )
    use = ranked("multilingual", {"en-name-match": 0.5, **flat_tail("zh", 20, 0.2)}, language_of=LANGS)
    assert use.judges("zh", "en") and not bm25.judges("zh", "en")
    en = next(c for c in fuse([bm25, use], query_language="zh") if c.key == "en-name-match")
    # BM25's 8.0 for it counts for nothing: its score is the multilingual list's alone.
    assert en.score == pytest.approx(normalised(use, clip=False)["en-name-match"])


def test_a_passage_only_the_multilingual_model_can_judge_is_not_buried_by_the_others():
    # An English question; the answer is a Chinese passage. MiniLM and BM25 judge only the English passages
    # and like a wrong one; the multilingual model prefers the Chinese answer clearly.
    languages = {"zh-answer": "zh"}
    minilm = ranked("dense", {"en-wrong": 0.55, **flat_tail("en", 40, 0.35)}, languages=ENGLISH_ONLY, crosses=False)
    bm25 = ranked("sparse", {"en-wrong": 6.0, **flat_tail("en", 40, 2.0, 0.01)}, crosses=False)
    use = ranked(
        "multilingual", {"zh-answer": 0.62, "en-wrong": 0.30, **flat_tail("en", 40, 0.25)}, language_of=languages
    )
    adaptive = fuse([minilm, use, bm25], query_language="en")
    summed = fuse([minilm, use, bm25], query_language="en", rule=Fusion.LANGUAGE)
    assert adaptive[0].key == "zh-answer"
    assert summed[0].key == "en-wrong"  # a sum over lists buries what only one list can judge


def test_a_flat_list_weighs_less_than_one_with_a_clear_winner():
    peaked = ranked("sparse", {"a": 10.0, **flat_tail("x", 40, 1.0)})
    flat = ranked("dense", {"b": 0.50, "a": 0.499, **flat_tail("x", 40, 0.498)})  # evenly spread, no winner
    assert confidence(peaked) > 3 * confidence(flat)
    assert fuse([peaked, flat], query_language="en")[0].key == "a"
    assert fuse([peaked, flat], query_language="en", rule=Fusion.COVERAGE)[0].key == "a"


def test_rrf_and_dbsf_rank_what_both_lists_like_first():
    one = ranked("dense", {"both": 0.8, "dense-only": 0.9, **flat_tail("d", 10, 0.3)})
    two = ranked("sparse", {"both": 5.0, "sparse-only": 6.0, **flat_tail("s", 10, 1.0)})
    for rule in (Fusion.RRF, Fusion.DBSF):
        assert fuse([one, two], query_language="en", rule=rule)[0].key == "both"


def test_depth_limits_each_list_and_empty_lists_fuse_to_nothing():
    long = ranked("dense", flat_tail("d", 50, 0.9))
    assert len(fuse([long], query_language="en", depth=10)) == 10
    assert fuse([ranked("dense", {})], query_language="en") == []
