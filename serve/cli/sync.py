"""`docent sync SOURCE...`: re-index folders incrementally (changed files only; deleted ones removed)."""

from __future__ import annotations

import argparse
from pathlib import Path

from serve.cli import options
from serve.cli.ingest import run_here
from serve.cli.queued import run_on_queue
from serve.settings import Settings


def register(commands: argparse._SubParsersAction) -> None:
    sync = commands.add_parser("sync", help="re-index folders incrementally: changed files only, deleted ones removed")
    sync.add_argument("paths", nargs="+", type=Path, metavar="SOURCE", help="a folder to keep in step with the index")
    options.add_grant(sync)
    sync.add_argument("--queue", action="store_true", help="as a job for the workers (DOCENT_REDIS_URL)")
    sync.add_argument("--no-wait", action="store_true", help="with --queue: print the job id and exit")
    sync.add_argument("--json", action="store_true", help="print the report as one JSON object")
    sync.set_defaults(func=run)


def run(settings: Settings, args: argparse.Namespace) -> int:
    args.acl = options.checked_acl(args)
    if args.queue:
        return run_on_queue(settings, args, kind="sync", prune=True)
    args.prune = True
    return run_here(settings, args)
