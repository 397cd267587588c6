"""The composition root of each Docent process: what it starts, where its files are, and what it closes.

One context manager per kind of process: `command` (a CLI command), `api_server`, `worker` (a queue worker)
and `slack_bot` (the Socket Mode bot). Each hands out parts through a `Process`, which starts them on request
and closes everything it started, in reverse order, when the block ends, also after an error: an unclosed
embedded index leaves its lock, an unclosed model server client its connections. `serve.components` builds
the parts from settings; this module decides which a process needs and owns their lifetime.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from retrieval.errors import ConfigError, DocentError
from serve.settings import Settings

if TYPE_CHECKING:  # the models and servers load only in the processes that use them
    from fastapi import FastAPI
    from prometheus_client import CollectorRegistry

    from answer.answerer import Answerer
    from answer.generation import Generator
    from ingest.jobs.queue import TaskQueue
    from ingest.jobs.tasks import TaskRunner
    from ingest.sandbox import ParserPool
    from retrieval.embedding import SentenceTransformerEmbedder
    from retrieval.index import Index
    from retrieval.search import Retriever
    from serve.audit import AuditLog
    from serve.components import MultilingualModel
    from serve.oidc.authenticator import OIDCAuthenticator
    from serve.slack import SlackBot
    from serve.stores.audit import AuditEvent, AuditStore
    from serve.stores.database import Database
    from serve.stores.feedback import FeedbackStore
    from serve.stores.keys import ApiKey, KeyStore
    from serve.stores.shared_limits import SharedLimits


@dataclass(frozen=True, slots=True)
class DataFiles:
    """Where Docent keeps its own files under DOCENT_DATA_DIR (the embedded index has its own folder there)."""

    root: Path

    @property
    def database(self) -> Path:
        """The relational store's SQLite file when no DOCENT_DATABASE_URL is set (keys, feedback, audit)."""
        return self.root / "docent.sqlite"

    @property
    def uploads(self) -> Path:
        return self.root / "uploads"

    @property
    def ingested_roots(self) -> Path:
        return self.root / "ingested_roots.json"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    def reindex_state(self, collection: str) -> Path:
        return self.root / f"reindex-{collection}.json"


