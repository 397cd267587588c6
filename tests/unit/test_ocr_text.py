"""The text rules around OCR: Tesseract's spaces in Chinese, when a PDF page has a text layer, the settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ingest.ocr import MIN_PAGE_CHARS, has_text, tidy_cjk
from serve.settings import IngestSettings


@pytest.mark.parametrize(
    ("ocr", "tidy"),
    [
        ("报销 单 必须 在 出 差 结束 后 提交 。", "报销单必须在出差结束后提交。"),
        ("由 安全 主管 王建国 负责 ， 每季度 一次", "由安全主管王建国负责，每季度一次"),
        ("VPN 网关 的 端口 是 4433", "VPN 网关的端口是 4433"),  # spaces next to Latin letters and digits stay
        ("The VPN gateway listens on port 4433.", "The VPN gateway listens on port 4433."),
        ("第一行 文字\n第二行 文字", "第一行文字\n第二行文字"),  # line breaks are not spaces
        ("（ 附件 ） 「 表格 」", "（附件）「表格」"),  # full-width and CJK punctuation count as CJK
    ],
)
def test_spaces_between_cjk_characters_are_removed(ocr, tidy):
    assert tidy_cjk(ocr) == tidy


def test_a_page_has_text_from_a_meaningful_number_of_characters():
    assert not has_text("")
    assert not has_text(" \n 3 \r\n")  # a page number on a scanned page
    assert not has_text("x " * (MIN_PAGE_CHARS - 1))
    assert has_text("x" * MIN_PAGE_CHARS)
    assert has_text("第三章　差旅费用报销的范围与标准说明")


def test_ocr_settings_default_to_auto_in_both_languages():
    settings = IngestSettings()
    assert (settings.ocr, settings.ocr_languages) == ("auto", "eng+chi_sim")
    assert IngestSettings(ocr="off", ocr_languages="chi_sim").ocr == "off"
    for bad in (
        {"ocr": "maybe"},
        {"ocr_languages": "eng -c foo"},
        {"ocr_languages": "+eng"},
        {"ocr_page_timeout_s": 0},
    ):
        with pytest.raises(ValidationError):
            IngestSettings(**bad)
