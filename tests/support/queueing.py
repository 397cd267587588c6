"""Wiring the in-process job queue around a test's pipeline, as `docent serve` does without Redis."""

from __future__ import annotations

from ingest.jobs.queue import InProcessQueue, JobService, ThreadPipelines
from ingest.jobs.store import MemoryJobStore
from ingest.jobs.tasks import TaskPolicy, TaskRunner
from ingest.quarantine import Quarantine
from ingest.sandbox import ParseLimits, ParserPool


def in_process_jobs(
    pipeline,
    *,
    concurrency: int = 1,
    policy: TaskPolicy | None = None,
    task_files: int = 32,
    limits: ParseLimits | None = None,
    quarantine: Quarantine | None = None,
) -> JobService:
    pipelines = ThreadPipelines(pipeline, lambda: ParserPool(limits or ParseLimits()))
    store = MemoryJobStore()
    runner = TaskRunner(
        store, pipelines, worker_id="test", policy=policy or TaskPolicy(backoff_s=0.2), quarantine=quarantine
    )
    return JobService(store, InProcessQueue(runner, concurrency=concurrency), task_files=task_files)
