"""The Redis-backed queue: Celery with Redis as broker and result store; workers in any number of processes.

Delivery is at-least-once and made safe by the runner (ingest/jobs/tasks.py):
- tasks are acknowledged late (after they ran) and rejected back to the queue if their worker is lost, one
  task reserved per worker thread (`worker_prefetch_multiplier=1`), so a dying worker takes little with it;
- a task whose worker vanished is also re-queued by the reaper as soon as its lease expires (Redis's own
  redelivery waits for the visibility timeout, an hour by default);
- retries are new messages with a countdown, scheduled by the runner's backoff policy.

`docent worker` runs `run_worker` (a Celery worker process with a pool of threads: parsing already happens in
child processes, and the embedding model runs outside the GIL). A `docent serve` that owns an embedded index
runs `start_consumer` instead, the same consumer on threads of the API process, since no other process may
write its index.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

import redis
from celery import Celery

from ingest.jobs.tasks import TaskRunner
from retrieval.errors import ConfigError, QueueUnavailableError

log = logging.getLogger(__name__)

QUEUE = "docent.ingest"
TASK = "docent.index"


class CeleryQueue:
    """Submits tasks to Redis; with a runner attached, also consumes them (`run_worker`, `start_consumer`)."""

    def __init__(self, redis_url: str, *, visibility_timeout_s: float = 3600.0, timeout_s: float = 2.0) -> None:
        self.redis_url = redis_url
        self.runner: TaskRunner | None = None
        self._redis = redis.Redis.from_url(redis_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._consumer: Any = None
        self._consumer_thread: threading.Thread | None = None
        app = Celery("docent", broker=redis_url, backend=redis_url, set_as_current=False)
        app.conf.update(
            task_default_queue=QUEUE,
            task_acks_late=True,
            task_reject_on_worker_lost=True,
            worker_prefetch_multiplier=1,
            task_ignore_result=True,  # outcomes live in the job store, per file
            task_serializer="json",
            accept_content=["json"],
            broker_transport_options={
                "visibility_timeout": visibility_timeout_s,
                "socket_timeout": timeout_s,
                "socket_connect_timeout": timeout_s,
            },
            broker_connection_timeout=timeout_s,
            broker_connection_retry_on_startup=True,
            # Publishing fails fast when Redis is down: the caller answers 503 instead of hanging.
            task_publish_retry_policy={"max_retries": 1, "interval_start": 0.2, "interval_step": 0.2},
            worker_hijack_root_logger=False,
            worker_send_task_events=False,
            worker_cancel_long_running_tasks_on_connection_loss=False,
        )
        self.app = app

        @app.task(name=TASK, acks_late=True)
        def index(job_id: str, number: int) -> None:
            if self.runner is None:
                raise ConfigError("this process submits tasks but runs none")
            retry = self.runner.run(job_id, number)
            if retry is not None:
                self.submit(job_id, number, countdown_s=retry.countdown_s)

        self._task = index

    def submit(self, job_id: str, number: int, *, countdown_s: float = 0.0) -> None:
        try:
            if countdown_s:
                self._task.apply_async((job_id, number), countdown=countdown_s, retry=True)
            else:  # as soon as a worker is free (celery-types has no None for countdown, which celery accepts)
                self._task.apply_async((job_id, number), retry=True)
        except Exception as exc:  # kombu raises OperationalError and friends
            raise QueueUnavailableError(f"the job queue (Redis) is unavailable: {exc}") from exc

    def depth(self) -> int:
        """Messages waiting in Redis (not those reserved by workers, nor retries waiting out their countdown)."""
        try:
            length: Any = self._redis.llen(QUEUE)  # redis-py types it "Awaitable[int] | int"
            return int(length)
        except redis.RedisError as exc:
            raise QueueUnavailableError(f"the job queue (Redis) is unavailable: {exc}") from exc

    def run_worker(self, runner: TaskRunner, *, concurrency: int, loglevel: str = "WARNING") -> None:
        """Consume until SIGTERM/SIGINT (a warm shutdown: running tasks finish first). Blocks."""
        self.runner = runner
        worker = self.app.Worker(
            hostname=f"docent@{socket.gethostname()}-{os.getpid()}",
            pool="threads",
            concurrency=concurrency,
            loglevel=loglevel,
            without_gossip=True,
            without_mingle=True,
            queues=[QUEUE],
            quiet=True,
        )
        worker.start()

    def start_consumer(self, runner: TaskRunner, *, concurrency: int) -> None:
        """Consume on threads of this process until `close()` (the API process that owns an embedded index)."""
        self.runner = runner
        self._consumer = self.app.WorkController(
            hostname=f"docent-api@{socket.gethostname()}-{os.getpid()}",
            pool_cls="threads",
            concurrency=concurrency,
            without_gossip=True,
            without_mingle=True,
            without_heartbeat=True,
            queues=[QUEUE],
        )
        self._consumer_thread = threading.Thread(target=self._consumer.start, daemon=True, name="docent-consumer")
        self._consumer_thread.start()

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.stop(in_sighandler=False)
            if self._consumer_thread is not None:
                self._consumer_thread.join(timeout=30)
            self._consumer = None
        self._redis.close()
