"""Indexing as jobs: submitted to the Redis queue (`--queue`) or uploaded to a server (`--server`), then followed."""

from __future__ import annotations

import argparse
import json
import os

from rich.console import Console

from retrieval.errors import ConfigError
from serve.cli import exits
from serve.settings import Settings


def run_on_queue(settings: Settings, args: argparse.Namespace, *, kind: str, prune: bool) -> int:
    """Submit a job to the Redis queue; the workers read the files, so they must see the same paths."""
    from ingest.jobs.queue import JobService
    from ingest.jobs.store import Grant, JobStatus
    from serve.components import make_celery_queue, make_job_store
    from serve.progress import JobProgress

    if not settings.redis_url:
        raise ConfigError(
            "--queue needs a queue: set DOCENT_REDIS_URL (or send the files to a running server with --server URL)"
        )
    store = make_job_store(settings)
    store.ping()
    queue = make_celery_queue(settings)
    try:
        q = settings.queue
        service = JobService(store, queue, task_files=q.task_files, task_mb=q.task_mb, exclude=[settings.data_dir])
        status: JobStatus = service.submit(
            args.paths, Grant(tuple(args.acl), args.public, tuple(args.tag)), kind=kind, prune=prune
        )
        console = Console(stderr=True)
        job_id = status.job.job_id
        if args.no_wait:
            print(json.dumps(status.to_dict()) if args.json else job_id)
            return exits.OK
        console.print(f"job {job_id}: {status.job.total_files} files in {status.job.tasks} tasks, queued")
        jobs = JobProgress(console, quiet=args.json).follow(lambda: [service.status(job_id).to_dict()])
    finally:
        queue.close()
    return report_jobs(console, jobs[0] if args.json else jobs, args.json)


def run_on_server(args: argparse.Namespace) -> int:
    """Upload the files to a running server (one request per folder and batch); it indexes them as jobs."""
    from serve.progress import JobProgress
    from serve.upload_client import UploadClient, upload_batches

    key = args.key or os.environ.get("DOCENT_API_KEY")
    if not key:
        raise ConfigError("--server needs an admin API key: --key KEY or DOCENT_API_KEY")
    if not args.acl and not args.public:
        raise ConfigError("say who may read the documents: --acl PRINCIPAL and/or --public")
    if args.prune:
        raise ConfigError(
            "--prune needs the server to see the folder: use `docent sync SOURCE --queue`, or "
            "delete documents with DELETE /v1/documents/{id}"
        )
    console = Console(stderr=True)
    batches = upload_batches(args.paths)
    with UploadClient(args.server, key) as client:
        job_ids = client.upload(batches, acl=args.acl, public=args.public, tags=args.tag)
        console.print(f"uploaded {sum(map(len, batches.values()))} files to {client.base_url} as {len(job_ids)} job(s)")
        if args.no_wait:
            print("\n".join(job_ids))
            return exits.OK
        jobs = JobProgress(console, quiet=args.json).follow(lambda: client.statuses(job_ids))
    return report_jobs(console, jobs, args.json)


def report_jobs(console: Console, jobs: dict | list[dict], as_json: bool) -> int:
    """Print the finished jobs (one JSON value, or a summary on stderr); FAILURES unless every job succeeded."""
    from serve.progress import JobProgress

    listed = jobs if isinstance(jobs, list) else [jobs]
    if as_json:
        print(json.dumps(jobs, ensure_ascii=False))
    else:
        JobProgress.summary(console, listed)
    return exits.OK if all(j["state"] == "succeeded" for j in listed) else exits.FAILURES
