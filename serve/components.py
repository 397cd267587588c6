"""Building Docent's parts from settings: the only place that knows which implementation a setting selects."""

from __future__ import annotations

import logging
import math
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from answer.answerer import Answerer, AnswerOptions
from answer.focus import Focus
from answer.generation import Generator, OpenAICompatibleGenerator
from answer.local_model import LlamaCppGenerator, packaged_model_path
from answer.planner import ModelPlanner, Planner, RulePlanner
from answer.prompts import LOCAL_STOPS
from answer.routing import NO_CHECKS, AnswerChecks, Budget, EscalationBudget, EscalationPolicy, Tier
from answer.translation import QueryTranslator
from ingest.chunking import Chunker
from ingest.jobs.queue import InProcessQueue, JobService, TaskQueue, ThreadPipelines
from ingest.jobs.store import JobStore, MemoryJobStore
from ingest.jobs.tasks import Reaper, TaskMetrics, TaskPolicy, TaskRunner
from ingest.ocr import OcrOptions, unavailable_reason
from ingest.pipeline import IngestPipeline, WriteLocks
from ingest.quarantine import Quarantine
from ingest.sandbox import ParseLimits, ParserPool
from retrieval.edge_index import EdgeIndex
from retrieval.embedding import PACKAGED_MULTILINGUAL_MODEL, SentenceTransformerEmbedder, UniversalSentenceEncoder
from retrieval.errors import ConfigError, IndexLockedError
from retrieval.fusion import Fusion
from retrieval.index import Index
from retrieval.models import IndexSpec
from retrieval.qdrant_index import QdrantServerIndex
from retrieval.rerank import CrossEncoderReranker
from retrieval.search import Retriever, SearchOptions
from retrieval.sparse import SparseEncoder
from serve.audit import AuditLog
from serve.composition import DataFiles
from serve.oidc.claims import ClaimsMapping
from serve.settings import Settings, SourceSettings
from serve.stores.database import Database
from serve.stores.feedback import FeedbackStore
from serve.stores.jobs import DatabaseJobStore
from serve.stores.ratelimit import Limiter, RateLimiter
from serve.stores.shared_limits import SharedEscalationBudget, SharedLimits, SharedRateLimiter

if TYPE_CHECKING:  # the Slack bot's modules load only when it is configured
    from ingest.sync import Source
    from serve.slack import SlackUser

log = logging.getLogger(__name__)

MultilingualModel = UniversalSentenceEncoder | SentenceTransformerEmbedder


# A serving process's model threads when DOCENT_EMBEDDING__THREADS is 0: concurrent requests each use a core,
# and a query's forward pass never waits for a second thread that another request keeps busy (on a busy 2-core
# machine MiniLM embedded a query in 145 ms on one thread, 1.5-2.3 s on two).
SERVING_THREADS = 1


def make_embedder(settings: Settings, *, serving: bool = False) -> SentenceTransformerEmbedder:
    """The main embedding model; `serving`: for a process that answers concurrent requests (see SERVING_THREADS)."""
    e = settings.embedding
    threads = e.threads or (SERVING_THREADS if serving else 0)
    if threads:
        # torch sizes its pool by the machine's cores, not the container's CPU limit: several workers on one
        # machine (or pods on one node) then fight over the cores (bench/workers.py: 2.3x slower at 2 workers).
        import torch

        torch.set_num_threads(threads)
    return SentenceTransformerEmbedder(
        e.model,
        device=e.device,
        batch_size=e.batch_size,
        query_prefix=e.query_prefix,
        document_prefix=e.document_prefix,
        precision=e.precision,
        backend=e.backend if str(e.device).startswith("cpu") else "torch",
        export_cache=e.export_dir,
        threads=threads,  # ONNX Runtime's pool: one thread while serving, as torch's
    )


def make_multilingual_embedder(settings: Settings) -> MultilingualModel | None:
    """The multilingual model of the second vector: the packaged USE, another sentence-transformers model, or none."""
    name = settings.embedding.multilingual_model
    if not name:
        return None
    if name == PACKAGED_MULTILINGUAL_MODEL:
        return UniversalSentenceEncoder()
    return SentenceTransformerEmbedder(name, device=settings.embedding.device, precision=settings.embedding.precision)


