"""`docent audit export|who-saw`: the audit trail for a SIEM (JSON lines), and who was shown a document."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

from retrieval.errors import ConfigError
from serve.cli import exits
from serve.settings import Settings


def register(commands: argparse._SubParsersAction) -> None:
    audit = commands.add_parser("audit", help="the audit trail: export it, or ask who was shown a document")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    export = audit_commands.add_parser("export", help="the events of a time range as JSON lines, oldest first")
    export.add_argument("--since", type=_time, default=None, help="ISO 8601 (inclusive), e.g. 2026-01-01")
    export.add_argument("--until", type=_time, default=None, help="ISO 8601 (exclusive)")
    export.add_argument("--format", choices=("jsonl",), default="jsonl", help="one JSON object per line")
    export.add_argument("--output", "-o", default="-", help="a file (default: standard output)")
    export.set_defaults(func=export_events)

    who = audit_commands.add_parser("who-saw", help="which users were shown a document (results or citations)")
    who.add_argument("document_id", help="the document's id (docent search --json, GET /v1/documents)")
    who.add_argument("--json", action="store_true", help="one JSON object per line")
    who.set_defaults(func=who_saw)


def _time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def export_events(settings: Settings, args: argparse.Namespace) -> int:
    from serve.api.audit import AuditEntry
    from serve.composition import command

    if args.since and args.until and args.since >= args.until:
        raise ConfigError("--since must be before --until")
    with command(settings) as process:
        events = process.audit_store().export(since=args.since, until=args.until)
        lines = (AuditEntry.of(e).model_dump_json() for e in events)
        if args.output == "-":
            count = _write(sys.stdout, lines)
        else:
            with open(args.output, "w", encoding="utf-8") as out:
                count = _write(out, lines)
    print(f"{count} audit events", file=sys.stderr)
    return exits.OK


def _write(out: TextIO, lines: Iterable[str]) -> int:
    count = 0
    for line in lines:
        out.write(f"{line}\n")
        count += 1
    return count


def who_saw(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from serve.composition import command

    with command(settings) as process:
        seen = process.audit_store().shown_document(args.document_id)
    for s in seen:
        if args.json:
            row = {"user_id": s.user_id, "key_id": s.key_id, "at": s.at.isoformat(), "action": s.action}
            print(json.dumps({**row, "channel": s.channel, "event_id": s.event_id, "title": s.title}))
        else:
            who = s.user_id or "(anonymous)"
            print(f"{s.at.isoformat()}  {who}  key={s.key_id}  {s.action} via {s.channel}  event {s.event_id}")
    if not args.json:
        users = sorted({s.user_id for s in seen})
        print(f"{len(users)} users were shown {args.document_id} ({len(seen)} times)", file=sys.stderr)
    return exits.OK
