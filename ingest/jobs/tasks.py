"""Running one indexing task, safely under at-least-once delivery.

The same `TaskRunner.run` is the body of the Celery task and of the in-process queue. It is written for a
queue that may deliver a task twice or lose its worker half-way:

- A task is run under a lease (a key with a TTL that a heartbeat thread renews). A second delivery while the
  lease is held does nothing; a lease that expired means the worker vanished, and `Reaper` re-queues the task.
- Every file's outcome is saved as it finishes, so a re-delivered task resumes after the files already done;
  writes are idempotent anyway (deterministic ids, replace-then-clean), so a file indexed twice ends the same.
- After a worker was lost, the task goes on one file at a time, noting the file in flight: a document that
  kills its worker every time is found, and parked in the dead-letter state after `max_attempts` while the
  other files of its task are indexed.
- A file whose parser timed out, crashed or ran out of memory is retried with backoff (the machine may have
  been busy), then dead-lettered. A corrupt or unsupported file fails at once: trying again cannot help.
- An exception (the index down) retries the whole task with exponential backoff, then dead-letters its files.
Nothing stays "queued" or "running" for ever without the job saying why.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram

from ingest.jobs.store import FileOutcome, Grant, Job, JobStore, TaskRecord, TaskState
from ingest.pipeline import FileDone, IngestPipeline
from ingest.quarantine import Quarantine

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TaskPolicy:
    max_attempts: int = 3  # tries of a task (or of one file) before its files are dead-lettered
    backoff_s: float = 5.0  # first retry delay; doubles each time
    backoff_max_s: float = 300.0
    lease_s: float = 60.0  # a worker silent this long is presumed dead and its task re-queued
    heartbeat_s: float = 10.0  # how often a running task renews its lease

    def backoff(self, attempt: int) -> float:
        return min(self.backoff_max_s, self.backoff_s * 2.0 ** max(0, attempt - 1))


@dataclass(frozen=True, slots=True)
class Retry:
    """Run the task again after `countdown_s` (the queue schedules it)."""

    countdown_s: float


class Cancelled(Exception):
    """The job was cancelled while its task ran: stop between files."""


class TaskMetrics:
    """What workers expose to Prometheus (and the in-process queue to the API's /metrics)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.tasks = Counter(
            "docent_ingest_tasks_total", "Indexing task runs by outcome", ["outcome"], registry=registry
        )
        self.seconds = Histogram(
            "docent_ingest_task_seconds",
            "Time a task run took",
            registry=registry,
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
        )
        self.wait = Histogram(
            "docent_ingest_task_wait_seconds",
            "Time from submitting a job to a task starting",
            registry=registry,
            buckets=(0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600),
        )
        self.documents = Counter(
            "docent_ingest_documents_total", "Documents finished by workers, by status", ["status"], registry=registry
        )
        self.chunks = Counter("docent_ingest_chunks_total", "Chunks written by workers", registry=registry)


