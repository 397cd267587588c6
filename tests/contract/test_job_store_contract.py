"""One contract, every job store: in this process's memory (a CLI's), Redis (shared by the API and the workers;
a real redis-server started by the tests) and the relational store (a server with no Redis, on SQLite and a real
PostgreSQL: jobs that outlive a restart).

The contract: records come back equal to what was saved and are copies (a caller never shares one); `recent`
lists the newest jobs first and at most `keep` of them; a lease is held by one worker at a time until it is
released by that worker or expires; `running` lists the tasks saved as running.
"""

from __future__ import annotations

import time
import uuid

import pytest

from ingest.jobs.redis_store import RedisJobStore
from ingest.jobs.store import FileOutcome, Grant, Job, JobStore, MemoryJobStore, TaskRecord, TaskState
from serve.stores.database import Database, sqlite_url
from serve.stores.jobs import DatabaseJobStore
from tests.support.redis_server import RedisServer


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(params=["memory", "redis", "sqlite", "postgresql"])
def make_store(request, tmp_path):
    """A function that opens an empty store of the parametrised kind (with the given `keep`)."""
    if request.param == "memory":
        return lambda keep=1000: MemoryJobStore(keep=keep)
    if request.param in ("sqlite", "postgresql"):
        url = sqlite_url(tmp_path / "docent.sqlite")
        if request.param == "postgresql":
            url = request.getfixturevalue("postgres").create_database(f"j{uuid.uuid4().hex[:12]}")
        database = Database(url)
        database.upgrade()
        request.addfinalizer(database.close)
        return lambda keep=1000: DatabaseJobStore(database, keep=keep)
    server = request.getfixturevalue("redis_server")
    server.flush()
    return lambda keep=1000: RedisJobStore(server.url, keep=keep)


def new_job(store: JobStore, job_id: str, *, files: int = 3, created_at: float | None = None) -> Job:
    job = Job(
        job_id,
        "ingest",
        Grant(acl=("group:hr",), tags=("policy",)),
        total_files=files,
        tasks=2,
        created_at=created_at or time.time(),
        label="/share",
    )
    tasks = [
        TaskRecord(job_id, 0, [f"/share/{n}.md" for n in range(files - 1)]),
        TaskRecord(job_id, 1, [f"/share/{files - 1}.md"]),
    ]
    store.create(job, tasks)
    return job


def test_a_created_job_and_its_tasks_come_back_equal(make_store):
    store = make_store()
    store.ping()
    job = new_job(store, "j1")
    assert store.job("j1") == job
    assert [t.paths for t in store.tasks("j1")] == [["/share/0.md", "/share/1.md"], ["/share/2.md"]]
    assert store.task("j1", 1) == store.tasks("j1")[1]
    assert store.job("nope") is None and store.tasks("nope") == [] and store.task("j1", 7) is None


def test_a_saved_task_keeps_every_field_and_records_are_copies(make_store):
    store = make_store()
    new_job(store, "j1")
    task = store.task("j1", 0)
    task.state, task.attempts, task.worker = TaskState.DONE, 2, "w1/7"
    task.files["/share/0.md"] = FileOutcome("indexed", chunks=4)
    task.files["/share/1.md"] = FileOutcome("dead", reason="parser timed out after 3 s", attempts=2)
    task.transient["/share/1.md"] = 1
    task.finished_at = 123.5
    store.save_task(task)
    again = store.task("j1", 0)
    assert again == task and again is not task
    again.files.clear()  # changing a returned record changes nothing stored
    assert store.task("j1", 0) == task
    assert store.task("j1", 1).state is TaskState.QUEUED


def test_recent_lists_the_newest_jobs_first_and_keeps_at_most_keep(make_store):
    store = make_store(keep=2)
    for n, job_id in enumerate(["old", "middle", "new"]):
        new_job(store, job_id, created_at=1000.0 + n)
    assert [j.job_id for j in store.recent(10)] == ["new", "middle"]
    assert [j.job_id for j in store.recent(1)] == ["new"]


def test_cancel_marks_the_job_and_ignores_an_unknown_one(make_store):
    store = make_store()
    new_job(store, "j1")
    store.cancel("j1")
    store.cancel("nope")
    assert store.job("j1").cancelled and store.job("nope") is None


def test_a_lease_is_held_by_one_worker_until_released_or_expired(make_store):
    store = make_store()
    new_job(store, "j1")
    assert not store.leased("j1", 0)
    assert store.lease("j1", 0, "w1", 30)
    assert store.leased("j1", 0)
    assert not store.lease("j1", 0, "w2", 30)  # another worker is refused while the lease is held
    assert store.lease("j1", 0, "w1", 30)  # its holder renews it
    store.release("j1", 0, "w2")  # only the holder releases
    assert store.leased("j1", 0) and not store.lease("j1", 0, "w2", 30)
    store.release("j1", 0, "w1")
    assert not store.leased("j1", 0) and store.lease("j1", 0, "w2", 0.2)
    time.sleep(0.5)  # w2 stopped renewing: its lease expires and another worker may take the task
    assert not store.leased("j1", 0) and store.lease("j1", 0, "w3", 30)
    assert not store.leased("j1", 1)  # leases are per task


def test_running_lists_the_tasks_saved_as_running(make_store):
    store = make_store()
    new_job(store, "j1")
    assert store.running() == []
    task = store.task("j1", 1)
    task.state = TaskState.RUNNING
    store.save_task(task)
    assert store.running() == [("j1", 1)]
    task.state = TaskState.DONE
    store.save_task(task)
    assert store.running() == []
    store.forget_running("j1", 1)  # harmless for a task that is not running
    assert store.running() == []


def test_the_relational_store_lists_the_queued_tasks_of_live_jobs_oldest_first(tmp_path):
    store = DatabaseJobStore(Database(sqlite_url(tmp_path / "docent.sqlite")))
    store.database.upgrade()
    new_job(store, "later", created_at=2000.0)
    new_job(store, "first", created_at=1000.0)
    new_job(store, "dropped", created_at=1500.0)
    store.cancel("dropped")
    done = store.task("first", 0)
    done.state = TaskState.DONE
    store.save_task(done)
    assert store.queued() == [("first", 1), ("later", 0), ("later", 1)]


def test_the_relational_store_drops_jobs_unchanged_for_their_ttl_with_their_tasks(tmp_path):
    store = DatabaseJobStore(Database(sqlite_url(tmp_path / "docent.sqlite")), ttl_s=0.5)
    store.database.upgrade()
    new_job(store, "stale")
    new_job(store, "busy")
    time.sleep(0.3)
    store.save_task(store.task("busy", 0))  # a change keeps a job, however old
    time.sleep(0.3)
    new_job(store, "fresh")  # creating a job trims the others
    assert store.job("stale") is None and store.tasks("stale") == []
    assert [j.job_id for j in store.recent(10)] == ["fresh", "busy"] and len(store.tasks("busy")) == 2
