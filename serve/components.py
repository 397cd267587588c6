"""Building Docent's parts from settings: the only place that knows which implementation a setting selects."""

from __future__ import annotations

from ingest.chunking import Chunker
from ingest.pipeline import IngestPipeline
from ingest.sandbox import ParseLimits, ParserPool
from retrieval.edge_index import EdgeIndex
from retrieval.embedding import SentenceTransformerEmbedder
from retrieval.index import Index
from retrieval.models import IndexSpec
from retrieval.qdrant_index import QdrantServerIndex
from retrieval.sparse import SparseEncoder
from serve.settings import Settings


def make_embedder(settings: Settings) -> SentenceTransformerEmbedder:
    e = settings.embedding
    return SentenceTransformerEmbedder(
        e.model,
        device=e.device,
        batch_size=e.batch_size,
        query_prefix=e.query_prefix,
        document_prefix=e.document_prefix,
        precision=e.precision,
    )


def make_index(settings: Settings, dense_size: int) -> Index:
    """Qdrant Edge under data_dir by default; a Qdrant server when DOCENT_QDRANT__URL is set."""
    spec = IndexSpec(collection=settings.collection, model=settings.embedding.model, dense_size=dense_size)
    q = settings.qdrant
    if q.url:
        api_key = q.api_key.get_secret_value() if q.api_key else None
        return QdrantServerIndex(spec, url=q.url, api_key=api_key, timeout_s=q.timeout_s)
    return EdgeIndex(settings.data_dir, spec)


def make_parsers(settings: Settings) -> ParserPool:
    i = settings.ingest
    limits = ParseLimits(timeout_s=i.parse_timeout_s, memory_mb=i.parse_memory_mb, max_file_mb=i.max_file_mb)
    return ParserPool(limits, workers=i.parse_workers)


def make_pipeline(
    settings: Settings, *, index: Index, embedder: SentenceTransformerEmbedder, parsers: ParserPool
) -> IngestPipeline:
    """The ingest pipeline; `embedder` must be started (its tokenizer and window size the chunks)."""
    # Two tokens are the model's [CLS]/[SEP]: a chunk must fit the model's window whole.
    chunk_tokens = min(settings.chunking.tokens, embedder.max_tokens - 2)
    return IngestPipeline(
        index=index,
        embedder=embedder,
        sparse=SparseEncoder(),
        chunker=Chunker(embedder, chunk_tokens=chunk_tokens, overlap_tokens=min(settings.chunking.overlap, chunk_tokens // 2)),
        parsers=parsers,
        batch_chunks=settings.ingest.batch_chunks,
        exclude=[settings.data_dir],
    )
