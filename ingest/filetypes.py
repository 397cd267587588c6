"""Which parser a file needs, decided by its bytes first and its name second.

A `.pdf` that is really HTML is parsed as HTML; a binary file named `.txt` is refused. An OLE container (legacy
.doc, .xls, .ppt, Outlook .msg) is told apart by its top-level streams; other binaries are reported as
unsupported rather than guessed at.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from ingest.formats import FORMATS, is_xml

SUPPORTED = tuple(f.name for f in FORMATS)

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_SNIFF_BYTES = 8192


class UnsupportedType(ValueError):
    """The file is of a kind Docent does not parse; the message names what it looks like."""


def detect(path: Path) -> str:
    """The file type of `path`, one of SUPPORTED (the rows of ingest/formats.py); raises UnsupportedType otherwise."""
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
    if not head:
        raise UnsupportedType("empty file")
    for fmt in FORMATS:
        if fmt.magic is not None and head.startswith(fmt.magic):
            return fmt.name
    if head.startswith(b"PK\x03\x04"):
        return _ooxml_type(path)
    if head.startswith(_OLE):
        return _ole_type(path)
    text = _as_text(head)
    if text is None:
        raise UnsupportedType(f"binary content of an unknown type ({head[:8]!r}...)")
    if is_xml(head) and not re.search(rb"<html\b", head, re.I):
        raise UnsupportedType("XML document (only XHTML is parsed)")
    for fmt in FORMATS:
        if fmt.sniff is not None and fmt.sniff(head, text, path):
            return fmt.name
    raise UnsupportedType("text of no known format")  # unreachable while txt takes any text


def _ooxml_type(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile as exc:
        raise UnsupportedType(f"damaged zip container: {exc}") from exc
    for fmt in FORMATS:
        if fmt.zip_member is not None and fmt.zip_member in names:
            return fmt.name
    raise UnsupportedType("zip archive that is not a Word, PowerPoint or Excel file")


def _ole_type(path: Path) -> str:
    import olefile

    try:
        with olefile.OleFileIO(str(path)) as ole:
            names = [entry[0] for entry in ole.listdir(streams=True, storages=True) if len(entry) == 1]
    except OSError as exc:  # olefile raises OSError for a damaged container
        raise UnsupportedType(f"damaged OLE container: {exc}") from exc
    for fmt in FORMATS:
        if fmt.ole_entries and any(name.startswith(fmt.ole_entries) for name in names):
            return fmt.name
    if "EncryptedPackage" in names:
        raise UnsupportedType("password-protected Office file; save it without a password")
    raise UnsupportedType("OLE file that is not a Word, Excel, PowerPoint or Outlook file")


def _as_text(head: bytes) -> str | None:
    """Decode a text file's first bytes, or None when they are binary. Tolerates a cut multi-byte character."""
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    for encoding in ("utf-8", "utf-16", "gb18030"):
        try:
            return head.decode(encoding)
        except UnicodeDecodeError as exc:
            if encoding == "utf-8" and exc.start >= len(head) - 3:
                return head[: exc.start].decode("utf-8")
    return None
