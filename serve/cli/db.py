"""`docent db upgrade | status`: the relational store's schema (keys, feedback, the audit trail).

`docent serve` migrates at start-up under a lock, so this is optional; a Kubernetes init container runs
`docent db upgrade` so that replicas start on a migrated schema and a failed migration stops the rollout.
"""

from __future__ import annotations

import argparse
import json

from serve.cli import exits
from serve.settings import Settings


def register(commands: argparse._SubParsersAction) -> None:
    db = commands.add_parser("db", help="the database of keys, feedback and the audit trail")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser("upgrade", help="migrate to the newest schema (and import legacy SQLite files)")
    upgrade.add_argument("--json", action="store_true", help="print the revision and what was imported as JSON")
    upgrade.set_defaults(func=upgrade_schema)
    status = db_commands.add_parser("status", help="which database, and its schema revision")
    status.add_argument("--json", action="store_true", help="print the URL (without password) and revisions as JSON")
    status.set_defaults(func=schema_status)


def upgrade_schema(settings: Settings, args: argparse.Namespace) -> int:
    from serve.composition import command
    from serve.stores.database import redact

    with command(settings) as process:
        database = process.database()  # migrates, under the lock, and imports legacy files
        report = {"database": redact(database.url), "revision": database.revision(), "imported": process.imported}
    if args.json:
        print(json.dumps(report))
    else:
        imported = ", ".join(f"{name} ({rows} rows)" for name, rows in report["imported"].items()) or "nothing"
        print(f"{report['database']}: at revision {report['revision']}; legacy files imported: {imported}")
    return exits.OK


def schema_status(settings: Settings, args: argparse.Namespace) -> int:
    from serve.composition import DataFiles
    from serve.stores.database import Database, redact, sqlite_url

    database = Database(settings.database_url or sqlite_url(DataFiles(settings.data_dir).database))
    try:
        report = {"database": redact(database.url), "revision": database.revision(), "head": database.head()}
    finally:
        database.close()
    if args.json:
        print(json.dumps(report))
    else:
        state = "up to date" if report["revision"] == report["head"] else f"behind (newest: {report['head']})"
        print(f"{report['database']}: revision {report['revision'] or 'none (empty)'}, {state}")
    return exits.OK
