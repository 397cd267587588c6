"""Shared fixtures: the real packaged embedding model, real parser workers, real Qdrant Edge indexes."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DOCS = REPO / "examples" / "docs"
FACTS = REPO / "examples" / "facts.json"


@pytest.fixture(scope="session")
def embedder():
    from retrieval.embedding import SentenceTransformerEmbedder

    model = SentenceTransformerEmbedder()
    model.start()
    return model


@pytest.fixture(scope="session")
def multilingual_embedder():
    from retrieval.embedding import UniversalSentenceEncoder

    model = UniversalSentenceEncoder()
    model.start()
    return model


@pytest.fixture(scope="session")
def parser_pool():
    from ingest.sandbox import ParseLimits, ParserPool

    pool = ParserPool(ParseLimits(timeout_s=60))
    pool.start()
    yield pool
    pool.close()


@pytest.fixture
def sample_corpus(tmp_path) -> Path:
    """A private copy of examples/docs that a test may edit."""
    target = tmp_path / "docs"
    shutil.copytree(SAMPLE_DOCS, target)
    return target


@pytest.fixture
def edge_index(tmp_path, embedder, multilingual_embedder):
    from retrieval.edge_index import EdgeIndex
    from retrieval.models import IndexSpec

    spec = IndexSpec(
        "docent", embedder.name, embedder.dimension, multilingual_embedder.name, multilingual_embedder.dimension
    )
    index = EdgeIndex(tmp_path / "data", spec)
    index.start()
    yield index
    index.close()


@pytest.fixture
def retriever(edge_index, embedder, multilingual_embedder):
    from retrieval.search import Retriever
    from retrieval.sparse import SparseEncoder

    return Retriever(edge_index, embedder, SparseEncoder(), multilingual_embedder=multilingual_embedder)


@pytest.fixture
def pipeline(edge_index, embedder, multilingual_embedder, parser_pool):
    from ingest.chunking import Chunker
    from ingest.pipeline import IngestPipeline
    from retrieval.sparse import SparseEncoder

    return IngestPipeline(
        index=edge_index,
        embedder=embedder,
        sparse=SparseEncoder(),
        chunker=Chunker(embedder, chunk_tokens=200, overlap_tokens=40),
        parsers=parser_pool,
        multilingual_embedder=multilingual_embedder,
    )


@pytest.fixture(scope="session")
def postgres(tmp_path_factory):
    """A real PostgreSQL server for the session (Debian's binaries; tests/support/postgres_server.py)."""
    from tests.support.postgres_server import PostgresServer

    with PostgresServer(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """The relational store, migrated and empty, on each backend: SQLite in the test's folder, and a fresh
    database on the session's PostgreSQL server. A store's contract test runs against both."""
    from serve.stores.database import Database, sqlite_url

    if request.param == "sqlite":
        url = sqlite_url(tmp_path / "docent.sqlite")
    else:
        url = request.getfixturevalue("postgres").create_database(f"t{uuid.uuid4().hex[:12]}")
    db = Database(url)
    db.upgrade()
    yield db
    db.close()
