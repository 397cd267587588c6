"""The formats table: each row can be detected and names a parser that exists."""

from __future__ import annotations

from importlib.util import find_spec

import pytest

from ingest.filetypes import SUPPORTED, detect
from ingest.formats import FORMATS, Reader, format_named


def test_each_row_is_reachable_and_its_partitioner_exists():
    assert len(set(SUPPORTED)) == len(FORMATS)
    for fmt in FORMATS:
        assert fmt.magic or fmt.zip_member or fmt.ole_entries or fmt.sniff, f"{fmt.name}: no way to detect it"
        assert (fmt.reader is Reader.UNSTRUCTURED) == (fmt.partitioner is not None), fmt.name
        if fmt.partitioner:
            module, _, name = fmt.partitioner.partition(":")
            assert name and find_spec(module) is not None, fmt.partitioner  # found, not imported: it is slow
    assert FORMATS[-1].name == "txt"  # the fallback for any text comes last


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("a.pdf", b"%PDF-1.7\n"),
        ("scan.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
        ("photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"),
        ("fax.tif", b"II*\x00\x08\x00\x00\x00"),
        ("fax.tif", b"MM\x00*\x00\x00\x00\x08"),
        ("page.html", b"<!doctype html><html><title>T</title></html>"),
        ("mail.eml", b"From: a@example.com\nSubject: hi\n\nbody"),
        ("notes.md", b"plain words"),
        ("notes.txt", b"# not markdown by name"),
    ],
)
def test_detection_returns_the_row_of_the_content(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    assert format_named(detect(path)).extensions[0] == path.suffix
