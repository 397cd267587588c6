"""A generated corpus for ingestion benchmarks: many varied files, written one at a time.

Sentences, headings and table rows are harvested from the sample corpus (examples/docs, half Chinese) with
Docent's own parsers, then recombined per file by a seeded random generator, with numbers shifted per file, so
that files differ while reading like the company's documents. Each file is rendered and written before the next
is built: memory holds the sentence pool, never the corpus. The mix by count: 30 % Markdown, 30 % plain text,
20 % HTML, 15 % DOCX, 5 % PDF (reportlab).
"""

from __future__ import annotations

import html
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from retrieval.sentences import split_sentences

_CJK = re.compile(r"[\u3400-\u9fff]")
_NUMBER = re.compile(r"\d+")
# i % 20 → format: 1 PDF, 3 DOCX, 4 HTML, 6 Markdown, 6 text.
_FORMATS = ["pdf"] + ["docx"] * 3 + ["html"] * 4 + ["md"] * 6 + ["txt"] * 6


@dataclass(slots=True)
class _Pool:
    sentences: list[str] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)
    tables: list[tuple[tuple[str, ...], ...]] = field(default_factory=list)


@dataclass(slots=True)
class SentencePool:
    """Sentences, headings and tables of the sample corpus, by language ("en" / "zh")."""

    by_language: dict[str, _Pool]

    @classmethod
    def harvest(cls, folder: Path) -> SentencePool:
        from ingest import filetypes, parsing
        from ingest.documents import BlockKind

        pools = {"en": _Pool(), "zh": _Pool()}
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            document = parsing.parse(path, filetypes.detect(path))
            for block in document.blocks:
                pool = pools["zh" if _CJK.search(block.text) else "en"]
                if block.kind is BlockKind.HEADING:
                    pool.headings.append(block.text)
                elif block.kind is BlockKind.TABLE and len(block.rows) >= 2:
                    pool.tables.append(block.rows)
                else:
                    pool.sentences += [s.strip() for s in split_sentences(block.text) if len(s.strip()) > 8]
        for language, pool in pools.items():
            if not pool.sentences or not pool.headings:
                raise RuntimeError(f"no {language} text found in {folder} to build a corpus from")
        return cls(pools)


@dataclass(slots=True)
class _Doc:
    title: str
    language: str
    sections: list[tuple[str, list[str], tuple[tuple[str, ...], ...] | None]]  # heading, paragraphs, table


def vary(text: str, shift: int) -> str:
    """Numbers shifted by `shift`, so that the same sentence differs from file to file."""
    return _NUMBER.sub(lambda m: str(int(m.group()) + shift), text)


def _build(pool: SentencePool, rng: random.Random, number: int) -> _Doc:
    language = "zh" if number % 2 else "en"
    p = pool.by_language[language]
    shift = rng.randrange(1, 97)
    joiner = "" if language == "zh" else " "
    sections = []
    for _ in range(rng.randint(2, 4)):
        paragraphs = [
            joiner.join(vary(s, shift) for s in rng.sample(p.sentences, rng.randint(3, 5)))
            for _ in range(rng.randint(2, 3))
        ]
        table = rng.choice(p.tables) if p.tables and rng.random() < 0.15 else None
        sections.append((vary(rng.choice(p.headings), shift), paragraphs, table))
    suffix = f"（第 {number} 版）" if language == "zh" else f" (revision {number})"
    return _Doc(vary(rng.choice(p.headings), shift) + suffix, language, sections)


def _md(doc: _Doc) -> str:
    out = [f"# {doc.title}"]
    for heading, paragraphs, table in doc.sections:
        out.append(f"## {heading}")
        out += paragraphs
        if table:
            out.append("| " + " | ".join(table[0]) + " |")
            out.append("|" + "---|" * len(table[0]))
            out += ["| " + " | ".join(row) + " |" for row in table[1:]]
    return "\n\n".join(out) + "\n"


def _txt(doc: _Doc) -> str:
    out = [doc.title]
    for heading, paragraphs, _ in doc.sections:
        out.append(heading)
        out += paragraphs
    return "\n\n".join(out) + "\n"


def _html(doc: _Doc) -> str:
    e = html.escape
    body = [f"<h1>{e(doc.title)}</h1>"]
    for heading, paragraphs, table in doc.sections:
        body.append(f"<h2>{e(heading)}</h2>")
        body += [f"<p>{e(p)}</p>" for p in paragraphs]
        if table:
            rows = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in table)
            body.append(f"<table>{rows}</table>")
    lang = "zh-CN" if doc.language == "zh" else "en"
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8"><title>{e(doc.title)}</title></head>'
        f"<body>\n{chr(10).join(body)}\n</body></html>\n"
    )


def _docx(doc: _Doc, path: Path) -> None:
    import docx

    d = docx.Document()
    d.core_properties.title = doc.title
    d.add_heading(doc.title, level=1)
    for heading, paragraphs, table in doc.sections:
        d.add_heading(heading, level=2)
        for paragraph in paragraphs:
            d.add_paragraph(paragraph)
        if table:
            t = d.add_table(rows=len(table), cols=max(len(r) for r in table))
            for r, row in enumerate(table):
                for c, cell in enumerate(row):
                    t.cell(r, c).text = cell
    d.save(str(path))


def _pdf(doc: _Doc, path: Path) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    if "STSong-Light" not in pdfmetrics.getRegisteredFontNames():
        # A CID font that reportlab references without embedding: pdfium extracts its text all the same.
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    zh = doc.language == "zh"
    font = "STSong-Light" if zh else "Helvetica"
    wrap = "CJK" if zh else None
    body = ParagraphStyle("body", fontName=font, fontSize=10, leading=14, wordWrap=wrap)
    h1 = ParagraphStyle("h1", fontName=font, fontSize=16, leading=20, wordWrap=wrap)
    h2 = ParagraphStyle("h2", fontName=font, fontSize=12, leading=16, wordWrap=wrap)
    e = html.escape
    story = [Paragraph(e(doc.title), h1), Spacer(1, 8)]
    for heading, paragraphs, _ in doc.sections:
        story += [Paragraph(e(heading), h2), Spacer(1, 4)]
        for paragraph in paragraphs:
            story += [Paragraph(e(paragraph), body), Spacer(1, 6)]
    SimpleDocTemplate(str(path), pagesize=A4, title=doc.title, invariant=1).build(story)


def write_corpus(folder: Path, files: int, *, source: Path, seed: int = 7) -> dict[str, int]:
    """Write `files` generated files into `folder`; returns how many of each format."""
    pool = SentencePool.harvest(source)
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for number in range(files):
        kind = _FORMATS[number % len(_FORMATS)]
        doc = _build(pool, rng, number)
        path = folder / f"doc-{number:05d}.{kind}"
        if kind == "md":
            path.write_text(_md(doc), encoding="utf-8")
        elif kind == "txt":
            path.write_text(_txt(doc), encoding="utf-8")
        elif kind == "html":
            path.write_text(_html(doc), encoding="utf-8")
        elif kind == "docx":
            _docx(doc, path)
        else:
            _pdf(doc, path)
        counts[kind] = counts.get(kind, 0) + 1
    return counts
