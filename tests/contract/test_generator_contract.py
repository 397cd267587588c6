"""One contract, every generator: the in-memory scripted model the unit tests use, the OpenAI-compatible client
against a real HTTP server speaking the protocol (tests/support/openai_stub.py), and the in-process llama.cpp model (the
packaged SmolLM2). What the answerer relies on: whole and streamed answers agree at temperature 0, tokens are
counted, the token cap and the deadline are honoured, a cancelled answer stops, and a stream closed early gives
its turn back. The failure modes of real servers (refused, hung, killed mid-stream) are in
tests/integration/test_generation.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from answer.deadline import AnswerCancelled, Deadline
from answer.generation import ChatMessage, Generator, OpenAICompatibleGenerator
from answer.local_model import LlamaCppGenerator, packaged_model_path
from retrieval.errors import GeneratorTimeoutError
from tests.support.fakes import ScriptedGenerator
from tests.support.openai_stub import OpenAIStub

QUESTION = [ChatMessage("system", "You answer in one short sentence."), ChatMessage("user", "What colour is the sky?")]
REPLY = "The sky is blue on a clear day, because air scatters blue light the most."


@pytest.fixture(
    scope="module", params=["scripted", "openai-compatible", pytest.param("llama.cpp", marks=pytest.mark.slow)]
)
def generator(request) -> Iterator[Generator]:
    if request.param == "scripted":
        yield ScriptedGenerator(REPLY)
    elif request.param == "openai-compatible":
        with OpenAIStub() as stub:
            stub.script.reply = lambda messages: REPLY
            client = OpenAICompatibleGenerator(
                stub.url, "stub-model", connect_timeout_s=1, read_timeout_s=10, retries=0, context_length=4096
            )
            yield client
            client.close()
    else:
        local = LlamaCppGenerator(packaged_model_path(), context_length=1024, threads=1)
        local.start()
        yield local
        local.close()


def test_whole_and_streamed_answers_agree_at_temperature_zero(generator):
    whole = generator.complete(QUESTION, max_tokens=24)
    assert whole.text.strip() and whole.model and whole.finish_reason in {"stop", "length"}
    pieces = list(generator.stream(QUESTION, max_tokens=24))
    assert len(pieces) > 1 and "".join(pieces) == whole.text


def test_tokens_are_counted_one_number_per_text(generator):
    short, long = generator.count_tokens(["sky", "The sky is blue on a clear day, 天空是蓝色的。"])
    assert 0 < short < long
    assert generator.count_tokens([]) == []
    assert generator.context_length > 0


def test_the_token_cap_is_honoured(generator):
    capped = generator.complete(QUESTION, max_tokens=3)
    assert capped.finish_reason == "length" or generator.count_tokens([capped.text])[0] <= 3 + 1


def test_a_cancelled_deadline_stops_the_answer(generator):
    deadline = Deadline(60)
    deadline.cancel()
    with pytest.raises(AnswerCancelled):
        generator.complete(QUESTION, max_tokens=8, deadline=deadline)
    with pytest.raises(AnswerCancelled):
        list(generator.stream(QUESTION, max_tokens=8, deadline=deadline))


def test_a_passed_deadline_is_a_timeout(generator):
    with pytest.raises(GeneratorTimeoutError):
        generator.complete(QUESTION, max_tokens=8, deadline=Deadline(0))


def test_a_stream_closed_early_gives_its_turn_back(generator):
    for _ in range(3):  # the in-process model has one turn: a turn not given back would block the next call
        stream = generator.stream(QUESTION, max_tokens=24)
        next(stream)
        stream.close()
    assert generator.complete(QUESTION, max_tokens=8, deadline=Deadline(60)).text.strip()
