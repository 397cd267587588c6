"""Indexing jobs: what was asked (files, who may read them), the tasks it was split into, and how far they got.

A job is a batch of files submitted together (an upload, `docent ingest --queue`, `docent sync`). It is split
into tasks of bounded size, each indexed by one worker; a task records the outcome of every file, so a task
that is delivered again (its worker died, the queue redelivered it) resumes after the files already done and
the job's counts stay exact. The job's state and progress are derived from its tasks, never stored twice.

Stores: `MemoryJobStore` (the in-process queue of the embedded default; jobs do not survive a restart) and
`ingest.jobs.redis_store.RedisJobStore` (shared by the API and every worker when Redis is configured).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from retrieval.access import acl_entries
from retrieval.errors import PathNotFoundError


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PARTIALLY_FAILED = "partially_failed"
    CANCELLED = "cancelled"


class TaskState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"  # every file has an outcome (indexed, unchanged, failed or dead)
    CANCELLED = "cancelled"


TERMINAL_TASK_STATES = (TaskState.DONE, TaskState.CANCELLED)


@dataclass(frozen=True, slots=True)
class Grant:
    """Who may read the documents of a job, and their tags."""

    acl: tuple[str, ...] = ()
    public: bool = False
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "acl", acl_entries(self.acl))  # ConfigError before any job exists


@dataclass(slots=True)
class FileOutcome:
    status: str  # "indexed" | "unchanged" | "failed" | "dead" (retried until the limit; the dead-letter state)
    chunks: int = 0
    reason: str | None = None
    attempts: int = 1


@dataclass(slots=True)
class TaskRecord:
    """One unit of work: up to `task_files` files (or, for a sync, the removal of files that are gone)."""

    job_id: str
    number: int
    paths: list[str]
    kind: str = "index"  # "index" | "prune"
    prune_roots: list[str] = field(default_factory=list)
    state: TaskState = TaskState.QUEUED
    attempts: int = 0  # deliveries that started running (a worker that died mid-task counts)
    worker: str | None = None
    files: dict[str, FileOutcome] = field(default_factory=dict)
    worker_lost: int = 0  # times the worker running this task died (seen by a re-delivery or the reaper)
    in_flight: str | None = None  # the file being indexed one at a time after a worker was lost
    lost_on: dict[str, int] = field(default_factory=dict)  # file -> times a worker died while it was in flight
    transient: dict[str, int] = field(default_factory=dict)  # file -> tries that timed out or crashed its parser
    failures: int = 0  # runs that ended in an exception (the index down...)
    removed: int = 0
    error: str | None = None  # the last exception, while retrying
    queued_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    seconds: float = 0.0  # time spent running, over all attempts

    @property
    def remaining(self) -> list[str]:
        return [p for p in self.paths if p not in self.files]

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_TASK_STATES

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> TaskRecord:
        data = json.loads(text)
        data["files"] = {p: FileOutcome(**o) for p, o in data["files"].items()}
        data["state"] = TaskState(data["state"])
        return cls(**data)


@dataclass(slots=True)
class Job:
    job_id: str
    kind: str  # "upload" | "ingest" | "sync"
    grant: Grant
    total_files: int
    tasks: int
    created_at: float = field(default_factory=time.time)
    cancelled: bool = False
    label: str = ""  # what was submitted, for listings (a folder, "3 uploaded files")

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Job:
        data = json.loads(text)
        grant = data["grant"]  # JSON has lists where the grant has tuples
        data["grant"] = Grant(
            acl=tuple(grant.get("acl", ())), public=grant.get("public", False), tags=tuple(grant.get("tags", ()))
        )
        return cls(**data)


@dataclass(slots=True)
class JobStatus:
    """A job as users see it: its state, progress, per-document failures and timings."""

    job: Job
    tasks: list[TaskRecord]

    @property
    def finished_files(self) -> dict[str, FileOutcome]:
        return {path: outcome for task in self.tasks for path, outcome in task.files.items()}

    @property
    def state(self) -> JobState:
        if self.job.cancelled:
            return JobState.CANCELLED
        if not all(t.terminal for t in self.tasks):
            started = any(t.attempts or t.files for t in self.tasks)
            return JobState.RUNNING if started else JobState.QUEUED
        outcomes = self.finished_files.values()
        bad = sum(o.status in ("failed", "dead") for o in outcomes)
        if not bad:
            return JobState.SUCCEEDED
        return JobState.FAILED if bad == len(outcomes) else JobState.PARTIALLY_FAILED

    @property
    def finished(self) -> bool:
        """Every task is done, or the job was cancelled and no task is still running."""
        if self.job.cancelled:
            return not any(t.state is TaskState.RUNNING for t in self.tasks)
        return all(t.terminal for t in self.tasks)

    def to_dict(self) -> dict[str, object]:
        outcomes = self.finished_files
        count = {s: sum(o.status == s for o in outcomes.values()) for s in ("indexed", "unchanged", "failed", "dead")}
        starts = [t.started_at for t in self.tasks if t.started_at]
        ends = [t.finished_at for t in self.tasks if t.finished_at]
        finished_at = max(ends) if self.finished and ends else None
        return {
            "id": self.job.job_id,
            "kind": self.job.kind,
            "label": self.job.label,
            "state": self.state.value,
            "progress": {
                "documents_total": self.job.total_files,
                "documents_done": len(outcomes),
                **count,
                "chunks": sum(o.chunks for o in outcomes.values()),
                "removed": sum(t.removed for t in self.tasks),
                "tasks_total": len(self.tasks),
                "tasks_done": sum(t.terminal for t in self.tasks),
            },
            "failures": [
                {"path": p, "reason": o.reason, "attempts": o.attempts}
                for p, o in outcomes.items()
                if o.status == "failed"
            ],
            "dead_letter": [
                {"path": p, "reason": o.reason, "attempts": o.attempts}
                for p, o in outcomes.items()
                if o.status == "dead"
            ],
            "retrying": [
                {"task": t.number, "attempts": t.attempts, "error": t.error}
                for t in self.tasks
                if t.error and not t.terminal
            ],
            "access": {
                "acl": list(self.job.grant.acl),
                "public": self.job.grant.public,
                "tags": list(self.job.grant.tags),
            },
            "timings": {
                "created_at": _iso(self.job.created_at),
                "started_at": _iso(min(starts)) if starts else None,
                "finished_at": _iso(finished_at),
                "queued_s": round(min(starts) - self.job.created_at, 3) if starts else None,
                "elapsed_s": round((finished_at or time.time()) - (min(starts) if starts else self.job.created_at), 3),
                "working_s": round(sum(t.seconds for t in self.tasks), 3),
            },
        }


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class JobStore(Protocol):
    """Where jobs and their tasks live. Leases are how a running task shows its worker is alive."""

    def ping(self) -> None: ...

    def create(self, job: Job, tasks: Sequence[TaskRecord]) -> None: ...

    def job(self, job_id: str) -> Job | None: ...

    def tasks(self, job_id: str) -> list[TaskRecord]: ...

    def task(self, job_id: str, number: int) -> TaskRecord | None: ...

    def save_task(self, task: TaskRecord) -> None: ...

    def recent(self, limit: int) -> list[Job]: ...

    def cancel(self, job_id: str) -> None: ...

    def lease(self, job_id: str, number: int, worker: str, ttl_s: float) -> bool:
        """Take the task for `worker` (or renew its lease); False when another live worker holds it."""
        ...

    def release(self, job_id: str, number: int, worker: str) -> None: ...

    def running(self) -> list[tuple[str, int]]:
        """Tasks marked running, for the reaper to check their leases."""
        ...

    def leased(self, job_id: str, number: int) -> bool: ...

    def forget_running(self, job_id: str, number: int) -> None: ...


class MemoryJobStore:
    """Jobs in this process's memory: the in-process queue of the embedded default. Keeps the latest `keep`."""

    def __init__(self, keep: int = 1000) -> None:
        self.keep = keep
        self._jobs: dict[str, Job] = {}
        self._tasks: dict[str, dict[int, str]] = {}  # stored as JSON, like Redis, so no caller shares a record
        self._leases: dict[tuple[str, int], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def ping(self) -> None:
        return None

    def create(self, job: Job, tasks: Sequence[TaskRecord]) -> None:
        with self._lock:
            self._jobs[job.job_id] = job
            self._tasks[job.job_id] = {t.number: t.to_json() for t in tasks}
            for old in sorted(self._jobs.values(), key=lambda j: j.created_at)[: -self.keep]:
                del self._jobs[old.job_id], self._tasks[old.job_id]

    def job(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return Job.from_json(job.to_json()) if job else None

    def tasks(self, job_id: str) -> list[TaskRecord]:
        with self._lock:
            return [TaskRecord.from_json(t) for _, t in sorted(self._tasks.get(job_id, {}).items())]

    def task(self, job_id: str, number: int) -> TaskRecord | None:
        with self._lock:
            text = self._tasks.get(job_id, {}).get(number)
            return TaskRecord.from_json(text) if text else None

    def save_task(self, task: TaskRecord) -> None:
        with self._lock:
            if task.job_id in self._tasks:
                self._tasks[task.job_id][task.number] = task.to_json()

    def recent(self, limit: int) -> list[Job]:
        with self._lock:
            jobs = sorted(self._jobs.values(), key=lambda j: j.created_at, reverse=True)[:limit]
            return [Job.from_json(j.to_json()) for j in jobs]

    def cancel(self, job_id: str) -> None:
        with self._lock:
            if job_id in self._jobs:
                self._jobs[job_id].cancelled = True

    def lease(self, job_id: str, number: int, worker: str, ttl_s: float) -> bool:
        with self._lock:
            holder = self._leases.get((job_id, number))
            if holder and holder[0] != worker and holder[1] > time.monotonic():
                return False
            self._leases[(job_id, number)] = (worker, time.monotonic() + ttl_s)
            return True

    def release(self, job_id: str, number: int, worker: str) -> None:
        with self._lock:
            if self._leases.get((job_id, number), ("",))[0] == worker:
                del self._leases[(job_id, number)]

    def running(self) -> list[tuple[str, int]]:
        with self._lock:
            return [
                (j, n)
                for j, tasks in self._tasks.items()
                for n, t in tasks.items()
                if TaskRecord.from_json(t).state is TaskState.RUNNING
            ]

    def leased(self, job_id: str, number: int) -> bool:
        with self._lock:
            holder = self._leases.get((job_id, number))
            return bool(holder and holder[1] > time.monotonic())

    def forget_running(self, job_id: str, number: int) -> None:
        return None  # running tasks are derived from the task records here


def new_job_id() -> str:
    return uuid.uuid4().hex[:16]


def plan_tasks(job_id: str, paths: Sequence[Path], *, task_files: int, task_mb: float) -> list[TaskRecord]:
    """Split files into tasks of at most `task_files` files and about `task_mb` MB (a bigger file goes alone)."""
    tasks: list[TaskRecord] = []
    batch: list[str] = []
    size = 0.0
    for path in paths:
        mb = path.stat().st_size / 2**20
        if batch and (len(batch) >= task_files or size + mb > task_mb):
            tasks.append(TaskRecord(job_id, len(tasks), batch))
            batch, size = [], 0.0
        batch.append(str(path))
        size += mb
    if batch:
        tasks.append(TaskRecord(job_id, len(tasks), batch))
    return tasks


def require_job(store: JobStore, job_id: str) -> Job:
    job = store.job(job_id)
    if job is None:
        raise PathNotFoundError(f"no job {job_id} (finished jobs are kept for a limited time)")
    return job
