"""Hostile and broken files: each is one reported failure, found within a time bound; the batch goes on."""

from __future__ import annotations

import io
import time
import zipfile

import docx
import pytest

from ingest.sandbox import ParseLimits, ParserPool


def make_docx(path, paragraphs=("hello",)):
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    document.save(path)
    return path


def rewrite_part(source, target, part: str, data: bytes, compress=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", compress) as zout:
        for item in zin.infolist():
            zout.writestr(item, data if item.filename == part else zin.read(item.filename))
    return target


@pytest.fixture
def bad_corpus(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    good = make_docx(folder / "good.docx", ["The cafeteria opens at 07:30 on weekdays."] * 3)
    (folder / "empty.txt").write_bytes(b"")
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<>> garbage without xref\n%%EOF")
    # 200 MiB of zeros deflate to ~200 KiB: a ratio no real document has.
    rewrite_part(good, folder / "bomb.docx", "word/document.xml", b"\0" * (200 * 2**20))
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10)
        )
        + b']><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>'
    )
    rewrite_part(good, folder / "entities.docx", "word/document.xml", laughs)
    (folder / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8)
    (folder / "huge.txt").write_text("A line of an oversized log file.\n" * 70_000)  # ~2.2 MiB
    return folder, good


EXPECTED = {
    "empty.txt": "empty file",
    "corrupt.pdf": "cannot parse pdf",
    "bomb.docx": "zip bomb suspected",
    "entities.docx": "entity",
    "photo.jpg": "cannot parse jpeg",  # a JPEG is read by OCR; this one's bytes are no image
    "huge.txt": "file too large",
}


def test_each_bad_file_is_a_named_failure_and_the_good_one_is_indexed(pipeline, bad_corpus):
    folder, _ = bad_corpus
    pipeline.parsers = ParserPool(ParseLimits(timeout_s=20, max_file_mb=2))
    pipeline.parsers.start()
    try:
        started = time.perf_counter()
        done = []
        report = pipeline.run([folder], on_file=done.append)
        elapsed = time.perf_counter() - started
    finally:
        pipeline.parsers.close()
    reasons = {f.path.rsplit("/", 1)[-1]: f.reason for f in report.failed}
    assert set(reasons) == set(EXPECTED)
    assert not any(d.transient for d in done)  # corrupt, unsupported or too large: another try cannot help
    for name, expected in EXPECTED.items():
        assert expected in reasons[name], (name, reasons[name])
    assert report.indexed == 1 and report.chunks >= 1 and not report.ok
    assert elapsed < 60


def test_a_parser_that_hangs_is_killed_at_the_timeout_and_the_worker_replaced(tmp_path):
    big = make_docx(tmp_path / "slow.docx", [f"Paragraph {i} of a very long handbook." for i in range(30_000)])
    small = make_docx(tmp_path / "small.docx", ["Short and fine."])
    pool = ParserPool(ParseLimits(timeout_s=1.0))
    pool.start()
    try:
        started = time.perf_counter()
        outcomes = {o.path.name: o for o in pool.parse_all([big, small])}
        elapsed = time.perf_counter() - started
    finally:
        pool.close()
    assert "timed out after 1 s" in outcomes["slow.docx"].error
    assert outcomes["slow.docx"].transient  # retried by the task runner: the machine may have been busy
    assert outcomes["small.docx"].document is not None  # a fresh worker took the next file
    assert elapsed < 30


def test_a_parser_over_its_memory_cap_fails_alone(tmp_path):
    # A 60 MB HTML table inflates far past a cap set just above the worker's baseline address space.
    rows = "".join(f"<tr><td>{i}</td><td>{'x' * 40}</td></tr>" for i in range(600_000))
    big = tmp_path / "big.html"
    big.write_text(f"<html><body><table>{rows}</table></body></html>")
    small = tmp_path / "small.md"
    small.write_text("# Fine\n\nThis one parses.\n")
    pool = ParserPool(ParseLimits(timeout_s=120, memory_mb=1200))
    pool.start()
    try:
        outcomes = {o.path.name: o for o in pool.parse_all([big, small])}
    finally:
        pool.close()
    # Where the allocation fails decides the message: Python's MemoryError ("out of memory"), libxml2's
    # failed malloc (an XMLSyntaxError), or a native abort ("crashed"). Each is this file's failure alone.
    assert outcomes["big.html"].document is None and outcomes["big.html"].error
    assert outcomes["small.md"].document is not None


def test_zip_guard_accepts_ordinary_office_files(tmp_path):
    from ingest.guards import check_zip_container

    path = make_docx(tmp_path / "fine.docx", ["ordinary"] * 50)
    check_zip_container(path, max_unpacked_bytes=2**29, max_ratio=200)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/document.xml", b"\0" * (10 * 2**20))
    (tmp_path / "ratio.docx").write_bytes(buffer.getvalue())
    with pytest.raises(ValueError, match="compression ratio"):
        check_zip_container(tmp_path / "ratio.docx", max_unpacked_bytes=2**29, max_ratio=200)
