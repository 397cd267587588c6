"""Indexing jobs on a real Redis with real Celery workers, and the in-process queue of the embedded default.

The worker processes are real `docent worker`s (Celery, thread pool) on an embedded index in a temporary data
folder; the tests read that index after the workers stopped (the embedded index has one writer at a time)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from qdrant_client import QdrantClient

from ingest.jobs.celery_queue import CeleryQueue
from ingest.jobs.queue import JobService
from ingest.jobs.redis_store import RedisJobStore
from ingest.jobs.store import Grant
from ingest.jobs.tasks import TaskPolicy
from retrieval.edge_index import EdgeIndex
from retrieval.qdrant_index import QdrantServerIndex
from serve.app import create_app
from serve.components import index_spec, start_jobs
from serve.documents import DocumentService
from serve.settings import QueueSettings, Settings
from tests.conftest import SAMPLE_DOCS
from tests.integration.test_bad_input import make_docx
from tests.integration.test_cli import docent_env
from tests.support.queueing import in_process_jobs
from tests.support.redis_server import RedisServer, free_port
from tests.support.stores import key_store

pytestmark = pytest.mark.slow

TERMINAL = {"succeeded", "failed", "partially_failed", "cancelled"}


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis_url(redis_server):
    redis_server.flush()
    return redis_server.url


@pytest.fixture
def admin(tmp_path):
    store = key_store(tmp_path)
    key, _ = store.create("root", (), role="admin")
    return store, {"Authorization": f"Bearer {key}"}


def write_corpus(folder: Path, count: int, paragraphs: int = 10) -> list[Path]:
    """Markdown handbooks of about ten chunks each, every sentence different."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        body = [f"# Handbook {n}: procedures of team {n}\n"]
        for p in range(paragraphs):
            body.append(
                f"## Section {p}\n\n"
                + " ".join(
                    f"Rule {n}.{p}.{s} says that request {n * 1000 + p * 10 + s} is approved by desk {s + p} "
                    f"within {n + s + 2} working days."
                    for s in range(8)
                )
                + "\n"
            )
        path = folder / f"handbook-{n:03d}.md"
        path.write_text("\n".join(body))
        paths.append(path)
    return paths


def wait_for(check, timeout_s: float, what: str, every_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every_s)


def producer(redis_url: str) -> tuple[JobService, CeleryQueue]:
    queue = CeleryQueue(redis_url)
    return JobService(RedisJobStore(redis_url), queue), queue


def start_worker(tmp_path: Path, data: Path, redis_url: str, name: str, **extra: str) -> subprocess.Popen:
    env = docent_env(
        data,
        DOCENT_REDIS_URL=redis_url,
        DOCENT_QUEUE__LEASE_S="3",
        DOCENT_QUEUE__HEARTBEAT_S="0.5",
        DOCENT_QUEUE__BACKOFF_S="0.2",
        DOCENT_INGEST__BATCH_CHUNKS="16",
        DOCENT_LOG_LEVEL="INFO",
        **{"DOCENT_QUEUE__METRICS_PORT": "0", **extra},
    )
    log = (tmp_path / f"{name}.log").open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "serve.cli", "worker"], env=env, stdout=log, stderr=log, start_new_session=True
    )


def stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)  # Celery's warm shutdown
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def open_index(data: Path, embedder, multilingual_embedder) -> EdgeIndex:
    index = EdgeIndex(data, index_spec(Settings(), embedder.dimension, multilingual_embedder, collection="docent"))
    index.start()
    return index


def assert_exact(index, sources: list[Path]) -> int:
    """Every document complete at one revision, nothing else in the index; the number of chunks."""
    documents = dict(index.documents())
    assert sorted(documents.values()) == sorted(str(p.resolve()) for p in sources)
    total = 0
    for document_id in documents:
        state = index.document_state(document_id)
        assert state.complete and state.points == state.chunk_count == state.points_at_revision, state
        total += state.chunk_count
    assert index.count() == total  # no point outside a complete document: nothing duplicated or left over
    return total


# -- the API on a Redis queue ------------------------------------------------------------------------------


