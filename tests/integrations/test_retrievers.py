"""Docent's retrievers inside the frameworks' own pipelines, against a running `docent serve`: LlamaIndex's
`RetrieverQueryEngine` with its local `MockLLM`, and a LangChain chain of runnables with a fake chat model. Both
get Docent's passages with their sources, and only what the key may read."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import ParrotFakeChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda, RunnableParallel, RunnablePassthrough
from llama_index.core import Settings
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine

from docent.integrations.langchain import DocentRetriever as LangChainRetriever
from docent.integrations.llama_index import DocentRetriever as LlamaIndexRetriever
from tests.integrations.conftest import ENG, HR
from tests.support.docent_server import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture
def offline_tokenizer():
    """LlamaIndex counts prompt tokens with tiktoken, whose vocabulary is a download: words do here."""
    before = Settings._tokenizer
    Settings.tokenizer = str.split  # type: ignore[assignment]
    yield
    Settings._tokenizer = before


def test_llama_index_query_engine_answers_from_docents_passages(server, corpus, offline_tokenizer):
    retriever = LlamaIndexRetriever(server.url, corpus.keys["hana"], k=3)
    engine = RetrieverQueryEngine.from_args(retriever, llm=MockLLM())  # MockLLM echoes its prompt
    response = engine.query("How many weeks of parental leave?")
    assert HR in str(response)  # the passage reached the model's prompt
    sources = {n.node.metadata["source"] for n in response.source_nodes}
    assert any(s.endswith("marlin-leave-policy.md") for s in sources)
    best = response.source_nodes[0]
    assert best.score is not None and best.node.metadata["title"] and best.node.metadata["document_id"]
    # Another group's key: the engineering passage never, however it asks.
    erik = RetrieverQueryEngine.from_args(LlamaIndexRetriever(server.url, corpus.keys["erik"]), llm=MockLLM())
    assert HR not in str(erik.query("How many weeks of parental leave?"))
    nodes = asyncio.run(LlamaIndexRetriever(server.url, corpus.keys["erik"]).aretrieve("Osprey build farm runners"))
    assert any(ENG in n.node.get_content() for n in nodes)


def _context(documents: list[Document]) -> str:
    return "\n".join(f"[{d.metadata['title']}] {d.page_content}" for d in documents)


def test_langchain_chain_answers_from_docents_passages(server, corpus):
    retriever = LangChainRetriever(base_url=server.url, api_key=corpus.keys["hana"], k=3)
    prompt = ChatPromptTemplate.from_messages([("human", "Context:\n{context}\n\nQuestion: {question}")])
    answer = (
        RunnablePassthrough.assign(context=lambda x: _context(x["documents"]))
        | prompt
        | ParrotFakeChatModel()  # answers with the prompt it was given
        | StrOutputParser()
    )
    chain = RunnableParallel(documents=retriever, question=RunnablePassthrough()) | RunnablePassthrough.assign(
        answer=answer
    )
    result = chain.invoke("How many weeks of parental leave?")
    assert HR in result["answer"] and "[Marlin leave policy]" in result["answer"]
    assert any(d.metadata["source"].endswith("marlin-leave-policy.md") for d in result["documents"])
    assert all(ENG not in d.page_content for d in result["documents"])
    later = asyncio.run(
        (LangChainRetriever(base_url=server.url, api_key=corpus.keys["erik"]) | RunnableLambda(_context)).ainvoke(
            "Osprey build farm runners"
        )
    )
    assert ENG in later and HR not in later


def readme_snippets() -> list[str]:
    """The Python snippets of the README's Integrations section, as written."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("\n## Integrations\n") :]
    section = section[: section.index("\n## ", 1)]
    return [block.split("```", 1)[0] for block in section.split("```python\n")[1:]]


def test_the_readmes_integration_snippets_run_as_written(
    server, corpus, tmp_path, monkeypatch, offline_tokenizer, capsys
):
    """Each snippet against this server with an admin key (it searches and uploads); `llm` and `chat_model` are
    the local fakes a reader would replace with real models."""
    snippets = readme_snippets()
    assert len(snippets) == 4, snippets
    monkeypatch.chdir(tmp_path)
    (tmp_path / "handbook.md").write_text("# Handbook\n\nThe Plover desk booking opens on Mondays.\n")
    for snippet in snippets:
        code = snippet.replace("http://127.0.0.1:8000", server.url).replace("dk_...", corpus.keys["admin"])
        exec(compile(code, "README.md", "exec"), {"llm": MockLLM(), "chat_model": ParrotFakeChatModel()})
    printed = capsys.readouterr().out
    assert "'mode': 'not_found'" in printed  # the MCP snippet's answer: no document here has the password reset
    assert "succeeded" in printed  # the client snippet's upload job
    assert "Answer from these sources" in printed and "kestrel-cafeteria.md" in printed  # the chains' sources
