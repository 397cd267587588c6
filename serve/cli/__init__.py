# PYTHON_ARGCOMPLETE_OK  (argcomplete looks for this mark in the entry point's module: `docent` completes)
"""The `docent` command: one module per command, each registering its parser and its function.

    docent ingest PATH... [--acl PRINCIPAL ...] [--public] [--tag TAG ...] [--prune] [--json]
                          [--queue | --server URL [--key KEY]] [--no-wait]
    docent sync FOLDER... [--acl PRINCIPAL ...] [--public] [--tag TAG ...] [--queue] [--json]
    docent sync [--source NAME ...] [--json]   (the sources configured in DOCENT_SOURCES)
    docent worker [--concurrency N]
    docent search QUERY [--k N] [--user ID --group G ...] [filters] [--mode M] [--json]
    docent ask QUESTION [--user ID --group G ...] [filters] [--extractive] [--json]
    docent eval DATASET_DIR [--queries FILE] [--modes dense,sparse,hybrid,rerank] [--k 10] [--translate] [--json]
    docent eval DATASET_DIR --answers [--queries FILE] [--configs small,large,routed,extractive,default]
                                      [--report FILE] [--json]
    docent eval --feedback [--json]
    docent slack
    docent keys create --user ID [--groups G1,G2] [--role read|ingest|admin] [--name N] [--expires-in-days D] [--json]
    docent keys list [--all] [--json] | revoke KEY_ID | rotate KEY_ID [--grace-hours H]
    docent audit export [--since T] [--until T] [--format jsonl] [--output FILE] | who-saw DOC_ID [--json]
    docent db upgrade | status [--json]
    docent reindex [--server URL [--key KEY]] [--force] [--drop-old] [--json]
    docent reindex --status | --switch-to VERSION | --drop VERSION
    docent serve [--host H] [--port P]
    docent --version

Exit status (`serve.cli.exits`): 0 success; 1 some files failed (the rest were indexed); 2 a usage or
configuration error (argparse's, or a DocentError: `docent: error [code]: message` on stderr); 3 an uncaught
error (one line on stderr; the traceback too under DOCENT_LOG_LEVEL=DEBUG); 130 interrupted.
Each command starts what it needs inside a `serve.composition` context manager, which closes it on exit.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

import argcomplete
from pydantic import ValidationError

from retrieval.errors import DocentError, ErrorCode
from serve.cli import ask, audit, db, evaluate, exits, ingest, keys, reindex, search, serve, slack, sync, worker
from serve.settings import Settings

COMMANDS = (ingest, sync, worker, search, ask, evaluate, slack, keys, audit, db, reindex, serve)


def parser() -> argparse.ArgumentParser:
    """The whole command line: each command's module adds its parser and sets `func(settings, args) -> int`."""
    top = argparse.ArgumentParser(prog="docent", description="Enterprise document question answering.")
    top.add_argument(
        "--version", action="version", version=f"docent {_version()}", help="print Docent's version and exit"
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    command_line = parser()
    argcomplete.autocomplete(command_line)  # answers a shell's completion request and exits; else does nothing
    args = command_line.parse_args(argv)  # a usage error exits 2 here
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    settings: Settings | None = None
    try:
        settings = Settings()
        logging.basicConfig(
            level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr
        )
        return args.func(settings, args)
    except DocentError as exc:
        print(f"docent: error [{exc.code}]: {exc.message}", file=sys.stderr)
        return exits.USAGE
    except ValidationError as exc:  # the settings: a DOCENT_* variable that does not parse
        print(f"docent: error [{ErrorCode.CONFIG_INVALID}]: invalid settings: {exc}", file=sys.stderr)
        return exits.USAGE
    except KeyboardInterrupt:
        print("docent: interrupted", file=sys.stderr)
        return exits.INTERRUPTED
    except Exception as exc:  # a defect: say so in one line, not a page of traceback
        level = settings.log_level if settings is not None else os.environ.get("DOCENT_LOG_LEVEL", "")
        if level.upper() == "DEBUG":
            traceback.print_exc()
        first_line = (str(exc).strip().splitlines() or [""])[0]
        print(
            f"docent: internal error ({type(exc).__name__}: {first_line}); run with DOCENT_LOG_LEVEL=DEBUG "
            "for the traceback",
            file=sys.stderr,
        )
        return exits.CRASH


def _version() -> str:
    try:
        return version("docent")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"
