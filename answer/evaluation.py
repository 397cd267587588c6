"""Answer accuracy on a QA set: how well each model configuration answers, and what routing costs.

`docent eval DATASET --answers` asks every question of a set with gold answers (a BEIR folder with
`answers.jsonl` of `{"query-id", "answers": [...]}`, or a document folder with `--queries` whose items carry
`answer` / `answers`) through the real answerer, once per configuration:

- `small`: the small model alone;
- `large`: the first larger tier alone, on the same plan and retrieval;
- `routed`: small first, handed on by the escalation policy (with no budget: every due escalation happens).

and reports, per configuration, normalized exact match, token F1 and containment (the gold answer inside the
answer, the fair measure for a model that answers in sentences), the abstention rate, the share escalated and
the latency per tier. Scoring follows SQuAD for English and CMRC 2018 for Chinese: lower case, punctuation and
English articles removed, Chinese compared character by character.
"""

from __future__ import annotations

import json
import re
import statistics
import string
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from answer.answerer import Answer, AnswerMode
from retrieval.evaluation import EvalDataError, _golden_items
from retrieval.terms import detect_language

_PUNCT = set(string.punctuation) | set("，。！？、；：“”‘’（）《》【】…—～·「」『』〈〉﹏")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def normalize(text: str) -> str:
    """Lower case, no punctuation, no English articles, single spaces (SQuAD's normalization, CJK-aware)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if ch in _PUNCT or unicodedata.category(ch).startswith("P") else ch for ch in text)
    return " ".join(_ARTICLES.sub(" ", text).split())


def tokens(text: str) -> list[str]:
    """Normalized tokens: each Chinese character alone, other runs split on spaces (CMRC 2018's mixed
    segmentation), so F1 means the same in both languages."""
    out: list[str] = []
    for word in normalize(text).split():
        buffer = ""
        for ch in word:
            if _CJK.match(ch):
                if buffer:
                    out.append(buffer)
                    buffer = ""
                out.append(ch)
            else:
                buffer += ch
        if buffer:
            out.append(buffer)
    return out


def _compact(text: str) -> str:
    """Normalized, without spaces where a text holds Chinese (its words are not space-separated)."""
    normal = normalize(text)
    return normal.replace(" ", "") if _CJK.search(text) else normal


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    return 1.0 if any(_compact(prediction) == _compact(gold) for gold in golds) else 0.0


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    predicted = tokens(prediction)
    best = 0.0
    for gold in golds:
        wanted = tokens(gold)
        common = sum((Counter(predicted) & Counter(wanted)).values())
        if common:
            precision, recall = common / len(predicted), common / len(wanted)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def contains(prediction: str, golds: Sequence[str]) -> float:
    """1 when a gold answer appears whole in the prediction (spaces ignored, for Chinese)."""
    p = normalize(prediction).replace(" ", "")
    wanted = [normalize(g).replace(" ", "") for g in golds]
    return 1.0 if any(w and w in p for w in wanted) else 0.0


# -- the data ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QAItem:
    query_id: str
    question: str
    answers: tuple[str, ...]


def load_beir_answers(dataset: Path, max_queries: int | None = None) -> list[QAItem]:
    """Questions of `queries.jsonl` that have gold answers in `answers.jsonl`, in the queries' order."""
    answers_file = dataset / "answers.jsonl"
    if not answers_file.is_file():
        raise EvalDataError(f'{dataset} has no answers.jsonl (lines of {{"query-id", "answers": [...]}})')
    answers: dict[str, tuple[str, ...]] = {}
    for number, line in enumerate(answers_file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            golds = tuple(str(a) for a in item["answers"] if str(a).strip())
            answers[str(item["query-id"])] = golds
        except (ValueError, KeyError, TypeError) as exc:
            raise EvalDataError(f'{answers_file}: line {number} is not {{"query-id", "answers"}}: {exc}') from exc
    items = []
    for line in (dataset / "queries.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            query = json.loads(line)
            found = answers.get(str(query["_id"]))
            if found:
                items.append(QAItem(str(query["_id"]), str(query["text"]), found))
    if not items:
        raise EvalDataError(f"{dataset}: no query has an answer in answers.jsonl")
    return items[:max_queries] if max_queries else items


def load_golden_answers(queries_file: Path, max_queries: int | None = None) -> list[QAItem]:
    """The items of a golden query file that carry `answer` (a string) or `answers` (a list)."""
    items = []
    for position, item in enumerate(_golden_items(queries_file), start=1):
        raw = item.get("answers", item.get("answer"))
        golds = tuple(str(a) for a in (raw if isinstance(raw, list) else [raw]) if a is not None and str(a).strip())
        question = next((str(item[k]) for k in ("question", "query", "text") if isinstance(item.get(k), str)), "")
        if golds and question.strip():
            items.append(QAItem(str(item.get("id", f"q{position}")), question.strip(), golds))
    if not items:
        raise EvalDataError(f"{queries_file}: no item has an `answer` or `answers`")
    return items[:max_queries] if max_queries else items


# -- running and scoring -----------------------------------------------------------------------------------------

ABSTAINED = {AnswerMode.NOT_FOUND, AnswerMode.OUT_OF_SCOPE, AnswerMode.CHAT}


@dataclass(slots=True)
class Scored:
    """One question answered by one configuration, and its scores."""

    query_id: str
    question: str
    answer: str
    golds: tuple[str, ...]
    mode: str
    tier: str
    escalated: bool
    reasons: list[str]
    exact_match: float
    f1: float
    contains: float
    latency_ms: float
    tier_ms: dict[str, float]
    evidence: dict[str, object] = field(default_factory=dict)  # what the escalation policy saw (bench/routing.py)
    failed_checks: list[str] = field(default_factory=list)  # the answer checks a generated answer failed
    discarded: str | None = None  # the generated text the extractive answer replaced


def _latency(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "mean": round(statistics.fmean(ordered), 1),
        "p50": round(ordered[len(ordered) // 2], 1),
        "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
    }


@dataclass(slots=True)
class ConfigResult:
    """The means over a QA set of one configuration (small, large or routed)."""

    name: str
    questions: int
    exact_match: float
    f1: float
    containment: float
    abstention: float  # share answered "not in the documents" (or declined as chit-chat / out of scope)
    escalated: float  # share handed on to a larger tier
    answered_by: dict[str, int]  # tier -> answers it wrote ("none": no model, e.g. not found)
    reasons: dict[str, int]  # escalation reason -> count
    latency_ms: dict[str, float]  # the whole answer (plan, retrieval, every tier asked)
    tier_latency_ms: dict[str, dict[str, float]]  # generation time per tier, over the answers that asked it
    # Per question language: {"en": {"questions", "exact_match", "f1", "containment"}, "zh": ...}
    by_language: dict[str, dict[str, float]] = field(default_factory=dict)
    answers: list[Scored] = field(default_factory=list)

    def to_dict(self, *, with_answers: bool = False) -> dict[str, object]:
        data = asdict(self)
        if not with_answers:
            data.pop("answers")
        return data


def score(item: QAItem, answer: Answer, latency_ms: float) -> Scored:
    route = answer.route
    text = "" if answer.mode in ABSTAINED else answer.text
    text = re.sub(r"\s*\[\d{1,3}\]", "", text)  # citations are not part of the answer
    return Scored(
        item.query_id,
        item.question,
        answer.text,
        item.answers,
        answer.mode.value,
        route.tier if route else "none",
        bool(route and route.escalated),
        list(route.reasons) if route else [],
        exact_match(text, item.answers),
        token_f1(text, item.answers),
        contains(text, item.answers),
        round(latency_ms, 1),
        dict(route.timings_ms) if route else {},
        dict(route.evidence) if route else {},
        list(route.failed_checks) if route else [],
        route.discarded if route else None,
    )


def summarize(name: str, scored: Sequence[Scored]) -> ConfigResult:
    n = len(scored) or 1
    tiers = sorted({t for s in scored for t in s.tier_ms})
    return ConfigResult(
        name=name,
        questions=len(scored),
        exact_match=round(sum(s.exact_match for s in scored) / n, 4),
        f1=round(sum(s.f1 for s in scored) / n, 4),
        containment=round(sum(s.contains for s in scored) / n, 4),
        abstention=round(sum(s.mode in {m.value for m in ABSTAINED} for s in scored) / n, 4),
        escalated=round(sum(s.escalated for s in scored) / n, 4),
        answered_by=dict(Counter(s.tier for s in scored)),
        reasons=dict(Counter(r for s in scored if s.escalated for r in s.reasons)),
        latency_ms=_latency([s.latency_ms for s in scored]),
        tier_latency_ms={t: _latency([s.tier_ms[t] for s in scored if t in s.tier_ms]) for t in tiers},
        by_language=_by_language(scored),
        answers=list(scored),
    )


def _by_language(scored: Sequence[Scored]) -> dict[str, dict[str, float]]:
    groups: dict[str, list[Scored]] = {}
    for s in scored:
        groups.setdefault(detect_language(s.question), []).append(s)
    return {
        language: {
            "questions": len(items),
            "exact_match": round(sum(s.exact_match for s in items) / len(items), 4),
            "f1": round(sum(s.f1 for s in items) / len(items), 4),
            "containment": round(sum(s.contains for s in items) / len(items), 4),
        }
        for language, items in sorted(groups.items())
    }


def evaluate_answers(
    items: Sequence[QAItem],
    configurations: dict[str, Callable[[str], Answer]],
    progress: Callable[[int], None] = lambda done: None,
) -> list[ConfigResult]:
    """Ask every question of `items` in every configuration (question by question, so that a noisy machine
    slows all configurations alike) and score the answers."""
    scored: dict[str, list[Scored]] = {name: [] for name in configurations}
    done = 0
    names = list(configurations)
    for number, item in enumerate(items):
        # The order turns question by question: a model server caches the prompt it just saw, which would
        # otherwise always favour the configuration asked second.
        for name in names[number % len(names) :] + names[: number % len(names)]:
            ask = configurations[name]
            started = time.perf_counter()
            answer = ask(item.question)
            scored[name].append(score(item, answer, (time.perf_counter() - started) * 1000))
            done += 1
            progress(done)
    return [summarize(name, results) for name, results in scored.items()]


def table_rows(results: Iterable[ConfigResult]) -> list[list[str]]:
    """One row per configuration, then one per question language when there are several."""
    rows = []
    for r in results:
        rows.append(
            [
                r.name,
                f"{r.exact_match:.3f}",
                f"{r.f1:.3f}",
                f"{r.containment:.3f}",
                f"{r.abstention:.0%}",
                f"{r.escalated:.0%}",
                f"{r.latency_ms.get('p50', 0):.0f}",
                f"{r.latency_ms.get('p95', 0):.0f}",
            ]
        )
        if len(r.by_language) > 1:
            for language, m in r.by_language.items():
                rows.append(
                    [
                        f"  {language} ({m['questions']:.0f})",
                        f"{m['exact_match']:.3f}",
                        f"{m['f1']:.3f}",
                        f"{m['containment']:.3f}",
                        "",
                        "",
                        "",
                        "",
                    ]
                )
    return rows


def tier_lines(results: Iterable[ConfigResult]) -> list[str]:
    """Generation latency per tier, one line per configuration."""
    return [
        f"{r.name}: "
        + ", ".join(
            f"{t} mean {v.get('mean', 0):.0f} ms, p95 {v.get('p95', 0):.0f} ms ({v['n']} answers)"
            for t, v in r.tier_latency_ms.items()
        )
        for r in results
        if r.tier_latency_ms
    ]


TABLE_COLUMNS = ["config", "EM", "F1", "contains", "abstained", "escalated", "p50 ms", "p95 ms"]
