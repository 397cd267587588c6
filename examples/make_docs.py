#!/usr/bin/env python3
"""Generate Docent's sample corpus: the internal knowledge base of a fictional
company, Brightkelp Analytics (亮藻数据科技), in ``examples/docs/``.

Twenty documents, half English and half Simplified Chinese, spread over PDF,
DOCX, PPTX, XLSX, HTML, Markdown, EML and TXT.  ``examples/facts.json`` lists
checkable facts (question + short answer) that each appear in exactly one
document; tests use it as a golden set.

Usage::

    python examples/make_docs.py            # (re)write examples/docs/ and examples/facts.json
    python examples/make_docs.py --check    # also verify every answer appears in extracted text

Determinism: no randomness, fixed timestamps everywhere (docx/pptx/xlsx core
properties, email Date headers, PDF "invariant" mode) and Office zip members
are rewritten with a fixed date, so re-running yields byte-identical files.

Chinese PDFs use reportlab's built-in CID font ``STSong-Light`` (Adobe-GB1,
UniGB-UCS2-H encoding; the font is referenced, not embedded).  pypdfium2
extracts the Chinese text from it correctly, so no TTF font is needed.

Requires: python-docx, python-pptx, openpyxl, reportlab (all in the project
venv).  ``--check`` additionally uses pypdfium2 and unstructured.
"""
from __future__ import annotations

import argparse
import datetime as dt
import email.policy
import email.utils
import html
import io
import json
import re
import sys
import zipfile
from email.message import EmailMessage
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOCS = HERE / "docs"
FACTS = HERE / "facts.json"

COMPANY_EN = "Brightkelp Analytics"
COMPANY_ZH = "亮藻数据科技"
FIXED_TS = dt.datetime(2025, 5, 6, 9, 30, 0)
ZIP_TS = (2025, 5, 6, 9, 30, 0)

# ---------------------------------------------------------------------------
# Document model: a list of blocks
#   ("h1"|"h2"|"h3", text)   headings
#   ("p", text)              paragraph
#   ("ul"|"ol", [items])     bullet / numbered list
#   ("table", [[header...], [row...], ...])
#   ("code", text)           preformatted text
#   ("pagebreak",)           PDF page break (ignored by other formats)
# ---------------------------------------------------------------------------


def _title(blocks):
    for b in blocks:
        if b[0] == "h1":
            return b[1]
    return ""


# ----------------------------- Markdown -------------------------------------
def render_md(blocks) -> str:
    out = []
    for b in blocks:
        kind = b[0]
        if kind == "h1":
            out.append(f"# {b[1]}")
        elif kind == "h2":
            out.append(f"## {b[1]}")
        elif kind == "h3":
            out.append(f"### {b[1]}")
        elif kind == "p":
            out.append(b[1])
        elif kind == "ul":
            out.append("\n".join(f"- {i}" for i in b[1]))
        elif kind == "ol":
            out.append("\n".join(f"{n}. {i}" for n, i in enumerate(b[1], 1)))
        elif kind == "table":
            rows = b[1]
            lines = ["| " + " | ".join(rows[0]) + " |",
                     "|" + "|".join(" --- " for _ in rows[0]) + "|"]
            lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
            out.append("\n".join(lines))
        elif kind == "code":
            out.append("```\n" + b[1].rstrip("\n") + "\n```")
        elif kind == "pagebreak":
            continue
        else:
            raise ValueError(kind)
    return "\n\n".join(out) + "\n"


# ----------------------------- Plain text -----------------------------------
def render_txt(blocks) -> str:
    out = []
    for b in blocks:
        kind = b[0]
        if kind == "h1":
            out.append(b[1] + "\n" + "=" * 60)
        elif kind == "h2":
            out.append(b[1] + "\n" + "-" * 40)
        elif kind == "h3":
            out.append(b[1])
        elif kind == "p":
            out.append(b[1])
        elif kind == "ul":
            out.append("\n".join(f"  * {i}" for i in b[1]))
        elif kind == "ol":
            out.append("\n".join(f"  {n}. {i}" for n, i in enumerate(b[1], 1)))
        elif kind == "table":
            out.append("\n".join("  " + " | ".join(r) for r in b[1]))
        elif kind == "code":
            out.append("\n".join("    " + ln for ln in b[1].rstrip("\n").split("\n")))
        elif kind == "pagebreak":
            continue
        else:
            raise ValueError(kind)
    return "\n\n".join(out) + "\n"