def test_a_job_through_the_api_on_redis_to_completion(redis_url, admin, retriever, edge_index, pipeline, tmp_path):
    settings = Settings(
        _env_file=None,
        redis_url=redis_url,
        data_dir=tmp_path / "data",
        queue=QueueSettings(lease_s=5, heartbeat_s=1, backoff_s=0.2),
    )
    registry = CollectorRegistry()
    # This process owns the embedded index, so it consumes the queue itself (real Celery consumer threads).
    runtime = start_jobs(settings, pipeline, registry=registry, consume=True)
    keys, headers = admin
    app = create_app(
        retriever=retriever,
        index=edge_index,
        keys=keys,
        registry=registry,
        jobs=runtime.service,
        documents=DocumentService(edge_index, tmp_path / "uploads", runtime.service),
    )
    files = [("files", (name, (SAMPLE_DOCS / name).read_bytes())) for name in ("vpn-setup.md", "it-faq.html")]
    files.append(("files", ("broken.docx", b"PK\x03\x04 not a real office file")))
    try:
        with TestClient(app) as client:
            response = client.post("/v1/documents", files=files, data={"public": "true"}, headers=headers)
            assert response.status_code == 202, response.text
            job_id = response.json()["job"]["id"]
            assert response.headers["Location"] == f"/v1/jobs/{job_id}"

            seen = []

            def finished():
                job = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
                seen.append(job["state"])
                return job if job["state"] in TERMINAL else None

            job = wait_for(finished, 120, "the job")
            assert job["state"] == "partially_failed", job
            progress = job["progress"]
            assert (progress["documents_total"], progress["documents_done"]) == (3, 3)
            assert (progress["indexed"], progress["failed"], progress["dead"]) == (2, 1, 0)
            assert progress["chunks"] == edge_index.count() > 0
            (failure,) = job["failures"]
            assert failure["path"].endswith("broken.docx") and failure["reason"]
            assert job["timings"]["finished_at"] and job["timings"]["elapsed_s"] >= 0
            assert set(seen) <= {"queued", "running", "partially_failed"}

            listing = client.get("/v1/jobs", headers=headers).json()["jobs"]
            assert listing[0]["id"] == job_id
            found = client.post("/v1/search", json={"query": "VPN gateway port"}, headers=headers).json()
            assert found["passages"][0]["source"].endswith("vpn-setup.md")

            metrics = client.get("/metrics").text
            assert "docent_queue_depth 0.0" in metrics
            assert client.get("/readyz").json()["queue"] == {"status": "ok", "depth": 0}
            assert 'docent_jobs_submitted_total{kind="upload"} 1.0' in metrics
            assert 'docent_ingest_tasks_total{outcome="done"} 1.0' in metrics
            assert 'docent_ingest_documents_total{status="failed"} 1.0' in metrics

            missing = client.get("/v1/jobs/nope", headers=headers)
            assert missing.status_code == 404 and missing.json()["error"]["code"] == "path_not_found"
    finally:
        runtime.close()


def test_redis_down_refuses_new_jobs_with_503_while_search_goes_on(retriever, edge_index, pipeline, admin, tmp_path):
    pipeline.run([SAMPLE_DOCS / "vpn-setup.md"], public=True)
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    jobs = JobService(RedisJobStore(dead, timeout_s=1), CeleryQueue(dead, timeout_s=1))
    keys, headers = admin
    app = create_app(
        retriever=retriever,
        index=edge_index,
        keys=keys,
        jobs=jobs,
        documents=DocumentService(edge_index, tmp_path / "uploads", jobs),
    )
    with TestClient(app) as client:
        started = time.perf_counter()
        response = client.post(
            "/v1/documents", files=[("files", ("a.md", b"# A\n\nSome text."))], data={"public": "true"}, headers=headers
        )
        assert response.status_code == 503 and response.json()["error"]["code"] == "queue_unavailable", response.text
        assert time.perf_counter() - started < 10
        assert not (tmp_path / "uploads" / "a.md").exists()  # refused before anything was saved
        assert client.get("/v1/jobs", headers=headers).status_code == 503
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["queue"]["status"] == "unavailable"
        found = client.post("/v1/search", json={"query": "VPN gateway port"}, headers=headers)
        assert found.status_code == 200 and found.json()["passages"]


# -- worker processes --------------------------------------------------------------------------------------


