"""Submitting indexing jobs, and the in-process queue that runs them when no Redis is configured.

`JobService` is what the API and the CLI call: it finds the files, splits them into tasks of bounded size,
records the job and hands its tasks to a `TaskQueue` — `InProcessQueue` here (a bounded pool of threads in
this process: the embedded default) or `ingest.jobs.celery_queue.CeleryQueue` (Redis; workers anywhere).
Both run the same `TaskRunner.run`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from ingest.discovery import discover
from ingest.jobs.store import (
    Grant,
    Job,
    JobStatus,
    JobStore,
    TaskRecord,
    TaskState,
    new_job_id,
    plan_tasks,
    require_job,
)
from ingest.jobs.tasks import TaskRunner
from ingest.pipeline import IngestPipeline
from ingest.sandbox import ParserPool
from retrieval.errors import QueueFullError

log = logging.getLogger(__name__)


class TaskQueue(Protocol):
    def submit(self, job_id: str, number: int, *, countdown_s: float = 0.0) -> None: ...

    def depth(self) -> int:
        """Tasks waiting for a worker."""
        ...

    def close(self) -> None: ...


class InProcessQueue:
    """Runs tasks on `concurrency` threads of this process; refuses work beyond `max_pending` waiting tasks."""

    def __init__(self, runner: TaskRunner, *, concurrency: int = 1, max_pending: int = 10_000) -> None:
        self.runner = runner
        self.max_pending = max_pending
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="docent-ingest")
        self._pending = 0
        self._lock = threading.Lock()
        self._timers: set[threading.Timer] = set()
        self._closed = False

    def submit(self, job_id: str, number: int, *, countdown_s: float = 0.0) -> None:
        with self._lock:
            if self._pending >= self.max_pending:
                raise QueueFullError(f"{self._pending} indexing tasks are waiting; try again later")
            self._pending += 1
        if countdown_s > 0:
            timer = threading.Timer(countdown_s, self._enqueue, (job_id, number))
            timer.daemon = True
            with self._lock:
                self._timers.add(timer)
            timer.start()
        else:
            self._enqueue(job_id, number)

    def _enqueue(self, job_id: str, number: int) -> None:
        if not self._closed:
            self._pool.submit(self._run, job_id, number)

    def _run(self, job_id: str, number: int) -> None:
        with self._lock:
            self._pending -= 1
        try:
            retry = self.runner.run(job_id, number)
        except Exception:
            log.exception("task crashed job=%s task=%d", job_id, number)
            return
        if retry is not None and not self._closed:
            self.submit(job_id, number, countdown_s=retry.countdown_s)

    def depth(self) -> int:
        return self._pending

    def close(self) -> None:
        self._closed = True
        for timer in list(self._timers):
            timer.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)


class ThreadPipelines:
    """One pipeline per worker thread, each with its own parser pool, sharing the models and the index."""

    def __init__(self, base: IngestPipeline, make_parsers: Callable[[], ParserPool]) -> None:
        self.base = base
        self.make_parsers = make_parsers
        self._local = threading.local()
        self._pools: list[ParserPool] = []
        self._lock = threading.Lock()
        self._base_taken = False

    def __call__(self) -> IngestPipeline:
        pipeline = getattr(self._local, "pipeline", None)
        if pipeline is None:
            with self._lock:
                if self.base.parsers is not None and not self._base_taken:
                    self._base_taken = True  # the base's own pool serves the first thread (owned by its creator)
                    pipeline = self.base
            if pipeline is None:
                parsers = self.make_parsers()
                parsers.start()
                with self._lock:
                    self._pools.append(parsers)
                pipeline = self.base.with_parsers(parsers)
            self._local.pipeline = pipeline
        return pipeline

    def close(self) -> None:
        with self._lock:
            for pool in self._pools:
                pool.close()
            self._pools.clear()


class JobService:
    """Creates jobs and reports on them; the queue runs their tasks."""

    def __init__(
        self,
        store: JobStore,
        queue: TaskQueue,
        *,
        task_files: int = 32,
        task_mb: float = 256.0,
        exclude: Sequence[Path] = (),
        on_submit: Callable[[Job], None] | None = None,
    ) -> None:
        self.store = store
        self.queue = queue
        self.task_files = task_files
        self.task_mb = task_mb
        self.exclude = tuple(exclude)
        self.on_submit = on_submit

    def check(self) -> None:
        """Raise `QueueUnavailableError` now if jobs cannot be recorded (before a caller saves any upload)."""
        self.store.ping()

    def submit(
        self, paths: Sequence[Path], grant: Grant, *, kind: str, label: str = "", prune: bool = False
    ) -> JobStatus:
        """Queue the files under `paths`; with `prune`, also remove indexed documents under them that are gone."""
        files = discover(paths, exclude=self.exclude)
        job_id = new_job_id()
        tasks = plan_tasks(job_id, files, task_files=self.task_files, task_mb=self.task_mb)
        if prune:
            roots = [str(Path(p).expanduser().resolve()) for p in paths]
            tasks.append(TaskRecord(job_id, len(tasks), [], kind="prune", prune_roots=roots))
        job = Job(job_id, kind, grant, len(files), len(tasks), label=label or ", ".join(str(p) for p in paths))
        self.store.create(job, tasks)
        try:
            for task in tasks:
                self.queue.submit(job_id, task.number)
        except Exception:
            self.store.cancel(job_id)  # never leave a job waiting for tasks that were not sent
            raise
        if self.on_submit:
            self.on_submit(job)
        log.info("job submitted id=%s kind=%s files=%d tasks=%d", job_id, kind, len(files), len(tasks))
        return JobStatus(job, tasks)

    def status(self, job_id: str) -> JobStatus:
        job = require_job(self.store, job_id)
        return JobStatus(job, self.store.tasks(job_id))

    def recent(self, limit: int = 50) -> list[JobStatus]:
        return [JobStatus(job, self.store.tasks(job.job_id)) for job in self.store.recent(limit)]

    def cancel(self, job_id: str) -> JobStatus:
        """Stop a job: queued tasks are skipped, running ones stop after their current file. Indexed files stay."""
        status = self.status(job_id)
        if status.finished:
            return status  # nothing left to stop: a finished job keeps its outcome
        self.store.cancel(job_id)
        for task in self.store.tasks(job_id):
            if task.state is TaskState.QUEUED:  # not started: cancelled now (a late delivery finds it terminal)
                task.state, task.finished_at = TaskState.CANCELLED, time.time()
                self.store.save_task(task)
        return self.status(job_id)

    def wait(self, job_id: str, timeout_s: float, *, poll_s: float = 0.1) -> JobStatus:
        """The job's status once it finished, or when `timeout_s` ran out."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.status(job_id)
            if status.finished or time.monotonic() >= deadline:
                return status
            time.sleep(poll_s)
