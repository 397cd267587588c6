"""Which parser a file needs, decided by its bytes first and its name second.

A `.pdf` that is really HTML is parsed as HTML; a binary file named `.txt` is refused. Legacy OLE formats
(.doc, .xls, .ppt) and other binaries are reported as unsupported rather than guessed at.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

SUPPORTED = ("pdf", "docx", "pptx", "xlsx", "html", "md", "eml", "txt")

_OOXML_MARKERS = {"word/document.xml": "docx", "ppt/presentation.xml": "pptx", "xl/workbook.xml": "xlsx"}
_HTML = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body|h[1-6]|p|div|table)\b", re.I | re.S)
_EMAIL_HEADER = re.compile(rb"^(from|to|subject|date|received|return-path|message-id|mime-version):", re.I | re.M)
_MARKDOWN = re.compile(r"^(#{1,6} \S|\s*[-*+] \S|\|.+\|\s*$|```)", re.M)
_MARKDOWN_SUFFIXES = {".md", ".markdown", ".mdown"}
_SNIFF_BYTES = 8192


class UnsupportedType(ValueError):
    """The file is of a kind Docent does not parse; the message names what it looks like."""


def detect(path: Path) -> str:
    """The file type of `path`, one of SUPPORTED; raises UnsupportedType otherwise."""
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
    if not head:
        raise UnsupportedType("empty file")
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return _ooxml_type(path)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise UnsupportedType("legacy Office (OLE) file; save it as .docx/.xlsx/.pptx")
    text = _as_text(head)
    if text is None:
        raise UnsupportedType(f"binary content of an unknown type ({head[:8]!r}...)")
    if _HTML.match(head):
        return "html"
    if head.lstrip().startswith(b"<?xml"):
        if re.search(rb"<html\b", head, re.I):
            return "html"
        raise UnsupportedType("XML document (only XHTML is parsed)")
    if len(_EMAIL_HEADER.findall(head.split(b"\n\n", 1)[0])) >= 2:
        return "eml"
    if path.suffix.lower() in _MARKDOWN_SUFFIXES:
        return "md"
    if path.suffix.lower() not in {".txt", ".text", ""} and _MARKDOWN.search(text):
        return "md"
    return "txt"


def _ooxml_type(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile as exc:
        raise UnsupportedType(f"damaged zip container: {exc}") from exc
    for marker, kind in _OOXML_MARKERS.items():
        if marker in names:
            return kind
    raise UnsupportedType("zip archive that is not a Word, PowerPoint or Excel file")


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
