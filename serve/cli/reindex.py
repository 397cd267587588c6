"""`docent reindex`: rebuild the index into a new version with the current settings, then switch to it."""

from __future__ import annotations

import argparse

from serve.settings import Settings


def register(commands: argparse._SubParsersAction) -> None:
    reindex = commands.add_parser(
        "reindex",
        help="rebuild the index into a new version with the current settings, "
        "then switch to it (the current version serves meanwhile)",
    )
    reindex.add_argument(
        "--server",
        metavar="URL",
        help="list the documents through a running `docent serve` (needed while it owns the embedded index)",
    )
    reindex.add_argument("--key", help="an admin API key for --server (default: $DOCENT_API_KEY)")
    reindex.add_argument("--force", action="store_true", help="switch even if the new version has fewer documents")
    reindex.add_argument("--drop-old", action="store_true", help="delete the previous version after the switch")
    reindex.add_argument("--json", action="store_true", help="print the report as one JSON object")
    what = reindex.add_mutually_exclusive_group()
    what.add_argument("--status", action="store_true", help="list the versions and which one serves")
    what.add_argument("--switch-to", metavar="VERSION", help="point the index at an existing version (switch back)")
    what.add_argument("--drop", metavar="VERSION", help="delete a version that does not serve")
    reindex.set_defaults(func=run)


def run(settings: Settings, args: argparse.Namespace) -> int:
    from serve.reindexing import run_reindex

    return run_reindex(settings, args)
