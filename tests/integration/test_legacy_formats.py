"""Legacy Office files through LibreOffice, Outlook .msg files, and e-mail attachments as documents of their own.

The legacy files are made by LibreOffice itself from OOXML files built here; the .msg files by
tests/support/outlook.py. These tests need LibreOffice (`soffice`) and fail without it: CI installs it.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from ingest.discovery import document_id, source_of
from ingest.filetypes import detect
from ingest.reindex import ReindexReport, rebuild
from ingest.sandbox import ParseFailure, ParseLimits, parse_file
from retrieval.access import ALL_ACCESS
from retrieval.search import SearchRequest
from tests.support.outlook import write_msg

DOC_FACT = "The anchor bolt torque for the north pylon is 85 newton metres."
XLS_FACT = ("Gasket", "GK-4471", "12")
PPT_FACT = "The evacuation drill for the Shenzhen plant is held every Thursday."
PDF_FACT = "The Q3 travel budget for the Lisbon office is 48,000 euros."
DOCX_FACT = "Contractor badges for the Lisbon office expire after 30 days."
MSG_FACT = "The replacement pump for line four has serial number PX-7731."
SUBJECT = "季度预算 Q3 budget review"


def _soffice_convert(source: Path, target: str, outdir: Path) -> Path:
    profile = outdir / f"profile-{target}"
    command = ["soffice", f"-env:UserInstallation={profile.as_uri()}", "--headless", "--convert-to", target]
    subprocess.run(
        [*command, "--outdir", str(outdir), str(source)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return outdir / f"{source.stem}.{target}"


@pytest.fixture(scope="session")
def legacy_files(tmp_path_factory) -> dict[str, Path]:
    """A .doc, .xls and .ppt, each saved by LibreOffice from an OOXML file holding one fact."""
    import docx
    import openpyxl
    import pptx

    folder = tmp_path_factory.mktemp("legacy")
    document = docx.Document()
    document.core_properties.title = "Pylon maintenance"
    document.add_heading("Bolts", 1)
    document.add_paragraph(DOC_FACT)
    document.save(folder / "pylon.docx")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Spares"
    sheet.append(["Part", "Code", "Stock"])
    sheet.append(list(XLS_FACT))
    workbook.save(folder / "spares.xlsx")
    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Safety drills"
    slide.placeholders[1].text = PPT_FACT
    deck.save(folder / "drills.pptx")
    out = folder / "legacy"
    out.mkdir()
    return {
        "doc": _soffice_convert(folder / "pylon.docx", "doc", out),
        "xls": _soffice_convert(folder / "spares.xlsx", "xls", out),
        "ppt": _soffice_convert(folder / "drills.pptx", "ppt", out),
    }


def _text(document) -> str:
    return "\n".join(block.text for block in document.blocks)


def test_legacy_office_files_are_converted_and_parsed_as_their_own_type(legacy_files):
    for kind, path in legacy_files.items():
        assert detect(path) == kind
        started = time.perf_counter()
        doc_type, document = parse_file(path, ParseLimits(timeout_s=60))
        seconds = time.perf_counter() - started
        assert doc_type == document.doc_type == kind
        assert seconds < 40, (kind, seconds)
    _, doc = parse_file(legacy_files["doc"], ParseLimits())
    assert doc.title == "Pylon maintenance" and DOC_FACT in _text(doc)
    assert any(b.kind == "heading" and b.text == "Bolts" for b in doc.blocks)
    _, xls = parse_file(legacy_files["xls"], ParseLimits())
    assert ("Gasket", "GK-4471", "12") in [b.rows[1] for b in xls.blocks if b.kind == "table" and len(b.rows) > 1]
    assert xls.title == "spares"  # a workbook's title is its file name, never a sheet's
    _, ppt = parse_file(legacy_files["ppt"], ParseLimits())
    assert PPT_FACT in _text(ppt) and ppt.title == "Safety drills"


def test_without_libreoffice_legacy_files_are_refused_with_the_fix(legacy_files, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no soffice
    with pytest.raises(ParseFailure, match=r"unsupported file type: legacy Office file \(doc\).*install LibreOffice"):
        parse_file(legacy_files["doc"], ParseLimits())
    with pytest.raises(ParseFailure, match=r"save it as \.xlsx"):
        parse_file(legacy_files["xls"], ParseLimits())


def test_a_converted_file_goes_through_the_zip_bomb_guard(legacy_files):
    with pytest.raises(ParseFailure, match="zip bomb suspected"):
        parse_file(legacy_files["ppt"], ParseLimits(max_unpacked_mb=0))


def _docx_bytes(path: Path, fact: str) -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph(fact)
    document.save(path)
    return path.read_bytes()


def _pdf_bytes(path: Path, fact: str) -> bytes:
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path))
    pdf.drawString(72, 720, "Travel budget")
    pdf.drawString(72, 700, fact)
    pdf.save()
    return path.read_bytes()


def test_outlook_msg_is_parsed_with_headers_body_and_attachments(tmp_path):
    attachment = ("badges.docx", _docx_bytes(tmp_path / "a.docx", DOCX_FACT))
    path = write_msg(
        tmp_path / "pump.msg",
        subject="Pump replacement",
        sender="Alice Lin <alice@example.com>",
        to="Bob Ortiz <bob@example.com>",
        date="Mon, 07 Dec 2026 09:30:00 +0000",
        body=f"Hello Bob,\n\n{MSG_FACT}\n",
        attachments=(attachment, ("notes.bin", b"\x00\x01\x02binary")),
    )
    assert detect(path) == "msg"
    doc_type, document = parse_file(path, ParseLimits())
    assert doc_type == "msg" and document.title == "Pump replacement"
    header = document.blocks[0].text
    assert "From: Alice Lin <alice@example.com>" in header and "To: Bob Ortiz" in header and "Date: " in header
    assert MSG_FACT in _text(document)
    first, second = document.attachments
    assert (first.index, first.name) == (1, "badges.docx") and first.document is not None
    assert first.document.doc_type == "docx" and DOCX_FACT in _text(first.document)
    assert second.document is None and second.error and "unsupported file type" in second.error

    html_only = write_msg(
        tmp_path / "html.msg",
        subject="HTML only",
        sender="alice@example.com",
        to="bob@example.com",
        date="Mon, 07 Dec 2026 09:30:00 +0000",
        html=f"<html><body><h1>Pumps</h1><p>{MSG_FACT}</p></body></html>",
    )
    _, document = parse_file(html_only, ParseLimits())
    assert MSG_FACT in _text(document) and document.attachments == ()


def _eml(path: Path, tmp: Path) -> Path:
    message = EmailMessage()
    message["From"] = "Carla Reis <carla@example.com>"
    message["To"] = "finance@example.com"
    message["Subject"] = SUBJECT
    message["Date"] = "Mon, 07 Dec 2026 08:00:00 +0000"
    message.set_content("Hi all,\n\nThe budget and the badge rules are attached.\n")
    message.add_attachment(
        _pdf_bytes(tmp / "b.pdf", PDF_FACT), maintype="application", subtype="pdf", filename="budget.pdf"
    )
    docx_type = "vnd.openxmlformats-officedocument.wordprocessingml.document"
    message.add_attachment(
        _docx_bytes(tmp / "b.docx", DOCX_FACT), maintype="application", subtype=docx_type, filename="徽章规定.docx"
    )
    message.add_attachment(
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", maintype="image", subtype="png", filename="logo.png"
    )  # a damaged image: fails alone
    path.write_bytes(bytes(message))
    return path


@pytest.mark.slow
def test_email_attachments_are_indexed_as_documents_of_their_own(
    pipeline, retriever, edge_index, legacy_files, tmp_path
):
    corpus = tmp_path / "mail"
    corpus.mkdir()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    mail = _eml(corpus / "budget.eml", scratch)
    write_msg(
        corpus / "pump.msg",
        subject="Pump replacement",
        sender="alice@example.com",
        to="bob@example.com",
        date="Mon, 07 Dec 2026 09:30:00 +0000",
        body="See the attached note.",
        attachments=(("pump.txt", MSG_FACT.encode()),),
    )
    shutil.copy(legacy_files["doc"], corpus / "pylon.doc")  # converted inside the parser sandbox

    report = pipeline.run([corpus], acl=["group:finance"], tags=["mail"])
    attachment = f"{source_of(mail)}#attachment/"
    assert [(f.path, f.reason.split(":")[0]) for f in report.failed] == [
        (attachment + "3-logo.png", "cannot parse png")
    ]
    assert report.files == 3 and report.indexed == 3 + 3  # the files, then budget.pdf, 徽章规定.docx, pump.txt

    hits = retriever.search(SearchRequest("Lisbon office travel budget euros", ALL_ACCESS, k=3)).passages
    assert hits[0].title == f"budget.pdf — {SUBJECT}" and hits[0].doc_type == "pdf"
    assert hits[0].source == attachment + "1-budget.pdf" and PDF_FACT in hits[0].text
    assert hits[0].document_id == document_id(attachment + "1-budget.pdf")
    hits = retriever.search(SearchRequest("contractor badges expire", ALL_ACCESS, k=3)).passages
    assert hits[0].title == f"徽章规定.docx — {SUBJECT}" and hits[0].doc_type == "docx"
    hits = retriever.search(SearchRequest("replacement pump serial number", ALL_ACCESS, k=3)).passages
    assert hits[0].title == "pump.txt — Pump replacement" and hits[0].doc_type == "txt"
    hits = retriever.search(SearchRequest("anchor bolt torque north pylon", ALL_ACCESS, k=3)).passages
    assert hits[0].doc_type == "doc" and hits[0].source == source_of(corpus / "pylon.doc")
    grants = {g.source: g for g in edge_index.grants()}
    assert len(grants) == 6
    assert {(g.acl, g.tags) for g in grants.values()} == {(("group:finance",), ("mail",))}

    again = pipeline.run([corpus], acl=["group:finance"], tags=["mail"], prune=True)
    assert again.unchanged == 3 and again.indexed == 0 and again.removed == 0  # attachments belong to their file
    rebuilt = ReindexReport("v1", "v2")  # a reindex rebuilds an attachment through its message, never loses it
    present = rebuild(list(edge_index.grants()), pipeline, rebuilt)
    assert rebuilt.missing == [] and present == {g.document_id for g in grants.values()} and rebuilt.unchanged == 3

    mail.unlink()
    assert pipeline.prune([corpus]) == 3  # the message and its two indexed attachments
    assert not any(source.startswith(str(mail)) for _, source in edge_index.documents())