def test_kill_9_mid_task_then_a_fresh_worker_finishes_with_exact_counts(
    redis_url, embedder, multilingual_embedder, tmp_path
):
    data = tmp_path / "data"
    corpus = write_corpus(tmp_path / "corpus", 24)
    submitted = subprocess.run(
        [
            sys.executable,
            "-m",
            "serve.cli",
            "ingest",
            str(tmp_path / "corpus"),
            "--acl",
            "group:ops",
            "--queue",
            "--no-wait",
            "--json",
        ],
        env=docent_env(data, DOCENT_REDIS_URL=redis_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert submitted.returncode == 0, submitted.stderr
    job_id = json.loads(submitted.stdout)["id"]
    jobs, queue = producer(redis_url)
    first = start_worker(tmp_path, data, redis_url, "first")
    try:
        # Kill it when some documents are done and most are not.
        wait_for(
            lambda: 3 <= jobs.status(job_id).to_dict()["progress"]["documents_done"] < 20, 180, "progress", every_s=0.05
        )
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        before = jobs.status(job_id).to_dict()
        assert before["state"] == "running" and before["progress"]["documents_done"] < 24, before

        second = start_worker(tmp_path, data, redis_url, "second")
        try:
            job = wait_for(lambda: (s := jobs.status(job_id).to_dict())["state"] in TERMINAL and s, 240, "the job")
        finally:
            stop(second)
    finally:
        stop(first)
        queue.close()
    assert job["state"] == "succeeded", job
    assert job["progress"]["documents_done"] == job["progress"]["indexed"] + job["progress"]["unchanged"] == 24
    (task,) = jobs.store.tasks(job_id)
    assert task.worker_lost == 1 and task.attempts == 2  # re-queued by the reaper once the lease expired
    index = open_index(data, embedder, multilingual_embedder)
    try:
        assert assert_exact(index, corpus) == job["progress"]["chunks"]
    finally:
        index.close()


def test_a_poison_document_is_dead_lettered_while_the_rest_succeed(redis_url, tmp_path):
    data = tmp_path / "data"
    folder = tmp_path / "share"
    write_corpus(folder, 3)
    # Its parser needs far more than the 3 s allowed (over 60 s here), every time: retried with backoff, then
    # dead-lettered. (With 1 s, an ordinary file parsed first by a fresh parser process, ~0.9 s while it warms
    # up, could time out too on a busy machine.)
    make_docx(folder / "slow.docx", [f"Paragraph {i} of a very long handbook." for i in range(30_000)])
    port = free_port()
    worker = start_worker(
        tmp_path,
        data,
        redis_url,
        "worker",
        DOCENT_INGEST__PARSE_TIMEOUT_S="3",
        DOCENT_QUEUE__MAX_ATTEMPTS="2",
        DOCENT_QUEUE__METRICS_PORT=str(port),
    )
    try:
        synced = subprocess.run(
            [sys.executable, "-m", "serve.cli", "sync", str(folder), "--public", "--queue", "--json"],
            env=docent_env(data, DOCENT_REDIS_URL=redis_url),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert synced.returncode == 1, synced.stderr  # some documents failed
        job = json.loads(synced.stdout)
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        stop(worker)
    assert job["state"] == "partially_failed"
    assert (job["progress"]["indexed"], job["progress"]["dead"], job["progress"]["failed"]) == (3, 1, 0)
    (dead,) = job["dead_letter"]
    assert dead["path"].endswith("slow.docx") and "timed out" in dead["reason"] and dead["attempts"] == 2
    assert 'docent_ingest_tasks_total{outcome="retry"} 1.0' in metrics
    assert 'docent_ingest_documents_total{status="dead"} 1.0' in metrics


# -- the in-process queue -------------------------------------------------------------------------------------


def test_concurrent_writer_threads_lose_and_duplicate_nothing(edge_index, pipeline, tmp_path):
    corpus = write_corpus(tmp_path / "a", 10, paragraphs=6) + write_corpus(tmp_path / "b", 10, paragraphs=6)
    jobs = in_process_jobs(pipeline, concurrency=3, task_files=2)
    try:
        # Two jobs over the same folder at once (the same documents written by different threads), and a third.
        submitted = [
            jobs.submit([tmp_path / "a"], Grant(public=True), kind="ingest"),
            jobs.submit([tmp_path / "a"], Grant(public=True), kind="ingest"),
            jobs.submit([tmp_path / "b"], Grant(public=True), kind="ingest"),
        ]
        done = [jobs.wait(s.job.job_id, 300).to_dict() for s in submitted]
    finally:
        jobs.queue.close()
    assert [d["state"] for d in done] == ["succeeded"] * 3, done
    total = assert_exact(edge_index, corpus)
    assert total == done[2]["progress"]["chunks"] + done[0]["progress"]["chunks"]

    again = in_process_jobs(pipeline, concurrency=2, task_files=3)
    try:
        rerun = again.wait(
            again.submit([tmp_path / "a", tmp_path / "b"], Grant(public=True), kind="sync").job.job_id, 300
        ).to_dict()
    finally:
        again.queue.close()
    assert rerun["progress"]["unchanged"] == 20 and rerun["progress"]["chunks"] == total
    assert edge_index.count() == total


def test_a_task_that_keeps_failing_is_retried_with_backoff_then_dead_lettered(embedder, pipeline, tmp_path):
    down = QdrantServerIndex(index_spec(Settings(), embedder.dimension, None, collection="docent"), timeout_s=1)
    down._client = QdrantClient(url=f"http://127.0.0.1:{free_port()}", timeout=1)  # the index went down
    broken = pipeline.with_parsers(pipeline.parsers)
    broken.index = down
    jobs = in_process_jobs(broken, policy=TaskPolicy(max_attempts=3, backoff_s=0.3))
    files = write_corpus(tmp_path / "docs", 2, paragraphs=2)
    try:
        started = time.perf_counter()
        job = jobs.wait(jobs.submit(files, Grant(public=True), kind="ingest").job.job_id, 120).to_dict()
        elapsed = time.perf_counter() - started
    finally:
        jobs.queue.close()
    assert job["state"] == "failed" and job["progress"]["dead"] == 2, job
    assert all("index" in d["reason"].lower() and d["attempts"] == 3 for d in job["dead_letter"]), job
    assert elapsed >= 0.3 + 0.6  # two retries, waiting 0.3 s then 0.6 s


def test_cancel_stops_a_job_and_keeps_what_was_indexed(edge_index, pipeline, tmp_path):
    write_corpus(tmp_path / "docs", 12, paragraphs=4)
    jobs = in_process_jobs(pipeline, task_files=2)
    try:
        status = jobs.submit([tmp_path / "docs"], Grant(public=True), kind="ingest")
        wait_for(lambda: jobs.status(status.job.job_id).to_dict()["progress"]["documents_done"] >= 1, 120, "a file")
        cancelled = jobs.cancel(status.job.job_id)
        assert cancelled.state.value == "cancelled"
        job = jobs.wait(status.job.job_id, 120)
    finally:
        jobs.queue.close()
    report = job.to_dict()
    assert job.finished and report["state"] == "cancelled"
    assert 1 <= report["progress"]["documents_done"] < 12
    assert edge_index.count() == report["progress"]["chunks"]  # indexed documents stay, whole
    assert sum(t.state.value == "cancelled" for t in job.tasks) >= 4


def test_the_cli_says_when_no_queue_can_be_reached(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "serve.cli", "ingest", str(SAMPLE_DOCS), "--public", "--queue"],
        env=docent_env(tmp_path / "data", DOCENT_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "queue_unavailable" in result.stderr, result.stderr
    no_queue = subprocess.run(
        [sys.executable, "-m", "serve.cli", "worker"],
        env=docent_env(tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert no_queue.returncode == 2 and "DOCENT_REDIS_URL" in no_queue.stderr


def test_redis_write_locks_keep_one_document_whole_under_concurrent_replaces(redis_url, tmp_path):
    """Two writers that share nothing but Redis (as two worker processes sharing a Qdrant server) replace the same
    document with different revisions at once, as the pipeline writes (lock, upsert, delete the stale revision):
    each round ends with one whole revision. Without the locks each deletes the other's chunks as stale."""
    from concurrent.futures import ThreadPoolExecutor

    from ingest.jobs.redis_store import RedisDocumentLocks
    from tests.contract.test_index_contract import SPEC, make_chunks

    index = EdgeIndex(tmp_path / "data", SPEC)
    index.start()
    texts = [f"Clause {n} of the shared policy." for n in range(1200)]
    versions = {rev: make_chunks("doc", rev, texts) for rev in ("r1", "r2", "r3", "r4")}

    def write(locks: RedisDocumentLocks, revision: str) -> None:
        with locks.of("doc"):
            index.replace_document("doc", revision, versions[revision])

    try:
        with ThreadPoolExecutor(2) as threads:
            for a, b in (("r1", "r2"), ("r3", "r4"), ("r2", "r1")):
                runs = [
                    threads.submit(write, RedisDocumentLocks(redis_url), a),
                    threads.submit(write, RedisDocumentLocks(redis_url), b),
                ]
                for run in runs:
                    run.result()
                state = index.document_state("doc")
                assert state.complete and state.points == len(texts) == index.count(), (a, b, state)
    finally:
        index.close()


def test_a_task_whose_message_was_lost_is_submitted_again(tmp_path):
    from ingest.jobs.store import Job, MemoryJobStore, TaskRecord
    from ingest.jobs.tasks import Reaper

    store, submitted = MemoryJobStore(), []
    store.create(
        Job("j1", "ingest", Grant(public=True), 2, 2),
        [TaskRecord("j1", 0, ["/a"], queued_at=time.time() - 7200), TaskRecord("j1", 1, ["/b"])],
    )
    reaper = Reaper(store, lambda job, number: submitted.append((job, number)), interval_s=1, queued_too_long_s=3600)
    assert reaper.sweep() == 1 and submitted == [("j1", 0)]  # the forgotten one only, not the fresh one
    assert reaper.resubmit_forgotten() == 0  # and only once an hour
    store.cancel("j1")
    store.save_task(TaskRecord("j1", 1, ["/b"], queued_at=time.time() - 7200))
    assert reaper.resubmit_forgotten() == 0  # a cancelled job is left alone
