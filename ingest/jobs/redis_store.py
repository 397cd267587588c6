"""Jobs in Redis, shared by the API and every worker (see ingest/jobs/store.py for the model).

Keys (prefix `docent:`): `job:<id>` the job (JSON), `job:<id>:tasks` a hash of task number -> task (JSON),
`jobs` a sorted set of job ids by creation time (for listings), `running` a set of "<job>:<task>" being run,
`lease:<job>:<task>` the running worker's id with a TTL that its heartbeats renew: when a worker dies the
lease expires and the reaper re-queues its task. Every key of a job expires `ttl_s` after its last change.

Every call has a short socket timeout: Redis down is a `QueueUnavailableError` within seconds, not a hang.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar, cast

import redis
import redis.lock

from ingest.jobs.store import Job, TaskRecord, TaskState
from retrieval.errors import QueueUnavailableError

T = TypeVar("T")
PREFIX = "docent:"


class RedisJobStore:
    def __init__(self, url: str, *, ttl_s: int = 7 * 86400, keep: int = 1000, timeout_s: float = 2.0) -> None:
        self.ttl_s = ttl_s
        self.keep = keep
        self.redis = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except redis.RedisError as exc:
            raise QueueUnavailableError(f"the job queue (Redis) is unavailable: {exc}") from exc

    def ping(self) -> None:
        self._call(self.redis.ping)

    def create(self, job: Job, tasks: Sequence[TaskRecord]) -> None:
        def run() -> None:
            pipe = self.redis.pipeline()
            pipe.set(f"{PREFIX}job:{job.job_id}", job.to_json(), ex=self.ttl_s)
            pipe.hset(f"{PREFIX}job:{job.job_id}:tasks", mapping={str(t.number): t.to_json() for t in tasks})
            pipe.expire(f"{PREFIX}job:{job.job_id}:tasks", self.ttl_s)
            pipe.zadd(f"{PREFIX}jobs", {job.job_id: job.created_at})
            pipe.zremrangebyrank(f"{PREFIX}jobs", 0, -self.keep - 1)
            pipe.execute()

        self._call(run)

    def job(self, job_id: str) -> Job | None:
        text = cast("bytes | None", self._call(lambda: self.redis.get(f"{PREFIX}job:{job_id}")))
        return Job.from_json(text) if text else None

    def tasks(self, job_id: str) -> list[TaskRecord]:
        raw = cast("dict[bytes, bytes]", self._call(lambda: self.redis.hgetall(f"{PREFIX}job:{job_id}:tasks")))
        return sorted((TaskRecord.from_json(v) for v in raw.values()), key=lambda t: t.number)

    def task(self, job_id: str, number: int) -> TaskRecord | None:
        text = cast("bytes | None", self._call(lambda: self.redis.hget(f"{PREFIX}job:{job_id}:tasks", str(number))))
        return TaskRecord.from_json(text) if text else None

    def save_task(self, task: TaskRecord) -> None:
        member = f"{task.job_id}:{task.number}"

        def run() -> None:
            pipe = self.redis.pipeline()
            pipe.hset(f"{PREFIX}job:{task.job_id}:tasks", str(task.number), task.to_json())
            pipe.expire(f"{PREFIX}job:{task.job_id}:tasks", self.ttl_s)
            pipe.expire(f"{PREFIX}job:{task.job_id}", self.ttl_s)
            if task.state is TaskState.RUNNING:
                pipe.sadd(f"{PREFIX}running", member)
            else:
                pipe.srem(f"{PREFIX}running", member)
            pipe.execute()

        self._call(run)

    def recent(self, limit: int) -> list[Job]:
        def run() -> list[Job]:
            # redis-py types every reply as a union of its sync and async results; without decode_responses a
            # sorted set's members are bytes.
            ids = cast("list[bytes]", self.redis.zrevrange(f"{PREFIX}jobs", 0, limit - 1))
            if not ids:
                return []
            texts = cast("list[bytes | None]", self.redis.mget([f"{PREFIX}job:{i.decode()}" for i in ids]))
            return [Job.from_json(t) for t in texts if t]

        return self._call(run)

    def cancel(self, job_id: str) -> None:
        job = self.job(job_id)
        if job is not None:
            job.cancelled = True
            self._call(lambda: self.redis.set(f"{PREFIX}job:{job_id}", job.to_json(), ex=self.ttl_s))

    # A lease is taken with SET NX, or renewed by its holder; the check-then-renew is one Lua call so a lease
    # that just expired and was taken by another worker is never renewed by the old one.
    _LEASE = """
    local holder = redis.call('GET', KEYS[1])
    if holder == false then
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1
    elseif holder == ARGV[1] then
        redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1
    end
    return 0
    """
    _RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"

    def lease(self, job_id: str, number: int, worker: str, ttl_s: float) -> bool:
        key = f"{PREFIX}lease:{job_id}:{number}"
        return bool(self._call(lambda: self.redis.eval(self._LEASE, 1, key, worker, int(ttl_s * 1000))))

    def release(self, job_id: str, number: int, worker: str) -> None:
        self._call(lambda: self.redis.eval(self._RELEASE, 1, f"{PREFIX}lease:{job_id}:{number}", worker))

    def running(self) -> list[tuple[str, int]]:
        # The sync client's reply, in bytes (no decode_responses); redis-py's types include the async one's.
        members = cast("set[bytes]", self._call(lambda: self.redis.smembers(f"{PREFIX}running")))
        pairs = []
        for member in members:
            job_id, _, number = member.decode().rpartition(":")
            pairs.append((job_id, int(number)))
        return pairs

    def leased(self, job_id: str, number: int) -> bool:
        return bool(self._call(lambda: self.redis.exists(f"{PREFIX}lease:{job_id}:{number}")))

    def forget_running(self, job_id: str, number: int) -> None:
        """Drop a task from the running set whose job has expired (nothing left to re-queue)."""
        self._call(lambda: self.redis.srem(f"{PREFIX}running", f"{job_id}:{number}"))


class RedisDocumentLocks:
    """`WriteLocks` across processes: the workers and the API that write one collection on a Qdrant server.

    A lock expires after `timeout_s` if its holder dies; a writer waits at most as long for it."""

    def __init__(self, url: str, *, timeout_s: float = 120.0) -> None:
        self.timeout_s = timeout_s
        self.redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)

    def of(self, document_id: str) -> redis.lock.Lock:
        lock: redis.lock.Lock = self.redis.lock(
            f"{PREFIX}doclock:{document_id}", timeout=self.timeout_s, blocking_timeout=self.timeout_s
        )
        return lock