def index_spec(
    settings: Settings, dense_size: int, multilingual: MultilingualModel | None, *, collection: str
) -> IndexSpec:
    """What a collection built with these settings' models must match."""
    return IndexSpec(
        collection=collection,
        model=settings.embedding.model,
        dense_size=dense_size,
        multilingual_model=multilingual.name if multilingual else "",
        multilingual_size=multilingual.dimension if multilingual else 0,
    )


def make_index(
    settings: Settings,
    dense_size: int,
    multilingual: MultilingualModel | None = None,
    *,
    collection: str | None = None,
    data_dir: Path | None = None,
    version: str | None = None,
    follow: bool = False,
    check_spec: bool = True,
) -> Index:
    """Qdrant Edge under data_dir by default; a Qdrant server when DOCENT_QDRANT__URL is set.

    `multilingual` must be started (its vector size goes into the collection's spec). `version` pins one
    version of the collection (else the one its pointer names); `follow` moves to the version the pointer names
    later, when this process can serve it (`retrieval.versions`)."""
    spec = index_spec(settings, dense_size, multilingual, collection=collection or settings.collection)
    q = settings.qdrant
    if q.url:
        api_key = q.api_key.get_secret_value() if q.api_key else None
        return QdrantServerIndex(
            spec,
            url=q.url,
            api_key=api_key,
            timeout_s=q.timeout_s,
            shards=q.shards,
            replication_factor=q.replication_factor,
            version=version,
            follow=follow,
            check_spec=check_spec,
        )
    return EdgeIndex(data_dir or settings.data_dir, spec, version=version, follow=follow, check_spec=check_spec)


def make_parsers(settings: Settings) -> ParserPool:
    """The parser pool; with DOCENT_INGEST__OCR=on, a ConfigError when Tesseract or a language's data is missing."""
    i = settings.ingest
    ocr = OcrOptions(mode=i.ocr, languages=i.ocr_languages, page_timeout_s=i.ocr_page_timeout_s)
    if i.ocr == "on" and (missing := unavailable_reason(ocr)):
        raise ConfigError(f"DOCENT_INGEST__OCR=on, but {missing}")
    limits = ParseLimits(timeout_s=i.parse_timeout_s, memory_mb=i.parse_memory_mb, max_file_mb=i.max_file_mb, ocr=ocr)
    return ParserPool(limits, workers=i.parse_workers)


def make_reranker(settings: Settings) -> CrossEncoderReranker | None:
    name = settings.retrieval.rerank_model
    return CrossEncoderReranker(name, device=settings.embedding.device) if name else None


def model_languages(setting: str) -> frozenset[str]:
    """ "en,zh" → {"en", "zh"}; "*" or "" → every language (the empty set)."""
    names = {part.strip().lower() for part in setting.split(",") if part.strip()}
    return frozenset() if "*" in names else frozenset(names)


def make_retriever(
    settings: Settings,
    *,
    index: Index,
    embedder: SentenceTransformerEmbedder,
    multilingual: MultilingualModel | None,
    reranker: CrossEncoderReranker | None = None,
) -> Retriever:
    r = settings.retrieval
    options = SearchOptions(
        candidates=r.candidates,
        fusion=Fusion(r.fusion),
        languages=model_languages(settings.embedding.languages),
        max_per_document=r.max_per_document,
        neighbours=r.neighbours,
        score_floor=r.score_floor,
        rerank_candidates=r.rerank_candidates,
    )
    return Retriever(
        index, embedder, SparseEncoder(), multilingual_embedder=multilingual, reranker=reranker, options=options
    )


