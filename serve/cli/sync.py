"""`docent sync`: keep the index in step with where the documents live.

    docent sync FOLDER...            re-index folders incrementally (changed files only; deleted ones removed)
    docent sync [--source NAME ...]  the sources configured in DOCENT_SOURCES (all of them without --source):
                                     S3, websites, Git, Confluence, SharePoint, named folders (ingest/connectors/)

A source that cannot be listed (down, refused) is reported and left as it is in the index; the others go on.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from retrieval.errors import ConfigError
from serve.cli import exits, options
from serve.cli.ingest import WHEN_LOCKED, run_here
from serve.cli.queued import run_on_queue
from serve.settings import Settings, SourceSettings


def register(commands: argparse._SubParsersAction) -> None:
    sync = commands.add_parser(
        "sync", help="re-index folders or the configured sources incrementally: changed documents only"
    )
    sync.add_argument("paths", nargs="*", type=Path, metavar="FOLDER", help="a folder to keep in step with the index")
    sync.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="NAME",
        help="a source configured in DOCENT_SOURCES (repeatable; default: every configured source)",
    )
    options.add_grant(sync)
    sync.add_argument("--queue", action="store_true", help="folders: as a job for the workers (DOCENT_REDIS_URL)")
    sync.add_argument("--no-wait", action="store_true", help="with --queue: print the job id and exit")
    sync.add_argument("--json", action="store_true", help="print the report as one JSON object")
    sync.set_defaults(func=run)


def run(settings: Settings, args: argparse.Namespace) -> int:
    args.acl = options.checked_acl(args)
    if args.paths:
        if args.source:
            raise ConfigError("docent sync: give folders or --source, not both")
        if args.queue:
            return run_on_queue(settings, args, kind="sync", prune=True)
        args.prune = True
        return run_here(settings, args)
    return run_sources(settings, args, selected(settings.source_list(), args.source))


def selected(configured: list[SourceSettings], names: list[str]) -> list[SourceSettings]:
    if not configured:
        raise ConfigError("nothing to sync: give a folder, or configure sources in DOCENT_SOURCES (README, Sources)")
    by_name = {s.name: s for s in configured}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ConfigError(f"no configured source named {', '.join(unknown)}; configured: {', '.join(by_name)}")
    return [by_name[n] for n in names] if names else configured


def run_sources(settings: Settings, args: argparse.Namespace, sources: list[SourceSettings]) -> int:
    """Sync each source in this process, one after the other, with a progress bar each."""
    from rich.console import Console

    from ingest.connectors import make_connector
    from ingest.sync import SourceSync
    from retrieval.errors import SourceUnavailableError
    from serve.components import make_pipeline, source_of_settings
    from serve.composition import command
    from serve.progress import IngestProgress

    console = Console(stderr=True)
    connectors = [(s, make_connector(s.kind, s.options)) for s in sources]  # bad options fail before any model loads
    results: dict[str, dict[str, object]] = {}
    ok = True
    try:
        with command(settings) as process:
            with console.status("loading the embedding models and the parsers…"):
                parsers = process.parsers()
                embedder, multilingual, index = process.writer(when_locked=WHEN_LOCKED)
                parsers.wait_ready()
                pipeline = make_pipeline(
                    settings, index=index, embedder=embedder, parsers=parsers, multilingual=multilingual
                )
                pipeline.sparse.start()
            syncer = SourceSync(pipeline, max_file_mb=settings.ingest.max_file_mb)
            for config, connector in connectors:
                source = source_of_settings(config)
                try:
                    with IngestProgress(console, quiet=args.json, label=f"syncing {config.name}") as progress:
                        report = syncer.run(source, connector, on_start=progress.start, on_file=progress.advance)
                except SourceUnavailableError as exc:
                    ok = False
                    results[config.name] = {"error": exc.code.value, "message": exc.message}
                    if not args.json:
                        console.print(f"[red]{config.name}[/]: not synced, left as it was: {exc.message}")
                    continue
                ok = ok and report.ok
                results[config.name] = report.to_dict()
                if not args.json:
                    console.print(f"[bold]{config.name}[/] ({config.kind}): ", end="")
                    IngestProgress.summary(console, report)
    finally:
        for _, connector in connectors:
            connector.close()
    if args.json:
        print(json.dumps({"sources": results}, ensure_ascii=False))
    return exits.OK if ok else exits.FAILURES
