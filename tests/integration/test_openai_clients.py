"""OpenAI's clients against the real app: the `openai` SDK's model and legacy completion calls, LlamaIndex's
`OpenAILike` with its defaults (legacy completions) and as a chat model, LangChain's `ChatOpenAI`, and the 400
that a request Docent cannot honour gets instead of an answer of the wrong shape."""

from __future__ import annotations

import openai
import pytest
from langchain_openai import ChatOpenAI
from llama_index.llms.openai_like import OpenAILike

from answer.generation import OpenAICompatibleGenerator
from answer.routing import NO_CHECKS
from tests.integration.test_answer_api import HR_QUESTION, build_client, stub  # noqa: F401 - fixture
from tests.integration.test_api import corpus, keys  # noqa: F401 - fixtures

ANSWER = "The one-time home office stipend is 500 dollars [1]."


@pytest.fixture
def client(keys, retriever, edge_index, stub):
    """The app over an empty index: enough for what is refused before retrieval."""
    stub.script.reply = lambda messages: ANSWER
    generator = OpenAICompatibleGenerator(stub.url, "stub")
    with build_client(retriever, edge_index, keys["store"], generator, checks=NO_CHECKS) as client:
        yield client


@pytest.fixture
def sdk(client, keys):
    return openai.OpenAI(base_url="http://testserver/v1", api_key=keys["hr"], http_client=client, max_retries=0)


def test_a_model_is_retrieved_by_id_and_an_unknown_id_is_a_404_in_openais_shape(sdk, client, keys):
    assert sdk.models.retrieve("docent").id == "docent"
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("gpt-4o")
    body = client.get("/v1/models/gpt-4o", headers={"Authorization": f"Bearer {keys['hr']}"}).json()
    assert body["error"]["type"] == "invalid_request_error" and body["error"]["code"] == "model_not_found"


REFUSED = [
    {"n": 2},
    {"tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]},
    {"tool_choice": "required"},
    {"functions": [{"name": "lookup", "parameters": {"type": "object"}}]},
    {"response_format": {"type": "json_object"}},
]


def test_what_docent_cannot_honour_is_a_400_not_ignored(sdk, stub):
    for asked in REFUSED:
        with pytest.raises(openai.BadRequestError) as refused:
            sdk.chat.completions.create(model="docent", messages=[{"role": "user", "content": HR_QUESTION}], **asked)
        assert refused.value.body["code"] == "config_invalid"
        assert next(iter(asked)).split("_choice")[0] in refused.value.body["message"]
    for asked in ({"n": 3}, {"echo": True}, {"suffix": "end"}):
        with pytest.raises(openai.BadRequestError):
            sdk.completions.create(model="docent", prompt=HR_QUESTION, **asked)
    with pytest.raises(openai.BadRequestError):
        sdk.completions.create(model="docent", prompt=[HR_QUESTION, HR_QUESTION])
    assert not stub.script.requests  # refused before any answering


def test_openai_llamaindex_and_langchain_clients_get_answers(corpus, client, keys, sdk):
    """What Docent can honour is answered (`n: 1`, text, no tools); the legacy completions that LlamaIndex's
    `OpenAILike` calls with its defaults answer the prompt, whole and streamed; LangChain's chat model works."""
    from llama_index.core.llms import ChatMessage

    completion = sdk.chat.completions.create(
        model="docent",
        messages=[{"role": "user", "content": HR_QUESTION}],
        n=1,
        response_format={"type": "text"},
        tools=[],
        temperature=0.7,
    )
    assert completion.choices[0].message.content.startswith(ANSWER)

    legacy = sdk.completions.create(model="docent", prompt=HR_QUESTION)
    text = legacy.choices[0].text
    assert legacy.object == "text_completion" and text.startswith(ANSWER) and "\n\nReferences:\n[1] " in text
    assert legacy.model_extra["sources"] and legacy.usage.total_tokens > 0
    streamed = list(sdk.completions.create(model="docent", prompt=HR_QUESTION, stream=True))
    assert "".join(c.choices[0].text for c in streamed) == text
    assert streamed[-1].choices[0].finish_reason == "stop"

    for chat in (False, True):  # False: OpenAILike's default, the legacy endpoint
        llm = OpenAILike(
            model="docent",
            api_base="http://testserver/v1",
            api_key=keys["hr"],
            http_client=client,
            is_chat_model=chat,
            max_retries=0,
        )
        assert llm.complete(HR_QUESTION).text == text
        assert "".join(r.delta for r in llm.stream_complete(HR_QUESTION)) == text
        assert llm.chat([ChatMessage(role="user", content=HR_QUESTION)]).message.content == text

    langchain = ChatOpenAI(
        model="docent", base_url="http://testserver/v1", api_key=keys["hr"], http_client=client, max_retries=0
    )
    assert langchain.invoke(HR_QUESTION).content == text
    assert "".join(chunk.content for chunk in langchain.stream(HR_QUESTION)) == text