class TaskRunner:
    """Runs tasks from `store` with a pipeline per thread (`pipeline()` returns this thread's pipeline)."""

    def __init__(
        self,
        store: JobStore,
        pipeline: Callable[[], IngestPipeline],
        *,
        worker_id: str,
        policy: TaskPolicy = TaskPolicy(),
        metrics: TaskMetrics | None = None,
        quarantine: Quarantine | None = None,
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.worker_id = worker_id
        self.policy = policy
        self.metrics = metrics
        self.quarantine = quarantine  # where uploads that failed for good go (None: they stay)

    def run(self, job_id: str, number: int) -> Retry | None:
        """Run (or resume) one task; a `Retry` asks the queue to run it again later."""
        job = self.store.job(job_id)
        task = self.store.task(job_id, number)
        if job is None or task is None:
            log.warning("task skipped job=%s task=%d reason=job expired or unknown", job_id, number)
            return None
        if task.terminal:
            return None  # a duplicate delivery of a finished task
        worker = f"{self.worker_id}/{threading.get_ident()}"
        if not self.store.lease(job_id, number, worker, self.policy.lease_s):
            log.info("task skipped job=%s task=%d reason=another worker holds it", job_id, number)
            return None
        heartbeat = _Heartbeat(self.store, job_id, number, worker, self.policy)
        heartbeat.start()
        started = time.perf_counter()
        outcome = "error"  # the job store failed under the task: it is re-queued when its lease expires
        try:
            result = self._run_leased(job, task, worker)
            outcome = "retry" if result else task.state.value
            if job.kind == "upload":
                self._quarantine_failed(task)
            return result
        finally:
            heartbeat.stop()
            elapsed = time.perf_counter() - started
            if self.metrics:
                self.metrics.tasks.labels(outcome).inc()
                self.metrics.seconds.observe(elapsed)
            if outcome != "error":
                task.seconds += elapsed
                self.store.save_task(task)
                self.store.release(job_id, number, worker)

    def _run_leased(self, job: Job, task: TaskRecord, worker: str) -> Retry | None:
        if job.cancelled:
            self._finish(task, TaskState.CANCELLED)
            return None
        if task.state is TaskState.RUNNING:  # delivered again before it finished: its worker died
            note_lost_worker(task)
        task.attempts += 1
        task.state, task.worker = TaskState.RUNNING, worker
        if task.started_at is None:
            task.started_at = time.time()
            if self.metrics:
                self.metrics.wait.observe(max(0.0, task.started_at - job.created_at))
        self._dead_letter_worker_killers(task)
        self.store.save_task(task)
        try:
            if task.kind == "prune":
                task.removed = self.pipeline().prune([Path(r) for r in task.prune_roots])
                self._finish(task, TaskState.DONE)
                return None
            transient = self._index(task, job.grant)
        except Cancelled:
            self._finish(task, TaskState.CANCELLED)
            return None
        except Exception as exc:
            return self._failed_attempt(task, exc)
        task.error = None
        retry = [p for p, reason in transient.items() if task.transient.get(p, 0) + 1 < self.policy.max_attempts]
        for path, reason in transient.items():
            tries = task.transient.get(path, 0) + 1
            if path in retry:
                task.transient[path] = tries
            else:
                self._record(task, path, FileOutcome("dead", reason=reason, attempts=tries))
        if retry:
            task.state, task.queued_at = TaskState.QUEUED, time.time()
            self.store.save_task(task)
            log.info(
                "task retry job=%s task=%d files=%d reason=transient failures", task.job_id, task.number, len(retry)
            )
            return Retry(self.policy.backoff(max(task.transient[p] for p in retry)))
        self._finish(task, TaskState.DONE)
        return None

    def _index(self, task: TaskRecord, grant: Grant) -> dict[str, str]:
        """Index the files still without an outcome; returns the transient failures (path -> reason)."""
        transient: dict[str, str] = {}
        pipeline = self.pipeline()

        def on_file(done: FileDone) -> None:
            path = str(done.path)
            if done.status == "failed" and done.transient:
                transient[path] = done.reason or ""
            else:
                self._record(
                    task, path, FileOutcome(done.status, done.chunks, done.reason, task.transient.get(path, 0) + 1)
                )
            self.store.save_task(task)
            job = self.store.job(task.job_id)
            if job is None or job.cancelled:
                raise Cancelled

        remaining = []
        for path in task.remaining:
            if Path(path).is_file():
                remaining.append(path)
            else:
                self._record(task, path, FileOutcome("failed", reason="the file no longer exists"))
        if task.worker_lost:
            # One file at a time, the file in flight saved first: if this worker dies too, the next one knows
            # which document it died on.
            for path in remaining:
                task.in_flight = path
                self.store.save_task(task)
                pipeline.run([Path(path)], acl=grant.acl, public=grant.public, tags=grant.tags, on_file=on_file)
            task.in_flight = None
        elif remaining:
            pipeline.run(
                [Path(p) for p in remaining], acl=grant.acl, public=grant.public, tags=grant.tags, on_file=on_file
            )
        for path in remaining:  # a run that ends without a word on a file must not let its task pass as done
            if path not in task.files and path not in transient:
                log.warning("no outcome job=%s task=%d path=%s", task.job_id, task.number, path)
                self._record(task, path, FileOutcome("failed", reason="indexing ended without an outcome for it"))
        return transient

    def _record(self, task: TaskRecord, path: str, outcome: FileOutcome) -> None:
        task.files[path] = outcome
        if self.metrics:
            self.metrics.documents.labels(outcome.status).inc()
            if outcome.status == "indexed":
                self.metrics.chunks.inc(outcome.chunks)

    def _quarantine_failed(self, task: TaskRecord) -> None:
        """Move the uploads that failed for good out of the uploads folder (a retried file stays until then)."""
        if self.quarantine is None:
            return
        for path, outcome in task.files.items():
            if outcome.status in ("failed", "dead"):
                try:
                    kept = self.quarantine.keep(path, task.job_id)
                except OSError as exc:
                    log.warning("quarantine failed path=%s error=%s", path, exc)
                    continue
                if kept is not None:  # the job says where the file went
                    outcome.reason = f"{outcome.reason or 'failed'} (the upload was moved to {kept})"

    def _dead_letter_worker_killers(self, task: TaskRecord) -> None:
        for path in task.remaining:
            if task.lost_on.get(path, 0) >= self.policy.max_attempts:
                self._record(
                    task,
                    path,
                    FileOutcome(
                        "dead",
                        reason=f"its worker died {task.lost_on[path]} times while indexing it",
                        attempts=task.lost_on[path],
                    ),
                )

    def _failed_attempt(self, task: TaskRecord, exc: Exception) -> Retry | None:
        task.failures += 1
        task.error = f"{type(exc).__name__}: {exc}"
        log.warning(
            "task failed job=%s task=%d attempt=%d error=%s", task.job_id, task.number, task.failures, task.error
        )
        if task.failures >= self.policy.max_attempts:
            for path in task.remaining:
                self._record(task, path, FileOutcome("dead", reason=task.error, attempts=task.failures))
            self._finish(task, TaskState.DONE)
            return None
        task.state, task.queued_at = TaskState.QUEUED, time.time()
        self.store.save_task(task)
        return Retry(self.policy.backoff(task.failures))

    def _finish(self, task: TaskRecord, state: TaskState) -> None:
        task.state = state
        task.in_flight = None
        task.finished_at = time.time()
        self.store.save_task(task)
        return None


def note_lost_worker(task: TaskRecord) -> None:
    """Record that the worker running `task` died (seen by a re-delivery or by the reaper)."""
    task.worker_lost += 1
    if task.in_flight:
        task.lost_on[task.in_flight] = task.lost_on.get(task.in_flight, 0) + 1
        task.in_flight = None


class _Heartbeat:
    """Renews a running task's lease until stopped."""

    def __init__(self, store: JobStore, job_id: str, number: int, worker: str, policy: TaskPolicy) -> None:
        self._args = (store, job_id, number, worker, policy)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="docent-heartbeat")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        store, job_id, number, worker, policy = self._args
        while not self._stop.wait(policy.heartbeat_s):
            try:
                if not store.lease(job_id, number, worker, policy.lease_s):
                    log.warning("lease lost job=%s task=%d (another worker took the task over)", job_id, number)
            except Exception as exc:
                log.warning("heartbeat failed job=%s task=%d error=%s", job_id, number, exc)