def make_pipeline(
    settings: Settings,
    *,
    index: Index,
    embedder: SentenceTransformerEmbedder,
    parsers: ParserPool | None,
    multilingual: MultilingualModel | None = None,
) -> IngestPipeline:
    """The ingest pipeline; `embedder` must be started (its tokenizer and window size the chunks)."""
    # Two tokens are the model's [CLS]/[SEP]: a chunk must fit the model's window whole.
    chunk_tokens = min(settings.chunking.tokens, embedder.max_tokens - 2)
    return IngestPipeline(
        index=index,
        embedder=embedder,
        sparse=SparseEncoder(),
        chunker=Chunker(
            embedder, chunk_tokens=chunk_tokens, overlap_tokens=min(settings.chunking.overlap, chunk_tokens // 2)
        ),
        parsers=parsers,
        multilingual_embedder=multilingual,
        batch_chunks=settings.ingest.batch_chunks,
        optimize_after_chunks=settings.ingest.optimize_after_chunks,
        exclude=[settings.data_dir],
        locks=make_write_locks(settings),
        # The two models at once only where the main model's threads leave cores idle (see IngestPipeline).
        overlap_models=bool(settings.embedding.threads) and (os.cpu_count() or 1) > settings.embedding.threads,
    )


def make_write_locks(settings: Settings) -> WriteLocks | None:
    """Per-document write locks in Redis when processes share a Qdrant server; else within the process."""
    if settings.redis_url and settings.qdrant.url:
        from ingest.jobs.redis_store import RedisDocumentLocks

        return RedisDocumentLocks(settings.redis_url)
    return None


def start_writer_models(settings: Settings) -> tuple[SentenceTransformerEmbedder, MultilingualModel | None]:
    """The document-side embedding models, loaded."""
    embedder = make_embedder(settings)
    embedder.start()
    multilingual = make_multilingual_embedder(settings)
    if multilingual is not None:
        multilingual.start()
    return embedder, multilingual


def start_writer(
    settings: Settings, *, when_locked: str
) -> tuple[SentenceTransformerEmbedder, MultilingualModel | None, Index]:
    """Load the embedding models and open the index for writing (what `ingest` and `worker` need).

    `when_locked` is appended to the error when another process owns the embedded index: what to do instead."""
    embedder, multilingual = start_writer_models(settings)
    index = make_index(settings, embedder.dimension, multilingual)
    try:
        index.start()
    except IndexLockedError as exc:
        raise IndexLockedError(f"{exc.message}. {when_locked}") from None
    return embedder, multilingual, index


def start_retriever(settings: Settings, *, rerank: bool, serving: bool = False) -> tuple[Index, Retriever]:
    """Load the query-side models, open the index and build the retriever (what `search` and `serve` need).

    The reranker is loaded only when `rerank` is true and one is configured; `serving` as for `make_embedder`.
    The caller closes the index."""
    embedder = make_embedder(settings, serving=serving)
    embedder.start()
    multilingual = make_multilingual_embedder(settings)
    if multilingual is not None:
        multilingual.start()
    reranker = make_reranker(settings) if rerank else None
    if reranker is not None:
        reranker.start()
    index = make_index(settings, embedder.dimension, multilingual, follow=True)  # a reindex's switch is followed
    index.start()
    retriever = make_retriever(settings, index=index, embedder=embedder, multilingual=multilingual, reranker=reranker)
    retriever.sparse.start()  # jieba's dictionary now, not in the first Chinese request (~0.6 s)
    return index, retriever


def make_generator(settings: Settings) -> Generator:
    """vLLM (or any OpenAI-compatible server) when DOCENT_LLM__BASE_URL is set, else the local GGUF model.

    The local model must be started (`start()`) before use; the HTTP client needs no start."""
    llm = settings.llm
    if llm.base_url:
        return OpenAICompatibleGenerator(
            llm.base_url,
            llm.model,
            api_key=llm.api_key.get_secret_value() if llm.api_key else None,
            connect_timeout_s=llm.connect_timeout_s,
            read_timeout_s=llm.read_timeout_s,
            retries=llm.retries,
            max_concurrency=llm.max_concurrency,
            context_length=llm.context_length,
            max_turn_s=max_turn_s(settings),
        )
    path = Path(llm.model_path) if llm.model_path else packaged_model_path()
    return LlamaCppGenerator(
        path,
        context_length=llm.local_context_length,
        threads=llm.local_threads,
        prompt_threads=llm.local_prompt_threads or len(os.sched_getaffinity(0)),
        prompt_cache_mb=llm.local_prompt_cache_mb,
        wait_s=llm.read_timeout_s,
        max_turn_s=max_turn_s(settings),
    )


def max_turn_s(settings: Settings) -> float:
    """The longest one model call may run, even once its answer streams: a few answer deadlines, at least 2 min."""
    return max(120.0, 4 * settings.answer.deadline_s)


def make_tiers(settings: Settings, small: Generator) -> list[Tier]:
    """The small model first, then the larger tiers of DOCENT_ROUTING__TIERS."""
    local = isinstance(small, LlamaCppGenerator)
    llm = settings.llm
    tiers = [
        Tier(
            "small",
            small,
            llm.local_max_answer_tokens if local else llm.max_answer_tokens,
            LOCAL_STOPS if local else (),
        )
    ]
    for number, t in enumerate(settings.routing.tiers, 1):
        generator = OpenAICompatibleGenerator(
            t.base_url,
            t.model,
            api_key=t.api_key.get_secret_value() if t.api_key else None,
            connect_timeout_s=t.connect_timeout_s,
            read_timeout_s=t.read_timeout_s,
            retries=t.retries,
            max_concurrency=t.max_concurrency,
            context_length=t.context_length,
            max_turn_s=max_turn_s(settings),
        )
        tiers.append(
            Tier(
                t.name or ("large" if number == 1 else f"large{number}"), generator, t.max_answer_tokens, tuple(t.stop)
            )
        )
    if len({t.name for t in tiers}) != len(tiers):
        raise ConfigError(f"model tiers need distinct names: {[t.name for t in tiers]}")
    return tiers


def escalation_policy(settings: Settings) -> EscalationPolicy:
    r = settings.routing
    missed = {lang: v for lang, v in (("en", r.missed_above_en), ("zh", r.missed_above_zh)) if v is not None}
    return EscalationPolicy(
        min_confidence={"en": r.min_confidence_en, "zh": r.min_confidence_zh},
        min_rerank=r.min_rerank,
        min_fused=r.min_fused if settings.retrieval.fusion != "rrf" else None,  # RRF scores are ranks, not scores
        max_unsupported=r.max_unsupported,
        escalate_uncited=r.escalate_uncited,
        missed_above=missed,
        min_words={
            "summarisation": r.min_words_summarisation,
            "comparison": r.min_words_comparison,
            "multi_part": r.min_words_multi_part,
        },
        escalate_truncated=r.escalate_truncated,
        always=tuple(r.always),
    )


def make_planner(settings: Settings, small: Generator | None, *, routing: bool) -> Planner:
    """The small model plans when it is a server (a 4B model follows the JSON prompt) and, under "auto", when
    larger tiers are configured; the CPU model cannot, so the rules plan for it."""
    mode = settings.routing.planner
    model_can = small is not None and not isinstance(small, LlamaCppGenerator)
    if model_can and (mode == "model" or (mode == "auto" and routing)):
        assert small is not None
        return ModelPlanner(small)
    return RulePlanner()


def answer_options(settings: Settings, tiers: Sequence[Tier] = (), *, local: bool = False) -> AnswerOptions:
    """The answerer's options from the settings; the first tier sets the answer's token cap and stop strings."""
    a, llm = settings.answer, settings.llm
    focused = local and (llm.local_passages > 0 or llm.local_sentences > 0)
    return AnswerOptions(
        passages=a.passages,
        min_relevance={
            "en": a.min_relevance_en,
            "zh": a.min_relevance_zh,
            "multilingual_en": a.min_relevance_multilingual_en,
        },
        max_answer_tokens=tiers[0].max_answer_tokens if tiers else settings.llm.max_answer_tokens,
        stop=tiers[0].stop if tiers else (),
        min_support=a.min_support,
        fallback_extractive=a.fallback_extractive,
        condense_with_model=not local,  # a 135M model cannot rewrite a question; the previous one is prepended
        deadline_s=a.deadline_s,
        focus=Focus(llm.local_passages, llm.local_sentences) if focused else None,
        context_tokens=(llm.local_context_tokens or None) if local else None,
        max_tokens_by_type=dict(a.max_tokens_by_type),
    )


def make_shared_limits(settings: Settings, registry: CollectorRegistry | None = None) -> SharedLimits | None:
    """With Redis, the store that every replica's rate limits and escalation budgets count in (metrics into
    `registry`); None without: each process keeps its own."""
    if not settings.redis_url:
        return None
    return SharedLimits(settings.redis_url, prefix=settings.limits.redis_prefix, registry=registry)


def make_rate_limiter(shared: SharedLimits | None, name: str, per_minute: int, burst: int) -> Limiter:
    """A per-caller request limit: counted in Redis for all replicas with `shared`, in this process without."""
    if shared is None:
        return RateLimiter(per_minute, burst)
    return SharedRateLimiter(shared, name, per_minute, burst)


def make_escalation_budget(settings: Settings, shared: SharedLimits | None = None) -> Budget:
    r = settings.routing
    if shared is None:
        return EscalationBudget(r.budget_per_minute, r.budget_per_caller_per_minute)
    return SharedEscalationBudget(shared, r.budget_per_minute, r.budget_per_caller_per_minute)


def make_answerer(
    settings: Settings, retriever: Retriever, generator: Generator | None, *, shared: SharedLimits | None = None
) -> Answerer:
    """The answerer; its escalation budget counts in Redis for all replicas with `shared`."""
    a = settings.answer
    generator = None if a.mode == "extractive" else generator
    tiers = make_tiers(settings, generator) if generator is not None else []
    options = answer_options(settings, tiers, local=isinstance(generator, LlamaCppGenerator))
    return Answerer(
        retriever,
        generator,
        options,
        tiers=tiers,
        planner=make_planner(settings, generator, routing=len(tiers) > 1),
        policy=escalation_policy(settings),
        budget=make_escalation_budget(settings, shared),
        checks=AnswerChecks() if a.replace_failed else NO_CHECKS,
        translator=make_translator(settings, generator, retriever),
    )


def make_translator(
    settings: Settings, small: Generator | None, retriever: Retriever | None = None
) -> QueryTranslator | None:
    """The question's translation for BM25, when asked for and the small model is a server (the embedded CPU
    model cannot translate); the retriever's multilingual model, when there is one, rejects a reply that means
    something else."""
    if not settings.routing.translate_queries or small is None or isinstance(small, LlamaCppGenerator):
        return None
    multilingual = retriever.multilingual_embedder if retriever is not None else None
    return QueryTranslator(small, embed=multilingual, min_cosine=AnswerChecks().min_cosine_across)


def start_generator(settings: Settings) -> Generator | None:
    """The configured generator, loaded; None in extractive mode (no model is loaded at all)."""
    if settings.answer.mode == "extractive":
        return None
    generator = make_generator(settings)
    if isinstance(generator, LlamaCppGenerator):
        generator.start()
    return generator


def make_job_store(settings: Settings, database: Database | None = None) -> JobStore:
    """Redis when DOCENT_REDIS_URL is set (shared with the workers), else the relational store (jobs outlive a
    restart), else this process's memory (a CLI with no database)."""
    ttl_s = settings.queue.job_ttl_days * 86400
    if settings.redis_url:
        from ingest.jobs.redis_store import RedisJobStore

        return RedisJobStore(settings.redis_url, ttl_s=int(ttl_s))
    if database is not None:
        from serve.stores.jobs import DatabaseJobStore

        return DatabaseJobStore(database, ttl_s=ttl_s)
    return MemoryJobStore()


def task_policy(settings: Settings) -> TaskPolicy:
    q = settings.queue
    return TaskPolicy(max_attempts=q.max_attempts, backoff_s=q.backoff_s, lease_s=q.lease_s, heartbeat_s=q.heartbeat_s)


def make_celery_queue(settings: Settings):
    from ingest.jobs.celery_queue import CeleryQueue

    assert settings.redis_url
    return CeleryQueue(settings.redis_url, visibility_timeout_s=settings.queue.visibility_timeout_s)


def make_runner(
    settings: Settings, store: JobStore, pipelines: ThreadPipelines, registry: CollectorRegistry
) -> TaskRunner:
    """What runs tasks in this process, its metrics in `registry`."""
    return TaskRunner(
        store,
        pipelines,
        worker_id=worker_id(),
        policy=task_policy(settings),
        metrics=TaskMetrics(registry),
        quarantine=make_quarantine(settings),
    )


def make_quarantine(settings: Settings) -> Quarantine:
    """Where uploads that failed to index go (DATA_DIR/quarantine), kept DOCENT_LIMITS__QUARANTINE_DAYS."""
    files = DataFiles(settings.data_dir)
    return Quarantine(files.uploads, files.quarantine, retention_days=settings.limits.quarantine_days)


def make_reaper(
    settings: Settings, store: JobStore, queue: TaskQueue, *, queued_too_long_s: float | None = None
) -> Reaper:
    """The started reaper: re-queues tasks whose worker vanished, and tasks whose message was lost."""
    q = settings.queue
    waited = q.visibility_timeout_s if queued_too_long_s is None else queued_too_long_s
    reaper = Reaper(store, queue.submit, interval_s=max(0.5, q.lease_s / 2), queued_too_long_s=waited)
    reaper.start()
    return reaper


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def resume_queued(store: DatabaseJobStore, queue: InProcessQueue) -> int:
    """Submit the tasks a stopped server left queued (its threads' queue died with it); the number submitted."""
    pending = store.queued()
    for job_id, number in pending:
        queue.submit(job_id, number)
    if pending:
        log.info("resumed %d queued indexing tasks of %d jobs", len(pending), len({j for j, _ in pending}))
    return len(pending)


@dataclass(slots=True)
class JobsRuntime:
    """The queue side of a process, started: submit jobs through `service`; `close()` stops its threads."""

    service: JobService
    queue: TaskQueue
    pipelines: ThreadPipelines | None = None
    reaper: Reaper | None = None

    def close(self) -> None:
        if self.reaper is not None:
            self.reaper.stop()
        self.queue.close()
        if self.pipelines is not None:
            self.pipelines.close()


def start_jobs(
    settings: Settings,
    pipeline: IngestPipeline | None,
    *,
    registry: CollectorRegistry,
    consume: bool,
    database: Database | None = None,
) -> JobsRuntime:
    """Jobs for a server (or a CLI that submits): Celery on Redis when DOCENT_REDIS_URL is set, else a pool of
    threads here. With `consume`, this process also runs tasks (it owns an embedded index, or has no Redis).

    Without Redis, the jobs are kept in `database` when given: the tasks a stopped server left queued run again
    when it starts, and a task whose process died (its lease expired) is re-run by the reaper."""
    q = settings.queue
    store = make_job_store(settings, database)
    pipelines = ThreadPipelines(pipeline, lambda: make_parsers(settings)) if consume and pipeline else None
    runner = make_runner(settings, store, pipelines, registry) if pipelines else None
    reaper = None
    if settings.redis_url:
        queue = make_celery_queue(settings)
        if runner is not None:
            queue.start_consumer(runner, concurrency=q.concurrency)
        reaper = make_reaper(settings, store, queue)
    else:
        if runner is None:
            raise ValueError("without Redis the jobs run in this process: it needs the pipeline")
        queue = InProcessQueue(runner, concurrency=q.concurrency, max_pending=q.max_pending)
        if isinstance(store, DatabaseJobStore):
            resume_queued(store, queue)
            # the in-process queue loses no message while this process lives: only dead runners' tasks to re-run
            reaper = make_reaper(settings, store, queue, queued_too_long_s=math.inf)
    service = JobService(store, queue, task_files=q.task_files, task_mb=q.task_mb, exclude=[settings.data_dir])
    return JobsRuntime(service, queue, pipelines, reaper)


def slack_users(settings: Settings) -> dict[str, SlackUser]:
    """DOCENT_SLACK__USERS by Slack id or (lower-case) e-mail. With single sign-on, the groups listed may be the
    provider's names (an export of its memberships): they go through DOCENT_OIDC__GROUP_MAP as a sign-in's do.
    Slack itself carries no groups."""
    from serve.slack import SlackUser

    groups = ClaimsMapping.of(settings.oidc).groups if settings.oidc.enabled else list
    return {
        key.lower() if "@" in key else key: SlackUser(u.user, tuple(groups(u.groups)))
        for key, u in settings.slack.users.items()
    }


def make_slack_bot(
    settings: Settings,
    answerer: Answerer,
    feedback: FeedbackStore,
    *,
    socket_mode: bool = False,
    audit: AuditLog | None = None,
):
    """The Slack bot over `answerer`: needs the bot token, and the signing secret unless over Socket Mode."""
    from serve.slack import Principals, Seen, SlackBot, make_client

    sl = settings.slack
    if not sl.bot_token or not (sl.signing_secret or socket_mode):
        raise ConfigError("the Slack bot needs DOCENT_SLACK__BOT_TOKEN and DOCENT_SLACK__SIGNING_SECRET")
    client = make_client(sl.bot_token.get_secret_value(), base_url=sl.api_url)
    mapping = slack_users(settings)
    secret = sl.signing_secret.get_secret_value() if sl.signing_secret else ""
    return SlackBot(
        answerer=answerer,
        client=client,
        signing_secret=secret,
        principals=Principals(client, mapping),
        feedback=feedback,
        source_url=sl.source_url,
        verify_requests=not socket_mode,
        seen=Seen(redis_url=settings.redis_url),
        audit=audit,
    )


def source_of_settings(config: SourceSettings) -> Source:
    """A configured source as the sync engine takes it."""
    from ingest.sync import Source

    return Source(
        name=config.name,
        kind=config.kind,
        acl=tuple(config.acl),
        public=config.public,
        tags=tuple(config.tags),
        principals=dict(config.principals),
    )
