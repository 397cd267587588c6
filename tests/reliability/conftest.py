"""The reliability suite: what a careless client, an attacker or a failing dependency does to Docent, and what it
must still do. Each defect found in an adversarial review has a test here that failed before its fix; the cases
that held are here too, so that they keep holding. Real models, a real index and real servers throughout."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from answer.answerer import Answerer, AnswerOptions
from answer.local_model import LlamaCppGenerator, packaged_model_path
from answer.prompts import LOCAL_STOPS
from ingest.chunking import Chunker
from ingest.pipeline import IngestPipeline
from retrieval.edge_index import EdgeIndex
from retrieval.models import IndexSpec
from retrieval.search import Retriever
from retrieval.sparse import SparseEncoder
from serve.app import create_app
from tests.conftest import SAMPLE_DOCS
from tests.integration.test_answer_api import bearer, stub  # noqa: F401 - a helper and a fixture
from tests.support.stores import key_store

HR_QUESTION = "How much is the one-time home office stipend for remote employees?"
# Makes the local model write until its token cap: long enough to be abandoned half-way.
LONG_QUESTION = "Describe the remote work policy in full detail: every rule, allowance and limit, step by step."


@dataclass
class World:
    """An index holding HR documents for group hr, IT documents for group it and a public one, its keys, and
    the parts that read and write it: what a module's tests share when they only read the corpus."""

    index: EdgeIndex
    retriever: Retriever
    pipeline: IngestPipeline
    corpus: dict[str, Path]
    keys: dict


@pytest.fixture(scope="module")
def world(tmp_path_factory, embedder, multilingual_embedder, parser_pool) -> World:
    root = tmp_path_factory.mktemp("world")
    spec = IndexSpec(
        "docent", embedder.name, embedder.dimension, multilingual_embedder.name, multilingual_embedder.dimension
    )
    index = EdgeIndex(root / "data", spec)
    index.start()
    pipeline = IngestPipeline(
        index=index,
        embedder=embedder,
        sparse=SparseEncoder(),
        parsers=parser_pool,
        chunker=Chunker(embedder, chunk_tokens=200, overlap_tokens=40),
        multilingual_embedder=multilingual_embedder,
    )
    hr, it, public = root / "corp" / "hr", root / "corp" / "it", root / "corp" / "public"
    shutil.copytree(SAMPLE_DOCS, hr, ignore=shutil.ignore_patterns("vpn-*", "password-*", "it-*", "*.pdf"))
    it.mkdir(parents=True)
    public.mkdir(parents=True)
    shutil.copy(SAMPLE_DOCS / "vpn-setup.md", it)
    shutil.copy(SAMPLE_DOCS / "password-reset-zh.html", public)
    assert pipeline.run([hr], acl=["group:hr"]).ok
    assert pipeline.run([it], acl=["group:it"]).ok
    assert pipeline.run([public], public=True).ok
    store = key_store(root)
    keys = {
        "hr": store.create("hana", ("hr",))[0],
        "it": store.create("ivan", ("it",))[0],
        "admin": store.create("root", (), role="admin")[0],
        "store": store,
    }
    retriever = Retriever(index, embedder, SparseEncoder(), multilingual_embedder=multilingual_embedder)
    yield World(index, retriever, pipeline, {"hr": hr, "it": it, "public": public}, keys)
    index.close()


@pytest.fixture(scope="module")
def local_model():
    """The embedded default's model and context length."""
    generator = LlamaCppGenerator(packaged_model_path(), context_length=1024, threads=1)
    generator.start()
    yield generator
    generator.close()


def local_options(**overrides) -> AnswerOptions:
    """The embedded default's answer settings (the CPU model's cap and stops)."""
    return AnswerOptions(**{"max_answer_tokens": 160, "stop": LOCAL_STOPS, **overrides})


def make_app(retriever, index, store, generator, *, options: AnswerOptions | None = None, checks=None, **kwargs):
    """The API over `generator`; `checks` (default: the shipped `AnswerChecks`) decide which answers the
    extractive answer replaces, NO_CHECKS shows the model's cleaned text whatever it is."""
    answerer = Answerer(retriever, generator, options or AnswerOptions(), checks=checks)
    return create_app(retriever=retriever, index=index, keys=store, answerer=answerer, generator=generator, **kwargs)


def sse_events(text: str) -> list[tuple[str, object]]:
    """(event, data) of a Server-Sent Events body; comment lines (keep-alive pings) skipped, JSON data decoded."""
    events = []
    for block in text.replace("\r\n", "\n").strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "data" in fields:
            data = fields["data"]
            events.append((fields.get("event", "message"), data if data == "[DONE]" else json.loads(data)))
    return events