# ----------------------------- HTML -----------------------------------------
def render_html_body(blocks) -> str:
    e = html.escape
    out = []
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2", "h3"):
            out.append(f"<{kind}>{e(b[1])}</{kind}>")
        elif kind == "p":
            out.append(f"<p>{e(b[1])}</p>")
        elif kind in ("ul", "ol"):
            items = "\n".join(f"  <li>{e(i)}</li>" for i in b[1])
            out.append(f"<{kind}>\n{items}\n</{kind}>")
        elif kind == "table":
            rows = b[1]
            head = "".join(f"<th>{e(c)}</th>" for c in rows[0])
            body = "\n".join("    <tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>"
                             for r in rows[1:])
            out.append(f"<table>\n  <thead><tr>{head}</tr></thead>\n  <tbody>\n{body}\n  </tbody>\n</table>")
        elif kind == "code":
            out.append(f"<pre><code>{e(b[1])}</code></pre>")
        elif kind == "pagebreak":
            continue
        else:
            raise ValueError(kind)
    return "\n".join(out)


HTML_CSS = """body { font-family: -apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei", sans-serif;
       max-width: 52rem; margin: 2rem auto; line-height: 1.6; color: #1d2b36; }
h1 { color: #0f6b5c; } h2 { border-bottom: 1px solid #cfe3de; padding-bottom: .2rem; }
table { border-collapse: collapse; } th, td { border: 1px solid #b7c9c4; padding: .3rem .6rem; }
header, footer { color: #5b6b75; font-size: .85rem; }"""


def render_html(blocks, lang: str, header: str, footer: str) -> str:
    title = html.escape(_title(blocks))
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n<style>\n{HTML_CSS}\n</style>\n</head>\n<body>\n"
        f"<header>{html.escape(header)}</header>\n<main>\n{render_html_body(blocks)}\n</main>\n"
        f"<footer>{html.escape(footer)}</footer>\n</body>\n</html>\n"
    )


# ----------------------------- Office zip normalisation ---------------------
_CORE_DATES = re.compile(r"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)")


