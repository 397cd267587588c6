"""E-mail attachments as documents of their own, linked to their message.

In the sandbox, `parse_attachments` parses each attachment of an .eml or .msg like a file of its own (a PDF as
a PDF, a .docx as docx): one that cannot be parsed is a failure of that attachment, never of the message.
Attached messages are parsed, but their own attachments are not taken out (one level only).

In the pipeline, an attachment is known by its message's source plus its position and name
("/mail/q3.eml#attachment/2-budget.xlsx"), so its document id is stable across runs; it is titled
"budget.xlsx — <subject>" and indexed with the message's access and tags. It belongs to its message's file:
pruned when that file is gone, kept while it exists.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.documents import Attachment

if TYPE_CHECKING:
    from ingest.sandbox import ParseLimits

MAX_ATTACHMENTS = 50
MARK = "#attachment/"
_UNSAFE = re.compile(r"[^\w.\- ]+")


def parse_attachments(path: Path, doc_type: str, limits: ParseLimits) -> tuple[Attachment, ...]:
    """Each attachment of the message at `path` parsed (at most MAX_ATTACHMENTS, each within the file size
    limit); the ones that cannot be, with the reason. Runs in a parser worker."""
    from ingest.messages import attachments_of
    from ingest.sandbox import ParseFailure, parse_file

    found = attachments_of(path, doc_type)
    parsed = []
    with tempfile.TemporaryDirectory(prefix="docent-attachments-") as tmp:
        for index, raw in enumerate(found[:MAX_ATTACHMENTS], start=1):
            if raw.data is None:
                parsed.append(Attachment(index, raw.name, error=raw.error))
                continue
            digest = hashlib.sha256(raw.data).hexdigest()
            if len(raw.data) > limits.max_file_mb * 2**20:
                size = len(raw.data) / 2**20
                reason = f"attachment too large: {size:.1f} MiB (limit {limits.max_file_mb:g} MiB)"
                parsed.append(Attachment(index, raw.name, digest, error=reason))
                continue
            folder = Path(tmp) / str(index)  # the attachment keeps its name: its extension is a hint, its stem a title
            folder.mkdir()
            file = folder / safe_name(raw.name, index)
            file.write_bytes(raw.data)
            try:
                _, document = parse_file(file, limits, attachments=False)
            except ParseFailure as exc:
                parsed.append(Attachment(index, raw.name, digest, error=str(exc)))
            else:
                parsed.append(Attachment(index, raw.name, digest, document=document))
            file.unlink()
    for index in range(MAX_ATTACHMENTS + 1, len(found) + 1):
        reason = f"more than {MAX_ATTACHMENTS} attachments: the rest are not indexed"
        parsed.append(Attachment(index, found[index - 1].name, error=reason))
    return tuple(parsed)


def safe_name(name: str, index: int) -> str:
    """A file name for the attachment that cannot leave its folder: no separators, no dot files, not too long."""
    cleaned = _UNSAFE.sub("_", Path(name.replace("\\", "/")).name).strip(" .")[-120:]
    return cleaned or f"attachment-{index}"


def attachment_source(message_source: str, attachment: Attachment) -> str:
    """The source an attachment's document is known by: its message's, then its position and name."""
    return f"{message_source}{MARK}{attachment.index}-{safe_name(attachment.name, attachment.index)}"


def owner_source(source: str) -> str:
    """The file a document belongs to: the message of an attachment, the document's own source otherwise."""
    return source.partition(MARK)[0]


def attachment_title(attachment: Attachment, subject: str) -> str:
    return f"{attachment.name} — {subject}" if subject else attachment.name
