import zipfile

import pytest

from ingest.filetypes import UnsupportedType, detect


def write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_content_wins_over_extension(tmp_path):
    assert detect(write(tmp_path / "report.txt", b"%PDF-1.7\n...")) == "pdf"
    assert detect(write(tmp_path / "page.pdf", b"<!DOCTYPE html><html><body><p>hi</p></body></html>")) == "html"
    assert detect(write(tmp_path / "mail.txt", b"From: a@x.example\nSubject: hi\n\nbody")) == "eml"


def test_markdown_by_extension_or_by_syntax(tmp_path):
    assert detect(write(tmp_path / "a.md", b"plain words only")) == "md"
    assert detect(write(tmp_path / "README", b"# Title\n\nSome text\n")) == "txt"  # no suffix: plain text
    assert detect(write(tmp_path / "notes.rst2", b"# Title\n\n- item\n")) == "md"
    assert detect(write(tmp_path / "a.txt", "中文纯文本。".encode("gb18030"))) == "txt"


def test_office_types_are_read_from_the_zip_directory(tmp_path):
    for marker, kind in [("word/document.xml", "docx"), ("ppt/presentation.xml", "pptx"), ("xl/workbook.xml", "xlsx")]:
        path = tmp_path / f"file-{kind}.bin"
        with zipfile.ZipFile(path, "w") as z:
            z.writestr(marker, "<x/>")
        assert detect(path) == kind


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.txt", b"", "empty"),
        ("image.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00", "binary"),  # PNG, JPEG and TIFF are read by OCR
        ("legacy.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 32, "damaged OLE container"),
        ("data.xml", b'<?xml version="1.0"?><root/>', "XML"),
        ("archive.docx", b"PK\x03\x04garbage", "damaged zip"),
    ],
)
def test_unsupported_files_name_what_they_are(tmp_path, name, data, reason):
    with pytest.raises(UnsupportedType, match=reason):
        detect(write(tmp_path / name, data))


def test_plain_zip_is_not_an_office_file(tmp_path):
    path = tmp_path / "bundle.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.txt", "x")
    with pytest.raises(UnsupportedType, match="not a Word"):
        detect(path)