def normalize_zip(data: bytes) -> bytes:
    """Rewrite an OOXML package with fixed member timestamps and core dates."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    stamp = FIXED_TS.strftime("%Y-%m-%dT%H:%M:%SZ")
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            payload = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                payload = _CORE_DATES.sub(lambda m: m.group(1) + stamp + m.group(3),
                                          payload.decode("utf-8")).encode("utf-8")
            zi = zipfile.ZipInfo(info.filename, date_time=ZIP_TS)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            dst.writestr(zi, payload)
    return buf.getvalue()


def _save_office(obj, path: Path):
    buf = io.BytesIO()
    obj.save(buf)
    path.write_bytes(normalize_zip(buf.getvalue()))


def _set_core(cp, title: str, lang: str, subject: str = ""):
    cp.title = title
    cp.author = "Brightkelp Analytics" if lang == "en" else "亮藻数据科技"
    cp.last_modified_by = "docs-bot"
    cp.subject = subject
    cp.language = "en-US" if lang == "en" else "zh-CN"
    cp.created = FIXED_TS
    cp.modified = FIXED_TS
    cp.revision = 1


# ----------------------------- DOCX -----------------------------------------
def render_docx(blocks, path: Path, lang: str):
    import docx
    from docx.oxml.ns import qn
    from docx.shared import Pt

    d = docx.Document()
    normal = d.styles["Normal"]
    normal.font.size = Pt(10.5)
    if lang == "zh":
        for sname in ("Normal", "Heading 1", "Heading 2", "Heading 3", "Title"):
            st = d.styles[sname]
            rpr = st.element.get_or_add_rPr()
            rfonts = rpr.find(qn("w:rFonts"))
            if rfonts is None:
                rfonts = rpr.makeelement(qn("w:rFonts"), {})
                rpr.append(rfonts)
            rfonts.set(qn("w:eastAsia"), "Microsoft YaHei")
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2", "h3"):
            d.add_heading(b[1], level=int(kind[1]))
        elif kind == "p":
            d.add_paragraph(b[1])
        elif kind == "ul":
            for i in b[1]:
                d.add_paragraph(i, style="List Bullet")
        elif kind == "ol":
            for i in b[1]:
                d.add_paragraph(i, style="List Number")
        elif kind == "table":
            rows = b[1]
            t = d.add_table(rows=len(rows), cols=len(rows[0]))
            t.style = "Table Grid"
            for r, row in enumerate(rows):
                for c, val in enumerate(row):
                    cell = t.cell(r, c)
                    cell.text = val
                    if r == 0:
                        for run in cell.paragraphs[0].runs:
                            run.bold = True
        elif kind == "code":
            p = d.add_paragraph()
            run = p.add_run(b[1])
            run.font.name = "Consolas"
        elif kind == "pagebreak":
            continue
        else:
            raise ValueError(kind)
    _set_core(d.core_properties, _title(blocks), lang)
    _save_office(d, path)


# ----------------------------- PDF ------------------------------------------
def render_pdf(blocks, path: Path, lang: str, header: str):
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import (ListFlowable, ListItem, PageBreak, Paragraph,
                                    Preformatted, SimpleDocTemplate, Spacer, Table,
                                    TableStyle)
    from reportlab.lib import colors

    if lang == "zh":
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
        body_font = bold_font = "STSong-Light"
        wrap = "CJK"
    else:
        body_font, bold_font, wrap = "Helvetica", "Helvetica-Bold", None
    base = dict(fontName=body_font, fontSize=10.5, leading=16, spaceAfter=6)
    if wrap:
        base["wordWrap"] = wrap
    st = {
        "p": ParagraphStyle("body", **base),
        "h1": ParagraphStyle("h1", **{**base, "fontName": bold_font, "fontSize": 18,
                                      "leading": 24, "spaceAfter": 10,
                                      "textColor": colors.HexColor("#0f6b5c")}),
        "h2": ParagraphStyle("h2", **{**base, "fontName": bold_font, "fontSize": 13.5,
                                      "leading": 19, "spaceBefore": 8, "spaceAfter": 4}),
        "h3": ParagraphStyle("h3", **{**base, "fontName": bold_font, "fontSize": 11.5,
                                      "leading": 16, "spaceBefore": 4}),
        "li": ParagraphStyle("li", **{**base, "spaceAfter": 2}),
        "cell": ParagraphStyle("cell", **{**base, "fontSize": 9.5, "leading": 13,
                                          "spaceAfter": 0}),
    }
    esc = lambda s: html.escape(s, quote=False)  # noqa: E731
    story = []
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2", "h3", "p"):
            story.append(Paragraph(esc(b[1]), st[kind]))
        elif kind in ("ul", "ol"):
            items = [ListItem(Paragraph(esc(i), st["li"]), leftIndent=14) for i in b[1]]
            story.append(ListFlowable(items, bulletType="bullet" if kind == "ul" else "1",
                                      start="•" if kind == "ul" else None,
                                      bulletFontName=body_font, leftIndent=14))
            story.append(Spacer(1, 4))
        elif kind == "table":
            data = [[Paragraph(esc(c), st["cell"]) for c in r] for r in b[1]]
            t = Table(data, repeatRows=1)
            t.setStyle(TableStyle([
                ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#9bb5ae")),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e3f1ed")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]))
            story.append(t)
            story.append(Spacer(1, 6))
        elif kind == "code":
            story.append(Preformatted(b[1], ParagraphStyle("code", fontName="Courier",
                                                           fontSize=9, leading=12)))
        elif kind == "pagebreak":
            story.append(PageBreak())
        else:
            raise ValueError(kind)

    def on_page(canvas, doc):
        canvas.saveState()
        canvas.setFont(body_font, 8.5)
        canvas.setFillColor(colors.HexColor("#5b6b75"))
        canvas.drawString(20 * mm, A4[1] - 12 * mm, header)
        n = doc.page
        canvas.drawRightString(A4[0] - 20 * mm, 12 * mm,
                               f"Page {n}" if lang == "en" else f"第 {n} 页")
        canvas.restoreState()

    doc = SimpleDocTemplate(str(path), pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm,
                            topMargin=20 * mm, bottomMargin=20 * mm,
                            title=_title(blocks), author=COMPANY_EN if lang == "en" else COMPANY_ZH,
                            subject="Internal policy", creator="examples/make_docs.py",
                            invariant=1)
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)


# ----------------------------- PPTX -----------------------------------------
def render_pptx(slides, path: Path, lang: str, title: str):
    """slides: list of dicts {title, subtitle?} (title slide) or {title, bullets, notes?}."""
    from pptx import Presentation
    from pptx.util import Pt

    prs = Presentation()
    for i, s in enumerate(slides):
        if "subtitle" in s:
            slide = prs.slides.add_slide(prs.slide_layouts[0])
            slide.shapes.title.text = s["title"]
            slide.placeholders[1].text = s["subtitle"]
        else:
            slide = prs.slides.add_slide(prs.slide_layouts[1])
            slide.shapes.title.text = s["title"]
            tf = slide.placeholders[1].text_frame
            for j, bullet in enumerate(s["bullets"]):
                para = tf.paragraphs[0] if j == 0 else tf.add_paragraph()
                level = 0
                while bullet.startswith("  "):
                    bullet, level = bullet[2:], level + 1
                para.text = bullet
                para.level = level
                for run in para.runs:
                    run.font.size = Pt(18 if level == 0 else 16)
        if s.get("notes"):
            slide.notes_slide.notes_text_frame.text = s["notes"]
    _set_core(prs.core_properties, title, lang)
    _save_office(prs, path)


# ----------------------------- XLSX -----------------------------------------
def render_xlsx(sheets, path: Path, lang: str, title: str):
    """sheets: list of (sheet_name, rows, column_widths)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    wb = Workbook()
    wb.remove(wb.active)
    for name, rows, widths in sheets:
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
        for cell in ws[1]:
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor="E3F1ED")
        for col, w in zip("ABCDEFGHIJ", widths):
            ws.column_dimensions[col].width = w
        for row in ws.iter_rows(min_row=2):
            for cell in row:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.freeze_panes = "A2"
    wb.properties.title = title
    wb.properties.creator = COMPANY_EN if lang == "en" else COMPANY_ZH
    wb.properties.lastModifiedBy = "docs-bot"
    wb.properties.language = "en-US" if lang == "en" else "zh-CN"
    wb.properties.created = FIXED_TS
    wb.properties.modified = FIXED_TS
    _save_office(wb, path)


# ----------------------------- EML ------------------------------------------
def render_eml(path: Path, *, sender, to, subject, date, msgid, body_blocks,
               cc=None, html_alt=False, cte="base64", lang="en"):
    msg = EmailMessage(policy=email.policy.default)
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Subject"] = subject
    msg["Date"] = email.utils.format_datetime(date)
    msg["Message-ID"] = msgid
    msg["Content-Language"] = "en-US" if lang == "en" else "zh-CN"
    text = render_txt(body_blocks)
    if cte == "8bit" or all(ord(ch) < 128 for ch in text):
        msg.set_content(text, charset="utf-8", cte="7bit" if text.isascii() else "8bit")
    else:
        msg.set_content(text, charset="utf-8", cte=cte)
    if html_alt:
        page = ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body>\n"
                + render_html_body(body_blocks) + "\n</body></html>\n")
        msg.add_alternative(page, subtype="html", charset="utf-8",
                            cte="7bit" if page.isascii() else cte)
    # The multipart boundary is random by default; pin it for determinism.
    if msg.is_multipart():
        msg.set_boundary("==brightkelp-" + re.sub(r"\W", "", msgid)[:24] + "==")
    path.write_bytes(msg.as_bytes())
