"""Understanding a question before retrieval: a plan of what to search for and how to answer.

A plan holds the standalone query (a follow-up rewritten with its conversation), the language, the question's
type and, for a multi-part question or a comparison, the sub-questions that are retrieved separately and merged.
Chit-chat and out-of-scope questions are answered without retrieval.

Two planners make the same `Plan`:

- `RulePlanner`: patterns in English and Chinese, no model call (microseconds). It is the planner of the CPU
  model, which is too small to follow a planning prompt, and the fallback of the model planner. It is careful
  about the types that skip retrieval: only an unmistakable greeting or request (a poem, a joke, sums) qualifies,
  because a document question mistaken for chit-chat loses its answer, while the reverse costs one search.
- `ModelPlanner`: one short completion of the small model asked for a JSON plan (a 4B model follows that
  reliably, in ~100-300 ms on vLLM). Whatever it returns is validated; anything unusable falls back to the rules.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Protocol

from answer.deadline import NO_DEADLINE, Deadline
from answer.generation import ChatMessage, Generator
from answer.prompts import CHIT_CHAT_REPLY, OUT_OF_SCOPE_REPLY, PLAN_PROMPT, THANKS_REPLY
from retrieval.errors import GeneratorUnavailableError
from retrieval.terms import detect_language, terms

log = logging.getLogger("docent.planner")


class QuestionType(StrEnum):
    LOOKUP = "lookup"  # a fact the documents may hold
    COMPARISON = "comparison"  # two or more things set against each other
    MULTI_PART = "multi_part"  # several questions in one
    SUMMARISATION = "summarisation"  # an overview of a document or topic
    CHIT_CHAT = "chit_chat"  # greetings, thanks, questions about the assistant
    OUT_OF_SCOPE = "out_of_scope"  # what no company document answers (a poem, a joke, arithmetic)


NO_RETRIEVAL = frozenset({QuestionType.CHIT_CHAT, QuestionType.OUT_OF_SCOPE})
MAX_SUB_QUESTIONS = 4


@dataclass(frozen=True, slots=True)
class Plan:
    query: str  # the standalone question that is searched
    language: str  # "en", "zh", ...
    type: QuestionType
    sub_questions: tuple[str, ...] = ()  # searched separately and merged (multi-part, comparison)
    planner: str = "rules"  # "rules" | "model" | "rules (model failed)"

    @property
    def needs_retrieval(self) -> bool:
        return self.type not in NO_RETRIEVAL

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class Planner(Protocol):
    """Turns a question (and its conversation) into a `Plan`. `rewrites`: whether it also makes a follow-up
    standalone (else the caller condenses the question first and passes no conversation)."""

    rewrites: bool

    def plan(
        self, question: str, conversation: Sequence[ChatMessage] = (), *, deadline: Deadline = NO_DEADLINE
    ) -> Plan: ...


# -- rules -------------------------------------------------------------------------------------------------------

_CHIT_CHAT = [
    re.compile(r"^(hi|hello|hey|hiya|howdy|yo|good (morning|afternoon|evening|day)|greetings)( there)?( docent)?$"),
    re.compile(r"^(many )?(thanks|thank you|thx|ty|cheers)( (so|very) much| a lot)?( docent)?$"),
    re.compile(r"^(bye|goodbye|see you|see ya|good night|ok|okay|cool|great|nice|awesome|got it)( thanks)?$"),
    re.compile(
        r"^(who|what) are you$|^how are you( doing| today)?$|^what can you do$|^what is your name$"
        r"|^(can|could) you help( me)?$|^are you (a bot|an ai|human)$"
    ),
    re.compile(
        r"^(你好|您好|嗨|哈喽|早上好|下午好|晚上好|谢谢|谢谢你|多谢|非常感谢|再见|拜拜|好的|明白了|收到)(呀|啊|啦)?$"
    ),
    re.compile(r"^(你是谁|你叫什么(名字)?|你能做什么|你会什么|你可以做什么|你好吗)(呀|啊)?$"),
]
_OUT_OF_SCOPE = [
    re.compile(
        r"^(please )?(write|compose|make up|create) (me )?(a |an )?(short |funny )?"
        r"(poem|haiku|limerick|song|story|joke|rap|sonnet)\b"
    ),
    re.compile(r"^(tell|give) me (a |another )?(joke|riddle|fun fact)\b"),
    re.compile(r"^(what is |what's |calculate |compute |how much is )?[\d\s.,]+([-+*/×÷^][\d\s.,()]+)+=?$"),
    re.compile(r"^what('s| is) the weather\b|^will it rain\b"),
    re.compile(r"^(请)?(给我)?(写|作|编)(一)?(首|篇|个|段)[^，。？]{0,20}?(诗|歌|故事|笑话)|^讲(一)?个笑话|^今天天气"),
]
_COMPARISON = re.compile(
    r"\b(compare|comparison|compared|difference|differences|differ|differs|versus|vs\.?|better than|worse than)\b"
    r"|\bwhich (is|one is|has) (better|cheaper|faster|larger|bigger|higher|lower|longer|shorter|more|less)\b"
    r"|(和|与|跟|同).{1,30}(比较|对比)|^(比较|对比)|区别|不同之处|有何不同|有什么不同|差异|相比|哪个更|还是.*[？?]$"
)
_SUMMARY = re.compile(
    r"\b(summari[sz]e|summari[sz]ing|summary|overview|outline|tl;?dr|key points|main points|recap|gist)\b"
    r"|^(what is|what's) in (the|this)\b|总结|概述|概括|摘要|要点|主要内容|讲了什么|说了什么"
)
_BETWEEN = re.compile(r"\bbetween (.+?) and (.+?)(?:[?.!]|$)", re.IGNORECASE)
_VERSUS = re.compile(r"(.+?)\s+(?:vs\.?|versus|compared (?:to|with))\s+(.+?)(?:[?.!]|$)", re.IGNORECASE)
_ZH_SIDES = re.compile(
    r"([^，,。？?]{1,30}?)(?:和|与|跟)([^，,。？?]{1,30}?)(?:的)?"
    r"(?:有什么区别|有何区别|有什么不同|有何不同|的区别|区别|比较|对比|差异|相比)"
)
_PARTS = re.compile(
    r"(?<=[?？;；])\s*|\s+(?:and also|as well as|also|and)\s+(?=(?:what|which|who|whom|when|where|"
    r"how|why|is|are|does|do|did|can|should|must)\b)",
    re.IGNORECASE,
)


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[!?.,;:~。！？，；：～…]+", " ", text.lower())).strip()


def _parts(question: str) -> list[str]:
    """The question split into its separate questions (only the ones with something to search for)."""
    pieces = [p.strip(" ,，、") for p in _PARTS.split(question) if p and p.strip(" ,，、")]
    return [p for p in pieces if len(list(terms(p))) >= 2]


def _sides(question: str) -> list[str]:
    """The things a comparison sets against each other, when they can be told apart."""
    for pattern in (_BETWEEN, _VERSUS, _ZH_SIDES):
        match = pattern.search(question)
        if match:
            sides = [
                re.sub(r"^(compare|comparing)\s+", "", s.strip(" ,，、的"), flags=re.IGNORECASE) for s in match.groups()
            ]
            # A side of one English word ("the domestic") searches for noise; Chinese words carry more.
            least = 1 if detect_language(question) == "zh" else 2
            if all(len(list(terms(s))) >= least for s in sides):
                return sides
    return []


class RulePlanner:
    """Patterns, no model: the CPU model's planner and the model planner's fallback."""

    rewrites = False

    def plan(
        self, question: str, conversation: Sequence[ChatMessage] = (), *, deadline: Deadline = NO_DEADLINE
    ) -> Plan:
        text = question.strip()
        language = detect_language(text)
        normal = _normal(text)
        if len(normal) <= 60 and any(p.search(normal) for p in _CHIT_CHAT):
            return Plan(text, language, QuestionType.CHIT_CHAT)
        if len(normal) <= 120 and any(p.search(normal) for p in _OUT_OF_SCOPE):
            return Plan(text, language, QuestionType.OUT_OF_SCOPE)
        if _COMPARISON.search(text.lower()):
            sides = tuple(_sides(text))  # searched next to the whole question
            return Plan(text, language, QuestionType.COMPARISON, sides[:MAX_SUB_QUESTIONS])
        parts = _parts(text)
        if len(parts) >= 2:
            return Plan(text, language, QuestionType.MULTI_PART, tuple(parts[:MAX_SUB_QUESTIONS]))
        if _SUMMARY.search(text.lower()):
            return Plan(text, language, QuestionType.SUMMARISATION)
        return Plan(text, language, QuestionType.LOOKUP)


# -- the model ---------------------------------------------------------------------------------------------------


def _first_json_object(text: str) -> dict[str, object] | None:
    start, end = text.find("{"), text.rfind("}")
    if start == -1 or end <= start:
        return None
    try:
        data = json.loads(text[start : end + 1])
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


class ModelPlanner:
    """The small model writes the plan; the rules stand in when it fails or answers nonsense."""

    rewrites = True

    def __init__(
        self,
        generator: Generator,
        *,
        fallback: RulePlanner | None = None,
        max_tokens: int = 200,
        condense: Callable[[str, Sequence[ChatMessage]], str] | None = None,
    ) -> None:
        self.generator = generator
        self.fallback = fallback or RulePlanner()
        self.max_tokens = max_tokens
        # What makes a follow-up standalone when the model fails (default: the previous question prepended).
        self.condense = condense or _prepend_previous

    def plan(
        self, question: str, conversation: Sequence[ChatMessage] = (), *, deadline: Deadline = NO_DEADLINE
    ) -> Plan:
        text = question.strip()
        earlier = [m for m in conversation if m.role in {"user", "assistant"} and m.content.strip()]
        turns = "\n".join(f"{m.role.capitalize()}: {m.content.strip()[:500]}" for m in earlier[-6:])
        user = (f"Conversation:\n{turns}\n\n" if turns else "") + f"Last question: {text}"
        messages = [ChatMessage("system", PLAN_PROMPT), ChatMessage("user", user)]
        try:
            reply = self.generator.complete(messages, max_tokens=self.max_tokens, deadline=deadline).text
        except GeneratorUnavailableError as exc:
            log.warning("the planner's model failed, planning by rules: %s", exc.message)
            return replace(self.fallback.plan(self.condense(text, earlier)), planner="rules (model failed)")
        plan = self._parse(reply, text)
        if plan is None:
            log.info("the planner's reply was unusable, planning by rules: %r", reply[:200])
            return replace(self.fallback.plan(self.condense(text, earlier)), planner="rules (model failed)")
        return plan

    def _parse(self, reply: str, question: str) -> Plan | None:
        data = _first_json_object(reply)
        if data is None:
            return None
        try:
            kind = QuestionType(str(data.get("type", "lookup")).strip().lower().replace("-", "_"))
        except ValueError:
            kind = QuestionType.LOOKUP
        query = str(data.get("query") or "").strip() or question
        if len(query) > 3 * len(question) + 300:  # a rewrite that wandered off
            query = question
        language = str(data.get("language") or "").strip().lower()[:5] or detect_language(question)
        if language not in {"en", "zh"} or language != detect_language(query):
            language = detect_language(query)  # the tokenizer's choice must follow the text searched
        raw = data.get("sub_questions") or []
        subs = tuple(str(s).strip() for s in raw if str(s).strip())[:MAX_SUB_QUESTIONS] if isinstance(raw, list) else ()
        if kind is QuestionType.MULTI_PART and len(subs) < 2:
            kind, subs = QuestionType.LOOKUP, ()
        if kind not in {QuestionType.MULTI_PART, QuestionType.COMPARISON}:
            subs = ()
        return Plan(query, language, kind, subs, planner="model")


def _prepend_previous(question: str, conversation: Sequence[ChatMessage]) -> str:
    previous = next((m.content for m in reversed(conversation) if m.role == "user"), "")
    return f"{previous} {question}".strip() if previous else question


# -- answers without retrieval -----------------------------------------------------------------------------------

_THANKS = re.compile(r"thank|thanks|thx|cheers|谢")


def canned_reply(plan: Plan) -> str:
    lang = plan.language if plan.language in CHIT_CHAT_REPLY else "en"
    if plan.type is QuestionType.OUT_OF_SCOPE:
        return OUT_OF_SCOPE_REPLY[lang]
    return THANKS_REPLY[lang] if _THANKS.search(plan.query.lower()) else CHIT_CHAT_REPLY[lang]
