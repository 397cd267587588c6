"""`docent keys create|list|revoke|rotate`: API keys for the HTTP API (each secret shown once).

The same operations as the admin routes `GET/POST /v1/keys`, `DELETE /v1/keys/{id}`, `POST /v1/keys/{id}/rotate`,
run on the database directly: what an operator uses to make the first admin key, or after losing them all.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.table import Table

from retrieval.errors import ConfigError
from serve.cli import exits
from serve.settings import Settings
from serve.stores.keys import ROLES


def register(commands: argparse._SubParsersAction) -> None:
    keys = commands.add_parser("keys", help="manage API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="create an API key (shown once)")
    create.add_argument("--user", required=True, help="the user id the key searches as")
    create.add_argument("--groups", default="", help="comma-separated groups of that user")
    create.add_argument(
        "--role",
        choices=ROLES,
        default=None,
        help="read: search and answers (default); ingest: uploads, jobs, the document list; admin: everything",
    )
    create.add_argument("--admin", action="store_true", help="the same as --role admin")
    create.add_argument("--name", default="", help="what the key is for (e.g. 'slack bot', 'nightly sync')")
    create.add_argument("--expires-in-days", type=float, default=None, help="refused after this many days")
    create.add_argument("--json", action="store_true", help='print {"key": ..., "key_id": ...}')
    create.set_defaults(func=create_key)

    listing = key_commands.add_parser("list", help="the keys (never their secrets)")
    listing.add_argument("--all", action="store_true", help="revoked keys too")
    listing.add_argument("--json", action="store_true", help="print the keys as a JSON list")
    listing.set_defaults(func=list_keys)

    revoke = key_commands.add_parser("revoke", help="refuse a key from now on (every replica within seconds)")
    revoke.add_argument("key_id", help="the key's id (docent keys list), not its secret")
    revoke.add_argument("--json", action="store_true", help="print the revoked key as JSON")
    revoke.set_defaults(func=revoke_key)

    rotate = key_commands.add_parser("rotate", help="a new secret for a key; the old one works for a grace period")
    rotate.add_argument("key_id", help="the key's id (docent keys list), not its secret")
    rotate.add_argument("--grace-hours", type=float, default=1.0, help="how long the old secret still works (0: none)")
    rotate.add_argument("--json", action="store_true", help='print {"key": ..., "key_id": ...}')
    rotate.set_defaults(func=rotate_key)


def create_key(settings: Settings, args: argparse.Namespace) -> int:
    from serve.composition import command

    if args.admin and args.role not in (None, "admin"):
        raise ConfigError("--admin and --role disagree")
    role = "admin" if args.admin else (args.role or "read")
    groups = tuple(g.strip() for g in args.groups.split(",") if g.strip())
    expires = None
    if args.expires_in_days is not None:
        if args.expires_in_days <= 0:
            raise ConfigError("--expires-in-days must be positive")
        expires = datetime.now(UTC) + timedelta(days=args.expires_in_days)
    with command(settings) as process:
        key, record = process.keys().create(args.user, groups, role=role, name=args.name, expires_at=expires)
        process.record_key_change("create", record)
    if args.json:
        print(json.dumps({"key": key, **record.to_dict()}))
    else:
        user, groups = record.principal.user_id, record.principal.groups
        print(
            f"{key}\n(key {record.key_id} for user {user!r}, groups {list(groups)}, role {role}; it is shown only once)"
        )
    return exits.OK


def list_keys(settings: Settings, args: argparse.Namespace) -> int:
    from serve.composition import command

    with command(settings) as process:
        records = process.keys().list_keys(include_revoked=args.all)
    if args.json:
        print(json.dumps([r.to_dict() for r in records]))
        return exits.OK
    table = Table("key", "name", "user", "groups", "role", "created", "expires", "last used", "revoked")
    for r in records:
        d = r.to_dict()
        table.add_row(
            *(str(d[c] or "") for c in ("key_id", "name", "user")),
            ",".join(d["groups"]),
            *(str(d[c] or "")[:19] for c in ("role", "created_at", "expires_at", "last_used_at", "revoked_at")),
        )
    Console().print(table)
    return exits.OK


def revoke_key(settings: Settings, args: argparse.Namespace) -> int:
    from serve.composition import command

    with command(settings) as process:
        record = process.keys().revoke(args.key_id)
        process.record_key_change("revoke", record)
    print(json.dumps(record.to_dict()) if args.json else f"revoked key {record.key_id} of {record.principal.user_id}")
    return exits.OK


def rotate_key(settings: Settings, args: argparse.Namespace) -> int:
    from serve.composition import command

    if args.grace_hours < 0:
        raise ConfigError("--grace-hours cannot be negative")
    with command(settings) as process:
        key, record = process.keys().rotate(args.key_id, grace_s=args.grace_hours * 3600)
        process.record_key_change("rotate", record, grace_hours=args.grace_hours)
    if args.json:
        print(json.dumps({"key": key, **record.to_dict()}))
    else:
        print(f"{key}\n(the new secret of key {record.key_id}; the old one works {args.grace_hours:g} h more)")
    return exits.OK
