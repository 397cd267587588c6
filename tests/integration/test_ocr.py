"""OCR of scanned pages with the real Tesseract (Debian's tesseract-ocr with eng and chi_sim; CI installs it, and
these tests fail without it): image-only PDFs, PNG, JPEG and multi-page TIFF, mixed PDFs, OCR off or unusable,
and a scanned PDF found by search through the real pipeline."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ingest.documents import ParsedDocument
from ingest.ocr import OcrOptions
from ingest.sandbox import ParseFailure, ParseLimits, parse_file
from retrieval.access import ALL_ACCESS
from retrieval.errors import ConfigError
from retrieval.search import SearchRequest
from tests.support import scans

EN_FACT = "The backup generator in building C is tested every Tuesday at 06:30 by the facilities team."
ZH_FACT = "仓库的消防演习每季度举行一次，由安全主管王建国负责组织和记录。"
TEXT_LAYER = ["Travel policy", "Flights are booked through the Tripwise booking portal, economy class only."]


def english_page() -> scans.Image.Image:
    return scans.page_image(["Backup generator", EN_FACT], font=scans.DEJAVU)


def chinese_page() -> scans.Image.Image:
    return scans.page_image(["消防演习", ZH_FACT], cjk=True)


def page_of(document: ParsedDocument, phrase: str) -> set[int | None]:
    return {b.page for b in document.blocks if phrase in b.text}


def ocr_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "ingest.ocr"]


def test_a_scanned_pdf_is_read_page_by_page_in_both_languages(tmp_path, caplog):
    path = scans.save_pdf(tmp_path / "scan.pdf", [english_page(), chinese_page()])
    caplog.set_level(logging.INFO, logger="ingest.ocr")
    doc_type, document = parse_file(path, ParseLimits())
    assert doc_type == "pdf"
    assert page_of(document, "tested every Tuesday at 06:30") == {1}
    # Tesseract's spaces between Chinese characters are gone: the sentence comes back whole.
    assert page_of(document, "由安全主管王建国负责") == {2}
    assert [b.text for b in document.blocks if b.kind.value == "heading"] == ["Backup generator", "消防演习"]
    assert len(ocr_log(caplog)) == 2


@pytest.mark.slow
def test_png_jpeg_and_a_two_page_tiff_are_read(tmp_path):
    png = scans.save_image(tmp_path / "notice.png", chinese_page())
    jpeg = scans.save_image(tmp_path / "photo.jpg", english_page())
    tiff = scans.save_tiff(tmp_path / "fax.tif", [chinese_page(), english_page()])

    doc_type, document = parse_file(png, ParseLimits())
    assert doc_type == "png" and page_of(document, "消防演习每季度举行一次") == {1}
    assert document.title == "消防演习"
    doc_type, document = parse_file(jpeg, ParseLimits())
    assert doc_type == "jpeg" and page_of(document, "building C is tested") == {1}
    doc_type, document = parse_file(tiff, ParseLimits())
    assert doc_type == "tiff"
    assert page_of(document, "王建国") == {1} and page_of(document, "06:30") == {2}


def test_a_mixed_pdf_ocrs_only_the_page_without_a_text_layer(tmp_path, caplog):
    path = scans.save_mixed_pdf(tmp_path / "mixed.pdf", TEXT_LAYER, chinese_page())
    caplog.set_level(logging.INFO, logger="ingest.ocr")
    _, document = parse_file(path, ParseLimits())
    assert page_of(document, "Tripwise booking portal") == {1}
    assert page_of(document, "王建国") == {2}
    logged = ocr_log(caplog)
    assert len(logged) == 1 and "page=2 " in logged[0], logged


def test_with_ocr_off_scans_fail_with_the_reason_and_text_pages_still_count(tmp_path, caplog):
    off = ParseLimits(ocr=OcrOptions(mode="off"))
    scanned = scans.save_pdf(tmp_path / "scan.pdf", [english_page()])
    with pytest.raises(ParseFailure, match="no text layer and OCR is off"):
        parse_file(scanned, off)
    with pytest.raises(ParseFailure, match=r"png image: .*OCR is off"):
        parse_file(scans.save_image(tmp_path / "notice.png", chinese_page()), off)

    caplog.set_level(logging.INFO)
    _, document = parse_file(scans.save_mixed_pdf(tmp_path / "mixed.pdf", TEXT_LAYER, chinese_page()), off)
    assert page_of(document, "Tripwise booking portal") == {1}
    assert {b.page for b in document.blocks} == {1}  # the scanned page is left out, and the log says so
    assert not ocr_log(caplog)
    assert any("left out" in r.getMessage() and "pages=[2]" in r.getMessage() for r in caplog.records)


def test_missing_language_data_makes_ocr_unavailable_with_the_reason(tmp_path):
    limits = ParseLimits(ocr=OcrOptions(languages="eng+xx_missing"))
    with pytest.raises(ParseFailure, match=r"no text layer and OCR is unavailable: .*xx_missing"):
        parse_file(scans.save_pdf(tmp_path / "scan.pdf", [english_page()]), limits)


def test_a_page_over_its_time_limit_is_left_out(tmp_path, caplog):
    limits = ParseLimits(ocr=OcrOptions(page_timeout_s=0.01))  # tesseract cannot even load its models this fast
    caplog.set_level(logging.WARNING, logger="ingest.parsing")
    with pytest.raises(ParseFailure, match="no text found"):
        parse_file(scans.save_pdf(tmp_path / "scan.pdf", [english_page()]), limits)
    assert any("ran past 0.01 s" in r.getMessage() and "page=1" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
def test_a_scanned_pdf_is_ingested_and_found_by_search(pipeline, retriever, tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    scans.save_pdf(folder / "facilities.pdf", [english_page(), chinese_page()])
    report = pipeline.run([folder])
    assert report.ok and report.indexed == 1, report.failed

    hits = retriever.search(SearchRequest("When is the backup generator tested?", ALL_ACCESS, k=3)).passages
    assert hits and hits[0].source.endswith("facilities.pdf") and hits[0].page == 1
    assert "06:30" in hits[0].text
    hits = retriever.search(SearchRequest("消防演习由谁负责？", ALL_ACCESS, k=3)).passages
    assert hits and hits[0].source.endswith("facilities.pdf") and hits[0].page == 2
    assert "王建国" in hits[0].text


def test_the_worker_pool_reads_scans_inside_the_sandbox(parser_pool, tmp_path):
    """The pool's workers (spawned, memory-capped) run Tesseract as a child process under that cap."""
    path = scans.save_image(tmp_path / "notice.png", chinese_page())
    [outcome] = list(parser_pool.parse_all([Path(path)]))
    assert outcome.error is None and outcome.document is not None
    assert page_of(outcome.document, "王建国") == {1}


