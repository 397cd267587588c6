"""The `docent` command: the composition root of the command-line process.

    docent ingest PATH... [--acl PRINCIPAL ...] [--public] [--prune] [--json]
    docent search QUERY [--k N] [--json]

Exit status: 0 success, 1 some documents failed (the rest were indexed), 2 a usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path

from retrieval.errors import DocentError
from serve.settings import Settings

EXIT_OK, EXIT_FAILURES, EXIT_ERROR = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="docent", description="Enterprise document question answering.")
    commands = parser.add_subparsers(dest="command", required=True)

    ingest = commands.add_parser("ingest", help="index files and folders")
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    ingest.add_argument("--acl", action="append", default=[], metavar="PRINCIPAL",
                        help="a user or group allowed to read these documents (repeatable)")
    ingest.add_argument("--public", action="store_true", help="readable by everyone")
    ingest.add_argument("--prune", action="store_true", help="remove indexed documents whose files are gone")
    ingest.add_argument("--json", action="store_true", help="print the report as one JSON object")

    search = commands.add_parser("search", help="hybrid search over the index")
    search.add_argument("query")
    search.add_argument("--k", type=int, default=5, help="number of hits (default 5)")
    search.add_argument("--json", action="store_true", help="print hits as a JSON list")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        settings = Settings()
        logging.basicConfig(
            level=settings.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s %(message)s",
            stream=sys.stderr,
        )
        if args.command == "ingest":
            return _ingest(settings, args)
        return _search(settings, args)
    except DocentError as exc:
        print(f"docent: error [{exc.code}]: {exc.message}", file=sys.stderr)
        return EXIT_ERROR


def _ingest(settings: Settings, args: argparse.Namespace) -> int:
    from rich.console import Console

    from serve.components import make_embedder, make_index, make_parsers, make_pipeline
    from serve.progress import IngestProgress

    console = Console(stderr=True)
    embedder = make_embedder(settings)
    parsers = make_parsers(settings)
    with ExitStack() as stack:
        with console.status("loading the embedding model and the parsers…"):
            parsers.start()  # the workers import their parsers while the model loads
            stack.callback(parsers.close)
            embedder.start()
            index = make_index(settings, embedder.dimension)
            index.start()
            stack.callback(index.close)
            parsers.wait_ready()
            pipeline = make_pipeline(settings, index=index, embedder=embedder, parsers=parsers)
            pipeline.sparse.start()
        with IngestProgress(console, quiet=args.json) as progress:
            report = pipeline.run(
                args.paths,
                acl=args.acl,
                public=args.public,
                prune=args.prune,
                on_start=progress.start,
                on_file=progress.advance,
            )
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        IngestProgress.summary(console, report)
    return EXIT_OK if report.ok else EXIT_FAILURES


def _search(settings: Settings, args: argparse.Namespace) -> int:
    from serve.components import make_embedder, make_index
    from retrieval.search import Searcher
    from retrieval.sparse import SparseEncoder

    embedder = make_embedder(settings)
    embedder.start()
    index = make_index(settings, embedder.dimension)
    index.start()
    try:
        hits = Searcher(index, embedder, SparseEncoder()).search(args.query, k=args.k)
    finally:
        index.close()
    if args.json:
        print(json.dumps([asdict(h) for h in hits], ensure_ascii=False))
        return EXIT_OK
    if not hits:
        print("no results")
    for rank, hit in enumerate(hits, 1):
        where = " > ".join(hit.headings) or hit.title
        page = f"  p.{hit.page}" if hit.page else ""
        snippet = " ".join(hit.text.split())[:200]
        print(f"{rank}. [{hit.score:.3f}] {hit.source}{page}\n   {where}\n   {snippet}\n")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
