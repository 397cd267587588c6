"""The web page's server side: the reader's language, and the weight of what the page loads."""

from pathlib import Path

import pytest

from serve.web.messages import MESSAGES, choose_language

STATIC = Path(__file__).resolve().parents[2] / "serve" / "web" / "static"


@pytest.mark.parametrize(
    ("requested", "header", "expected"),
    [
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        (None, "en-US,en;q=0.9", "en"),
        (None, "fr-FR,zh-TW;q=0.5,en;q=0.4", "zh"),  # the first language we have, by weight
        (None, "en;q=0.2,zh;q=0.8", "zh"),
        (None, "de", "en"),
        (None, "", "en"),
        (None, "zh;q=bogus,en", "en"),  # an unreadable weight counts as 0
        ("zh", "en-US", "zh"),  # the switch wins over the browser
        ("xx", "zh", "zh"),  # an unknown switch is ignored
    ],
)
def test_the_page_speaks_the_readers_language(requested, header, expected):
    assert choose_language(requested, header) == expected


def test_both_languages_have_every_string():
    assert MESSAGES["en"].keys() == MESSAGES["zh"].keys()
    for language, text in MESSAGES.items():
        assert all(value.strip() for value in text.values()), language


def test_everything_the_page_loads_weighs_under_150_kb():
    """The template and every script, style and icon (the browser tests measure what a browser actually loads)."""
    files = [p for p in STATIC.rglob("*") if p.suffix in {".js", ".css", ".svg"}]
    total = sum(p.stat().st_size for p in files) + (STATIC.parent / "templates" / "index.html").stat().st_size
    assert total < 150_000, total
