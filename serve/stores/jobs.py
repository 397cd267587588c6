"""Ingestion jobs in the relational store: the `JobStore` of a server with no Redis.

Without Redis the tasks run on this process's threads (`InProcessQueue`), and used to be kept in its memory: a
restart lost every job, queued work included. Here a job outlives the process that accepted it: `docent serve`
resumes the tasks still queued when it starts again, and its reaper re-runs a task whose lease expired (the
process running it died). The same contract as the memory and Redis stores (tests/contract/
test_job_store_contract.py); leases are rows, claimed with one conditional UPDATE, so two processes sharing a
PostgreSQL (or the SQLite file) never run one task at once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import sqlalchemy as sa

from ingest.jobs.store import Job, TaskRecord, TaskState
from serve.stores.database import Database
from serve.stores.schema import job_tasks, jobs


class DatabaseJobStore:
    """Jobs and tasks as rows; keeps the newest `keep` jobs, none unchanged for `ttl_s` (as Redis does)."""

    def __init__(self, database: Database, *, keep: int = 1000, ttl_s: float = 7 * 86400) -> None:
        self.database = database
        self.keep = keep
        self.ttl_s = ttl_s

    def ping(self) -> None:
        self.database.ping()

    def create(self, job: Job, tasks: Sequence[TaskRecord]) -> None:
        with self.database.begin() as db:
            db.execute(
                jobs.insert().values(
                    job_id=job.job_id, created_at=job.created_at, updated_at=time.time(), record=job.to_json()
                )
            )
            if tasks:
                db.execute(
                    job_tasks.insert(),
                    [
                        {"job_id": t.job_id, "number": t.number, "state": t.state.value, "record": t.to_json()}
                        for t in tasks
                    ],
                )
            self._trim(db)

    def _trim(self, db: sa.Connection) -> None:
        """Drop jobs beyond the newest `keep` and those unchanged for the TTL (their tasks go with them)."""
        newest = sa.select(jobs.c.job_id).order_by(jobs.c.created_at.desc()).limit(self.keep).scalar_subquery()
        old = sa.or_(jobs.c.updated_at < time.time() - self.ttl_s, jobs.c.job_id.not_in(newest))
        doomed = [row.job_id for row in db.execute(sa.select(jobs.c.job_id).where(old))]
        if doomed:  # the tasks explicitly too: SQLite enforces ON DELETE CASCADE only with its pragma on
            db.execute(job_tasks.delete().where(job_tasks.c.job_id.in_(doomed)))
            db.execute(jobs.delete().where(jobs.c.job_id.in_(doomed)))

    def job(self, job_id: str) -> Job | None:
        with self.database.connect() as db:
            record = db.execute(sa.select(jobs.c.record).where(jobs.c.job_id == job_id)).scalar()
        return Job.from_json(record) if record else None

    def tasks(self, job_id: str) -> list[TaskRecord]:
        query = sa.select(job_tasks.c.record).where(job_tasks.c.job_id == job_id).order_by(job_tasks.c.number)
        with self.database.connect() as db:
            return [TaskRecord.from_json(record) for record in db.execute(query).scalars()]

    def task(self, job_id: str, number: int) -> TaskRecord | None:
        with self.database.connect() as db:
            record = db.execute(sa.select(job_tasks.c.record).where(*self._key(job_id, number))).scalar()
        return TaskRecord.from_json(record) if record else None

    def save_task(self, task: TaskRecord) -> None:
        with self.database.begin() as db:
            db.execute(
                job_tasks.update()
                .where(*self._key(task.job_id, task.number))
                .values(state=task.state.value, record=task.to_json())
            )
            db.execute(jobs.update().where(jobs.c.job_id == task.job_id).values(updated_at=time.time()))

    def recent(self, limit: int) -> list[Job]:
        query = sa.select(jobs.c.record).order_by(jobs.c.created_at.desc()).limit(limit)
        with self.database.connect() as db:
            return [Job.from_json(record) for record in db.execute(query).scalars()]

    def cancel(self, job_id: str) -> None:
        with self.database.begin() as db:
            record = db.execute(sa.select(jobs.c.record).where(jobs.c.job_id == job_id)).scalar()
            if record:
                job = Job.from_json(record)
                job.cancelled = True
                db.execute(
                    jobs.update().where(jobs.c.job_id == job_id).values(record=job.to_json(), updated_at=time.time())
                )

    def lease(self, job_id: str, number: int, worker: str, ttl_s: float) -> bool:
        now = time.time()
        free = sa.or_(
            job_tasks.c.lease_worker.is_(None), job_tasks.c.lease_worker == worker, job_tasks.c.lease_until <= now
        )
        with self.database.begin() as db:
            claimed = db.execute(
                job_tasks.update()
                .where(*self._key(job_id, number), free)
                .values(lease_worker=worker, lease_until=now + ttl_s)
            )
        return claimed.rowcount == 1

    def release(self, job_id: str, number: int, worker: str) -> None:
        with self.database.begin() as db:
            db.execute(
                job_tasks.update()
                .where(*self._key(job_id, number), job_tasks.c.lease_worker == worker)
                .values(lease_worker=None, lease_until=None)
            )

    def running(self) -> list[tuple[str, int]]:
        query = sa.select(job_tasks.c.job_id, job_tasks.c.number).where(job_tasks.c.state == TaskState.RUNNING.value)
        with self.database.connect() as db:
            return [(row.job_id, row.number) for row in db.execute(query)]

    def leased(self, job_id: str, number: int) -> bool:
        query = sa.select(job_tasks.c.lease_until).where(
            *self._key(job_id, number), job_tasks.c.lease_worker.is_not(None)
        )
        with self.database.connect() as db:
            until = db.execute(query).scalar()
        return until is not None and until > time.time()

    def forget_running(self, job_id: str, number: int) -> None:
        return None  # running tasks are derived from the task rows here

    def queued(self) -> list[tuple[str, int]]:
        """The queued tasks of jobs not cancelled, oldest job first: what a restarted server submits again."""
        query = (
            sa.select(job_tasks.c.job_id, job_tasks.c.number, jobs.c.record)
            .join(jobs, jobs.c.job_id == job_tasks.c.job_id)
            .where(job_tasks.c.state == TaskState.QUEUED.value)
            .order_by(jobs.c.created_at, job_tasks.c.number)
        )
        with self.database.connect() as db:
            rows = list(db.execute(query))
        return [(row.job_id, row.number) for row in rows if not Job.from_json(row.record).cancelled]

    @staticmethod
    def _key(job_id: str, number: int) -> tuple[sa.ColumnElement[bool], sa.ColumnElement[bool]]:
        return job_tasks.c.job_id == job_id, job_tasks.c.number == number
