"""Outlook .msg files built for tests: an OLE container of MAPI property streams, written with extract-msg's
own OLE writer (extract-msg reads .msg files but has no API to compose one).

The layout follows [MS-OXMSG]: string properties as `__substg1.0_<tag>001F` streams in UTF-16-LE, a
`__properties_version1.0` stream (a 32-byte header on the message, 8 bytes on an attachment, then 16-byte
fixed-size property entries), a named-property storage, and one `__attach_version1.0_#<n>` storage per attachment.
"""

from __future__ import annotations

import struct
from pathlib import Path

from extract_msg.ole_writer import OleWriter

_ATTACH_BY_VALUE = 1


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-le")


def _property(tag: int, value: int) -> bytes:
    return struct.pack("<IIQ", tag, 6, value)  # flags: readable and writable


def write_msg(
    path: Path,
    *,
    subject: str,
    sender: str,
    to: str,
    date: str,
    body: str | None = None,
    html: str | None = None,
    attachments: tuple[tuple[str, bytes], ...] = (),
) -> Path:
    """Write a .msg with these headers, a plain and/or HTML body and (name, bytes) attachments."""
    writer = OleWriter()
    headers = f"From: {sender}\r\nTo: {to}\r\nDate: {date}\r\nSubject: {subject}\r\n\r\n"
    strings = {"001A": "IPM.Note", "0037": subject, "0C1F": sender, "0E04": to, "007D": headers}
    if body is not None:
        strings["1000"] = body
    for tag, text in strings.items():
        writer.addEntry(f"__substg1.0_{tag}001F", _utf16(text))
    if html is not None:
        writer.addEntry("__substg1.0_10130102", html.encode("utf-8"))
    writer.addEntry("__nameid_version1.0", storage=True)
    for stream in ("00020102", "00030102", "00040102"):
        writer.addEntry(f"__nameid_version1.0/__substg1.0_{stream}", b"")
    count = len(attachments)
    header = b"\0" * 8 + struct.pack("<IIII", 0, count, 0, count) + b"\0" * 8
    writer.addEntry("__properties_version1.0", header + _property(0x0E070003, 0))
    for index, (name, data) in enumerate(attachments):
        storage = f"__attach_version1.0_#{index:08X}"
        writer.addEntry(storage, storage=True)
        writer.addEntry(f"{storage}/__substg1.0_3707001F", _utf16(name))
        writer.addEntry(f"{storage}/__substg1.0_37010102", data)
        writer.addEntry(f"{storage}/__properties_version1.0", b"\0" * 8 + _property(0x37050003, _ATTACH_BY_VALUE))
    writer.write(str(path))
    return path
