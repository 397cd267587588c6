"""Indexing workers: throughput with 1, 2 and 4 worker processes, and the queue's overhead per task.

    python -m bench.workers [--out bench/reports/workers.json] [--files 120] [--workers 1,2,4] [--tiny 60]

Starts a real redis-server and real `docent worker` processes, all in one invocation, side by side:

- scale-out: the generated corpus (bench/corpus.py, five formats) as one job split into tasks of 8 files, run by 1,
  2 and 4 worker processes (one Celery thread each); documents/s and chunks/s from submitting the job to its last
  task; each count runs twice, with torch's default threads (every core, in every worker) and with the cores shared
  out (`DOCENT_EMBEDDING__THREADS` = cores / workers). No Qdrant server can run on these machines and the embedded
  index has one writer, so each worker writes its own embedded index: this measures the workers' parsing and
  embedding, which is where the time goes, not contention on a shared collection. Expect saturation at the
  machine's core count.
- overhead: `--tiny` one-sentence files, one task each, indexed (a) by `IngestPipeline.run` per file in this
  process, (b) through the in-process queue (`InProcessQueue`, what `docent serve` uses without Redis) and
  (c) through Redis and one warm `docent worker`. (b - a) / n and (c - a) / n are the cost per task of the job
  machinery: job records, leases, heartbeats, Celery and Redis round trips.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.common import DOCENT, REPORTS, SAMPLE_DOCS, docent_env, new_report, write_report
from bench.corpus import write_corpus
from ingest.discovery import document_id, source_of
from ingest.jobs.celery_queue import CeleryQueue
from ingest.jobs.queue import JobService
from ingest.jobs.redis_store import RedisJobStore
from ingest.jobs.store import Grant
from tests.support.redis_server import RedisServer

console = Console(stderr=True)


def worker_env(data: Path, redis_url: str, threads: int) -> dict[str, str]:
    return docent_env(
        data,
        drop="DOCENT_",
        DOCENT_REDIS_URL=redis_url,
        DOCENT_QUEUE__METRICS_PORT="0",
        DOCENT_QUEUE__CONCURRENCY="1",
        DOCENT_EMBEDDING__THREADS=str(threads),
    )


def start_workers(
    count: int, folder: Path, redis_url: str, queue: CeleryQueue, *, threads: int = 0
) -> list[subprocess.Popen]:
    workers = []
    for n in range(count):
        log = (folder / f"worker-{n}.log").open("w")
        workers.append(
            subprocess.Popen(
                [*DOCENT, "worker"],
                env=worker_env(folder / f"data-{n}", redis_url, threads),
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        )
    deadline = time.monotonic() + 300
    while len(queue.app.control.ping(timeout=1.0) or []) < count:  # every worker consuming
        assert time.monotonic() < deadline and all(w.poll() is None for w in workers), "workers did not start"
    return workers


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)


def run_job(jobs: JobService, paths: list[Path]) -> dict:
    started = time.perf_counter()
    status = jobs.submit(paths, Grant(public=True), kind="ingest")
    final = jobs.wait(status.job.job_id, 3600, poll_s=0.05).to_dict()
    wall = time.perf_counter() - started
    assert final["state"] == "succeeded", final
    p = final["progress"]
    return {
        "wall_s": round(wall, 2),
        "documents": p["documents_done"],
        "chunks": p["chunks"],
        "tasks": p["tasks_total"],
        "documents_per_s": round(p["documents_done"] / wall, 2),
        "chunks_per_s": round(p["chunks"] / wall, 1),
    }


def scale_out(counts: list[int], corpus: Path, folder: Path, redis: RedisServer) -> list[dict]:
    """Each count twice: with torch's default threads (every core, per worker) and with the cores shared out."""
    cores = len(os.sched_getaffinity(0))
    rows = []
    for count in counts:
        for threads in sorted({0, max(1, cores // count)}):
            redis.flush()
            queue = CeleryQueue(redis.url)
            jobs = JobService(RedisJobStore(redis.url), queue, task_files=8)
            run_folder = folder / f"scale-{count}-{threads}"
            run_folder.mkdir()
            workers = start_workers(count, run_folder, redis.url, queue, threads=threads)
            try:
                console.print(f"scale-out: {count} worker process(es), torch threads {threads or 'default'}…")
                row = {"workers": count, "torch_threads": threads or "default", **run_job(jobs, [corpus])}
            finally:
                stop_workers(workers)
                queue.close()
            rows.append(row)
            console.print(f"  {row}")
    base = rows[0]["chunks_per_s"]
    for row in rows:
        row["speedup_vs_1"] = round(row["chunks_per_s"] / base, 2)
    return rows


def overhead(tiny: int, folder: Path, redis: RedisServer) -> dict:
    from prometheus_client import CollectorRegistry

    from serve.components import make_parsers, make_pipeline, start_jobs, start_writer
    from serve.settings import Settings

    files = []
    tiny_folder = folder / "tiny"
    tiny_folder.mkdir()
    for n in range(tiny):
        path = tiny_folder / f"note-{n:03d}.txt"
        path.write_text(f"Note {n}: the meeting room {n} is booked by team {n % 7} on day {n % 5}.\n")
        files.append(path)
    result: dict[str, object] = {"tasks": tiny}

    def direct_and_in_process(data: Path) -> tuple[float, float]:
        settings = Settings(_env_file=None, data_dir=data)
        embedder, multilingual, index = start_writer(settings, when_locked="")
        parsers = make_parsers(settings)
        parsers.start()
        parsers.wait_ready()
        pipeline = make_pipeline(settings, index=index, embedder=embedder, parsers=parsers, multilingual=multilingual)
        pipeline.sparse.start()
        pipeline.run([SAMPLE_DOCS / "vpn-setup.md"], public=True)  # warm every code path
        started = time.perf_counter()
        for path in files:
            pipeline.run([path], public=True)
        direct = time.perf_counter() - started
        for path in files:  # the same work again through jobs: delete first so nothing is "unchanged"
            index.delete_document(document_id(source_of(path)))
        settings = Settings(_env_file=None, data_dir=data, queue={"task_files": 1})
        runtime = start_jobs(settings, pipeline, registry=CollectorRegistry(), consume=True)
        try:
            started = time.perf_counter()
            final = runtime.service.wait(
                runtime.service.submit(files, Grant(public=True), kind="ingest").job.job_id, 600, poll_s=0.01
            )
            queued = time.perf_counter() - started
            assert final.to_dict()["progress"]["indexed"] == tiny
        finally:
            runtime.close()
            parsers.close()
            index.close()
        return direct, queued

    console.print(f"overhead: {tiny} one-file tasks, direct and through the in-process queue…")
    direct, in_process = direct_and_in_process(folder / "data-direct")
    console.print("overhead: the same through Redis and one warm worker…")
    redis.flush()
    queue = CeleryQueue(redis.url)
    jobs = JobService(RedisJobStore(redis.url), queue, task_files=1)
    run_folder = folder / "overhead-redis"
    run_folder.mkdir()
    workers = start_workers(1, run_folder, redis.url, queue)
    try:
        run_job(jobs, [SAMPLE_DOCS / "vpn-setup.md"])  # warm the worker's code paths
        celery = run_job(jobs, files)["wall_s"]
    finally:
        stop_workers(workers)
        queue.close()
    result.update(
        {
            "direct_s": round(direct, 2),
            "in_process_queue_s": round(in_process, 2),
            "redis_worker_s": round(celery, 2),
            "direct_ms_per_file": round(direct / tiny * 1000, 1),
            "in_process_overhead_ms_per_task": round((in_process - direct) / tiny * 1000, 1),
            "redis_overhead_ms_per_task": round((celery - direct) / tiny * 1000, 1),
        }
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPORTS / "workers.json")
    parser.add_argument("--files", type=int, default=120)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--tiny", type=int, default=60)
    args = parser.parse_args()
    started = time.perf_counter()
    report = new_report("workers")
    with tempfile.TemporaryDirectory(prefix="docent-bench-workers-") as tmp:
        folder = Path(tmp)
        counts = write_corpus(folder / "corpus", args.files, source=SAMPLE_DOCS)
        report["corpus"] = {"files": args.files, "formats": counts}
        with RedisServer(folder / "redis") as redis:
            report["scale_out"] = scale_out([int(n) for n in args.workers.split(",")], folder / "corpus", folder, redis)
            report["overhead"] = overhead(args.tiny, folder, redis)
    write_report(report, args.out, started)

    table = Table(title="worker processes (each its own embedded index)")
    for column in (
        "workers",
        "torch threads",
        "tasks",
        "documents",
        "chunks",
        "wall s",
        "docs/s",
        "chunks/s",
        "× 1 worker",
    ):
        table.add_column(column, justify="right")
    for row in report["scale_out"]:
        table.add_row(
            *(
                str(row[k])
                for k in (
                    "workers",
                    "torch_threads",
                    "tasks",
                    "documents",
                    "chunks",
                    "wall_s",
                    "documents_per_s",
                    "chunks_per_s",
                    "speedup_vs_1",
                )
            )
        )
    console.print(table)
    o = report["overhead"]
    console.print(
        f"per task of one tiny file: direct {o['direct_ms_per_file']} ms; queue overhead "
        f"in-process {o['in_process_overhead_ms_per_task']} ms, Redis + worker {o['redis_overhead_ms_per_task']} ms"
    )
    console.print(f"report: {args.out}")


if __name__ == "__main__":
    main()
