"""The model's Markdown as Slack mrkdwn: what Slack shows must be what the Markdown meant."""

from __future__ import annotations

import pytest

from serve.slack import to_mrkdwn


@pytest.mark.parametrize(
    ("markdown", "mrkdwn"),
    [
        ("**Port** 443 is open", "*Port* 443 is open"),
        ("This is *important* and _this_ too", "This is _important_ and _this_ too"),
        ("The ~~old~~ new address", "The ~old~ new address"),
        ("See [the guide](https://x.example/vpn).", "See <https://x.example/vpn|the guide>."),
        (
            "See [Scope](https://en.wikipedia.org/wiki/Scope_(computer_science)) first.",
            "See <https://en.wikipedia.org/wiki/Scope_(computer_science)|Scope> first.",
        ),
        ("Run `sudo apt **update**` first", "Run `sudo apt **update**` first"),
        ("```\nexport A=*x*\n```", "```\nexport A=*x*\n```"),
        ("## Annual leave\nTen days carry over [1].", "*Annual leave*\n\nTen days carry over [1]."),
        ("Use a < b & c > d", "Use a &lt; b &amp; c &gt; d"),
        ("年假可结转**五天** [1]。\n第二行", "年假可结转*五天* [1]。\n第二行"),
    ],
)
def test_markdown_becomes_mrkdwn(markdown: str, mrkdwn: str) -> None:
    assert to_mrkdwn(markdown) == mrkdwn


def test_a_table_becomes_a_code_block_that_keeps_its_rows() -> None:
    markdown = (
        "Rates:\n\n| City | Per day |\n|---|---|\n| Paris | **180** EUR |\n| Tokyo | 20,000 JPY |\n\nAsk **Finance**."
    )
    assert to_mrkdwn(markdown) == (
        "Rates:\n\n```\n| City | Per day |\n|---|---|\n| Paris | **180** EUR |\n| Tokyo | 20,000 JPY |\n```\n"
        "Ask *Finance*."
    )


def test_broadcasts_and_mentions_in_an_answer_are_plain_text():
    """A document that says `<!channel>` must not make Docent notify the whole channel when it is quoted."""
    text = to_mrkdwn("Ping <!channel> and <!here|here>, <@U123> or <#C42|general>, see [x](https://a.com/b)")
    assert "<!" not in text and "<@" not in text and "<#" not in text
    assert "&lt;!channel&gt;" in text and "<https://a.com/b|x>" in text
