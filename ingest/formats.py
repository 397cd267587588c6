"""The file formats Docent parses, one row each: how a file is recognised, which reader parses it, and with
which options. Adding a format is adding a row (and, for a new kind of reader, a branch in parsing.py).

Detection (filetypes.py) tries the rows in order: a magic prefix, then a part of an OOXML zip container, then
the text formats' sniffers on the first bytes; the first match wins, and `txt` takes any other text. Names
(extensions) are hints only: a `.pdf` that is really HTML is parsed as HTML.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from html import unescape
from pathlib import Path
from typing import Any


class Reader(Enum):
    PDF = "pdf"  # pypdfium2, page by page (unstructured's PDF extra pulls a CUDA torch and layout models)
    TEXT = "text"  # plain text through the layout-free reader shared with PDF pages
    UNSTRUCTURED = "unstructured"  # an unstructured partitioner, named by `partitioner`
    IMAGE = "image"  # a scanned page (or a TIFF of several), read by Tesseract (ocr.py)
    LIBREOFFICE = "libreoffice"  # legacy Office: converted by LibreOffice to `convert_to`, parsed as that row
    OUTLOOK = "outlook"  # an Outlook .msg, read with extract-msg (messages.py)


class Headings(Enum):
    """Which of unstructured's `Title` elements are trusted as headings (they still must look like one)."""

    ALL = "all"
    TOP_LEVEL = "top_level"  # slide titles, not every bold line of a slide
    NONE = "none"


# A metadata title from the file (path, its decoded text for text formats, the partitioner's elements).
TitleOf = Callable[[Path, str | None, list[Any]], str | None]


@dataclass(frozen=True, slots=True)
class Format:
    name: str  # the doc_type stored with each chunk
    mime: str
    extensions: tuple[str, ...]  # names that suggest it (the content decides)
    reader: Reader
    magic: bytes | tuple[bytes, ...] | None = None  # the file starts with these bytes (or one of these)
    zip_member: str | None = None  # an OOXML zip container holding this part (checked by guards.py first)
    ole_entries: tuple[str, ...] = ()  # an OLE container with a top-level entry whose name starts with one of these
    convert_to: str | None = None  # LIBREOFFICE: the row (an OOXML format) LibreOffice converts the file to
    sniff: Callable[[bytes, str, Path], bool] | None = None  # text formats: (first bytes, as text, path) -> match
    # "module:function" of the unstructured partitioner, imported when first used: unstructured takes seconds
    # to import and this table is read by processes that never parse (the API, the CLI).
    partitioner: str | None = None
    text_input: bool = False  # the partitioner takes the decoded text, not the file name
    options: Mapping[str, object] = field(default_factory=dict)  # the partitioner's keyword arguments
    title: TitleOf | None = None
    headings: Headings = Headings.NONE
    sheets: bool = False  # a workbook: sheet names head their tables and are never the document's title


_CORE_TITLE = re.compile(rb"<dc:title>(.*?)</dc:title>", re.S)
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)
_HTML = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body|h[1-6]|p|div|table)\b", re.I | re.S)
_EMAIL_HEADER = re.compile(rb"^(from|to|subject|date|received|return-path|message-id|mime-version):", re.I | re.M)
_MARKDOWN = re.compile(r"^(#{1,6} \S|\s*[-*+] \S|\|.+\|\s*$|```)", re.M)
_TXT_EXTENSIONS = (".txt", ".text")


def _office_title(path: Path, text: str | None, elements: list[Any]) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            core = archive.read("docProps/core.xml")
    except (KeyError, zipfile.BadZipFile):
        return None
    match = _CORE_TITLE.search(core)
    return unescape(match.group(1).decode("utf-8", errors="replace")).strip() or None if match else None


def _email_subject(path: Path, text: str | None, elements: list[Any]) -> str | None:
    return elements[0].metadata.subject if elements else None


def _html_title(path: Path, text: str | None, elements: list[Any]) -> str | None:
    match = _HTML_TITLE.search((text or "")[:65536])
    return unescape(match.group(1)).strip() if match else None


def _is_html(head: bytes, text: str, path: Path) -> bool:
    return bool(_HTML.match(head)) or (is_xml(head) and re.search(rb"<html\b", head, re.I) is not None)