class Process:
    """The parts one process has started; each method starts a part and schedules its `close()`."""

    def __init__(self, settings: Settings, stack: ExitStack) -> None:
        self.settings = settings
        self.files = DataFiles(settings.data_dir)
        self._stack = stack
        self._database: Database | None = None
        self.imported: dict[str, int] = {}  # legacy SQLite files imported when the database was opened

    def close_at_exit(self, close: Callable[[], object]) -> None:
        """Run `close` when the process's block ends (last started, first closed)."""
        self._stack.callback(close)

    def retriever(self, *, rerank: bool, serving: bool = False) -> tuple[Index, Retriever]:
        """The query side, loaded: the index (following a reindex's switch) and the retriever over it; `serving`:
        for a process answering concurrent requests (`serve.components.make_embedder`)."""
        from serve.components import start_retriever

        index, retriever = start_retriever(self.settings, rerank=rerank, serving=serving)
        self.close_at_exit(index.close)
        return index, retriever

    def generator(self) -> Generator | None:
        """The configured small model, loaded; None in extractive mode."""
        from serve.components import start_generator

        generator = start_generator(self.settings)
        if generator is not None:
            self.close_at_exit(generator.close)
        return generator

    def answerer(
        self, retriever: Retriever, generator: Generator | None, *, shared: SharedLimits | None = None
    ) -> Answerer:
        """The answerer over `retriever`; its larger tiers' clients close at exit (the small model is the caller's).
        With `shared`, its escalation budget counts in Redis for all replicas."""
        from serve.components import make_answerer

        answerer = make_answerer(self.settings, retriever, generator, shared=shared)
        self.close_at_exit(answerer.close)
        return answerer

    def shared_limits(self, registry: CollectorRegistry | None = None) -> SharedLimits | None:
        """With Redis, the store of the rate limits and budgets all replicas share (None without); closed at exit."""
        from serve.components import make_shared_limits

        shared = make_shared_limits(self.settings, registry)
        if shared is not None:
            self.close_at_exit(shared.close)
        return shared

    def parsers(self) -> ParserPool:
        """The parser processes, starting (call `wait_ready()` before the first file)."""
        from serve.components import make_parsers

        parsers = make_parsers(self.settings)
        parsers.start()
        self.close_at_exit(parsers.close)
        return parsers

    def writer(self, *, when_locked: str) -> tuple[SentenceTransformerEmbedder, MultilingualModel | None, Index]:
        """The document-side models and the index open for writing; `when_locked` says what to do instead."""
        from serve.components import start_writer

        embedder, multilingual, index = start_writer(self.settings, when_locked=when_locked)
        self.close_at_exit(index.close)
        return embedder, multilingual, index

    def database(self) -> Database:
        """The relational store, migrated (once per process; the legacy SQLite files of the data folder are
        imported on the way): SQLite in the data folder, or DOCENT_DATABASE_URL."""
        if self._database is None:
            from serve.stores.database import Database, sqlite_url

            database = Database(self.settings.database_url or sqlite_url(self.files.database))
            self.close_at_exit(database.close)
            self.imported = database.upgrade(legacy_dir=self.files.root)
            self._database = database
        return self._database

    def keys(self) -> KeyStore:
        from serve.stores.keys import KeyStore

        auth = self.settings.auth
        return KeyStore(self.database(), cache_s=auth.key_cache_s, stale_s=auth.key_stale_s)

    def feedback(self) -> FeedbackStore:
        from serve.stores.feedback import FeedbackStore

        return FeedbackStore(self.database())

    def audit(self, registry: CollectorRegistry | None = None) -> AuditLog | None:
        """The audit recorder, writing in the background until the process ends; None when the audit is off."""
        from serve.audit import AuditLog
        from serve.stores.audit import AuditStore

        a = self.settings.audit
        if not a.enabled:
            return None
        log = AuditLog(
            AuditStore(self.database()),
            registry=registry,
            buffer=a.buffer,
            answer_text=a.answer_text,
            retention_days=a.retention_days,
        )
        log.start()
        self.close_at_exit(log.close)
        return log

    def oidc(self) -> OIDCAuthenticator | None:
        """Single sign-on's token checker when DOCENT_OIDC__ISSUER is set (None otherwise); its HTTP client
        closes at exit. It fetches nothing until the first token."""
        if not self.settings.oidc.enabled:
            return None
        from serve.oidc.authenticator import OIDCAuthenticator
        from serve.stores.sessions import SessionStore

        sessions = SessionStore(self.database())
        authenticator = OIDCAuthenticator(self.settings.oidc, sessions=sessions, public_url=self.settings.public_url)
        self.close_at_exit(authenticator.close)
        return authenticator

    def audit_store(self) -> AuditStore:
        from serve.stores.audit import AuditStore

        return AuditStore(self.database())

    def record_key_change(self, change: str, record: ApiKey, **more: object) -> None:
        """Record `docent keys create|revoke|rotate` in the audit trail."""
        import json

        from serve.audit import key_change
        from serve.stores.audit import AuditEvent

        detail = json.dumps(key_change(change, record, **more))
        self.record(AuditEvent("key", query=f"{change} {record.key_id}", detail=detail))

    def record(self, event: AuditEvent) -> None:
        """Record a command's event at once (the process ends right after); as the OS user, channel "cli"."""
        if not self.settings.audit.enabled:
            return
        import getpass
        import logging
        from dataclasses import replace

        try:
            user = event.user_id or getpass.getuser()
        except (KeyError, OSError):  # no name for this uid (a container's arbitrary user)
            user = f"uid:{os.getuid()}"
        try:
            self.audit_store().write([replace(event, user_id=user, channel="cli")])
        except DocentError as exc:  # done is done: the audit's failure is reported, not the command's
            logging.getLogger("docent.audit").error("audit: the command's event was not recorded: %s", exc)


@contextmanager
def command(settings: Settings) -> Iterator[Process]:
    """A CLI command: it starts what it needs through the `Process`; all of it is closed when the block ends."""
    with ExitStack() as stack:
        yield Process(settings, stack)


@dataclass(frozen=True, slots=True)
class ApiServer:
    """The started API: the app to run, and the small model's name for the start-up line."""

    app: FastAPI
    model: str


