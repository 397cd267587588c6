"""`docent worker`: run indexing jobs from the Redis queue until SIGTERM."""

from __future__ import annotations

import argparse
import sys

from serve.cli import exits
from serve.settings import Settings


def register(commands: argparse._SubParsersAction) -> None:
    worker = commands.add_parser("worker", help="run indexing jobs from the queue (needs DOCENT_REDIS_URL)")
    worker.add_argument("--concurrency", type=int, help="tasks at once (default DOCENT_QUEUE__CONCURRENCY)")
    worker.set_defaults(func=run)


def run(settings: Settings, args: argparse.Namespace) -> int:
    from serve.components import worker_id
    from serve.composition import worker

    with worker(settings, concurrency=args.concurrency) as started:
        print(
            f"docent: worker {worker_id()} ready (concurrency {started.concurrency}; metrics on "
            f":{settings.queue.metrics_port})",
            file=sys.stderr,
            flush=True,
        )
        started.queue.run_worker(started.runner, concurrency=started.concurrency, loglevel=settings.log_level.upper())
    return exits.OK
