"""Checks that refuse hostile containers before a parser touches them.

Office files are zip archives of XML. A zip bomb (a small file that inflates to gigabytes) and an XML entity
bomb ("billion laughs") both blow up memory inside the parser; these checks catch them from the archive's
directory and the parts' first bytes, cheaply. The sandbox's memory cap and timeout remain the backstop.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

_DTD = re.compile(rb"<!DOCTYPE|<!ENTITY", re.I)
# Office XML parts never carry a DTD; the first few KiB of a part is where one would have to be.
_PROLOGUE_BYTES = 4096


class RejectedFile(ValueError):
    """The file is refused for safety; the message says why."""


def check_zip_container(path: Path, *, max_unpacked_bytes: int, max_ratio: float) -> None:
    """Refuse archives that inflate past `max_unpacked_bytes` or by more than `max_ratio`, or carry DTDs."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise RejectedFile(f"damaged zip container: {exc}") from exc
    with archive:
        members = archive.infolist()
        unpacked = sum(m.file_size for m in members)
        packed = sum(m.compress_size for m in members) or 1
        if unpacked > max_unpacked_bytes:
            raise RejectedFile(
                f"zip bomb suspected: archive inflates to {unpacked / 2**20:.0f} MiB "
                f"(limit {max_unpacked_bytes / 2**20:.0f} MiB)"
            )
        if unpacked > 2**20 and unpacked / packed > max_ratio:
            raise RejectedFile(
                f"zip bomb suspected: compression ratio {unpacked / packed:.0f}:1 (limit {max_ratio:.0f}:1)"
            )
        for member in members:
            if member.filename.endswith((".xml", ".rels")):
                with archive.open(member) as part:
                    if _DTD.search(part.read(_PROLOGUE_BYTES)):
                        raise RejectedFile(f"XML entity declarations in {member.filename} (entity bomb suspected)")
