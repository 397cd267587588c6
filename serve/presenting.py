"""The sources block shown under an answer, in one place for every channel (CLI, chat completions, Slack).

Channels differ in wording (a chat client's "References", Slack's "Written from" when the model cited nothing)
and in markup (plain text, Markdown, Slack's mrkdwn), so a `SourcesStyle` names both; the rules that pick the
heading, and what each line says, are shared:

    sources_block(answer, CLI)                    # "Sources:\\n  [1] Title — Section — p. 2 (docs/a.pdf)"
    "\\n\\n" + sources_block(answer, CHAT)          # after a chat completion's content, when there are citations
    sources_lines(answer, SLACK, source_url=url)  # Slack: the heading and one mrkdwn line per source, to split
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from answer.answerer import Answer, AnswerMode, Citation


class Markup(StrEnum):
    TEXT = "text"  # `[n] Title — Section — p. N (source)`: everything a reader needs to find the passage
    MARKDOWN = "markdown"  # `[n] [Title](url), p. N`, or the title in bold without a URL template
    MRKDWN = "mrkdwn"  # Slack's: `[n] <url|Title>, p. N`, or `*Title*`


@dataclass(frozen=True, slots=True)
class SourcesStyle:
    """How one channel words and marks up the block: a heading for each case, the markup, an indent per line."""

    cited: str  # the answer cites its sources
    uncited: str  # the answer cites none (a small model often forgets): the passages it was written from
    not_found: str  # no answer: the closest passages
    markup: Markup = Markup.TEXT
    indent: str = ""


CLI = SourcesStyle(cited="Sources", uncited="Sources", not_found="Closest sources", indent="  ")
CHAT = SourcesStyle(cited="References", uncited="Sources", not_found="Closest sources")
SLACK = SourcesStyle(cited="Sources", uncited="Written from", not_found="Closest documents", markup=Markup.MRKDWN)


def heading(answer: Answer, style: SourcesStyle) -> str:
    """The block's heading, without its colon."""
    if answer.mode is AnswerMode.NOT_FOUND:
        return style.not_found
    return style.cited if answer.cited else style.uncited


def source_line(citation: Citation, markup: Markup, source_url: str = "") -> str:
    """One source. `source_url` is a template with `{source}` and `{document_id}` (Markdown and mrkdwn only)."""
    if markup is Markup.TEXT:
        return citation.label
    title = citation.title or citation.source.rsplit("/", 1)[-1]
    url = source_url.format(source=citation.source, document_id=citation.document_id) if source_url else ""
    if markup is Markup.MRKDWN:
        title = title.replace("|", "/").replace(">", "›")  # both would end Slack's <url|text> early
        link = f"<{url}|{title}>" if url else f"*{title}*"
    else:
        title = title.replace("[", "\\[").replace("]", "\\]")
        link = f"[{title}]({url.replace('(', '%28').replace(')', '%29')})" if url else f"**{title}**"
    page = f", p. {citation.page}" if citation.page else ""
    return f"[{citation.number}] {link}{page}"


def sources_lines(answer: Answer, style: SourcesStyle, *, source_url: str = "") -> list[str]:
    """The heading (with its colon) and one line per cited source; empty when the answer has no sources."""
    if not answer.citations:
        return []
    lines = [style.indent + source_line(c, style.markup, source_url) for c in answer.citations]
    return [f"{heading(answer, style)}:", *lines]


def sources_block(answer: Answer, style: SourcesStyle, *, source_url: str = "") -> str:
    """The block as one string (lines joined by newlines); "" when the answer has no sources."""
    return "\n".join(sources_lines(answer, style, source_url=source_url))
