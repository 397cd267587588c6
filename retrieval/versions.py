"""Index versions: a collection is rebuilt into a new version beside the one serving, then a pointer switches.

Version 1 of collection `docent` is the collection `docent` itself (what every index before versions was), and
version n is `docent-v<n>`. The pointer names the version that serves: a file `<collection>.current` beside
the embedded shards, an alias `<collection>-current` on a Qdrant server; without one, version 1 serves. Both
switch atomically (a file renamed over the old one; one alias request that deletes and creates). Processes that
serve follow the pointer when the version it names was built with their settings, and keep the one they have
otherwise (a new model needs a restart with the new settings: see `docent reindex`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

POINTER_SUFFIX = ".current"  # the embedded store's pointer file, `<collection>.current`
ALIAS_SUFFIX = "-current"  # the Qdrant server's alias, `<collection>-current`
FOLLOW_EVERY_S = 1.0  # how often a serving process looks at the pointer
RETIRE_AFTER_S = 30.0  # a replaced version stays open this long for the searches still using it


def version_name(collection: str, number: int) -> str:
    return collection if number == 1 else f"{collection}-v{number}"


def version_number(collection: str, name: str) -> int | None:
    """n of `name` when it is a version of `collection`, else None."""
    if name == collection:
        return 1
    match = re.fullmatch(re.escape(collection) + r"-v(\d+)", name)
    return int(match.group(1)) if match else None


def next_version(collection: str, existing: list[str]) -> str:
    numbers = [n for n in (version_number(collection, name) for name in existing) if n is not None]
    return version_name(collection, max(numbers, default=0) + 1)


def read_pointer(root: Path, collection: str) -> str:
    """The version the embedded store's pointer names (the collection itself without a pointer)."""
    try:
        name = (root / f"{collection}{POINTER_SUFFIX}").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return collection
    return name or collection


def write_pointer(root: Path, collection: str, version: str) -> None:
    """Point the embedded store at `version`, atomically (readers see the old name or the new one)."""
    pointer = root / f"{collection}{POINTER_SUFFIX}"
    temporary = pointer.with_name(pointer.name + ".tmp")
    temporary.write_text(version + "\n", encoding="utf-8")
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, pointer)
