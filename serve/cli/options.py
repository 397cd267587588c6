"""Options several commands share (who asks, which documents) and what they turn into."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from retrieval.access import Access
    from retrieval.filters import SearchFilters


def add_principal(command: argparse.ArgumentParser, verb: str) -> None:
    command.add_argument("--user", help=f"{verb} as this user (default: the operator, who sees every document)")
    command.add_argument("--group", action="append", default=[], help="a group of --user (repeatable)")


def add_filters(command: argparse.ArgumentParser) -> None:
    command.add_argument("--prefix", help="only documents under this folder")
    command.add_argument(
        "--type", action="append", default=[], dest="doc_types", help="document type, e.g. pdf (repeatable)"
    )
    command.add_argument("--lang", action="append", default=[], dest="languages", help="en or zh (repeatable)")
    command.add_argument(
        "--tag", action="append", default=[], dest="tags", help="only documents with this tag (repeatable)"
    )
    command.add_argument("--after", type=iso_date, help="modified on or after (ISO date)")
    command.add_argument("--before", type=iso_date, help="modified on or before (ISO date)")


def add_grant(command: argparse.ArgumentParser) -> None:
    """Who may read the documents a command indexes, and their tags."""
    command.add_argument(
        "--acl",
        action="append",
        default=[],
        metavar="PRINCIPAL",
        help="a user or group allowed to read these documents (repeatable)",
    )
    command.add_argument("--public", action="store_true", help="readable by everyone")
    command.add_argument("--tag", action="append", default=[], metavar="TAG", help="a tag to filter by (repeatable)")


def filters(args: argparse.Namespace) -> SearchFilters:
    from retrieval.filters import SearchFilters

    return SearchFilters(
        source_prefix=args.prefix,
        doc_types=tuple(args.doc_types),
        languages=tuple(args.languages),
        tags=tuple(args.tags),
        modified_after=args.after,
        modified_before=args.before,
    )


def access(args: argparse.Namespace) -> Access:
    """The operator owns the data folder and so reads every document; --user/--group narrow that."""
    from retrieval.access import ALL_ACCESS, Principal

    return Principal(args.user, tuple(args.group)) if args.user or args.group else ALL_ACCESS


def checked_acl(args: argparse.Namespace) -> list[str]:
    """The --acl entries, refused here if malformed: before a model loads or a file is sent."""
    from retrieval.access import acl_entries

    return list(acl_entries(args.acl))


def iso_date(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
