"""Small model first: which tier answers, and when an answer is handed on to a larger one.

The first tier is the small model (vLLM's ~4B model, or the local CPU model); further tiers are larger models
behind any OpenAI-compatible endpoint. After a tier answers, `EscalationPolicy.reasons` looks at the evidence:

- retrieval confidence: the best passage's dense cosine, its fused hybrid score, and the cross-encoder's score
  when reranking is on;
- the grounding check (`answer.grounding`): the share of unsupported sentences, and an answer citing nothing;
- the small model saying "not in the documents" while retrieval found strong evidence (a missed answer);
- the question's type and the answer's length against it (a summary of ten words), or an answer cut off by
  the token cap;
- the tier failing (down, timed out);
- the answer failing `AnswerChecks` (empty, in the other language, looping, cut off, carrying markup, mostly
  unsupported, or stating a number or a host name that no passage contains).

The last rung is the extractive answer: a generated answer that fails `AnswerChecks` and cannot be handed on
is replaced by the passages' own sentences (`route.tier = "extractive"`, the discarded text in the report).

Any reason hands the *same packed context* (the same messages) to the next tier, if the escalation budget allows:
a token bucket per minute for the whole process and one per caller, so one user cannot turn the small-model
service into an expensive one. When the budget is spent, the small model's answer stands and says so.
The defaults are tuned on data in `bench/routing.py` (see bench/README.md, "Routing"); the dense and fused
thresholds belong to the default embedding models and DBSF fusion, like the abstention thresholds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Protocol

from answer.generation import Generator
from answer.planner import QuestionType


@dataclass(slots=True)
class Tier:
    """One model the answerer may use: its name in the `route`, the generator and how it is asked."""

    name: str
    generator: Generator
    max_answer_tokens: int = 512
    stop: tuple[str, ...] = ()


class Reason:
    """Why an answer was handed on (the codes in `route.reasons` and the metrics' `reason` label)."""

    FAILED = "tier_failed"  # the tier was down or timed out
    LOW_CONFIDENCE = "low_retrieval_confidence"
    UNSUPPORTED = "unsupported_sentences"
    UNCITED = "no_citations"
    MISSED = "missed_answer"  # "not in the documents" although retrieval was confident
    SHORT = "short_for_type"
    TRUNCATED = "truncated"
    TYPE = "question_type"
    # The answer itself failed a check (`AnswerChecks`): the next tier, or else the extractive answer.
    EMPTY = "empty_answer"
    LANGUAGE = "wrong_language"
    REPEATED = "repeats_itself"
    MARKUP = "markup"
    INVENTED = "invented_facts"  # a number or a name in the answer that no passage contains


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the policy decides on, gathered from one tier's answer."""

    question_type: QuestionType
    language: str
    best_dense: float | None  # the best passage's dense cosine
    best_rerank: float | None  # the best cross-encoder score (None: no reranking)
    sentences: int  # sentences in the answer
    unsupported: int  # of them, not supported by their passages (across languages: by the multilingual cosine)
    cited: bool  # the answer cites passages as [n]
    not_found: bool  # the tier said the documents do not contain the answer
    words: int  # the answer's length in terms (CJK words count one each)
    truncated: bool  # stopped by the token cap
    best_fused: float | None = None  # the best hybrid score (retrieval.fusion)
    han_share: float | None = None  # of the answer's letters, the share of Chinese characters (None: no letters)
    letters: int = 0  # letters in the answer
    repeated: float = 0.0  # the share of the answer's term trigrams that occur earlier in it
    markup: bool = False  # the model wrote HTML or Slack markup (removed)
    across: bool = False  # the passages are in the other language than the question
    support_measured: bool = True  # False: passages in the other language and no multilingual model to judge
    invented: int = 0  # numbers and dotted names in the answer that no passage (nor the question) contains


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    """Thresholds of the escalation decision; `None`, an empty value or 1.0 (`max_unsupported`) switches a signal
    off. The defaults are the policy `bench/routing.py` chose: the most accurate that hands on at most 30% of
    the questions (bench/README.md, "Routing")."""

    # Below this best dense cosine (but above the abstention threshold) retrieval is a weak match.
    min_confidence: dict[str, float] = field(default_factory=lambda: {"en": 0.6, "zh": 0.3})
    min_rerank: float | None = None  # below this cross-encoder score (only when reranking is on)
    min_fused: float | None = 1.1  # below this best fused hybrid score (a mean of normalised list scores)
    max_unsupported: float = 1.0  # the largest share of unsupported sentences an answer may keep
    escalate_uncited: bool = False  # an answer that cites no passage
    # "not found" from the tier while the best passage's cosine is at least this: a missed answer.
    missed_above: dict[str, float] = field(default_factory=dict)
    # The fewest words an answer of each type should have (a summary or a comparison in five words is not one).
    min_words: dict[str, int] = field(
        default_factory=lambda: {
            QuestionType.SUMMARISATION.value: 25,
            QuestionType.COMPARISON.value: 8,
            QuestionType.MULTI_PART.value: 6,
        }
    )
    escalate_truncated: bool = False  # an answer stopped by the token cap
    always: tuple[str, ...] = ()  # question types always handed on (e.g. "summarisation")

    def reasons(self, e: Evidence) -> list[str]:
        """Why this answer should go to the next tier; empty when it stands."""
        found: list[str] = []
        kind = e.question_type.value
        if kind in self.always:
            found.append(Reason.TYPE)
        if e.not_found:
            missed = self.missed_above.get(e.language, self.missed_above.get("en"))
            if missed is not None and e.best_dense is not None and e.best_dense >= missed:
                found.append(Reason.MISSED)
            return found  # an honest "not found" on weak evidence stands
        confidence = self.min_confidence.get(e.language, self.min_confidence.get("en", 0.0))
        if e.best_dense is not None and e.best_dense < confidence:
            found.append(Reason.LOW_CONFIDENCE)
        if self.min_rerank is not None and e.best_rerank is not None and e.best_rerank < self.min_rerank:
            found.append(Reason.LOW_CONFIDENCE)
        if self.min_fused is not None and e.best_fused is not None and e.best_fused < self.min_fused:
            found.append(Reason.LOW_CONFIDENCE)
        if (
            e.support_measured
            and e.sentences
            and self.max_unsupported < 1.0
            and e.unsupported / e.sentences > self.max_unsupported
        ):
            found.append(Reason.UNSUPPORTED)
        if self.escalate_uncited and not e.cited:
            found.append(Reason.UNCITED)
        if e.words < self.min_words.get(kind, 0):
            found.append(Reason.SHORT)
        if self.escalate_truncated and e.truncated:
            found.append(Reason.TRUNCATED)
        return list(dict.fromkeys(found))


@dataclass(frozen=True, slots=True)
class AnswerChecks:
    """When a generated answer is not fit to show: the checks of the answering ladder's last rung. A failed
    answer goes to the next tier when one is configured and within budget, else the extractive answer (the
    passages' own sentences) replaces it. Chosen with `bench/routing.py` (bench/README.md, "Routing")."""

    max_unsupported: float = 0.34  # above this share of unsupported sentences
    min_han_share: float = 0.2  # a Chinese question's answer with fewer Chinese characters is in English
    max_han_share: float = 0.5  # an English question's answer with more is in Chinese
    min_letters: int = 8  # the language of a shorter answer (a number, a name) is not judged
    max_repeated: float = 0.4  # above this share of repeated term trigrams (a model looping)
    truncated: bool = True  # an answer stopped by the token cap is cut off
    markup: bool = True  # an answer that carried markup (removed, but a sign the model followed a document)
    empty: bool = True  # an answer with no words left after the clean-up
    max_invented: int | None = 0  # numbers or dotted names found in no passage (None: not checked)
    # A sentence whose words the passages lack is still supported when its multilingual cosine to a sentence of
    # the passages it cites, written in the other language, reaches this (`bench/support.py`: 0.94 of true
    # sentences kept and 0.90 of invented caught for Chinese answers over English passages; 0.73 and 0.94 for
    # English answers, short ones, over Chinese).
    min_cosine_across: float = 0.53
    # A sentence this close to one in the other language translates it, and its names may be spelt otherwise
    # there: they are not counted as invented. `bench/support.py` chose it: the lowest on its grid at which the
    # names rule costs faithful translations nothing measurable (the worse direction's balanced accuracy 0.832,
    # as without the rule; counting the names of every sentence drops it to 0.634, English answers over Chinese
    # passages keeping 0.29 of faithful sentences instead of 0.73).
    min_cosine_translation: float = 0.55

    def failures(self, e: Evidence) -> list[str]:
        """Why the answer must not be shown; empty when it may."""
        if e.not_found:
            return []
        found = []
        if self.empty and e.words == 0:
            found.append(Reason.EMPTY)
        if (
            e.han_share is not None
            and e.letters >= self.min_letters
            and (
                (e.language == "zh" and e.han_share < self.min_han_share)
                or (e.language != "zh" and e.han_share > self.max_han_share)
            )
        ):
            found.append(Reason.LANGUAGE)
        if e.repeated > self.max_repeated:
            found.append(Reason.REPEATED)
        if self.truncated and e.truncated:
            found.append(Reason.TRUNCATED)
        if self.markup and e.markup:
            found.append(Reason.MARKUP)
        if e.support_measured and e.sentences and e.unsupported / e.sentences > self.max_unsupported:
            found.append(Reason.UNSUPPORTED)
        if self.max_invented is not None and e.invented > self.max_invented:
            found.append(Reason.INVENTED)
        return found


NO_CHECKS = AnswerChecks(
    max_unsupported=1.0,
    min_han_share=0.0,
    max_han_share=1.0,
    max_repeated=1.0,
    truncated=False,
    markup=False,
    empty=False,
    max_invented=None,
)


class Budget(Protocol):
    """Spends escalations: `take(caller)` is None when one is allowed (and spent), else the name of the spent
    budget, "global" or "caller". Thread-safe. `EscalationBudget` keeps it in this process; with Redis, the
    server's shared budget (`serve/stores/shared_limits.py`) keeps it for all API replicas together."""

    def take(self, caller: str) -> str | None: ...


class EscalationBudget:
    """Escalations allowed per minute: a token bucket for the process and one per caller (API key).

    Buckets hold a minute's worth and refill continuously; idle callers' full buckets are forgotten. In one
    process: each API replica enforces its share (the shared budget falls back to this one without Redis)."""

    def __init__(
        self,
        per_minute: int | None,
        per_caller_per_minute: int | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_callers: int = 100_000,
    ) -> None:
        self.per_minute = per_minute
        self.per_caller = per_caller_per_minute
        self.clock = clock
        self.max_callers = max_callers
        self._global: tuple[float, float] | None = None
        self._callers: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _refill(bucket: tuple[float, float] | None, size: int, now: float) -> float:
        if bucket is None:
            return float(size)
        tokens, at = bucket
        return min(float(size), tokens + (now - at) * size / 60.0)

    def take(self, caller: str) -> str | None:
        """Spend one escalation for `caller`; None when allowed, else which budget is spent ("global"/"caller")."""
        now = self.clock()
        with self._lock:
            g = self._refill(self._global, self.per_minute, now) if self.per_minute is not None else None
            per_caller = self.per_caller
            c = self._refill(self._callers.get(caller), per_caller, now) if per_caller is not None else None
            if g is not None and g < 1.0:
                return "global"
            if c is not None and c < 1.0:
                return "caller"
            if g is not None:
                self._global = (g - 1.0, now)
            if c is not None and per_caller is not None:
                if len(self._callers) >= self.max_callers and caller not in self._callers:
                    self._callers = {
                        k: v for k, v in self._callers.items() if self._refill(v, per_caller, now) < per_caller
                    }
                self._callers[caller] = (c - 1.0, now)
            return None


@dataclass(slots=True)
class Route:
    """Which tier answered and why: the `route` of an answer."""

    tier: str  # the tier whose answer this is
    model: str | None
    tiers: list[str]  # the tiers that were asked, in order
    escalated: bool = False
    reasons: list[str] = field(default_factory=list)  # why the small tier's answer was handed on
    budget_exhausted: str | None = None  # "global" | "caller": escalation was due but refused
    failed: list[str] = field(default_factory=list)  # tiers that were asked and failed (down, timed out)
    evidence: dict[str, object] = field(default_factory=dict)  # what the decision on the small tier's answer saw
    timings_ms: dict[str, float] = field(default_factory=dict)  # generation time per tier
    plan: dict[str, object] = field(default_factory=dict)
    failed_checks: list[str] = field(default_factory=list)  # what the answer failed (`AnswerChecks`)
    # The generated text an extractive answer replaced (tier "extractive"): for reports and logs, never shown.
    discarded: str | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)