class Reaper:
    """Finds running tasks whose lease expired (their worker vanished) and submits them again.

    Every worker process and the API run one; a task re-queued twice is harmless (the second delivery finds
    the lease held or the task finished)."""

    def __init__(
        self,
        store: JobStore,
        submit: Callable[[str, int], None],
        *,
        interval_s: float,
        queued_too_long_s: float = 3600.0,
    ) -> None:
        self.store = store
        self.submit = submit
        self.interval_s = interval_s
        self.queued_too_long_s = queued_too_long_s
        self._last_queued_check = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="docent-reaper")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def sweep(self) -> int:
        """Re-queue every orphaned task once; the number re-queued."""
        requeued = 0
        for job_id, number in self.store.running():
            if self.store.leased(job_id, number):
                continue
            task = self.store.task(job_id, number)
            if task is None or self.store.job(job_id) is None:
                self.store.forget_running(job_id, number)
                continue
            if task.state is not TaskState.RUNNING or self.store.leased(job_id, number):
                continue
            note_lost_worker(task)
            task.state, task.queued_at = TaskState.QUEUED, time.time()
            self.store.save_task(task)
            log.warning(
                "task re-queued job=%s task=%d reason=its worker stopped renewing its lease (%s)",
                job_id,
                number,
                task.worker,
            )
            self.submit(job_id, number)
            requeued += 1
        if time.monotonic() - self._last_queued_check >= min(300.0, self.queued_too_long_s / 4):
            self._last_queued_check = time.monotonic()
            requeued += self.resubmit_forgotten()
        return requeued

    def resubmit_forgotten(self, recent: int = 200) -> int:
        """Submit again the tasks of recent jobs still queued after `queued_too_long_s`: their message may be
        lost (Redis restarted without persistence, a publish that failed). A duplicate is harmless: the second
        delivery finds the task finished or leased."""
        cutoff = time.time() - self.queued_too_long_s
        resubmitted = 0
        for job in self.store.recent(recent):
            if job.cancelled:
                continue
            for task in self.store.tasks(job.job_id):
                if task.state is TaskState.QUEUED and task.queued_at < cutoff:
                    task.queued_at = time.time()
                    self.store.save_task(task)
                    log.warning(
                        "task re-submitted job=%s task=%d reason=queued for over %.0f s",
                        job.job_id,
                        task.number,
                        self.queued_too_long_s,
                    )
                    self.submit(job.job_id, task.number)
                    resubmitted += 1
        return resubmitted

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.sweep()
            except Exception as exc:
                log.warning("reaper sweep failed error=%s", exc)
