"""`docent keys create`: API keys for the HTTP API (each shown once)."""

from __future__ import annotations

import argparse
import json

from serve.cli import exits
from serve.settings import Settings


def register(commands: argparse._SubParsersAction) -> None:
    keys = commands.add_parser("keys", help="manage API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="create an API key (shown once)")
    create.add_argument("--user", required=True, help="the user id the key searches as")
    create.add_argument("--groups", default="", help="comma-separated groups of that user")
    create.add_argument("--admin", action="store_true", help="may manage documents")
    create.add_argument("--json", action="store_true", help='print {"key": ...}')
    create.set_defaults(func=create_key)


def create_key(settings: Settings, args: argparse.Namespace) -> int:
    from serve.composition import command

    groups = tuple(g.strip() for g in args.groups.split(",") if g.strip())
    with command(settings) as process:
        key, record = process.keys().create(args.user, groups, admin=args.admin)
    user, groups = record.principal.user_id, record.principal.groups
    if args.json:
        print(
            json.dumps({"key": key, "key_id": record.key_id, "user": user, "groups": list(groups), "admin": args.admin})
        )
    else:
        print(
            f"{key}\n(key {record.key_id} for user {user!r}, groups {list(groups)}, admin {args.admin}; "
            "it is shown only once)"
        )
    return exits.OK