def _is_email(head: bytes, text: str, path: Path) -> bool:
    return len(_EMAIL_HEADER.findall(head.split(b"\n\n", 1)[0])) >= 2


def _is_markdown(head: bytes, text: str, path: Path) -> bool:
    suffix = path.suffix.lower()
    if suffix in MARKDOWN.extensions:
        return True
    return suffix not in {*_TXT_EXTENSIONS, ""} and _MARKDOWN.search(text) is not None


def is_xml(head: bytes) -> bool:
    return head.lstrip().startswith(b"<?xml")


def _ooxml(name: str, mime: str, member: str, **options: object) -> Format:
    return Format(
        name,
        mime,
        (f".{name}",),
        Reader.UNSTRUCTURED,
        zip_member=member,
        partitioner=f"unstructured.partition.{name}:partition_{name}",
        options={"infer_table_structure": True, **options},
        title=_office_title,
        headings={"docx": Headings.ALL, "pptx": Headings.TOP_LEVEL}.get(name, Headings.NONE),
        sheets=name == "xlsx",
    )


_OOXML = "application/vnd.openxmlformats-officedocument."
MARKDOWN = Format(
    "md",
    "text/markdown",
    (".md", ".markdown", ".mdown"),
    Reader.UNSTRUCTURED,
    sniff=_is_markdown,
    partitioner="unstructured.partition.md:partition_md",
    text_input=True,
    headings=Headings.ALL,
)

FORMATS: tuple[Format, ...] = (
    Format("pdf", "application/pdf", (".pdf",), Reader.PDF, magic=b"%PDF-"),
    Format("png", "image/png", (".png",), Reader.IMAGE, magic=b"\x89PNG\r\n\x1a\n"),
    Format("jpeg", "image/jpeg", (".jpg", ".jpeg"), Reader.IMAGE, magic=b"\xff\xd8\xff"),
    Format("tiff", "image/tiff", (".tif", ".tiff"), Reader.IMAGE, magic=(b"II*\x00", b"MM\x00*")),
    _ooxml("docx", _OOXML + "wordprocessingml.document", "word/document.xml"),
    _ooxml("pptx", _OOXML + "presentationml.presentation", "ppt/presentation.xml"),
    _ooxml("xlsx", _OOXML + "spreadsheetml.sheet", "xl/workbook.xml", find_subtable=False),
    # Legacy Office and Outlook files share the OLE container; its top-level streams tell them apart.
    Format(
        "doc", "application/msword", (".doc",), Reader.LIBREOFFICE, ole_entries=("WordDocument",), convert_to="docx"
    ),
    Format(
        "xls",
        "application/vnd.ms-excel",
        (".xls",),
        Reader.LIBREOFFICE,
        ole_entries=("Workbook", "Book"),
        convert_to="xlsx",
    ),
    Format(
        "ppt",
        "application/vnd.ms-powerpoint",
        (".ppt",),
        Reader.LIBREOFFICE,
        ole_entries=("PowerPoint Document",),
        convert_to="pptx",
    ),
    Format("msg", "application/vnd.ms-outlook", (".msg",), Reader.OUTLOOK, ole_entries=("__substg1.0_",)),
    Format(
        "html",
        "text/html",
        (".html", ".htm", ".xhtml"),
        Reader.UNSTRUCTURED,
        sniff=_is_html,
        partitioner="unstructured.partition.html:partition_html",
        text_input=True,
        title=_html_title,
        headings=Headings.ALL,
    ),
    Format(
        "eml",
        "message/rfc822",
        (".eml",),
        Reader.UNSTRUCTURED,
        sniff=_is_email,
        partitioner="unstructured.partition.email:partition_email",
        options={"process_attachments": False},
        title=_email_subject,
    ),
    MARKDOWN,
    # Plain text has no markup, and unstructured's title heuristics are English-only: the PDF page rules.
    Format("txt", "text/plain", _TXT_EXTENSIONS, Reader.TEXT, sniff=lambda head, text, path: True),
)

_BY_NAME = {f.name: f for f in FORMATS}


def format_named(name: str) -> Format:
    """The row of doc_type `name`; KeyError for a name that is not in the table."""
    return _BY_NAME[name]