@contextmanager
def api_server(settings: Settings) -> Iterator[ApiServer]:
    """The HTTP API's process: models, index, retriever, jobs, stores and the Slack bot, once, then the app."""
    from prometheus_client import CollectorRegistry

    from serve.app import create_app
    from serve.components import make_pipeline, make_rate_limiter, make_slack_bot, start_jobs
    from serve.documents import DocumentService
    from serve.stores.ingested_roots import IngestedRoots

    limits = settings.limits
    with command(settings) as process:
        index, retriever = process.retriever(rerank=True, serving=True)
        generator = process.generator()
        # Tasks run here when there is no Redis, or when this process owns the embedded index (no other process
        # may write it); with a Qdrant server and Redis they are left to `docent worker`s. A task's parser
        # process starts with the first task: idle, it would hold ~430 MiB (bench/serve.py).
        pipeline = make_pipeline(
            settings,
            index=index,
            embedder=retriever.embedder,
            parsers=None,
            multilingual=retriever.multilingual_embedder,
        )
        pipeline.sparse.start()
        registry = CollectorRegistry()
        runtime = start_jobs(
            settings,
            pipeline,
            registry=registry,
            consume=not (settings.redis_url and settings.qdrant.url),
            database=process.database(),  # the jobs outlive a restart when there is no Redis
        )
        process.close_at_exit(runtime.close)
        shared = process.shared_limits(registry)  # with Redis: the limits count for all replicas together
        answerer = process.answerer(retriever, generator, shared=shared)
        feedback = process.feedback()
        audit = process.audit(registry)
        app = create_app(
            retriever=retriever,
            index=index,
            keys=process.keys(),
            answerer=answerer,
            documents=DocumentService(
                index,
                process.files.uploads,
                runtime.service,
                file_roots=tuple(settings.api.file_roots),
                ingested_roots=IngestedRoots(process.files.ingested_roots),
            ),
            generator=generator,
            limiter=make_rate_limiter(shared, "requests", limits.requests_per_minute, limits.burst),
            auth_failures=make_rate_limiter(
                shared, "auth-failures", limits.auth_failures_per_minute, limits.auth_failure_burst
            ),
            max_upload_bytes=int(limits.max_upload_mb * 1024 * 1024),
            max_upload_files=limits.max_upload_files,
            anonymous=settings.auth.anonymous,
            jobs=runtime.service,
            max_upload_wait_s=settings.queue.wait_s,
            registry=registry,
            slack=make_slack_bot(settings, answerer, feedback, audit=audit) if settings.slack.bot_token else None,
            feedback=feedback,
            shared_limits=shared,
            audit=audit,
            oidc=process.oidc(),
        )
        yield ApiServer(app, generator.model if generator is not None else "none (extractive answers)")


@dataclass(frozen=True, slots=True)
class Worker:
    """A started queue worker's parts: `queue.run_worker(runner, ...)` consumes until SIGTERM."""

    queue: TaskQueue
    runner: TaskRunner
    concurrency: int


@contextmanager
def worker(settings: Settings, *, concurrency: int | None = None) -> Iterator[Worker]:
    """A queue worker's process: the models and the index once, its metrics server, the reaper and the queue."""
    from prometheus_client import CollectorRegistry, start_http_server

    from ingest.jobs.queue import ThreadPipelines
    from serve.components import (
        make_celery_queue,
        make_job_store,
        make_parsers,
        make_pipeline,
        make_reaper,
        make_runner,
    )

    if not settings.redis_url:
        raise ConfigError(
            "docent worker takes its jobs from a queue: set DOCENT_REDIS_URL (without one, "
            "`docent serve` indexes uploads in its own process)"
        )
    q = settings.queue
    store = make_job_store(settings)
    store.ping()
    with command(settings) as process:
        embedder, multilingual, index = process.writer(
            when_locked=(
                "The embedded index has one writer: `docent serve` runs the queue's tasks itself while it owns it. "
                "Workers in several processes need a Qdrant server (DOCENT_QDRANT__URL)"
            )
        )
        pipelines = ThreadPipelines(
            make_pipeline(settings, index=index, embedder=embedder, parsers=None, multilingual=multilingual),
            lambda: make_parsers(settings),
        )
        process.close_at_exit(pipelines.close)
        pipelines.base.sparse.start()
        registry = CollectorRegistry()
        if q.metrics_port:
            start_http_server(q.metrics_port, registry=registry)
        queue = make_celery_queue(settings)
        process.close_at_exit(queue.close)
        runner = make_runner(settings, store, pipelines, registry)
        reaper = make_reaper(settings, store, queue)
        process.close_at_exit(reaper.stop)
        yield Worker(queue, runner, concurrency or q.concurrency)


@contextmanager
def slack_bot(settings: Settings) -> Iterator[SlackBot]:
    """The Socket Mode bot's process: the answering side of `api_server`, and the bot over it."""
    from serve.components import make_slack_bot

    if not settings.slack.app_token:
        raise ConfigError(
            "docent slack uses Socket Mode: set DOCENT_SLACK__APP_TOKEN (xapp-...) and "
            "DOCENT_SLACK__BOT_TOKEN (or serve the bot over HTTP with `docent serve`)"
        )
    with command(settings) as process:
        _, retriever = process.retriever(rerank=True, serving=True)
        answerer = process.answerer(retriever, process.generator(), shared=process.shared_limits())
        yield make_slack_bot(settings, answerer, process.feedback(), socket_mode=True, audit=process.audit())
