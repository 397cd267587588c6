"""`docent ingest PATH...`: index files and folders here, on the queue's workers, or on a running server."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from serve.cli import exits, options
from serve.cli.queued import run_on_queue, run_on_server
from serve.settings import Settings

WHEN_LOCKED = (
    "While `docent serve` owns the index, send it the files: `docent ingest PATH --server URL`, "
    "or `--queue` with DOCENT_REDIS_URL set"
)


def register(commands: argparse._SubParsersAction) -> None:
    ingest = commands.add_parser("ingest", help="index files and folders")
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="a file or folder to index")
    options.add_grant(ingest)
    ingest.add_argument("--prune", action="store_true", help="remove indexed documents whose files are gone")
    ingest.add_argument("--json", action="store_true", help="print the report as one JSON object")
    where = ingest.add_mutually_exclusive_group()
    where.add_argument(
        "--queue",
        action="store_true",
        help="submit a job to the workers (DOCENT_REDIS_URL; the files must be on storage they see)",
    )
    where.add_argument(
        "--server", metavar="URL", help="upload the files to a running `docent serve` (which owns its index) as a job"
    )
    ingest.add_argument("--key", help="an admin API key for --server (default: $DOCENT_API_KEY)")
    ingest.add_argument("--no-wait", action="store_true", help="with --queue or --server: print the job id and exit")
    ingest.set_defaults(func=run)


def run(settings: Settings, args: argparse.Namespace) -> int:
    args.acl = options.checked_acl(args)
    if args.server:
        return run_on_server(args)
    if args.queue:
        return run_on_queue(settings, args, kind="ingest", prune=args.prune)
    return run_here(settings, args)


def run_here(settings: Settings, args: argparse.Namespace) -> int:
    """Index in this process, with a progress bar on stderr; FAILURES when some file failed."""
    from rich.console import Console

    from serve.components import make_pipeline
    from serve.composition import command
    from serve.progress import IngestProgress
    from serve.stores.ingested_roots import IngestedRoots

    console = Console(stderr=True)
    with command(settings) as process:
        with console.status("loading the embedding models and the parsers…"):
            parsers = process.parsers()  # the workers import their parsers while the model loads
            embedder, multilingual, index = process.writer(when_locked=WHEN_LOCKED)
            parsers.wait_ready()
            pipeline = make_pipeline(
                settings, index=index, embedder=embedder, parsers=parsers, multilingual=multilingual
            )
            pipeline.sparse.start()
        # What the API may then serve the original files from (GET /v1/documents/{id}/file).
        IngestedRoots(process.files.ingested_roots).add(args.paths)
        with IngestProgress(console, quiet=args.json) as progress:
            report = pipeline.run(
                args.paths,
                acl=args.acl,
                public=args.public,
                tags=args.tag,
                prune=args.prune,
                on_start=progress.start,
                on_file=progress.advance,
            )
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        IngestProgress.summary(console, report)
    return exits.OK if report.ok else exits.FAILURES
