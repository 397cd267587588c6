"""E-mail files read for what the parsers need: an Outlook .msg's parts, and the attachments of either kind.

An RFC 822 message's body is parsed by unstructured (formats.py); an Outlook .msg, an OLE container of MAPI
properties, is read with extract-msg. Attachments are taken out of both here, as bytes with their names, so
that the sandbox can parse each as a document of its own (ingest/attachments.py). Inline parts (a signature's
logo) are part of the body's layout, not attachments, and are left out.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path


@dataclass(frozen=True, slots=True)
class RawAttachment:
    """An attachment's file name (as the sender gave it) and bytes, or why its bytes could not be read."""

    name: str
    data: bytes | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class OutlookMessage:
    """The parts of a .msg that Docent indexes: `headers` are (name, value) pairs in display order."""

    subject: str
    headers: tuple[tuple[str, str], ...]
    body: str | None
    html: str | None


def read_msg(path: Path) -> OutlookMessage:
    """Subject, From/To/Cc/Date and body (plain text, else HTML) of an Outlook .msg file."""
    import extract_msg
    from extract_msg.msg_classes import MessageBase

    with extract_msg.openMsg(str(path)) as message:
        if not isinstance(message, MessageBase):
            raise ValueError(f"an Outlook item that is not a message ({type(message).__name__})")
        headers = [
            ("From", message.sender),
            ("To", message.to),
            ("Cc", message.cc),
            ("Date", str(message.date) if message.date else message.header.get("Date")),
        ]
        body = (message.body or "").strip() or None
        html = None
        if body is None and message.htmlBody:
            html = message.htmlBody.decode("utf-8", errors="replace")
        return OutlookMessage(
            subject=(message.subject or "").strip(),
            headers=tuple((name, str(value)) for name, value in headers if value),
            body=body,
            html=html,
        )


def attachments_of(path: Path, doc_type: str) -> list[RawAttachment]:
    """The attachments of an "eml" or "msg" file, in the message's order; [] for any other type."""
    if doc_type == "eml":
        return list(_eml_attachments(path))
    if doc_type == "msg":
        return _msg_attachments(path)
    return []


def _eml_attachments(path: Path) -> Iterator[RawAttachment]:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)  # what policy.default builds
    for part in _leaf_parts(message):
        disposition = part.get_content_disposition()
        name = part.get_filename()
        forwarded = part.get_content_type() == "message/rfc822"
        if disposition == "inline" or (disposition != "attachment" and not name and not forwarded):
            continue
        if forwarded:  # a forwarded message: its own bytes, parsed as an e-mail
            inner = part.get_payload(0)
            data = inner.as_bytes() if isinstance(inner, email.message.Message) else None
            name = name or "message.eml"
        else:
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else None
        if data is None:
            yield RawAttachment(name or "attachment", error="the attachment's content could not be decoded")
        else:
            yield RawAttachment(name or "attachment", data)


def _leaf_parts(part: EmailMessage) -> Iterator[EmailMessage]:
    """The non-multipart parts, not descending into attached messages (their parts are theirs)."""
    if part.get_content_maintype() == "multipart":
        for sub in part.iter_parts():
            assert isinstance(sub, EmailMessage)
            yield from _leaf_parts(sub)
    else:
        yield part


def _msg_attachments(path: Path) -> list[RawAttachment]:
    import extract_msg
    from extract_msg.msg_classes import MSGFile

    found = []
    with extract_msg.openMsg(str(path)) as message:
        for attachment in message.attachments:
            if getattr(attachment, "hidden", False):  # inline images and the like
                continue
            name = attachment.longFilename or attachment.shortFilename or attachment.name or "attachment"
            data = attachment.data
            if isinstance(data, MSGFile):  # an attached Outlook item
                found.append(RawAttachment(f"{name}.msg" if not name.endswith(".msg") else name, data.exportBytes()))
            elif isinstance(data, bytes):
                found.append(RawAttachment(name, data))
            else:
                found.append(RawAttachment(name, error="an attachment Docent cannot read (a link or an OLE object)"))
    return found
