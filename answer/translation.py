"""The question in the other language, written by the model server, for the keyword side of the search.

BM25 cannot match a Chinese question against an English document: the multilingual vector carries retrieval
across languages (retrieval/fusion.py), and a translation of the question gives BM25 a query of its own in the
other language (`SearchRequest.translation`). It costs one short model turn before retrieval, so it is off by
default and measured first: `docent eval DATASET --translate` searches each query with and without it
(bench/README.md, "Query translation"). The embedded CPU model cannot translate; only a model server can.

Only Chinese ↔ English, the two languages Docent's tokenizers and abstention are calibrated for. A reply that is
not in the target language, is empty, or wandered off (far longer than the question) is dropped, and the search
goes on without it; so does a model that fails or is slow. With the multilingual model, so is a reply that does
not mean what the question means (its cosine to the question below the threshold that tells a translation from
an on-topic invention, `bench/support.py`): a small model asked to translate "how many points did the defence
give up?" answers "10 points.", in the right language and useless to BM25.
"""

from __future__ import annotations

import logging
import re

import numpy as np

from answer.deadline import NO_DEADLINE, Deadline
from answer.generation import ChatMessage, Generator
from answer.prompts import TRANSLATE_PROMPT
from retrieval.errors import GeneratorUnavailableError
from retrieval.search import QueryEmbedder
from retrieval.terms import detect_language

log = logging.getLogger(__name__)

TARGET = {"zh": "en", "en": "zh"}
_LABEL = re.compile(r"^(?:translation|english|chinese|译文|翻译|中文|英文)\s*[:：]\s*", re.IGNORECASE)
_QUOTES = "\"'“”‘’「」『』"


class QueryTranslator:
    """Translates a question into the other language with one short model turn."""

    def __init__(
        self,
        generator: Generator,
        *,
        embed: QueryEmbedder | None = None,
        min_cosine: float = 0.53,
        max_tokens: int = 96,
        turn_s: float = 5.0,
    ) -> None:
        self.generator = generator
        self.embed = embed  # the multilingual model: does the reply mean what the question means?
        self.min_cosine = min_cosine
        self.max_tokens = max_tokens
        self.turn_s = turn_s  # a translation later than this is not worth the wait: search without it

    def translate(self, question: str, *, deadline: Deadline = NO_DEADLINE) -> str | None:
        """`question` in the other language, or None when there is no usable translation."""
        source = detect_language(question)
        target = TARGET.get(source)
        if target is None or not question.strip():
            return None
        messages = [ChatMessage("system", TRANSLATE_PROMPT[target]), ChatMessage("user", question.strip())]
        try:
            reply = self.generator.complete(
                messages, max_tokens=self.max_tokens, deadline=deadline.capped(self.turn_s)
            ).text
        except GeneratorUnavailableError as exc:
            log.info("no translation of the question: %s", exc.message)
            return None
        translation = usable(reply, question, target)
        if translation is not None and self.embed is not None:
            cosine = float(np.dot(self.embed.embed_query(question), self.embed.embed_query(translation)))
            if cosine < self.min_cosine:
                log.info("the model's translation %r does not mean the question (cosine %.2f)", translation, cosine)
                return None
        return translation


def usable(reply: str, question: str, target: str) -> str | None:
    """The translation in `reply`, or None: its first non-empty line, without a label or quotes, in `target`."""
    line = next((ln.strip() for ln in reply.splitlines() if ln.strip()), "")
    line = _LABEL.sub("", line).strip().strip(_QUOTES).strip()
    if not line or len(line) > 3 * len(question) + 60 or detect_language(line) != target:
        return None
    return line