@pytest.mark.slow
def test_a_long_scan_gets_a_time_limit_per_page_not_one_for_the_file(tmp_path):
    """The file's limit (2 s) is shorter than reading its four pages: each page started extends it by the page's
    own limit, so the scan is read whole; a text file past the same 2 s still times out."""
    from ingest.sandbox import ParserPool

    path = scans.save_pdf(tmp_path / "long.pdf", [english_page(), chinese_page(), english_page(), chinese_page()])
    pool = ParserPool(ParseLimits(timeout_s=2, ocr=OcrOptions(page_timeout_s=30)))
    pool.start()
    try:
        pool.wait_ready()
        [outcome] = list(pool.parse_all([Path(path)]))
    finally:
        pool.close()
    assert outcome.error is None, outcome.error
    assert page_of(outcome.document, "由安全主管王建国负责") == {2, 4}


def test_ocr_on_without_the_language_data_is_a_configuration_error():
    from serve.components import make_parsers
    from serve.settings import IngestSettings, Settings

    with pytest.raises(
        ConfigError, match="DOCENT_INGEST__OCR=on, but OCR is unavailable: no Tesseract language data for xx_missing"
    ):
        make_parsers(Settings(ingest=IngestSettings(ocr="on", ocr_languages="eng+xx_missing")))
    pool = make_parsers(Settings(ingest=IngestSettings(ocr="auto", ocr_languages="eng+xx_missing")))
    assert pool.limits.ocr.languages == "eng+xx_missing"  # auto: files that need OCR fail, the rest parse
    pool = make_parsers(Settings(ingest=IngestSettings(ocr="on", ocr_page_timeout_s=5)))
    assert (pool.limits.ocr.mode, pool.limits.ocr.page_timeout_s) == ("on", 5)


def test_a_poster_sized_page_is_rendered_under_the_pixel_cap(tmp_path):
    import pypdfium2 as pdfium
    from reportlab.pdfgen import canvas

    from ingest.ocr import MAX_PAGE_PIXELS, render_pdf_page

    poster = canvas.Canvas(str(tmp_path / "poster.pdf"), pagesize=(14_400, 14_400))  # 200 x 200 inches
    poster.rect(72, 72, 720, 720)
    poster.showPage()
    poster.save()
    pdf = pdfium.PdfDocument(str(tmp_path / "poster.pdf"))
    try:
        image, dpi = render_pdf_page(pdf[0], 300)  # at 300 dpi: 3.6 G pixels
        assert image.width * image.height <= MAX_PAGE_PIXELS and dpi == 31
    finally:
        pdf.close()
