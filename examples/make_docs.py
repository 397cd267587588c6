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

Chinese PDFs embed (a subset of) a CJK TrueType font so that they render
everywhere, including pdfium on machines without CJK fonts.  The font is looked
up in $DOCENT_CJK_FONT, then in the paths of CJK_FONT_CANDIDATES; on Debian /
Ubuntu install it with ``apt-get install -y fonts-wqy-microhei``.  If no such
font is found the script falls back to reportlab's built-in CID font
``STSong-Light`` (referenced, not embedded): pypdfium2 still extracts the
Chinese text correctly, but pages render blank where no CJK font is installed,
and the PDF bytes differ from the committed ones.

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
            lines = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join(" --- " for _ in rows[0]) + "|"]
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
        elif kind == "h3" or kind == "p":
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
            body = "\n".join("    <tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows[1:])
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
                payload = _CORE_DATES.sub(lambda m: m.group(1) + stamp + m.group(3), payload.decode("utf-8")).encode(
                    "utf-8"
                )
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
CJK_FONT_CANDIDATES = [
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # apt: fonts-wqy-microhei
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",  # apt: fonts-wqy-zenhei
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",  # apt: fonts-droid-fallback
]


def _register_cjk_font(pdfmetrics, UnicodeCIDFont) -> str:
    import os

    from reportlab.pdfbase.ttfonts import TTFont

    if "BKCJK" in pdfmetrics.getRegisteredFontNames():
        return "BKCJK"
    env = os.environ.get("DOCENT_CJK_FONT")
    for cand in ([env] if env else []) + CJK_FONT_CANDIDATES:
        if cand and Path(cand).is_file():
            pdfmetrics.registerFont(TTFont("BKCJK", cand, subfontIndex=0))
            return "BKCJK"
    print(
        "warning: no CJK TrueType font found (apt-get install fonts-wqy-microhei); "
        "falling back to the non-embedded CID font STSong-Light",
        file=sys.stderr,
    )
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    return "STSong-Light"


def render_pdf(blocks, path: Path, lang: str, header: str):
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import (
        ListFlowable,
        ListItem,
        PageBreak,
        Paragraph,
        Preformatted,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    if lang == "zh":
        body_font = bold_font = _register_cjk_font(pdfmetrics, UnicodeCIDFont)
        wrap = "CJK"
    else:
        body_font, bold_font, wrap = "Helvetica", "Helvetica-Bold", None
    base = dict(fontName=body_font, fontSize=10.5, leading=16, spaceAfter=6)
    if wrap:
        base["wordWrap"] = wrap
    st = {
        "p": ParagraphStyle("body", **base),
        "h1": ParagraphStyle(
            "h1",
            **{
                **base,
                "fontName": bold_font,
                "fontSize": 18,
                "leading": 24,
                "spaceAfter": 10,
                "textColor": colors.HexColor("#0f6b5c"),
            },
        ),
        "h2": ParagraphStyle(
            "h2", **{**base, "fontName": bold_font, "fontSize": 13.5, "leading": 19, "spaceBefore": 8, "spaceAfter": 4}
        ),
        "h3": ParagraphStyle(
            "h3", **{**base, "fontName": bold_font, "fontSize": 11.5, "leading": 16, "spaceBefore": 4}
        ),
        "li": ParagraphStyle("li", **{**base, "spaceAfter": 2}),
        "cell": ParagraphStyle("cell", **{**base, "fontSize": 9.5, "leading": 13, "spaceAfter": 0}),
    }
    esc = lambda s: html.escape(s, quote=False)  # noqa: E731
    story = []
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2", "h3", "p"):
            story.append(Paragraph(esc(b[1]), st[kind]))
        elif kind in ("ul", "ol"):
            items = [ListItem(Paragraph(esc(i), st["li"]), leftIndent=14) for i in b[1]]
            story.append(
                ListFlowable(
                    items,
                    bulletType="bullet" if kind == "ul" else "1",
                    start="•" if kind == "ul" else None,
                    bulletFontName=body_font,
                    leftIndent=14,
                )
            )
            story.append(Spacer(1, 4))
        elif kind == "table":
            data = [[Paragraph(esc(c), st["cell"]) for c in r] for r in b[1]]
            t = Table(data, repeatRows=1)
            t.setStyle(
                TableStyle(
                    [
                        ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#9bb5ae")),
                        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e3f1ed")),
                        ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ]
                )
            )
            story.append(t)
            story.append(Spacer(1, 6))
        elif kind == "code":
            story.append(Preformatted(b[1], ParagraphStyle("code", fontName="Courier", fontSize=9, leading=12)))
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
        canvas.drawRightString(A4[0] - 20 * mm, 12 * mm, f"Page {n}" if lang == "en" else f"第 {n} 页")
        canvas.restoreState()

    doc = SimpleDocTemplate(
        str(path),
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=20 * mm,
        bottomMargin=20 * mm,
        title=_title(blocks),
        author=COMPANY_EN if lang == "en" else COMPANY_ZH,
        subject="Internal policy",
        creator="examples/make_docs.py",
        invariant=1,
    )
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)


# ----------------------------- PPTX -----------------------------------------
def render_pptx(slides, path: Path, lang: str, title: str):
    """slides: list of dicts {title, subtitle?} (title slide) or {title, bullets, notes?}."""
    from pptx import Presentation
    from pptx.util import Pt

    prs = Presentation()
    for _i, s in enumerate(slides):
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
        for col, w in zip("ABCDEFGHIJ", widths, strict=False):
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
def render_eml(
    path: Path, *, sender, to, subject, date, msgid, body_blocks, cc=None, html_alt=False, cte="base64", lang="en"
):
    msg = EmailMessage(policy=email.policy.default)
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Subject"] = subject
    msg["Date"] = email.utils.format_datetime(date)
    msg["Message-ID"] = msgid
    text = render_txt(body_blocks)
    if cte == "8bit" or all(ord(ch) < 128 for ch in text):
        msg.set_content(text, charset="utf-8", cte="7bit" if text.isascii() else "8bit")
    else:
        msg.set_content(text, charset="utf-8", cte=cte)
    if html_alt:
        page = (
            '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>\n'
            + render_html_body(body_blocks)
            + "\n</body></html>\n"
        )
        msg.add_alternative(page, subtype="html", charset="utf-8", cte="7bit" if page.isascii() else cte)
    msg["Content-Language"] = "en-US" if lang == "en" else "zh-CN"  # after set_content(), which drops Content-*
    # The multipart boundary is random by default; pin it for determinism.
    if msg.is_multipart():
        msg.set_boundary("==brightkelp-" + re.sub(r"\W", "", msgid)[:24] + "==")
    path.write_bytes(msg.as_bytes())


# ===========================================================================
# English documents
# ===========================================================================

TRAVEL_POLICY = [
    ("h1", "Brightkelp Analytics Travel and Expense Policy"),
    (
        "p",
        "Policy owner: Finance Operations. Version 3.1, effective March 1, 2025. This policy applies "
        "to all employees, contractors and interns of Brightkelp Analytics, Inc. who travel on company "
        "business from the Portland headquarters or any North American field office. Employees of the "
        "Shanghai R&D Center follow the separate Chinese-language reimbursement rules published by the "
        "Shanghai finance team.",
    ),
    ("h2", "1. Purpose and Principles"),
    (
        "p",
        "Business travel is sometimes the fastest way to win a customer, unblock a project or build trust "
        "inside a distributed team, but it is also one of our largest discretionary costs. This policy "
        "exists so that every traveler knows in advance what the company will pay for, how to book, and "
        "how to get reimbursed without surprises. The guiding principle is simple: spend company money "
        "as if it were your own, choose the option that is safe and reasonable rather than the cheapest "
        "possible option, and be ready to explain any choice that a neutral colleague would find unusual.",
    ),
    (
        "p",
        "Before booking a trip, ask whether a video call would achieve the same result. Trips for internal "
        "meetings need the approval of a director or above, while customer-facing trips can be approved "
        "by the traveler's direct manager. Approval is recorded in the travel request form, and the form "
        "number must be quoted on every receipt submitted later.",
    ),
    ("h2", "2. Booking Rules"),
    (
        "p",
        "The company uses a single managed booking tool so that we can locate travelers during an "
        "emergency and negotiate volume discounts with airlines and hotel chains. Bookings made outside "
        "the tool are not reimbursed unless the tool had no available option and the traveler attaches "
        "a screenshot that proves it.",
    ),
    (
        "ul",
        [
            "Flights must be booked through the Tripwise portal",
            "Domestic flights: at least 14 days before departure.",
            "International flights: at least 21 days before departure, and a passport valid for six more months.",
            "Rail trips under four hours are preferred over flights on the same route.",
            "Travel insurance is provided automatically for every Tripwise booking; do not buy extra cover.",
        ],
    ),
    (
        "p",
        "Late bookings are allowed when the business need appears suddenly, for example a production "
        "incident at a customer site. In that case the traveler writes a one-sentence justification in "
        "the travel request, and the approver confirms it before the ticket is issued. Repeated late "
        "bookings by the same team are reviewed by Finance Operations every quarter.",
    ),
    ("h2", "3. Approvals at a Glance"),
    (
        "table",
        [
            ["Trip type", "Approver", "Lead time"],
            ["Customer visit, domestic", "Direct manager", "14 days"],
            ["Customer visit, international", "Director", "21 days"],
            ["Internal meeting or offsite", "Director", "21 days"],
            ["Conference attendance", "VP of the function", "30 days"],
        ],
    ),
    ("pagebreak",),
    ("h2", "4. Air Travel"),
    (
        "p",
        "Economy class is the standard for all flights. Premium economy may be booked when the scheduled "
        "flight time of a single segment is longer than six hours, and business class is available only "
        "for flights longer than ten hours with a customer meeting scheduled within twelve hours of "
        "landing. Upgrades paid with personal miles or points are always welcome and never need approval.",
    ),
    (
        "p",
        "Checked baggage fees are reimbursed for one bag on trips of three nights or longer, and for any "
        "trip on which the traveler carries demo hardware or conference booth materials. Seat selection "
        "fees up to USD 40 per segment are reimbursed; Wi-Fi purchased on board is reimbursed when the "
        "traveler actually works during the flight.",
    ),
    ("h2", "5. Lodging"),
    (
        "p",
        "Book hotels through Tripwise whenever possible, because the negotiated rates already include "
        "breakfast and free cancellation until 18:00 local time on the day of arrival. The nightly "
        "room rate before taxes may not exceed the caps below.",
    ),
    (
        "table",
        [
            ["City tier", "Examples", "Nightly cap"],
            ["Tier 1", "New York, San Francisco, London, Tokyo", "USD 260"],
            ["Tier 2", "Seattle, Chicago, Toronto, Singapore", "USD 210"],
            ["Tier 3", "All other cities", "USD 170"],
        ],
    ),
    (
        "p",
        "If a conference hotel is more expensive than the cap, the traveler may stay there when it is at "
        "most one kilometer from the venue and the booking is made during the official conference room "
        "block. Stays with friends or family are encouraged; in that case the company reimburses a thank-you "
        "gift of up to USD 50 per trip. Short-term rentals such as apartments are allowed for trips longer "
        "than seven nights when the total cost is below the equivalent hotel cost.",
    ),
    ("h2", "6. Ground Transportation"),
    (
        "p",
        "Use public transport, airport shuttles or ride-hailing services for trips between the airport, "
        "the hotel and the meeting location. Rental cars are allowed when they are cheaper than taxis or "
        "when the customer site is not reachable by public transport; choose a compact or intermediate "
        "car and decline the rental company's insurance, which is already covered by our corporate policy. "
        "Personal vehicle use is reimbursed at the current IRS mileage rate plus parking and tolls.",
    ),
    ("pagebreak",),
    ("h2", "7. Meals and Per Diem"),
    (
        "p",
        "Instead of collecting receipts for every meal, travelers receive a flat per diem for each full "
        "travel day. Days of departure and return are paid at seventy-five percent of the full rate. "
        "Meals that are already provided, such as conference lunches or hotel breakfasts, are not "
        "deducted; we prefer simplicity over precision here.",
    ),
    (
        "ul",
        [
            "Domestic meal per diem: USD 68 per full day.",
            "International meal per diem: USD 85 per full day, or the local rate published by Finance if higher.",
            "Customer entertainment: up to USD 120 per attendee, with the names of all attendees on the receipt.",
            "Alcohol is reimbursed only as part of customer entertainment, never for internal team meals.",
        ],
    ),
    ("h2", "8. Submitting Expenses"),
    (
        "p",
        "Submit the expense report in the Ledgerly expense tool no later than 30 calendar days after the "
        "trip ends. Attach an itemized receipt for every expense of USD 25 or more, the travel request "
        "number, and the business purpose. Reports are reviewed by the approver within five working days "
        "and paid with the next payroll run. Expenses submitted more than 90 days after the trip are "
        "rejected automatically unless the CFO grants an exception in writing.",
    ),
    (
        "p",
        "Corporate cards are issued to employees who travel more than four times a year. Personal charges "
        "on the corporate card are not allowed, even if the employee repays them immediately. A lost or "
        "stolen card must be reported to the card issuer and to Finance Operations on the same day.",
    ),
    ("h2", "9. Safety, Duty of Care and Exceptions"),
    (
        "p",
        "Travelers to destinations rated high risk by our security provider must complete a pre-travel "
        "briefing and share their itinerary with the People team. In an emergency, call the 24-hour "
        "travel assistance line printed on the back of your badge; it can rebook flights, arrange medical "
        "help and contact your family. Exceptions to any rule in this policy must be approved in writing "
        "by the CFO, Marisol Vega, or her delegate, and are logged in the quarterly travel review. "
        "Questions about this policy can be sent to travel@brightkelp.example.",
    ),
]

REMOTE_WORK_POLICY = [
    ("h1", "Remote and Hybrid Work Policy"),
    (
        "p",
        "Applies to: all full-time employees of Brightkelp Analytics in the United States and Canada. "
        "Owner: People Operations. Last reviewed: April 2025. This document explains who may work "
        "remotely, how often, what equipment the company provides, and which rules protect our customers' "
        "data when you are not in the office.",
    ),
    ("h2", "Why We Work Hybrid"),
    (
        "p",
        "Brightkelp started as a fully co-located team in a small office above a bicycle shop in Portland. "
        "As we grew, we learned that deep analytical work often happens best at home, while planning, "
        "onboarding and difficult conversations go better in person. Our hybrid model tries to keep the "
        "benefits of both. It is built on trust: managers evaluate results, not the number of hours "
        "someone is visible on a video call.",
    ),
    ("h2", "Eligibility"),
    (
        "p",
        "Every employee who has completed the first 30 days of onboarding is eligible for hybrid work. "
        "During the first 30 days, new hires are expected in the office at least four days a week so they "
        "can meet their team, pair with a buddy and learn our tools. Roles that depend on physical "
        "presence, such as facilities, hardware lab and front desk staff, agree on a separate schedule "
        "with their manager.",
    ),
    ("h2", "Schedule and Core Hours"),
    (
        "ul",
        [
            "Employees may work remotely up to three days per week.",
            "Each team chooses one anchor day per week on which everybody comes to the office.",
            "Core collaboration hours are 10:00 to 15:00 Pacific Time, Monday to Friday.",
            "Outside core hours, people plan their own time and are not expected to answer chat messages.",
        ],
    ),
    (
        "p",
        "Fully remote arrangements are possible for employees who live more than 80 kilometers from an "
        "office. They require the approval of the department head and the People team, and they are "
        "reviewed once a year. Fully remote employees are invited to the office for team weeks twice a "
        "year, and the trip is paid under the travel policy.",
    ),
    ("h2", "Equipment and the Home Office Stipend"),
    (
        "p",
        "The company provides a laptop, a headset and, on request, an external monitor for home use. "
        "In addition, every eligible employee receives a one-time home office stipend of USD 450 to buy "
        "a desk, a chair, lighting or other items that make their workspace healthy. The stipend is paid "
        "through payroll after the employee submits the receipts in the expense tool. Internet costs are "
        "covered with a monthly allowance of USD 45, which is added to the salary automatically.",
    ),
    (
        "p",
        "Equipment bought with the stipend belongs to the employee. Company-issued hardware remains "
        "company property and must be returned when the employment ends. Do not let family members or "
        "friends use company laptops, even for a short time.",
    ),
    ("h2", "Security Outside the Office"),
    (
        "ol",
        [
            "Always connect through the corporate VPN before opening customer data or internal dashboards.",
            "Lock the screen whenever you leave the laptop, including at home.",
            "Never work on customer data on public Wi-Fi without the VPN, and avoid shoulder surfing in cafes.",
            "Print confidential documents only in the office; home printers are not allowed for them.",
            "Report a lost or stolen device to the IT Service Desk immediately.",
        ],
    ),
    ("h2", "Working From Another Country"),
    (
        "p",
        "Working temporarily from another country creates tax, payroll and data-protection obligations for "
        "the company. Employees may therefore work from abroad for a maximum of 20 working days per "
        "calendar year, and only after the People team has confirmed that the destination is allowed. "
        "Countries under export restrictions are never allowed. Time spent abroad on a business trip "
        "does not count against the 20 days.",
    ),
    ("h2", "Ending or Changing an Arrangement"),
    (
        "p",
        "A manager may ask an employee to spend more days in the office for a limited period, for example "
        "during a product launch, with at least two weeks of notice. Employees can change their own "
        "schedule at any time within the limits above by updating their profile in the HR system. Disputes "
        "are resolved by the People Operations partner of the department. Questions: "
        "people-ops@brightkelp.example.",
    ),
]

RELEASE_BRIEFING_SLIDES = [
    {
        "title": "KelpGrid 4.2 Release Briefing",
        "subtitle": "Product & Engineering all-hands, April 29, 2025\nPresented by Dana Whitfield, VP Engineering",
    },
    {
        "title": "Release at a Glance",
        "bullets": [
            "KelpGrid 4.2 is code-named Driftwood",
            "General availability: May 20, 2025, for all cloud regions",
            "Self-hosted customers receive the installer one week later",
            "Focus of the release: faster ingestion, cheaper storage, safer sharing",
            "About 140 merged changes from 38 contributors in Portland and Shanghai",
        ],
        "notes": "Remind everyone that the code name is internal only and must not appear in customer material.",
    },
    {
        "title": "Headline Features",
        "bullets": [
            "Incremental ingestion for Parquet and Iceberg sources",
            "  Only new partitions are scanned, which cuts ingest time by 60% on our benchmark",
            "Tiered storage: cold partitions move to object storage automatically after 45 days",
            "Row-level sharing policies that follow the data into exported dashboards",
            "New connector for Snowflake external tables",
        ],
    },
    {
        "title": "Performance Numbers",
        "bullets": [
            "Dashboard load time p95 improved from 2.8 s to 1.9 s",
            "Ingest throughput per worker up 35% thanks to the new columnar buffer",
            "Storage cost for a typical 20 TB tenant down roughly 28%",
            "  Measured on the internal Harbor benchmark suite, March 2025",
        ],
    },
    {
        "title": "Deprecations and Removals",
        "bullets": [
            "The legacy REST API v1 will be retired on September 30, 2025",
            "  Customers must move to API v2, which has been available since KelpGrid 3.6",
            "The Flash-based chart exporter is removed in this release",
            "Python SDK 1.x stops receiving security fixes at the end of 2025",
        ],
        "notes": "Customer Success has a list of 17 tenants still calling API v1 every day.",
    },
    {
        "title": "Upgrade Path for Self-Hosted Customers",
        "bullets": [
            "Supported upgrade sources: 4.0.x and 4.1.x",
            "Customers on 3.x must upgrade to 4.1 first",
            "The schema migration runs online; expect a 5-minute read-only window",
            "Back up the metadata database before starting the upgrade",
        ],
    },
    {
        "title": "Known Issues",
        "bullets": [
            "Tiered storage is not yet available in the Frankfurt region",
            "Row-level policies do not apply to CSV exports created before the upgrade",
            "Very wide tables (more than 2,000 columns) load slowly in the schema browser",
        ],
    },
    {
        "title": "Launch Checklist and Owners",
        "bullets": [
            "Release notes and documentation: Technical Writing, due May 13",
            "Support runbook update: Customer Success, due May 15",
            "Status page announcement: SRE on-call, on launch day",
            "Sales enablement webinar: Product Marketing, May 22",
        ],
    },
    {
        "title": "Questions?",
        "bullets": [
            "Slack: #kelpgrid-release",
            "Release manager: Tomasz Wierzbicki",
            "Recording and slides will be posted on the internal wiki",
        ],
    },
]

_weeks = [
    "2025-04-01",
    "2025-04-08",
    "2025-04-15",
    "2025-04-22",
    "2025-04-29",
    "2025-05-06",
    "2025-05-13",
    "2025-05-20",
    "2025-05-27",
    "2025-06-03",
    "2025-06-10",
    "2025-06-17",
    "2025-06-24",
]
_prim = ["Aiko Tanaka", "Ben Carver", "Lucia Romero", "Kwame Mensah", "Sofia Lindqvist", "Raj Patel", "Hannah Brooks"]
_data_eng = ["Omar Haddad", "Elena Petrova", "Jun Park", "Chloe Martin"]
ONCALL_ROSTER_SHEETS = [
    (
        "Rotation Q2 2025",
        [["Week starting", "Team", "Primary on-call", "Secondary on-call", "Notes"]]
        + [
            [
                w,
                "Platform SRE",
                _prim[i % 7],
                _prim[(i + 3) % 7],
                "KelpGrid 4.2 launch week, no deploys on Friday" if w == "2025-05-20" else "",
            ]
            for i, w in enumerate(_weeks)
        ]
        + [[w, "Data Engineering", _data_eng[i % 4], _data_eng[(i + 1) % 4], ""] for i, w in enumerate(_weeks)],
        [14, 18, 20, 20, 44],
    ),
    (
        "Escalation Contacts",
        [
            ["Team", "Escalation manager", "Phone ext.", "Slack channel", "Backup manager"],
            ["Platform SRE", "Tomasz Wierzbicki", "4402", "#sre-oncall", "Hannah Brooks"],
            ["Data Platform", "Priya Natarajan", "4471", "#data-platform-oncall", "Omar Haddad"],
            ["Data Engineering", "Elena Petrova", "4416", "#data-eng", "Jun Park"],
            ["Security", "Gabriel Osei", "4490", "#security-incident", "Ines Duarte"],
            ["Customer Success", "Maya Feldman", "4325", "#cs-escalations", "Leo Grant"],
            ["IT Service Desk", "Grace Okafor", "2020", "#it-help", "Sam Whitaker"],
        ],
        [20, 22, 12, 24, 18],
    ),
]

IT_FAQ = [
    ("h1", "IT Service Desk: Frequently Asked Questions"),
    (
        "p",
        "This page collects the questions the IT Service Desk hears most often. If your question is not "
        "answered here, open a ticket in the Kelpdesk portal or ask in the #it-help Slack channel. The "
        "Service Desk is staffed from 07:00 to 19:00 Pacific Time on working days; outside those hours, "
        "urgent security issues go to the security on-call engineer.",
    ),
    ("h2", "Accounts and Access"),
    ("h3", "How do I request access to a new system?"),
    (
        "p",
        "Open an access request in Kelpdesk and choose the system from the catalog. The request goes "
        "to the system owner first and then to your manager. Most requests are approved within one "
        "working day. Access to production customer data additionally requires the annual data "
        "handling training, which you can find in the learning portal.",
    ),
    ("h3", "Why do I have to approve a push notification every morning?"),
    (
        "p",
        "All employee accounts are protected by multi-factor authentication. Our single sign-on session "
        "lasts twelve hours, so most people approve one push in the morning. If you receive a push that "
        "you did not trigger, deny it and report it to the security team right away: it usually means "
        "that someone knows your password.",
    ),
    ("h3", "Can I use my personal phone for work email?"),
    (
        "p",
        "Yes, after enrolling the phone in the mobile device management app. Enrollment creates a "
        "separate work profile; IT can wipe the work profile but never sees your personal photos, "
        "messages or browsing history.",
    ),
    ("h2", "Laptops and Hardware"),
    ("h3", "How often are laptops replaced?"),
    (
        "p",
        "Company laptops are refreshed every 36 months. About a month before your refresh date, the "
        "Service Desk sends you an email with the available models. Engineers can choose between a "
        "14-inch and a 16-inch model; other roles receive the 14-inch model by default. If your laptop "
        "becomes too slow for your work before the refresh date, your manager can request an early "
        "replacement.",
    ),
    ("h3", "My laptop was lost or stolen. What should I do?"),
    (
        "p",
        "Report it in Kelpdesk or call the Service Desk at extension 2020 as soon as possible. IT will "
        "lock the device remotely and revoke its certificates. Because all laptops use full-disk "
        "encryption, a lost laptop is usually not a data breach, but the security team still needs to "
        "know about it quickly.",
    ),
    ("h3", "Can I get a second monitor or a different keyboard?"),
    (
        "p",
        "Standard peripherals, including monitors, keyboards, mice and docking stations, can be picked "
        "up from the hardware shelf on the 7th floor in Portland or ordered through Kelpdesk for home "
        "delivery. Ergonomic equipment recommended by a health professional is always approved.",
    ),
    ("h2", "Software"),
    ("h3", "How do I install software that is not in the self-service catalog?"),
    (
        "p",
        "Request it in Kelpdesk with a short business justification. The security team reviews the "
        "license and the vendor's data practices. Free tools are usually approved within three working "
        "days; paid tools also need a budget owner. Browser extensions follow the same process because "
        "they can read everything you see in the browser.",
    ),
    ("h3", "Which AI assistants am I allowed to use?"),
    (
        "p",
        "Only the AI assistants listed on the approved-tools page may be used with internal data, and "
        "customer data must never be pasted into any external AI service. The approved tools are "
        "configured so that our prompts are not used to train vendor models.",
    ),
    ("h2", "Printing, Meeting Rooms and Other Questions"),
    ("h3", "How do I print?"),
    (
        "p",
        "Send your job to the queue named KelpPrint and release it at any printer by tapping your badge. "
        "Jobs that are not released within 24 hours are deleted automatically, which protects "
        "confidential pages that someone forgot to pick up.",
    ),
    ("h3", "The video system in a meeting room does not work."),
    (
        "p",
        "Every meeting room has a QR code on the table that opens a pre-filled Kelpdesk ticket for that "
        "room. For meetings with customers that start in less than fifteen minutes, call extension 2020 "
        "and say that it is urgent.",
    ),
    ("h3", "How do I reset my password?"),
    (
        "p",
        "Use the self-service password reset page linked from the single sign-on login screen. You "
        "need your enrolled authenticator app. If you have lost access to the authenticator as well, "
        "visit the Service Desk in person with your badge, or join a video call with your camera on so "
        "that an agent can verify your identity.",
    ),
]

OFFICE_GUIDE = [
    ("h1", "Portland Office Guide"),
    (
        "p",
        "Welcome to the Brightkelp headquarters! This guide helps new employees and visitors find their "
        "way around the Portland office. It is maintained by the Workplace team; please send corrections "
        "to workplace@brightkelp.example.",
    ),
    ("h2", "Address and Getting Here"),
    (
        "p",
        "The office occupies the 7th floor of the Alder Commons building at 1120 SW Alder Street, "
        "Portland, Oregon. The closest light rail stop is Galleria / SW 10th Avenue, a three-minute walk "
        "away. The building lobby opens at 06:30 and closes at 20:00; after hours, use your badge at the "
        "side entrance on SW 12th Avenue.",
    ),
    (
        "p",
        "The building has a secure bike room on the ground floor with 40 racks, two repair stands and "
        "showers. Car parking is limited: the company rents 15 spaces in the garage next door, which "
        "are reserved through the Workplace app one day in advance. Employees with a disability placard "
        "always get a reserved space; talk to the Workplace team.",
    ),
    ("h2", "Badges and Visitors"),
    (
        "p",
        "Your badge opens the building, the office doors and the printers. Wear it visibly while you "
        "are in the office. Visitors must be registered in the Workplace app before they arrive; they "
        "sign the visitor agreement on the tablet at reception and receive a paper badge. A visitor is "
        "always accompanied by their host, including on the way to the restroom.",
    ),
    ("h2", "Wi-Fi"),
    (
        "p",
        "Employees connect to the network named KELP-STAFF with their single sign-on credentials; the "
        "laptop certificate is installed automatically. Guests use the network KELP-GUEST. The guest "
        "password changes on the first day of every month and is printed on the card at the reception "
        "desk. The guest network is isolated from internal systems, so do not use it for work.",
    ),
    ("h2", "Meeting Rooms"),
    (
        "p",
        "Meeting rooms are named after kelp and seaweed species. Book them in the calendar; bookings "
        "that nobody checks in to within ten minutes are released automatically.",
    ),
    (
        "table",
        [
            ["Room", "Seats", "Equipment"],
            ["Bullwhip", "14", "Dual screens, ceiling microphones, whiteboard wall"],
            ["Sugar Wrack", "8", "Single screen, speakerphone"],
            ["Sea Palm", "6", "Single screen, writable glass"],
            ["Feather Boa", "4", "Screen, good for interviews"],
            ["Phone booths 1-6", "1", "No booking needed, 60-minute limit"],
        ],
    ),
    ("h2", "Kitchen and Food"),
    (
        "p",
        "The kitchen is stocked with coffee, tea, fruit and snacks. Breakfast is provided on Tuesdays and "
        "team lunch on Thursdays at 12:15. Please label food in the fridge with your name and the date; "
        "the fridge is cleaned every Friday at 16:00 and unlabeled items are thrown away. Dishwashers "
        "are started by whoever finds them full, and emptied by whoever finds them clean.",
    ),
    ("h2", "Quiet Floor Rules"),
    (
        "p",
        "The north side of the floor is a quiet zone for focused work. Take calls in a phone booth or "
        "meeting room, set your phone to silent, and use the chat instead of walking over to ask a quick "
        "question. The south side near the kitchen is the social zone, where conversations are welcome.",
    ),
    ("h2", "Safety"),
    (
        "p",
        "In case of fire, leave by the stairs, never the elevators, and gather at the assembly point in "
        "O'Bryant Square. First aid kits and an automated external defibrillator are located next to the "
        "reception desk. Floor wardens wear orange vests during drills, which take place twice a year.",
    ),
]

VPN_SETUP = [
    ("h1", "VPN Setup Guide"),
    (
        "p",
        "Audience: all employees and contractors who need access to internal systems from outside the "
        "office network. Maintained by IT Infrastructure. Last updated: February 2025.",
    ),
    (
        "p",
        "Brightkelp uses the Kelp Connect client, a packaged and pre-configured build of OpenVPN, for "
        "remote access. The VPN is required for internal dashboards, the source code hosting service, "
        "the staging environment and any system that stores customer data. Email, chat and the HR "
        "system work without the VPN.",
    ),
    ("h2", "Before You Start"),
    (
        "ul",
        [
            "A company-managed laptop. Personal computers cannot connect to the VPN.",
            "Your single sign-on account with multi-factor authentication already enrolled.",
            "Administrator rights are not needed: the client is installed from the Self Service app.",
        ],
    ),
    ("h2", "Connection Settings"),
    (
        "p",
        "The client is configured automatically, but you may need the settings below when you "
        "troubleshoot or when the Service Desk asks you to check them.",
    ),
    (
        "table",
        [
            ["Setting", "Value"],
            ["Gateway address", "vpn.brightkelp.example"],
            ["Protocol and port", "TCP port 8443"],
            ["Authentication", "SSO with a push approval, plus the device certificate"],
            ["Session length", "10 hours, then you must sign in again"],
            ["Backup gateway", "vpn-west.brightkelp.example (only when IT announces a failover)"],
        ],
    ),
    (
        "p",
        "We use TCP port 8443 instead of the usual UDP port because many hotel and conference networks "
        "block UDP traffic. If you are on a network that blocks port 8443 as well, tethering through your "
        "phone is the quickest workaround.",
    ),
    ("h2", "Installing the Client on macOS"),
    (
        "ol",
        [
            "Open the Self Service app and search for Kelp Connect.",
            "Click Install and wait until the status changes to Installed.",
            "Open Kelp Connect from the Applications folder. macOS asks you to allow a network extension: "
            "click Allow in System Settings, under Privacy and Security.",
            "Click Connect, sign in with your single sign-on account and approve the push notification.",
            "The menu bar icon turns green when the tunnel is up.",
        ],
    ),
    ("h2", "Installing the Client on Windows"),
    (
        "ol",
        [
            "Open Company Portal and install Kelp Connect.",
            "Restart the laptop when the installer asks for it; the virtual network adapter needs a reboot.",
            "Start Kelp Connect from the Start menu and click Connect.",
            "Sign in and approve the push notification. The tray icon shows a green shield when connected.",
        ],
    ),
    ("h2", "Installing the Client on Linux"),
    (
        "p",
        "Engineers running Ubuntu 22.04 or 24.04 on company hardware can install the client from the "
        "internal package repository. The repository is preconfigured on laptops imaged by IT.",
    ),
    ("code", "sudo apt update\nsudo apt install kelp-connect\nkelp-connect login\nkelp-connect up"),
    ("h2", "Split Tunneling"),
    (
        "p",
        "Only traffic to internal address ranges goes through the tunnel; video calls and general web "
        "browsing use your local internet connection. This keeps calls smooth and reduces load on the "
        "gateway. When you work with customer data from a public network, enable the Full Tunnel option "
        "in the client settings, which sends all traffic through the office.",
    ),
    ("h2", "Troubleshooting"),
    ("h3", "The client says: certificate not found"),
    (
        "p",
        "The device certificate is installed by the device management agent. Open the Self Service app, "
        "run the Repair Device Certificate action, and restart the laptop. If the error remains, your "
        "laptop may have been removed from device management; contact the Service Desk.",
    ),
    ("h3", "The connection drops every few minutes"),
    (
        "p",
        "This is usually caused by an unstable Wi-Fi connection or by a firewall that closes idle TCP "
        "connections. Move closer to the access point or use a wired connection. If you are in a hotel, "
        "try the phone hotspot. Collect the log file with the Export Diagnostics button before opening a "
        "ticket; it saves the Service Desk a lot of time.",
    ),
    ("h3", "I am connected, but an internal site does not load"),
    (
        "p",
        "Check that the site address ends with .corp.brightkelp.example; only those addresses are routed "
        "through the tunnel. Clear the DNS cache by disconnecting and connecting again. Some staging "
        "services also require membership in a specific access group, which you can request in Kelpdesk.",
    ),
    ("h2", "Acceptable Use"),
    (
        "p",
        "The VPN is for company business only. Do not use it to stream video, to download large personal "
        "files, or to bypass the content restrictions of a network you are visiting. Connection logs are "
        "kept for 90 days for security investigations.",
    ),
]

ONCALL_RUNBOOK = [
    ("h1", "KelpGrid Production On-Call Runbook"),
    (
        "p",
        "Owner: Platform SRE. Reviewers: Data Platform, Data Engineering, Security. Status: living "
        "document, reviewed at the start of every quarter. This runbook tells the on-call engineer what "
        "to do when KelpGrid, our hosted analytics platform, misbehaves in production. It assumes that "
        "you have completed the on-call onboarding course and that you have shadowed at least one full "
        "rotation. If anything here is wrong or out of date, fix it in the same week you notice it: a "
        "runbook that nobody trusts is worse than no runbook at all.",
    ),
    ("h2", "1. Scope and Principles"),
    (
        "p",
        "The on-call engineer is responsible for the availability, latency and correctness of the "
        "customer-facing KelpGrid services in all cloud regions: the web application, the public API, "
        "the ingestion workers, the query engine and the metadata store. Internal tools such as the "
        "wiki, the build system and the corporate VPN are supported by IT during business hours and are "
        "out of scope for this rotation unless they block incident response.",
    ),
    (
        "p",
        "Three principles guide every decision you make while on call. First, mitigate before you "
        "investigate: restoring service for customers is more important than understanding the root "
        "cause, and the root cause will still be there tomorrow. Second, communicate early and often: a "
        "short, honest status update every thirty minutes is better than a perfect update after three "
        "hours. Third, ask for help without hesitation. Escalating an incident is never a sign of "
        "weakness, and nobody will ever be criticized for paging a colleague who turns out not to be "
        "needed.",
    ),
    ("h2", "2. Rotation and Handover"),
    (
        "p",
        "Each team runs a weekly rotation with a primary and a secondary engineer. The primary receives "
        "every page first; the secondary is paged automatically if the primary does not acknowledge "
        "in time, and also helps during large incidents. The current schedule, including swaps, lives "
        "in the on-call roster spreadsheet and in the paging tool, which is the source of truth when the "
        "two disagree.",
    ),
    (
        "p",
        "The primary pager rotation changes every Tuesday at 10:00 Pacific time. We chose Tuesday "
        "morning on purpose: it avoids handing over on a Monday after a weekend of pages, and it leaves "
        "Friday free of handovers so that nobody starts a rotation right before a weekend. The outgoing "
        "and incoming primaries meet for a fifteen-minute handover call, which follows the checklist in "
        "section 11. If you need to swap a shift, arrange the swap with a teammate, update the paging "
        "tool yourself, and post the change in the team channel at least two working days in advance.",
    ),
    (
        "p",
        "On-call engineers receive an on-call allowance for each week of primary duty and time off in "
        "lieu for any page handled between 22:00 and 07:00 local time. Record night pages in the HR "
        "system within the same month. A primary who was paged for more than two hours during the night "
        "is expected to start work late the next day; their manager will cover their morning meetings.",
    ),
    ("h2", "3. Severity Levels"),
    (
        "p",
        "Every incident gets a severity as soon as it is declared. The severity can change later, and it "
        "usually does; pick the highest plausible level when in doubt and downgrade once you know more. "
        "The table below is the reference for all teams.",
    ),
    (
        "table",
        [
            ["Severity", "Definition", "Acknowledge", "Status page"],
            [
                "SEV1",
                "Complete outage, data loss, or security breach affecting customers",
                "within 5 minutes",
                "Within 15 minutes",
            ],
            [
                "SEV2",
                "Major feature unavailable or severe slowdown in one region",
                "within 15 minutes",
                "Within 30 minutes",
            ],
            ["SEV3", "Minor feature degraded, workaround available", "within 1 hour", "Not required"],
            ["SEV4", "Cosmetic issue or internal-only problem", "next working day", "Not required"],
        ],
    ),
    (
        "p",
        "For SEV1 and SEV2 incidents, the primary becomes the incident commander unless a more senior "
        "engineer explicitly takes over that role. The incident commander does not debug; they "
        "coordinate, decide, and keep the timeline. A SEV1 page must be acknowledged within 5 minutes; "
        "when it is not, the paging tool escalates to the secondary and then to the escalation manager "
        "of the team, whose number is on the escalation contacts sheet.",
    ),
    ("h2", "4. Tools You Will Use"),
    (
        "ul",
        [
            "Paging tool: receives alerts from the monitoring system and routes them to the rotation.",
            "Metrics dashboards: the Service Overview dashboard is the first stop for every page.",
            "Log search: query logs by tenant, region and request ID; retention is fourteen days.",
            "Tracing: every API request carries a trace ID that is also returned to customers in the X-Kelp-Trace header.",
            "Deploy tool: used to roll back a release with one command and to pause the deploy pipeline.",
            "Incident channel bot: type /incident new in Slack to open a channel, a ticket and a timeline document.",
            "Status page: updated by the incident commander or the Customer Success duty manager.",
        ],
    ),
    (
        "p",
        "Make sure that your laptop, your phone and your access to all of these tools work before your "
        "rotation starts. Test a page to yourself on the Monday before your shift. Carry your laptop and "
        "a charged phone whenever you are more than fifteen minutes from home during your rotation; the "
        "company pays for a mobile data plan that supports tethering.",
    ),
    ("h2", "5. Declaring and Running an Incident"),
    (
        "ol",
        [
            "Acknowledge the page and open the Service Overview dashboard to judge the customer impact.",
            "If customers are affected, declare an incident with /incident new and choose the severity.",
            "Post a first message in the incident channel: what you see, what you are doing next, when you will update again.",
            "Mitigate: roll back the last deploy, fail over, scale out, or disable the failing feature flag.",
            "For SEV1 and SEV2, ask Customer Success to publish a status page entry using the templates.",
            "Keep the timeline: every decision, command and observation with a timestamp in UTC.",
            "When the impact has ended and metrics have been stable for thirty minutes, resolve the incident.",
            "Schedule the postmortem before you go back to normal work.",
        ],
    ),
    (
        "p",
        "Rolling back is almost always the right first move if a deploy happened in the last two hours. "
        "Do not wait to prove that the deploy caused the problem. The deploy tool keeps the previous "
        "five releases of every service warm, so a rollback usually completes in under four minutes. "
        "After rolling back, pause the deploy pipeline for the affected service and tell the owning team "
        "in their channel, so that nobody redeploys the same change by accident.",
    ),
    ("h2", "6. Alert Playbooks"),
    (
        "p",
        "The playbooks below cover the alerts that page most often. Each alert in the monitoring system "
        "links to its playbook section. If you handle an alert that has no playbook, write one during the "
        "postmortem.",
    ),
    ("h3", "6.1 IngestConsumerLagHigh"),
    (
        "p",
        "Meaning: the ingestion workers are falling behind the Kafka topics that receive customer "
        "events. The alert fires when consumer lag stays above 250,000 messages for ten minutes in any "
        "region. Customers will see stale dashboards, and if the lag keeps growing, events older than "
        "the topic retention of 72 hours could be lost, which would turn this into a SEV1.",
    ),
    (
        "ol",
        [
            "Check the ingest dashboard for the affected region and identify the consumer groups with lag.",
            "If a single tenant produces most of the traffic, apply the per-tenant rate limit from the admin console.",
            "If all tenants are affected, scale the ingestion worker deployment to twice its current size.",
            "Look for poison messages: a worker stuck on one partition shows a flat offset graph. Skip the message with the dead-letter tool and record the offset in the incident channel.",
            "If lag still grows after scaling, page the Data Platform escalation manager.",
        ],
    ),
    ("h3", "6.2 ApiErrorRateHigh"),
    (
        "p",
        "Meaning: more than 2% of public API requests returned a 5xx status over five minutes. First "
        "check whether a deploy happened recently and roll back if so. Then look at the error breakdown "
        "by endpoint: if only the query endpoints fail, the problem is probably in the query engine; if "
        "every endpoint fails, check the load balancers, the authentication service and the metadata "
        "store, in that order. Remember that customers often retry aggressively during an outage, so "
        "traffic may double while the error rate is high; scaling the API tier out can help recovery.",
    ),
    ("h3", "6.3 QueryLatencyP99High"),
    (
        "p",
        "Meaning: the p99 latency of dashboard queries exceeds eight seconds for fifteen minutes. "
        "Slow queries are often caused by a single tenant running an expensive query, such as a join "
        "without filters across years of data. Use the query inspector to find the top queries by "
        "CPU time. You may cancel a customer query that has been running for more than ten minutes; "
        "note the tenant and the query ID so that Customer Success can contact the customer. If latency "
        "is high for all tenants, check the cache hit rate and the health of the storage nodes.",
    ),
    ("h3", "6.4 DiskUsageCritical"),
    (
        "p",
        "Meaning: a storage node has less than 10% free disk space. Do not delete data by hand. First "
        "check whether the tiered storage job that moves cold partitions to object storage is running; "
        "it is often stuck after a network problem, and restarting it frees space within an hour. If "
        "the node is still above 95% usage, cordon it so that no new partitions are placed on it, and "
        "add a node to the cluster with the capacity script. Disk alerts at night are SEV3 unless the "
        "usage is growing faster than two percent per hour.",
    ),
    ("h3", "6.5 CertificateExpiringSoon"),
    (
        "p",
        "Meaning: a TLS certificate used by a public endpoint expires in less than fourteen days. Most "
        "certificates renew automatically; this alert means that the renewal failed. Run the renewal "
        "job manually and check its output. Remember that the intermediate certificate on the ingest "
        "load balancers is managed separately from the leaf certificates. This alert exists because of "
        "the February 2025 ingest outage; read that postmortem if you have not done so yet.",
    ),
    ("h3", "6.6 MetadataStoreReplicaLag"),
    (
        "p",
        "Meaning: a read replica of the metadata database is more than thirty seconds behind the "
        "primary. Users may see objects that were deleted or miss objects that were just created. "
        "Remove the lagging replica from the read pool with the database admin tool, then check for a "
        "long-running transaction on the primary. Do not fail over the primary yourself unless the "
        "Data Platform team asks you to; failovers are rehearsed by that team every month and have "
        "their own checklist.",
    ),
    ("h3", "6.7 LoginFailuresSpike"),
    (
        "p",
        "Meaning: failed sign-in attempts across all tenants are five times higher than the weekly "
        "baseline. This can be a credential stuffing attack or a broken identity provider integration. "
        "Open a SEV2 incident and page the Security on-call engineer immediately; do not try to "
        "investigate a possible attack alone. Security decides whether to enable the stricter login "
        "rate limit, which can also block legitimate users behind shared corporate proxies.",
    ),
    ("h3", "6.8 ScheduledReportDeliveryFailing"),
    (
        "p",
        "Meaning: more than fifty scheduled reports failed to reach their recipients in the last hour. "
        "Customers use scheduled reports for daily operational decisions, so a failure at 06:00 in a "
        "customer's time zone is more urgent than it looks. Check the delivery queue first: if messages "
        "are piling up, the email relay is probably throttling us, and the relay status page will say "
        "so. If the queue is empty but reports fail during rendering, look for a recent change to the "
        "chart renderer and roll it back. Failed reports are retried automatically three times with a "
        "delay of twenty minutes; after that, they can be resent in bulk from the admin console once the "
        "cause is fixed. Tell Customer Success which tenants were affected so they can warn customers "
        "before the customers notice.",
    ),
    ("h3", "6.9 BackupJobFailed"),
    (
        "p",
        "Meaning: the nightly backup of the metadata store or of a tenant configuration database did not "
        "complete. A single failed backup is not an emergency, because we keep continuous write-ahead "
        "log archives in addition to the nightly snapshots, but two failures in a row reduce our ability "
        "to recover from a serious mistake. Rerun the job from the backup scheduler and watch its output "
        "until the upload step finishes. The most common cause is an expired storage credential after a "
        "key rotation; the credential is refreshed by running the rotation job again. If the second "
        "attempt also fails, raise a SEV3 incident and assign it to the Data Platform team, who will "
        "verify the write-ahead log archives before the end of the next business day.",
    ),
    ("h2", "7. Communication"),
    (
        "p",
        "All incident communication happens in the incident channel, not in direct messages. This keeps "
        "a single record that the postmortem author can rely on, and it lets people join the incident "
        "without asking to be briefed. Use threads for side investigations so that the main channel "
        "stays readable. Every update follows the same pattern: current impact, what we know, what we "
        "are doing, and when the next update will be posted.",
    ),
    (
        "p",
        "External communication is written by Customer Success, using the approved templates. Engineers "
        "never post on public social media about an incident, and never give customers an estimated "
        "time of recovery that the incident commander has not agreed to. If a customer contacts you "
        "directly, thank them, point them to the status page, and inform the Customer Success duty "
        "manager in the incident channel.",
    ),
    ("h2", "8. Escalation"),
    (
        "p",
        "Escalate when you are stuck for more than twenty minutes, when the impact is growing, or when a "
        "decision has business consequences, such as disabling a feature for all customers. The chain is "
        "always the same: the secondary on-call engineer, then the escalation manager of the team that "
        "owns the failing component, then the VP of Engineering. For anything that looks like a security "
        "incident, page Security at the same time as your own escalation manager, and never wait for "
        "confirmation before doing so.",
    ),
    (
        "p",
        "Outside business hours, call rather than message. The paging tool can place a phone call to "
        "any person on the escalation list. Leave a voicemail that includes the incident channel name; "
        "people who are woken up at three in the morning need context quickly.",
    ),
    ("h2", "9. Working with Other Teams"),
    (
        "p",
        "The Shanghai R&D Center owns the streaming query engine and the tiered storage service. During "
        "Pacific business hours, their engineers are usually asleep, so page them only for SEV1 and SEV2 "
        "incidents that clearly involve their components. During Asia-Pacific business hours, the "
        "Shanghai team runs a follow-the-sun shadow rotation and can handle first response for those "
        "two components; the handover between the two sites happens in the #kelpgrid-handover channel "
        "at 17:00 Pacific time every working day.",
    ),
    (
        "p",
        "Customer Success keeps a duty manager available around the clock for enterprise customers. "
        "Involve them early in any incident that affects a named enterprise tenant, because many of those "
        "customers have contractual notification deadlines that start counting at the beginning of the "
        "impact, not at the moment we declare the incident.",
    ),
    ("h2", "10. Postmortems"),
    (
        "p",
        "Every SEV1 and SEV2 incident gets a written postmortem, and the team may choose to write one for "
        "lower severities when there is something to learn. The postmortem is blameless: it describes "
        "what happened, why the system allowed it to happen, and how we will make the system safer. It "
        "never names a person as the cause. The draft must be shared within five working days of "
        "resolution and reviewed in the weekly operations review on Thursday.",
    ),
    (
        "ul",
        [
            "Summary: two or three sentences that a customer-facing colleague can reuse.",
            "Impact: duration, affected regions and tenants, and any data loss or data exposure.",
            "Timeline in UTC, from the first symptom to full recovery.",
            "Root cause and contributing factors, including detection and response problems.",
            "Action items, each with an owner and a due date, tracked in the reliability backlog.",
        ],
    ),
    ("h2", "11. Handover Checklist"),
    (
        "p",
        "Go through this checklist together during the handover call. The outgoing primary writes the "
        "handover note in the team channel afterwards, so the secondary and the managers can read it too.",
    ),
    (
        "ol",
        [
            "Open incidents and their current status.",
            "Alerts that fired repeatedly during the week and whether they were tuned or need tuning.",
            "Planned maintenance, migrations and releases in the coming week.",
            "Customers with ongoing problems or heightened attention from Customer Success.",
            "Temporary changes still in place, such as rate limits, disabled feature flags or paused pipelines.",
            "Runbook sections that were wrong or missing, and who will fix them.",
        ],
    ),
    ("h2", "12. Looking After Yourself"),
    (
        "p",
        "On-call work is demanding, and a tired engineer makes mistakes. If you were paged repeatedly "
        "during the night, hand over to the secondary for the next few hours and rest. If a rotation was "
        "exceptionally heavy, tell your manager: frequent pages are a reliability bug, and it is the "
        "team's job to fix them, not yours to endure them. Our goal is no more than two pages outside "
        "business hours per rotation, and we track this number in the quarterly reliability review.",
    ),
    ("h2", "Appendix A. Useful Commands"),
    (
        "code",
        "# Roll back a service to the previous release\n"
        "kelpctl deploy rollback --service ingest-worker --region us-west-2\n\n"
        "# Pause the deploy pipeline for one service\n"
        'kelpctl pipeline pause --service query-engine --reason "INC in progress"\n\n'
        "# Scale the ingestion workers\n"
        "kelpctl scale ingest-worker --region eu-central-1 --replicas 48\n\n"
        "# Show the top queries by CPU time in the last 15 minutes\n"
        "kelpctl query top --region ap-southeast-1 --window 15m",
    ),
    ("h2", "Appendix B. Glossary"),
    (
        "table",
        [
            ["Term", "Meaning"],
            ["Tenant", "One customer account, with its own data and users"],
            ["Region", "A cloud region where KelpGrid runs, for example us-west-2"],
            ["Incident commander", "The person who coordinates the response and makes decisions"],
            ["Time off in lieu", "Extra paid time off granted for night pages"],
            ["Follow-the-sun", "Handing work between sites in different time zones"],
        ],
    ),
    ("h2", "Appendix C. Status Update Templates"),
    (
        "p",
        "Use these templates in the incident channel. Customer Success adapts them for the public status "
        "page; engineers should not edit the status page wording themselves unless the Customer Success "
        "duty manager cannot be reached within fifteen minutes.",
    ),
    ("h3", "Investigating"),
    (
        "p",
        "We are investigating reports of errors when loading dashboards in the EU region. Some customers "
        "may see slow or failed queries. Our engineers are working on the problem, and we will post the "
        "next update within thirty minutes.",
    ),
    ("h3", "Mitigated"),
    (
        "p",
        "We have identified the cause of the dashboard errors in the EU region and rolled back a recent "
        "change. Error rates are returning to normal. We continue to monitor the situation and will post "
        "a final update once the service has been stable for thirty minutes.",
    ),
    ("h3", "Resolved"),
    (
        "p",
        "The issue affecting dashboards in the EU region has been resolved. Between 14:05 and 14:52 UTC, "
        "some customers experienced failed queries. No data was lost. We will publish a summary of the "
        "root cause and our follow-up actions within five working days.",
    ),
    ("h3", "Internal update"),
    (
        "p",
        "Internal updates can be shorter and more technical, but they always contain four parts: the "
        "current customer impact, the current hypothesis, the next action with its owner, and the time "
        "of the next update. When nothing has changed, say so explicitly; silence makes people nervous "
        "and leads to a flood of questions in the channel that distract the responders. Once the "
        "incident is resolved, the incident commander posts a closing message with a link to the "
        "postmortem draft and thanks everyone who helped.",
    ),
]

ARCH_REVIEW_EMAIL_BODY = [
    ("p", "Hi all,"),
    (
        "p",
        "Here are the minutes of today's Architecture Review Board meeting. Please reply to this thread "
        "by Friday if anything below does not match your notes. The recording is on the internal wiki "
        "under Architecture / ARB 2025.",
    ),
    ("h2", "Meeting details"),
    (
        "ul",
        [
            "Date: Tuesday, March 18, 2025, 09:00-10:30 Pacific Time",
            "Chair: Henrik Aalto (CTO)",
            "Attendees: Dana Whitfield, Omar Haddad, Tomasz Wierzbicki, Gabriel Osei, Elena Petrova, "
            "and, joining from Shanghai, Xu Yifan",
            "Minutes: Rachel Kim",
        ],
    ),
    ("h2", "Decision 1: Metadata store migration"),
    (
        "p",
        "The board approved migrating the KelpGrid metadata store from MySQL 5.7 to PostgreSQL 16. "
        "MySQL 5.7 is out of vendor support, and the Data Platform team showed that the JSON-heavy "
        "workload of the metadata service performs better on PostgreSQL in their benchmark. The "
        "migration will use logical replication with a dual-write period of two weeks, and the target "
        "date for the production cutover is July 15, 2025. Omar Haddad owns the migration; a "
        "rollback plan must be reviewed by the board before the cutover.",
    ),
    ("h2", "Decision 2: Observability standard"),
    (
        "p",
        "All new services will emit traces and metrics through OpenTelemetry from Q3 2025 onward. "
        "Existing services migrate when they are next substantially changed, with no separate "
        "migration project. Tomasz Wierzbicki will publish the collector configuration and a starter "
        "library for Go and Python by April 30.",
    ),
    ("h2", "Decision 3: Multi-region active-active (not approved)"),
    (
        "p",
        "The proposal to run the query engine active-active across two regions was not approved in "
        "its current form. The board agreed that the business case is real, but the design does not "
        "yet explain how cache invalidation works across regions, and the estimated cost increase of "
        "40% needs a conversation with Finance. Elena Petrova and Xu Yifan will bring a revised "
        "proposal to the May meeting.",
    ),
    ("h2", "Other discussion"),
    (
        "p",
        "Gabriel Osei reminded the board that any new third-party service that processes customer data "
        "needs a security review before the design is approved, not after implementation. The board "
        "agreed to add a security checkbox to the ARB proposal template. Dana Whitfield noted that the "
        "KelpGrid 4.2 release is still on track and asked that no architecture changes with migration "
        "risk be merged to the release branch after April 25.",
    ),
    ("h2", "Action items"),
    (
        "table",
        [
            ["Owner", "Action", "Due"],
            ["Omar Haddad", "Migration plan and rollback plan for the metadata store", "April 15"],
            ["Tomasz Wierzbicki", "OpenTelemetry collector configuration and starter libraries", "April 30"],
            ["Elena Petrova, Xu Yifan", "Revised active-active proposal with cost estimate", "May 20"],
            ["Rachel Kim", "Add a security checkbox to the ARB proposal template", "March 21"],
        ],
    ),
    ("p", "The next ARB meeting is on Tuesday, April 15, 2025."),
    ("p", "Best regards,\nRachel Kim\nTechnical Program Manager, Brightkelp Analytics"),
]

POSTMORTEM = [
    ("h1", "Postmortem INC-2025-0211: Ingestion outage in us-west-2"),
    (
        "p",
        "Status: final. Severity: SEV1. Author: Platform SRE. Reviewed in the operations review on "
        "February 20, 2025. This postmortem is blameless; it describes system and process failures, "
        "not individual mistakes.",
    ),
    ("h2", "Summary"),
    (
        "p",
        "On Tuesday, February 11, 2025, customers in the us-west-2 region could not send new events to "
        "KelpGrid for 47 minutes, from 16:02 to 16:49 UTC. The ingest load balancers rejected all TLS "
        "connections because an intermediate certificate in the certificate chain had expired. Events "
        "sent during the outage were buffered by most customer SDKs and delivered after recovery, but "
        "three tenants that use raw HTTP clients without retries lost approximately 1.2 million events.",
    ),
    ("h2", "Impact"),
    (
        "ul",
        [
            "Duration: 47 minutes of complete ingestion failure in us-west-2.",
            "Tenants affected: 312 tenants sent traffic during the outage; 3 tenants lost data.",
            "Dashboards showed stale data for up to 70 minutes while the backlog was processed.",
            "Other regions were not affected because their load balancers use a different certificate bundle.",
            "No customer data was exposed.",
        ],
    ),
    ("h2", "Timeline (UTC)"),
    (
        "table",
        [
            ["Time", "Event"],
            ["16:00", "The intermediate certificate of the ingest load balancer bundle expires."],
            ["16:02", "Ingest success rate drops to zero; the IngestRequestsFailing alert fires."],
            ["16:04", "Primary on-call acknowledges the page and opens a SEV2 incident."],
            ["16:11", "Rollback of the morning deploy completes; no improvement."],
            ["16:19", "An engineer reproduces the failure with openssl and sees the certificate expiry error."],
            ["16:20", "Incident upgraded to SEV1; Security and Customer Success are paged."],
            ["16:38", "A renewed intermediate certificate is uploaded to the load balancers."],
            ["16:49", "Ingest traffic recovers fully; backlog processing starts."],
            ["17:12", "Dashboards are current again; the incident is resolved."],
        ],
    ),
    ("h2", "Root cause"),
    (
        "p",
        "The root cause was an expired intermediate TLS certificate on the ingest load balancer. Our "
        "automatic renewal only renews leaf certificates; the intermediate certificate in the bundle had "
        "been added by hand in 2022, when the ingest load balancers were migrated to a new provider, "
        "and was not tracked in any inventory. The monitoring system checked the expiry date of the leaf "
        "certificate only, which was valid for another nine months, so no alert fired before the outage.",
    ),
    ("h2", "Contributing factors"),
    (
        "ul",
        [
            "The first 17 minutes were spent on a rollback, because a deploy had happened that morning.",
            "The error seen by clients, a generic handshake failure, did not mention the certificate.",
            "The load balancer configuration for us-west-2 was different from the other regions.",
            "The runbook had no playbook for TLS failures on the ingest path.",
        ],
    ),
    ("h2", "What went well"),
    (
        "p",
        "The on-call engineer acknowledged the page within two minutes and followed the runbook's advice "
        "to roll back first, which ruled out the deploy quickly. Customer Success posted the first "
        "status page update eleven minutes after the incident was declared, and enterprise customers "
        "received direct emails within their contractual deadlines. The buffering in our official SDKs "
        "worked as designed and prevented data loss for almost all tenants.",
    ),
    ("h2", "Action items"),
    (
        "table",
        [
            ["ID", "Action", "Owner", "Status"],
            [
                "AI-1",
                "Monitor expiry of every certificate in each served chain, not just the leaf",
                "Platform SRE",
                "Done",
            ],
            ["AI-2", "Add the CertificateExpiringSoon playbook to the on-call runbook", "Platform SRE", "Done"],
            ["AI-3", "Move ingest certificate bundles into the certificate inventory", "Security", "In progress"],
            [
                "AI-4",
                "Make the us-west-2 load balancer configuration identical to other regions",
                "Platform SRE",
                "In progress",
            ],
            [
                "AI-5",
                "Contact the three tenants that lost data and help them enable retries",
                "Customer Success",
                "Done",
            ],
        ],
    ),
    ("h2", "Lessons learned"),
    (
        "p",
        "Anything that can expire must be in an inventory with an owner and an alert. Manual changes "
        "made during migrations are the most likely to be forgotten, so migrations should end with a "
        "review of every hand-made change. Finally, when a rollback does not help within ten minutes, "
        "stop and look at the problem from the client side: a single openssl command would have shown "
        "the cause in seconds.",
    ),
]


# ===========================================================================
# Chinese documents (简体中文)
# ===========================================================================

SECURITY_POLICY_ZH = [
    ("h1", "亮藻数据科技信息安全管理制度"),
    (
        "p",
        "文件编号：SEC-POL-001。版本：2.3。生效日期：2025 年 1 月 1 日。制定部门：信息安全部。本制度适用于亮藻数据科技"
        "（上海）有限公司及其关联公司的全体正式员工、实习生、外包人员以及因工作需要接触公司信息系统的合作方人员。",
    ),
    ("h2", "第一章　总则"),
    (
        "p",
        "公司的核心资产是客户托付给我们的数据，以及我们为处理这些数据而构建的系统和知识。任何一次数据泄露，不仅会给客户"
        "带来损失，也会严重损害公司的声誉和持续经营能力。为此，公司依据《中华人民共和国网络安全法》《中华人民共和国数据"
        "安全法》和《中华人民共和国个人信息保护法》等法律法规，参考 ISO/IEC 27001 标准，制定本制度。",
    ),
    (
        "p",
        "信息安全是每一位员工的责任，而不仅仅是信息安全部的工作。各部门负责人对本部门的信息安全负直接管理责任，应当确保"
        "团队成员了解并遵守本制度。信息安全部负责制度的解释、培训、检查和持续改进，并每年至少组织一次全员安全意识培训和"
        "考试，考试不合格者须在一个月内补考。",
    ),
    ("h2", "第二章　账号与密码管理"),
    (
        "p",
        "每位员工只能使用分配给本人的账号登录公司系统，严禁共享、借用或转让账号。因工作需要使用公共账号的，须经部门负责人"
        "和信息安全部共同审批，并记录使用人和使用时间。员工调岗时，原岗位权限应在调岗当日由原部门负责人提交回收申请。",
    ),
    (
        "ul",
        [
            "密码长度不得少于 12 位，并须同时包含大写字母、小写字母、数字和特殊字符中的至少三类。",
            "域账号密码必须每 90 天更换一次，新密码不得与最近五次使用过的密码相同。",
            "严禁将密码写在便签、共享文档或聊天记录中，推荐使用公司统一采购的密码管理器。",
            "所有可以访问客户数据的系统必须启用多因素认证，不得以任何理由申请豁免。",
        ],
    ),
    (
        "p",
        "员工离职时，人力资源部应在最后工作日当天通知信息技术部，信息技术部须在当天 18:00 之前禁用该员工的全部账号，"
        "并在七个自然日内完成数据交接确认和账号删除。",
    ),
    ("pagebreak",),
    ("h2", "第三章　数据分级与处理"),
    (
        "p",
        "公司数据按照敏感程度分为四个级别：公开、内部、机密和绝密。数据的所有者负责确定数据级别，并在文档标题或系统元数据"
        "中进行标注；无法确定级别的数据，一律按照机密级处理，直到数据所有者作出判断为止。",
    ),
    (
        "table",
        [
            ["级别", "典型示例", "处理要求"],
            ["公开", "官网内容、已发布的产品文档", "可以对外提供，无特殊要求"],
            ["内部", "内部通知、会议纪要、项目计划", "仅限公司内部传阅，不得发送给外部人员"],
            ["机密", "客户数据、源代码、财务报表", "按最小权限原则授权，传输和存储必须加密"],
            ["绝密", "加密密钥、并购计划、未公开的融资信息", "仅限指定人员访问，所有访问留痕并由安全部审计"],
        ],
    ),
    (
        "p",
        "机密级及以上的数据不得通过个人邮箱、个人网盘或即时通信软件的个人账号传输，也不得复制到未经登记的移动存储介质中。"
        "确因业务需要向客户或合作方提供机密数据的，须使用公司的安全文件传输平台，并设置访问有效期和下载次数限制。",
    ),
    ("h2", "第四章　终端与设备安全"),
    (
        "p",
        "公司配发的笔记本电脑必须开启全盘加密、自动锁屏和终端防护软件，员工不得自行卸载或关闭上述功能。离开座位时应立即"
        "锁定屏幕，屏幕自动锁定时间不得超过五分钟。个人设备如需访问公司邮件或即时通信工具，必须先安装移动设备管理软件，"
        "并接受公司对工作资料区的管理。",
    ),
    (
        "p",
        "员工在公共场所办公时，应注意防止他人窥视屏幕，不得在咖啡馆、机场等场所讨论客户名称和合同金额等敏感信息。使用"
        "公共无线网络时必须先连接公司 VPN，再访问内部系统。",
    ),
    ("pagebreak",),
    ("h2", "第五章　安全事件报告与处置"),
    (
        "p",
        "安全事件包括但不限于：设备丢失或被盗、账号疑似被盗用、收到可疑的钓鱼邮件并已点击链接、发现数据被发送给错误的"
        "收件人、发现系统存在可被利用的漏洞等。对于安全事件的报告，公司有以下两项硬性要求：",
    ),
    (
        "ul",
        [
            "报告时限：员工发现安全事件后，须在 30 分钟内报告信息安全部。",
            "报告渠道：安全值班邮箱 security@brightkelp.example 或安全值班电话分机 4490。",
        ],
    ),
    (
        "p",
        "报告时请尽量说明事件发生的时间、涉及的系统或数据、目前已采取的措施以及联系方式。请不要因为担心被追责而延迟报告："
        "公司鼓励主动报告，对于及时报告且积极配合处置的员工，即使事件由其本人的失误引起，也将从轻或免予处理。相反，隐瞒"
        "不报或故意拖延报告的，将从重处理。",
    ),
    (
        "p",
        "信息安全部接到报告后，将根据事件影响范围确定事件等级，并组织相关部门进行遏制、调查和恢复。涉及客户个人信息的"
        "重大事件，由法务部评估是否需要在法定期限内通知监管机构和受影响的个人。每起重大安全事件结束后十个工作日内，"
        "信息安全部应完成事件复盘报告并提交管理层。",
    ),
    ("h2", "第六章　检查与违规处理"),
    (
        "p",
        "信息安全部每季度对各部门进行一次抽查，内容包括账号权限、终端配置、数据标注和培训完成情况，抽查结果通报部门负责人。"
        "对违反本制度的行为，公司将视情节轻重给予批评教育、书面警告、降级直至解除劳动合同等处分；构成违法犯罪的，依法"
        "移交司法机关处理。",
    ),
    ("h2", "第七章　附则"),
    (
        "p",
        "本制度由信息安全部负责解释，自发布之日起施行，原《信息安全管理暂行办法》同时废止。信息安全负责人：顾明哲。如对本"
        "制度有任何疑问，请发送邮件至安全值班邮箱，或在内部通信工具的安全咨询频道中提问。",
    ),
]

EXPENSE_POLICY_ZH = [
    ("h1", "亮藻数据科技差旅及费用报销制度"),
    (
        "p",
        "适用范围：亮藻数据科技（上海）有限公司全体员工。制定部门：财务部。版本：2025 年第一版，自 2025 年 2 月 1 日起施行。"
        "美国总部员工的差旅费用另行适用英文版《Travel and Expense Policy》，本制度不适用于美国总部。",
    ),
    ("h2", "一、总则"),
    (
        "p",
        "为规范公司费用支出，提高报销效率，保障员工因公垫付的资金能够及时返还，特制定本制度。费用报销遵循“真实、合理、"
        "必要”的原则：每一笔报销都必须对应真实发生的业务活动，金额应与业务需要相称，并且提供合法有效的票据。财务部对"
        "报销单据的真实性和合规性进行审核，部门负责人对费用的业务必要性负责。",
    ),
    ("h2", "二、报销时限"),
    (
        "p",
        "报销单必须在出差结束后 15 个工作日内提交，日常费用应在费用发生当月结束后的 15 个工作日内提交。逾期提交的报销单，"
        "须附部门负责人签字的书面说明；超过 60 个自然日仍未提交的，财务部原则上不再受理。每年 12 月的费用须在次年 1 月 10 日"
        "前提交，以便财务部按时完成年度结账。",
    ),
    (
        "p",
        "报销单通过公司的费用管理系统在线提交，纸质发票须在系统提交后三个工作日内投递至上海办公室财务部的单据回收箱。"
        "电子发票直接上传原始文件即可，无需打印，但同一张发票不得重复报销，系统会自动校验发票号码。",
    ),
    ("h2", "三、审批权限"),
    (
        "table",
        [
            ["报销金额（单笔）", "审批人", "说明"],
            ["2000 元以下", "直属上级", "直属上级审批后进入财务审核"],
            ["2000 元至 5000 元", "直属上级、部门经理", "两级审批"],
            ["5000 元以上", "直属上级、部门总监、财务经理", "须附预算编号"],
            ["50000 元以上", "以上各级及总经理", "须事先提交采购或出差申请"],
        ],
    ),
    (
        "p",
        "审批人应在收到审批任务后三个工作日内完成审批。审批人休假期间，应在系统中设置代理审批人，避免报销流程长时间停滞。",
    ),
    ("h2", "四、差旅费用标准"),
    (
        "p",
        "员工出差应优先选择经济合理的交通方式。乘坐高铁时，普通员工可乘坐二等座，总监及以上人员可乘坐一等座；乘坐飞机时，"
        "一律选择经济舱，单程飞行时间超过六小时的国际航班除外。市内交通优先使用地铁和公交，确有需要时可乘坐出租车或使用"
        "网约车，须在报销单中注明起止地点和事由。",
    ),
    (
        "table",
        [
            ["城市类别", "住宿标准（每晚）", "伙食补助（每天）"],
            ["一线城市（北京、上海、广州、深圳）", "不超过 650 元", "120 元"],
            ["省会城市及计划单列市", "不超过 500 元", "100 元"],
            ["其他城市", "不超过 380 元", "80 元"],
        ],
    ),
    (
        "p",
        "伙食补助按出差自然天数计算，无需提供餐饮发票；出差期间由客户或会议主办方提供餐食的，不扣减伙食补助。住宿超出"
        "标准的部分由员工自行承担，但因大型展会等原因导致酒店价格普遍上涨的，可凭部门总监审批的书面说明据实报销。",
    ),
    ("h2", "五、票据要求"),
    (
        "ul",
        [
            "发票抬头必须为“亮藻数据科技（上海）有限公司”，并填写正确的纳税人识别号。",
            "发票内容应与实际消费一致，不得以办公用品等名目开具与实际不符的发票。",
            "业务招待费须在报销单中注明招待对象、人数和事由，人均标准原则上不超过 300 元。",
            "境外费用可使用当地收据，并附信用卡账单或支付记录，按消费当日汇率折算人民币。",
        ],
    ),
    ("h2", "六、借款与付款"),
    (
        "p",
        "预计差旅费用超过 3000 元的，员工可在出差前申请备用金，出差结束后随报销单一并冲账，多退少补。财务部每月 10 日和 25 日"
        "集中付款，报销款直接汇入员工的工资卡；遇节假日顺延至下一个工作日。",
    ),
    ("h2", "七、违规处理"),
    (
        "p",
        "虚报、冒领、重复报销或使用虚假票据的，一经查实，公司将追回全部款项，并视情节给予书面警告直至解除劳动合同的处分。"
        "审批人未尽审核责任的，承担相应的管理责任。员工对报销结果有异议的，可在收到审核结果后五个工作日内向财务经理陈嘉禾"
        "申请复核。",
    ),
    ("h2", "八、附则"),
    (
        "p",
        "本制度由财务部负责解释。公司此前发布的与本制度不一致的规定，以本制度为准。如有疑问，请联系财务部邮箱"
        " finance-sh@brightkelp.example。",
    ),
]

EMPLOYEE_HANDBOOK_ZH = [
    ("h1", "亮藻数据科技员工手册（上海）"),
    (
        "p",
        "版本：2025 年版。发布部门：人力资源部。适用对象：亮藻数据科技（上海）有限公司全体员工。本手册是公司规章制度的"
        "概要说明，旨在帮助新老员工快速了解公司的文化、工作安排、假期、福利和行为规范。手册内容与正式制度不一致的，以正式"
        "制度为准；正式制度未规定的事项，以本手册为准。",
    ),
    ("h2", "第一部分　欢迎加入亮藻"),
    (
        "p",
        "亮藻数据科技成立于 2016 年，总部位于美国波特兰，上海研发中心成立于 2019 年，目前有一百多名同事，负责流式计算引擎、"
        "分层存储服务以及面向亚太客户的技术支持。我们的核心产品 KelpGrid 是一个面向企业的数据分析平台，帮助零售、物流和"
        "制造业客户把分散在各个系统中的数据汇聚起来，变成可以直接用于决策的仪表盘和报表。",
    ),
    (
        "p",
        "公司的名字来自海藻森林：海藻生长迅速，却扎根牢固，在海浪中为无数生物提供栖息之所。我们希望公司也能像海藻森林一样，"
        "既保持快速成长，又为客户和同事提供稳定可靠的支撑。我们的价值观有四条：客户第一、坦诚沟通、持续学习、对结果负责。"
        "这四条价值观贯穿招聘、绩效评估和晋升的全过程，也是我们在遇到两难选择时的判断依据。",
    ),
    ("h2", "第二部分　工作时间与考勤"),
    (
        "p",
        "公司实行弹性工作制。标准工作时间为每天八小时、每周四十小时，员工可以在早上 8:30 至 10:30 之间的任意时间到岗，"
        "并相应顺延下班时间。每天 10:30 至 16:00 为核心协作时间，在此期间员工应保持在线，以便参加会议和及时回复同事的消息。"
        "与美国总部协作较多的团队，可以经部门负责人同意后，将部分工作时间调整到晚上，但每周调整不超过两天。",
    ),
    (
        "p",
        "员工通过企业微信进行上下班打卡。因外出拜访客户、参加培训等原因未能打卡的，应在三个工作日内提交补卡申请并说明原因，"
        "每月补卡次数不超过三次。连续旷工三天或一年内累计旷工五天的，视为严重违反公司规章制度。",
    ),
    (
        "p",
        "公司支持混合办公。在完成试用期后，员工每周最多可以居家办公两天，具体日期由团队协商确定，但每个团队每周至少要有一个"
        "全员到岗的“团队日”。居家办公期间，员工应确保工作环境安全、网络稳定，并遵守信息安全管理制度的各项要求。",
    ),
    ("h2", "第三部分　假期"),
    ("h3", "一、法定节假日"),
    (
        "p",
        "员工享受国家规定的全部法定节假日，具体放假和调休安排以人力资源部每年发布的节假日安排表为准。法定节假日期间因工作需要"
        "加班的，公司按照国家规定支付加班工资，或经员工同意安排补休。",
    ),
    ("h3", "二、年假"),
    (
        "p",
        "员工在公司连续工作满一年后，每年享受带薪年假。年假天数根据员工的累计工作年限确定：累计工作满一年不满十年的，每年"
        "十天；满十年不满二十年的，每年十五天；满二十年的，每年二十天。公司在法定年假的基础上，为所有员工额外提供每年三天"
        "的公司福利年假。",
    ),
    (
        "p",
        "年假原则上应在当年休完。因工作原因当年未能休完的，年假最多可结转 5 天到下一年度，结转的假期须在次年 3 月 31 日前"
        "休完，逾期自动清零。员工申请年假应至少提前三个工作日在人力资源系统中提交，连续休假五天以上的，应至少提前两周提交，"
        "并做好工作交接。",
    ),
    ("h3", "三、病假与其他假期"),
    (
        "p",
        "员工因病需要休息的，应在当天上班前通知直属上级，并在返岗后三个工作日内补交医院出具的病假证明。每年前五天病假按全额"
        "工资发放，超过部分按照上海市的相关规定执行。员工还依法享受婚假、产假、陪产假、育儿假和丧假。其中，符合条件的男性"
        "员工可享受十天陪产假；公司在法定产假基础上为女性员工额外提供十五天带薪产假，帮助新手妈妈更从容地回归工作。",
    ),
    ("h2", "第四部分　薪酬与福利"),
    (
        "p",
        "员工工资于每月 15 日发放，遇节假日提前至最近的工作日。公司依法为员工缴纳社会保险和住房公积金，公积金缴存比例为"
        "百分之十二。此外，公司为全体员工及其子女购买补充商业医疗保险，覆盖门诊、住院和牙科项目，员工还可以自费为配偶加保。",
    ),
    (
        "ul",
        [
            "餐饮补贴：每个工作日 35 元，随工资一并发放。",
            "通讯补贴：每月 150 元。",
            "年度体检：每年一次，可在公司合作的体检机构中任选套餐。",
            "节日礼品：春节、端午节和中秋节向每位员工发放节日礼品。",
            "团队建设：每个团队每季度人均 400 元的团队活动经费。",
        ],
    ),
    ("h2", "第五部分　学习与发展"),
    (
        "p",
        "持续学习是我们的核心价值观之一。公司为每位员工提供个人学习预算，标准为每年 3000 元，可用于购买专业书籍、参加线上课程、"
        "报名技术会议或考取与岗位相关的职业资格证书。学习预算当年有效，不可结转，报销时须提供发票和学习证明，例如课程证书或"
        "会议胸牌。",
    ),
    (
        "p",
        "新员工入职后，公司会安排一位“伙伴”，在前三个月里帮助新员工熟悉团队、工具和工作流程。研发团队每两周举办一次技术分享会，"
        "欢迎所有员工报名分享；每年还会评选“最佳分享奖”，获奖者可获得额外的学习预算。员工希望转岗的，可以在内部招聘平台上"
        "申请公开的岗位，在现岗位工作满一年后申请转岗不需要现任上级的事先同意。",
    ),
    ("h2", "第六部分　绩效与晋升"),
    (
        "p",
        "公司每半年进行一次绩效评估，分别在每年的 1 月和 7 月进行。绩效评估由员工自评、同事反馈和上级评估三部分组成，评估结果"
        "分为“超出预期”“符合预期”和“待改进”三档。绩效评估的目的不是给员工贴标签，而是帮助员工了解自己的优势和需要提升的地方，"
        "因此每次评估后，上级都必须与员工进行一次不少于三十分钟的一对一面谈。",
    ),
    (
        "p",
        "晋升每年评审一次，在 7 月的绩效评估之后进行。员工可以自主申请，也可以由上级提名。晋升评审委员会由跨部门的资深员工组成，"
        "依据职级标准对候选人在过去一年中的工作成果、影响范围和协作表现进行综合评估。",
    ),
    ("h2", "第七部分　行为准则"),
    (
        "p",
        "公司致力于营造相互尊重、包容多元的工作环境。任何形式的歧视、骚扰和霸凌行为都是不可接受的，无论行为人的职位高低。员工"
        "如果遭遇或目睹此类行为，可以向直属上级、人力资源部或匿名举报邮箱反映，公司承诺对举报人的身份严格保密，并禁止任何形式"
        "的打击报复。",
    ),
    (
        "p",
        "员工应避免利益冲突。如果员工本人或其近亲属在公司的供应商、客户或竞争对手处任职或持有股份，应主动向人力资源部申报。"
        "员工不得收受客户或供应商价值超过 200 元的礼品或宴请；无法拒绝的，应在收到后五个工作日内上交人力资源部登记处理。",
    ),
    (
        "p",
        "员工对外发表与公司业务相关的言论时，应当注明仅代表个人观点，不得透露客户名称、未公开的产品计划和财务数据。接受媒体采访"
        "或在公开会议上发表演讲，须事先获得市场部的同意。",
    ),
    ("h2", "第八部分　办公环境与设备"),
    (
        "p",
        "上海办公室位于张江高科技园区，办公区分为安静区和交流区两部分。安静区供需要专注工作的同事使用，请在安静区内将手机调至"
        "静音，接听电话或进行视频会议时，请移步电话间或会议室。交流区靠近茶水间，欢迎大家在这里讨论问题、交流想法。公司为每位"
        "员工配备升降桌和人体工学椅，如有特殊需要，例如护腰靠垫或脚踏板，可以向行政部申请。",
    ),
    (
        "p",
        "新员工入职当天，IT 服务台会为其准备好笔记本电脑、显示器、耳机和工牌。笔记本电脑预装了公司统一的办公软件和安全软件，"
        "请不要自行安装来源不明的软件；确有需要的，请通过工单系统提交软件安装申请。公司配发的设备仅限工作使用，员工应妥善保管，"
        "因个人原因造成丢失或损坏的，需按照设备折旧后的价值承担相应责任。",
    ),
    (
        "p",
        "茶水间每天提供咖啡、茶饮和水果，每周五下午还有下午茶。冰箱每周五下班前清理一次，请在存放的食物上写明姓名和日期。为了"
        "保持环境整洁，请在离开工位前整理好桌面，下班时关闭显示器和台灯，最后离开办公室的同事请检查门窗和空调是否关闭。",
    ),
    ("h2", "第九部分　健康与安全"),
    (
        "p",
        "员工的身体和心理健康是公司最重视的事情之一。公司与专业机构合作，为员工及其家属提供免费、保密的心理咨询服务，每人每年"
        "可使用六次，预约方式请咨询人力资源部。办公室配备了急救箱和自动体外除颤器，放置在前台旁边；每年会组织两次消防演习和"
        "一次急救培训，欢迎大家积极参加，掌握基本的应急技能。",
    ),
    (
        "p",
        "发生火灾等紧急情况时，请保持冷静，听从楼层安全员的指挥，沿安全通道有序撤离，切勿乘坐电梯。撤离后请到园区指定的集合点"
        "集合，由部门负责人清点人数。员工在工作中或上下班途中受伤的，应尽快告知直属上级和人力资源部，以便公司及时协助办理工伤"
        "认定和相关手续。",
    ),
    ("h2", "第十部分　离职"),
    (
        "p",
        "试用期内的员工提前三天通知公司即可离职；试用期满后，员工离职应提前三十天以书面形式通知公司。离职前，员工应完成工作交接，"
        "归还笔记本电脑、工牌等公司财产，并配合信息技术部完成账号注销。人力资源部会在员工最后工作日安排离职面谈，听取员工对"
        "公司的意见和建议。我们真诚地希望每一位离开的同事都能带着美好的回忆出发，也欢迎大家将来再次回到亮藻。",
    ),
    ("h2", "附录　常用联系方式"),
    (
        "table",
        [
            ["事项", "联系部门", "联系方式"],
            ["假期、考勤、社保", "人力资源部", "hr-sh@brightkelp.example"],
            ["工资、报销", "财务部", "finance-sh@brightkelp.example"],
            ["电脑、账号、网络", "IT 服务台", "企业微信“IT 服务台”"],
            ["安全事件", "信息安全部", "security@brightkelp.example"],
        ],
    ),
]

ROADMAP_SLIDES_ZH = [
    {"title": "KelpGrid 2025 年产品路线图", "subtitle": "上海研发中心季度规划会\n2025 年 3 月 27 日　产品总监：许一帆"},
    {
        "title": "2024 年回顾",
        "bullets": [
            "全年发布 KelpGrid 4.0 和 4.1 两个大版本，按时交付率达到百分之九十二。",
            "亚太区付费客户数量增长百分之四十六，其中制造业客户增长最快。",
            "流式查询引擎的稳定性显著提升，全年未发生因引擎故障导致的一级事故。",
            "不足之处：实时场景的端到端延迟仍然偏高，客户反馈集中在大促期间。",
        ],
    },
    {
        "title": "2025 年三大目标",
        "bullets": [
            "实时化：把实时数据从产生到出现在仪表盘上的时间缩短到秒级。",
            "降本：通过分层存储和更高效的压缩，帮助客户降低百分之三十的存储成本。",
            "本地化：完善中文界面、国产数据库连接器和本地合规能力。",
        ],
    },
    {
        "title": "新一代流式计算引擎",
        "bullets": [
            "项目代号为“青鳉”，由上海研发中心主导开发。",
            "计划于 2025 年第四季度发布公测版，2026 年上半年正式商用。",
            "性能目标：每秒处理一百万条事件时，端到端 p99 延迟低于 200 毫秒。",
            "兼容现有的 SQL 方言，客户无需修改已有的仪表盘和报表。",
        ],
        "notes": "代号仅限内部使用，对外材料中统一称为“新一代流式引擎”。",
    },
    {
        "title": "季度计划",
        "bullets": [
            "第一季度：完成青鳉引擎的架构设计评审，启动分层存储的亚太区部署。",
            "第二季度：配合 KelpGrid 4.2 发布增量导入功能，上线达梦和人大金仓数据库连接器。",
            "第三季度：青鳉引擎内部灰度，邀请五家种子客户参与早期试用。",
            "第四季度：青鳉引擎公测，同时发布全新的中文自然语言查询功能。",
        ],
    },
    {
        "title": "本地化与合规",
        "bullets": [
            "完成数据出境安全评估的材料准备，确保跨境数据传输符合监管要求。",
            "支持将客户数据完全存放在上海和深圳的云区域内。",
            "中文界面的翻译覆盖率从百分之八十五提升到百分之百。",
        ],
    },
    {
        "title": "资源与团队",
        "bullets": [
            "上海研发中心计划新增十二个岗位，其中流式计算方向七人。",
            "与波特兰总部的数据平台团队每两周举行一次联合架构评审。",
            "设立专职的性能测试小组，负责建设压测环境和基准测试。",
        ],
    },
    {
        "title": "主要风险与应对",
        "bullets": [
            "风险：资深流式计算工程师招聘难度大。应对：与高校合作建立实习生项目。",
            "风险：公测时间与年底大促重叠。应对：提前冻结功能，预留四周稳定期。",
            "风险：国产数据库版本众多，兼容性测试工作量大。应对：与厂商共建测试环境。",
        ],
    },
    {
        "title": "需要各位支持的事项",
        "bullets": [
            "销售团队：推荐适合参加早期试用的种子客户，名单于 4 月底前提交。",
            "客户成功团队：整理近一年客户对实时场景的反馈，作为需求优先级的依据。",
            "欢迎大家在“产品路线图”频道中提出意见和问题。",
        ],
    },
]

HOLIDAY_SHEETS_ZH = [
    (
        "2025年节假日安排",
        [
            ["节日", "放假日期", "放假天数", "调休上班日期", "备注"],
            ["元旦", "1月1日（周三）", "1", "无", "与国家安排一致"],
            ["春节", "1月28日至2月4日", "8", "1月26日（周日）、2月8日（周六）", "除夕当天下午值班人员照常轮值"],
            ["清明节", "4月4日至4月6日", "3", "无", "与国家安排一致"],
            ["劳动节", "5月1日至5月5日", "5", "4月27日（周日）", "与国家安排一致"],
            ["端午节", "5月31日至6月2日", "3", "无", "与国家安排一致"],
            ["公司周年庆", "6月18日（周三）", "1", "无", "公司自有假期，全员带薪休假一天，值班团队另行安排补休"],
            ["国庆节、中秋节", "10月1日至10月8日", "8", "9月28日（周日）、10月11日（周六）", "与国家安排一致"],
            ["年终关怀假", "12月31日（周三）下午", "0.5", "无", "公司自有假期，下午 13:00 起放假"],
        ],
        [16, 22, 10, 30, 44],
    ),
    (
        "上海组织架构",
        [
            ["部门", "负责人", "汇报对象", "人数", "工作地点", "部门邮箱"],
            ["上海研发中心", "周思远", "CTO Henrik Aalto", "64", "上海张江", "rd-sh@brightkelp.example"],
            ["流式计算组", "许嘉宁", "上海研发中心负责人", "22", "上海张江", "streaming@brightkelp.example"],
            ["分层存储组", "王若溪", "上海研发中心负责人", "15", "上海张江", "storage@brightkelp.example"],
            ["产品部（亚太）", "许一帆", "首席产品官", "9", "上海张江", "product-apac@brightkelp.example"],
            ["客户成功部（亚太）", "孙立诚", "全球客户成功副总裁", "14", "上海、深圳", "cs-apac@brightkelp.example"],
            ["人力资源部", "林晓雯", "上海总经理", "5", "上海张江", "hr-sh@brightkelp.example"],
            ["财务部", "陈嘉禾", "首席财务官", "4", "上海张江", "finance-sh@brightkelp.example"],
            ["信息安全部", "顾明哲", "首席信息安全官", "4", "上海张江", "security@brightkelp.example"],
            ["IT 服务台", "赵一鸣", "IT 经理 Grace Okafor", "3", "上海张江", "it-sh@brightkelp.example"],
        ],
        [20, 10, 22, 8, 12, 32],
    ),
]

PASSWORD_RESET_ZH = [
    ("h1", "密码重置与账号解锁指南"),
    (
        "p",
        "适用对象：使用公司统一身份认证账号的全体员工。维护部门：IT 服务台。最近更新：2025 年 3 月。公司的邮箱、企业微信、"
        "KelpGrid 管理后台和大部分内部系统都使用同一个统一身份认证账号登录，因此密码一旦遗忘或账号被锁定，会影响几乎所有"
        "工作。本指南介绍如何自助重置密码、如何解锁账号，以及在自助方式无法解决问题时如何联系 IT 服务台。",
    ),
    ("h2", "一、自助重置密码"),
    (
        "p",
        "自助密码重置门户的地址是 reset.brightkelp.example，在公司网络和外部网络中均可访问。首次使用前，请确认已经在身份"
        "认证应用中完成绑定，否则无法通过身份验证。具体步骤如下：",
    ),
    (
        "ol",
        [
            "在浏览器中打开自助密码重置门户，输入公司邮箱地址，然后点击“下一步”。",
            "在手机上打开身份认证应用，批准推送通知，或者输入应用中显示的六位动态验证码。",
            "按照页面提示设置新密码。新密码须符合公司信息安全管理制度中的密码复杂度要求。",
            "重置成功后，请在笔记本电脑上锁屏再解锁一次，让电脑同步新密码。",
            "手机上的邮箱和企业微信如果提示密码错误，请用新密码重新登录。",
        ],
    ),
    (
        "p",
        "新密码通常在五分钟内同步到所有系统。如果某个系统在十分钟后仍然不接受新密码，请先退出该系统再重新登录；仍然无法"
        "登录的，请联系 IT 服务台。",
    ),
    ("h2", "二、账号锁定与解锁"),
    (
        "p",
        "为防止暴力破解，连续输错 6 次密码后，账号将被自动锁定 20 分钟，锁定期间即使输入正确的密码也无法登录。锁定时间结束"
        "后账号会自动解锁，无需联系任何人。如果您急需登录，也可以在自助密码重置门户中选择“解锁账号”，通过身份认证应用验证后"
        "立即解锁。",
    ),
    (
        "p",
        "如果您没有输错密码，账号却频繁被锁定，很可能是某台设备仍在使用旧密码反复尝试登录，例如旧手机上的邮箱客户端或者"
        "会议室电脑上未退出的会话。也有可能是有人正在尝试猜测您的密码。遇到这种情况，请立即联系 IT 服务台进行排查。",
    ),
    ("h2", "三、身份认证应用丢失怎么办"),
    (
        "p",
        "更换手机或者手机丢失后，您将无法完成自助重置。此时请携带工牌前往上海办公室的 IT 服务台现场办理，或者预约视频通话，"
        "在开启摄像头的情况下由服务台工程师核验身份。核验通过后，工程师会为您生成一个二十四小时内有效的临时密码，并协助您在"
        "新手机上重新绑定身份认证应用。出于安全考虑，IT 服务台不会通过电话或聊天消息告知任何密码。",
    ),
    ("h2", "四、常见问题"),
    ("h3", "问：收到自称 IT 服务台的邮件，要求我点击链接重置密码，该怎么办？"),
    (
        "p",
        "答：IT 服务台从不通过邮件发送密码重置链接。这类邮件几乎都是钓鱼邮件，请不要点击链接，并立即将邮件转发给信息安全部。",
    ),
    ("h3", "问：可以把新密码设置为和旧密码只差一个数字吗？"),
    (
        "p",
        "答：不建议这样做。系统会拒绝与最近几次使用过的密码过于相似的新密码。推荐使用由多个单词组成的长密码短语，既好记又安全。",
    ),
    ("h3", "问：IT 服务台的工作时间是什么？"),
    (
        "p",
        "答：上海 IT 服务台的工作时间为工作日 8:30 至 18:30。非工作时间遇到紧急问题，可以在企业微信中联系值班工程师。",
    ),
]

CODE_REVIEW_ZH = [
    ("h1", "研发代码评审规范"),
    (
        "p",
        "适用范围：上海研发中心和波特兰总部的所有研发团队。维护者：工程效率组。本规范说明合并请求的提交要求、评审流程和评审"
        "礼仪，目的是在保证代码质量的同时，让评审成为团队成员相互学习的机会，而不是阻碍交付的关卡。",
    ),
    ("h2", "一、为什么要做代码评审"),
    (
        "p",
        "代码评审是我们发现缺陷成本最低的环节之一。一个在评审中被发现的问题，修复只需要几分钟；同样的问题如果流入生产环境，"
        "可能需要一整个团队花费几天时间排查，还会影响客户的业务。更重要的是，评审让每一段代码都至少有两个人理解，降低了"
        "人员变动带来的风险，也让新同事能够更快地熟悉代码库。",
    ),
    ("h2", "二、合并请求的基本要求"),
    (
        "ul",
        [
            "每个合并请求至少需要两名评审者批准，其中至少一名必须是该模块的代码负责人。",
            "单个合并请求的改动原则上不超过 400 行，不包括自动生成的代码和测试数据；更大的改动应拆分为多个合并请求。",
            "合并请求的描述须说明改动的背景、主要变更内容和测试方法，并关联对应的需求或缺陷编号。",
            "所有自动化检查，包括单元测试、静态扫描和许可证检查，必须全部通过后才能请求评审。",
            "涉及数据库结构变更的合并请求，必须附带回滚脚本，并通知数据平台团队参与评审。",
        ],
    ),
    ("h2", "三、分支与提交信息"),
    (
        "p",
        "功能分支的命名格式为“类型/需求编号-简短描述”，例如 feature/KG-1024-incremental-import 或 fix/KG-2048-null-pointer。"
        "提交信息采用约定式提交格式，第一行不超过七十二个字符，说明这次提交做了什么；正文说明为什么这样做。请不要在一个提交中"
        "混合格式调整和逻辑修改，这会让评审者很难看清真正的变化。",
    ),
    (
        "code",
        "feat(ingest): 支持 Iceberg 表的增量导入\n\n只扫描上次导入之后新增的分区，减少重复读取。\n关联需求：KG-1024",
    ),
    ("h2", "四、评审流程与时效"),
    (
        "p",
        "提交者在请求评审时，应根据代码负责人文件指定评审者，并在团队频道中简要说明改动的紧急程度。评审者应在一个工作日内给出"
        "首轮反馈；如果暂时无法评审，应主动告知提交者并推荐其他评审者。跨时区协作时，一个工作日以评审者所在地的工作时间计算。",
    ),
    (
        "p",
        "评审意见分为三类：必须修改、建议修改和仅供参考。请在意见开头标注类别，例如“必须：”或“建议：”，让提交者清楚哪些问题"
        "会阻止合并。提交者处理完所有“必须修改”的意见后，由提出意见的评审者确认关闭。双方意见无法统一时，由模块的代码负责人"
        "作出最终决定，而不是在评论区里反复争论。",
    ),
    ("h2", "五、评审时重点关注什么"),
    (
        "ol",
        [
            "正确性：代码是否实现了需求，边界条件和异常情况是否得到处理。",
            "安全性：是否存在注入、越权访问和敏感信息泄露的风险，日志中是否打印了客户数据。",
            "可维护性：命名是否清晰，结构是否合理，是否有必要的注释和文档。",
            "测试：新增逻辑是否有对应的测试，测试是否覆盖了失败路径。",
            "性能：是否引入了不必要的全表扫描、循环中的远程调用或内存泄漏。",
        ],
    ),
    ("h2", "六、评审礼仪"),
    (
        "p",
        "评审的对象是代码，不是人。请用提问和建议的语气表达意见，例如“这里如果输入为空会怎样？”而不是“这里写错了”。对于写得好"
        "的代码，也请不吝赞美。提交者应把评审意见视为帮助，而不是批评；如果不同意某条意见，请说明理由，保持坦诚而友善的讨论。",
    ),
    ("h2", "七、紧急修复的例外"),
    (
        "p",
        "生产环境发生一级或二级事故时，为了尽快恢复服务，紧急修复可以只经过一名评审者批准后合并，但必须在事故结束后的两个"
        "工作日内补充完整评审，并在事故复盘报告中记录这一例外。",
    ),
]

OFFICE_MOVE_EMAIL_ZH = [
    ("p", "各位同事：大家好！"),
    (
        "p",
        "随着上海研发中心团队不断壮大，现有的办公室已经无法满足日常办公和会议需求。经公司管理层批准，上海办公室将于"
        " 2025 年 6 月 9 日（星期一）起正式迁至新地址：上海市浦东新区张江路 88 号 12 楼。新办公室面积约为现有办公室的两倍，"
        "共设有十二间会议室、两间电话间和一个可容纳八十人的多功能活动区，距离地铁 2 号线张江高科站步行约六分钟。",
    ),
    ("h2", "搬迁安排"),
    (
        "ul",
        [
            "6 月 3 日（星期二）：行政部向每位同事发放搬家纸箱和标签，每人最多三个纸箱。",
            "6 月 5 日（星期四）18:00 前：请将个人物品打包完毕，在纸箱上贴好写有姓名和工位号的标签。",
            "6 月 6 日（星期五）：搬家公司进场搬运，当天全体同事居家办公，旧办公室不对外开放。",
            "6 月 9 日（星期一）：新办公室正式启用，上午 9:30 在多功能活动区举行简短的开幕仪式，欢迎大家参加。",
        ],
    ),
    ("h2", "需要大家注意的事项"),
    (
        "p",
        "笔记本电脑、显示器等贵重设备请不要放入纸箱，笔记本电脑请随身携带回家，显示器和扩展坞由 IT 服务台统一拆装和搬运。"
        "现有工牌在新办公室继续有效，无需更换。新办公室的工位采用按团队划分的分区，具体座位表将于 6 月 4 日通过邮件发送。"
        "访客登记、快递收发和会议室预订的流程保持不变，但快递收件地址请在 6 月 9 日之后更新为新地址。",
    ),
    (
        "p",
        "新办公楼的地下车库为员工提供少量月租车位，有需要的同事请在 5 月 30 日前向行政部报名，车位数量有限，先到先得。公司"
        "鼓励大家优先乘坐公共交通出行，新办公室附近也设有非机动车停放区。",
    ),
    (
        "p",
        "搬迁期间如有任何疑问，请联系行政部主管吴佳琪，或在企业微信的“上海办公室搬迁”群中提问。感谢大家的理解和配合，期待"
        "与大家在新办公室相见！",
    ),
    ("p", "行政部\n亮藻数据科技（上海）有限公司"),
]

MEETING_MINUTES_ZH = [
    ("h1", "华东区域销售与客户成功联席周会会议纪要"),
    (
        "p",
        "会议时间：2025 年 4 月 2 日（星期三）14:00 至 15:30\n"
        "会议地点：上海办公室“巨藻”会议室，深圳同事通过视频接入\n"
        "主持人：孙立诚（客户成功部亚太负责人）\n"
        "参会人员：华东销售团队、客户成功部、产品部代表许一帆、售前技术支持团队\n"
        "记录人：何静怡",
    ),
    ("h2", "一、上周工作回顾"),
    (
        "p",
        "华东区域三月份新签客户十一家，完成季度目标的百分之一百零七，其中制造业客户占六家，零售业客户占三家。客户成功部"
        "反馈，三月份共处理客户工单二百四十六张，平均首次响应时间为二十八分钟，较二月份缩短了九分钟。售前团队指出，客户在"
        "试用阶段最常遇到的问题是数据源连接配置复杂，尤其是国产数据库的连接，约有三分之一的试用客户在第一周内没有成功导入"
        "数据。",
    ),
    ("h2", "二、议题讨论"),
    ("h3", "议题一：免费试用期是否需要延长"),
    (
        "p",
        "销售团队提出，当前十四天的免费试用期对于制造业客户明显偏短。制造业客户的数据通常分散在多个工厂的系统里，仅完成数据"
        "接入就需要一周左右，留给业务部门评估产品价值的时间非常有限，导致部分意向客户在试用结束时仍无法做出采购决定。客户"
        "成功部同意这一判断，但也提醒，延长试用期会增加试用环境的资源成本和客户成功团队的支持工作量，需要同时优化试用流程。",
    ),
    (
        "p",
        "经过讨论，会议决定：自 2025 年 5 月 1 日起，华东区域所有新客户的免费试用期由 14 天延长至 21 天。同时，客户成功部"
        "将为每个试用客户指定一名专属顾问，在试用的第一周内协助完成数据源接入；试用期内未完成任何数据导入的客户，由顾问在"
        "第十天主动电话回访。该政策先在华东区域试行一个季度，七月初由孙立诚负责评估效果，再决定是否推广至全国。",
    ),
    ("h3", "议题二：国产数据库连接器的交付时间"),
    (
        "p",
        "许一帆介绍，达梦和人大金仓数据库连接器已经列入第二季度的产品计划，将随 KelpGrid 4.2 一同发布，预计五月下旬可供客户"
        "使用。在正式发布之前，售前团队可以申请测试版连接器，在客户同意的前提下用于试用环境，但不得用于生产环境。销售团队"
        "希望产品部提供一份连接器的配置说明和常见问题文档，便于一线同事向客户解释。",
    ),
    ("h3", "议题三：客户续约风险"),
    (
        "p",
        "客户成功部汇报了三家存在续约风险的客户，主要原因分别是预算收紧、内部负责人离职和对仪表盘加载速度不满意。会议要求"
        "对这三家客户逐一制定挽留方案：针对预算问题，由销售团队评估是否可以调整为按季度付费；针对负责人离职，由客户成功部"
        "尽快与新的负责人建立联系；针对性能问题，由售前技术支持团队协助客户优化数据模型，并介绍即将发布的性能改进。",
    ),
    ("h2", "三、会议决定"),
    (
        "ol",
        [
            "华东区域新客户免费试用期自 2025 年 5 月 1 日起由 14 天延长至 21 天，试行一个季度。",
            "每个试用客户配备一名专属顾问，试用第十天仍未导入数据的客户须电话回访。",
            "测试版国产数据库连接器仅可用于试用环境，不得用于生产环境。",
            "三家续约风险客户的挽留方案于 4 月 9 日周会上汇报。",
        ],
    ),
    ("h2", "四、待办事项"),
    (
        "table",
        [
            ["序号", "事项", "负责人", "完成时间"],
            ["1", "更新试用协议模板和官网试用说明", "何静怡", "4 月 25 日"],
            ["2", "制定试用客户专属顾问的排班表", "孙立诚", "4 月 28 日"],
            ["3", "编写国产数据库连接器配置说明", "许一帆", "5 月 15 日"],
            ["4", "完成三家风险客户的挽留方案", "华东销售团队", "4 月 9 日"],
        ],
    ),
    (
        "p",
        "下次会议时间：2025 年 4 月 9 日（星期三）14:00，地点不变。会议纪要如有遗漏或错误，请在两个工作日内回复记录人更正。",
    ),
]

MAINTENANCE_EMAIL_ZH = [
    ("p", "各位同事："),
    (
        "p",
        "为提升内部系统的稳定性和安全性，IT 基础设施团队将对上海机房的网络设备和存储系统进行例行维护和固件升级。现将维护"
        "安排通知如下，请相关同事提前做好准备。",
    ),
    ("h2", "维护时间"),
    (
        "p",
        "维护窗口为 2025 年 4 月 12 日（星期六）22:00 至次日 02:00，共计四个小时。如果维护工作提前完成，我们会在企业微信的"
        "“IT 公告”频道中第一时间通知大家；如果需要延长，也会提前一小时发出通知。",
    ),
    ("h2", "影响范围"),
    (
        "ul",
        [
            "内部知识库和工单系统：维护期间无法访问。",
            "KelpGrid 上海测试环境和预发布环境：维护期间不可用，进行中的测试任务会被中断。",
            "上海办公室的有线网络和无线网络：维护期间会有两次各约十分钟的中断。",
            "不受影响的系统：公司邮箱、企业微信、KelpGrid 生产环境以及美国总部的所有系统。",
        ],
    ),
    ("h2", "请大家配合的事项"),
    (
        "p",
        "请在维护开始前保存好正在编辑的文档，并退出内部知识库和工单系统。需要在周末运行长时间测试任务的研发同事，请把任务"
        "安排在维护窗口之后启动，或者改用波特兰的测试环境。维护结束后，如果发现任何系统无法正常使用，请在企业微信中联系"
        "IT 值班工程师，或发送邮件至 it-sh@brightkelp.example。",
    ),
    ("p", "给大家带来的不便，敬请谅解。感谢大家的支持！"),
    ("p", "IT 基础设施团队\n亮藻数据科技（上海）有限公司"),
]


# ===========================================================================
# Registry: file name -> how to build it
# ===========================================================================


def _html_en(blocks, title_hint):
    return render_html(
        blocks, "en", f"{COMPANY_EN} intranet · {title_hint}", "Internal use only. © 2025 Brightkelp Analytics, Inc."
    )


def _html_zh(blocks, title_hint):
    return render_html(
        blocks, "zh-CN", f"亮藻数据科技内网 · {title_hint}", "仅限内部使用。© 2025 亮藻数据科技（上海）有限公司"
    )


def build_all(out: Path):
    out.mkdir(parents=True, exist_ok=True)
    w = lambda name, text: (out / name).write_text(text, encoding="utf-8", newline="\n")  # noqa: E731

    # ---- PDF
    render_pdf(TRAVEL_POLICY, out / "travel-policy.pdf", "en", "Brightkelp Analytics · Finance Operations · Internal")
    render_pdf(
        SECURITY_POLICY_ZH, out / "information-security-policy-zh.pdf", "zh", "亮藻数据科技 · 信息安全部 · 内部资料"
    )
    # ---- DOCX
    render_docx(REMOTE_WORK_POLICY, out / "remote-work-policy.docx", "en")
    render_docx(EXPENSE_POLICY_ZH, out / "报销制度.docx", "zh")
    render_docx(EMPLOYEE_HANDBOOK_ZH, out / "员工手册.docx", "zh")
    # ---- PPTX
    render_pptx(
        RELEASE_BRIEFING_SLIDES, out / "kelpgrid-4-2-release-briefing.pptx", "en", "KelpGrid 4.2 Release Briefing"
    )
    render_pptx(ROADMAP_SLIDES_ZH, out / "product-roadmap-2025-zh.pptx", "zh", "KelpGrid 2025 年产品路线图")
    # ---- XLSX
    render_xlsx(ONCALL_ROSTER_SHEETS, out / "oncall-roster.xlsx", "en", "On-call roster Q2 2025")
    render_xlsx(HOLIDAY_SHEETS_ZH, out / "holiday-calendar-2025-zh.xlsx", "zh", "2025 年节假日安排与上海组织架构")
    # ---- HTML
    w("it-faq.html", _html_en(IT_FAQ, "IT Service Desk"))
    w("office-guide-portland.html", _html_en(OFFICE_GUIDE, "Workplace"))
    w("password-reset-zh.html", _html_zh(PASSWORD_RESET_ZH, "IT 服务台"))
    # ---- Markdown
    w("vpn-setup.md", render_md(VPN_SETUP))
    w("oncall-runbook.md", render_md(ONCALL_RUNBOOK))
    w("code-review-guidelines-zh.md", render_md(CODE_REVIEW_ZH))
    # ---- TXT
    w("incident-postmortem-2025-02-11.txt", render_txt(POSTMORTEM))
    w("会议纪要-2025-04-02.txt", render_txt(MEETING_MINUTES_ZH))
    # ---- EML
    pt = dt.timezone(dt.timedelta(hours=-7))
    cst = dt.timezone(dt.timedelta(hours=8))
    render_eml(
        out / "architecture-review-2025-03-18.eml",
        sender="Rachel Kim <rachel.kim@brightkelp.example>",
        to=["arb@brightkelp.example"],
        cc=["Henrik Aalto <henrik.aalto@brightkelp.example>"],
        subject="ARB minutes 2025-03-18: metadata store migration approved",
        date=dt.datetime(2025, 3, 18, 14, 5, 0, tzinfo=pt),
        msgid="<arb-2025-03-18.minutes@brightkelp.example>",
        body_blocks=ARCH_REVIEW_EMAIL_BODY,
        html_alt=True,
        lang="en",
    )
    render_eml(
        out / "office-move-notice-zh.eml",
        sender="亮藻行政部 <admin-sh@brightkelp.example>",
        to=["全体上海员工 <all-shanghai@brightkelp.example>"],
        subject="【通知】上海办公室将于 6 月 9 日迁至张江新址",
        date=dt.datetime(2025, 5, 19, 10, 0, 0, tzinfo=cst),
        msgid="<office-move-2025-05-19@brightkelp.example>",
        body_blocks=OFFICE_MOVE_EMAIL_ZH,
        cte="base64",
        lang="zh",
    )
    render_eml(
        out / "it-maintenance-notice-zh.eml",
        sender="IT 基础设施团队 <it-sh@brightkelp.example>",
        to=["全体上海员工 <all-shanghai@brightkelp.example>"],
        cc=["赵一鸣 <zhao.yiming@brightkelp.example>"],
        subject="【系统维护】4 月 12 日晚上海机房例行维护通知",
        date=dt.datetime(2025, 4, 8, 16, 30, 0, tzinfo=cst),
        msgid="<it-maint-2025-04-12@brightkelp.example>",
        body_blocks=MAINTENANCE_EMAIL_ZH,
        cte="quoted-printable",
        lang="zh",
    )


# ===========================================================================
# Golden facts (each stated by exactly one document).  "page" (1-based) is
# given for PDFs: the answer is on that page of the extracted text.
# ===========================================================================

FACT_LIST = [
    # --- English
    (
        "travel-policy.pdf",
        "en",
        "How far in advance must domestic flights be booked?",
        "at least 14 days before departure",
        1,
    ),
    (
        "travel-policy.pdf",
        "en",
        "What is the nightly hotel cap in Tier 1 cities such as New York or Tokyo?",
        "USD 260",
        2,
    ),
    ("travel-policy.pdf", "en", "What is the domestic meal per diem for a full travel day?", "USD 68", 3),
    ("remote-work-policy.docx", "en", "How much is the one-time home office stipend?", "USD 450", None),
    (
        "remote-work-policy.docx",
        "en",
        "For how many working days per calendar year may employees work from abroad?",
        "20 working days",
        None,
    ),
    ("kelpgrid-4-2-release-briefing.pptx", "en", "What is the internal code name of KelpGrid 4.2?", "Driftwood", None),
    (
        "kelpgrid-4-2-release-briefing.pptx",
        "en",
        "When will the legacy REST API v1 be retired?",
        "September 30, 2025",
        None,
    ),
    ("oncall-roster.xlsx", "en", "Who is the escalation manager for the Data Platform team?", "Priya Natarajan", None),
    ("it-faq.html", "en", "How often are company laptops replaced?", "every 36 months", None),
    (
        "office-guide-portland.html",
        "en",
        "What is the guest Wi-Fi network called in the Portland office?",
        "KELP-GUEST",
        None,
    ),
    ("vpn-setup.md", "en", "What is the hostname of the corporate VPN gateway?", "vpn.brightkelp.example", None),
    ("vpn-setup.md", "en", "Which port does the VPN gateway listen on?", "TCP port 8443", None),
    (
        "oncall-runbook.md",
        "en",
        "When does the primary pager rotation change over?",
        "every Tuesday at 10:00 Pacific time",
        None,
    ),
    (
        "oncall-runbook.md",
        "en",
        "At what Kafka consumer lag does the IngestConsumerLagHigh alert fire?",
        "250,000 messages",
        None,
    ),
    ("oncall-runbook.md", "en", "How quickly must a SEV1 page be acknowledged?", "within 5 minutes", None),
    (
        "architecture-review-2025-03-18.eml",
        "en",
        "Which database did the Architecture Review Board approve for the metadata store migration?",
        "PostgreSQL 16",
        None,
    ),
    (
        "architecture-review-2025-03-18.eml",
        "en",
        "What is the target date for the production cutover of the metadata store migration?",
        "July 15, 2025",
        None,
    ),
    (
        "incident-postmortem-2025-02-11.txt",
        "en",
        "How long did the February 11, 2025 ingestion outage in us-west-2 last?",
        "47 minutes",
        None,
    ),
    (
        "incident-postmortem-2025-02-11.txt",
        "en",
        "What was the root cause of incident INC-2025-0211?",
        "an expired intermediate TLS certificate",
        None,
    ),
    # --- Chinese
    ("information-security-policy-zh.pdf", "zh", "域账号密码多久必须更换一次？", "每 90 天更换一次", 1),
    ("information-security-policy-zh.pdf", "zh", "公司对密码长度有什么要求？", "不得少于 12 位", 1),
    ("information-security-policy-zh.pdf", "zh", "员工发现安全事件后须在多长时间内报告信息安全部？", "30 分钟内", 3),
    ("报销制度.docx", "zh", "出差结束后，报销单必须在多长时间内提交？", "15 个工作日内", None),
    ("报销制度.docx", "zh", "财务部每月哪几天集中付款？", "每月 10 日和 25 日", None),
    ("员工手册.docx", "zh", "当年未休完的年假最多可以结转几天？", "最多可结转 5 天", None),
    ("员工手册.docx", "zh", "结转的年假须在什么时候之前休完？", "次年 3 月 31 日前", None),
    ("员工手册.docx", "zh", "员工的个人学习预算是多少？", "每年 3000 元", None),
    ("product-roadmap-2025-zh.pptx", "zh", "新一代流式计算引擎的项目代号是什么？", "青鳉", None),
    ("product-roadmap-2025-zh.pptx", "zh", "新一代流式引擎的端到端 p99 延迟目标是多少？", "低于 200 毫秒", None),
    ("holiday-calendar-2025-zh.xlsx", "zh", "公司周年庆放假是哪一天？", "6月18日", None),
    ("holiday-calendar-2025-zh.xlsx", "zh", "上海研发中心的负责人是谁？", "周思远", None),
    ("password-reset-zh.html", "zh", "自助密码重置门户的地址是什么？", "reset.brightkelp.example", None),
    ("password-reset-zh.html", "zh", "连续输错 6 次密码后，账号会被锁定多长时间？", "锁定 20 分钟", None),
    ("code-review-guidelines-zh.md", "zh", "每个合并请求至少需要几名评审者批准？", "两名评审者", None),
    ("code-review-guidelines-zh.md", "zh", "单个合并请求的改动原则上不应超过多少行？", "400 行", None),
    ("office-move-notice-zh.eml", "zh", "上海办公室搬迁后的新地址在哪里？", "浦东新区张江路 88 号 12 楼", None),
    (
        "会议纪要-2025-04-02.txt",
        "zh",
        "4 月 2 日的周会决定把华东区域新客户的免费试用期调整为多少天？",
        "延长至 21 天",
        None,
    ),
    (
        "it-maintenance-notice-zh.eml",
        "zh",
        "4 月 12 日上海机房例行维护的维护窗口是什么时间？",
        "22:00 至次日 02:00",
        None,
    ),
]


def facts_json():
    out = []
    for file, lang, q, a, page in FACT_LIST:
        item = {"file": file, "language": lang, "question": q, "answer": a}
        if page is not None:
            item["page"] = page
        out.append(item)
    return out


# ===========================================================================
# Verification (--check)
# ===========================================================================


def _patch_unstructured_nlp():
    """unstructured downloads spaCy's en_core_web_sm on first use, which fails
    offline.  Its partitioners only use spaCy for sentence/POS heuristics that
    classify elements, not for extracting text, so for verification we swap in
    a blank English pipeline with a rule-based sentencizer if the model is
    missing."""
    import spacy
    import unstructured.nlp.tokenize as tk

    try:
        spacy.load("en_core_web_sm")
        return "en_core_web_sm"
    except OSError:
        nlp = spacy.blank("en")
        nlp.add_pipe("sentencizer")
        tk._get_nlp = lambda: nlp
        return "spacy.blank('en') + sentencizer (en_core_web_sm unavailable offline)"


def extract_pdf_pages(path: Path):
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        return [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]
    finally:
        pdf.close()


def extract_unstructured(path: Path) -> str:
    from unstructured.partition.auto import partition

    return "\n".join(el.text for el in partition(filename=str(path)))


def extract_native(path: Path) -> str:
    """Extraction with the format libraries directly (fallback / cross-check)."""
    ext = path.suffix.lower()
    if ext == ".docx":
        import docx

        d = docx.Document(str(path))
        parts = [p.text for p in d.paragraphs]
        for t in d.tables:
            for row in t.rows:
                parts.append(" ".join(c.text for c in row.cells))
        return "\n".join(parts)
    if ext == ".pptx":
        from pptx import Presentation

        parts = []
        for s in Presentation(str(path)).slides:
            for sh in s.shapes:
                if sh.has_text_frame:
                    parts.append(sh.text_frame.text)
        return "\n".join(parts)
    if ext == ".xlsx":
        import openpyxl

        wb = openpyxl.load_workbook(str(path), read_only=True)
        return "\n".join(
            " ".join(str(c) for c in row if c is not None)
            for ws in wb.worksheets
            for row in ws.iter_rows(values_only=True)
        )
    if ext == ".eml":
        import email

        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        return str(msg["Subject"]) + "\n" + msg.get_body(("plain", "html")).get_content()
    if ext == ".html":
        from bs4 import BeautifulSoup

        return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser").get_text("\n")
    if ext == ".pdf":
        return "\n".join(extract_pdf_pages(path))
    return path.read_text(encoding="utf-8")


_CJK = re.compile(r"[\u3400-\u9fff]")


def _size_desc(path: Path, text: str) -> str:
    ext = path.suffix.lower()
    if ext == ".pdf":
        return f"{len(extract_pdf_pages(path))} pages"
    if ext == ".pptx":
        from pptx import Presentation

        return f"{len(Presentation(str(path)).slides)} slides"
    if ext == ".xlsx":
        import openpyxl

        wb = openpyxl.load_workbook(str(path), read_only=True)
        return f"{len(wb.sheetnames)} sheets ({', '.join(f'{ws.title}: {ws.max_row} rows' for ws in wb.worksheets)})"
    return ""


def check(out: Path) -> bool:
    import os

    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")
    nlp_desc = _patch_unstructured_nlp()
    print(f"unstructured NLP: {nlp_desc}")
    files = sorted(p for p in out.iterdir() if p.is_file())
    texts = {}
    total = 0
    print(f"\n{'file':42} {'lang':4} {'size':>8}  {'amount':>14}  structure")
    for p in files:
        total += p.stat().st_size
        if p.suffix == ".pdf":
            text = "\n".join(extract_pdf_pages(p))
            how = "pypdfium2"
        else:
            try:
                text = extract_unstructured(p)
                how = "unstructured"
            except Exception as exc:  # pragma: no cover - diagnostic path
                print(f"  ! unstructured failed on {p.name}: {exc!r}; using native extraction")
                text = extract_native(p)
                how = "native"
        texts[p.name] = (text, how)
        cjk = len(_CJK.findall(text))
        lang = "zh" if cjk > 200 else "en"
        amount = f"{cjk} zh chars" if lang == "zh" else f"{len(text.split())} words"
        print(f"{p.name:42} {lang:4} {p.stat().st_size // 1024:>6}KB  {amount:>14}  {_size_desc(p, text)}")
    print(f"total size: {total / 1024:.0f} KB in {len(files)} files")

    ok = True
    facts = json.loads(FACTS.read_text(encoding="utf-8"))
    print(f"\nverifying {len(facts)} facts")
    for f in facts:
        path = out / f["file"]
        text, how = texts[f["file"]]
        found = f["answer"] in text
        native_found = f["answer"] in extract_native(path)
        page_ok = True
        if "page" in f:
            pages = extract_pdf_pages(path)
            hit = [i + 1 for i, t in enumerate(pages) if f["answer"] in t]
            page_ok = f["page"] in hit
        others = [n for n, (t, _) in texts.items() if n != f["file"] and f["answer"] in t]
        status = "OK " if (found and native_found and page_ok) else "FAIL"
        ok &= status == "OK "
        extra = f" page={f['page']}" if "page" in f else ""
        warn = f"  (also in: {', '.join(others)})" if others else ""
        print(f"  {status} [{how}+native{extra}] {f['file']}: {f['answer']!r}{warn}")
        if others:
            ok = False
    print("\nALL FACTS VERIFIED" if ok else "\nSOME FACTS FAILED")
    return ok


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="verify extraction of every fact after generating")
    ap.add_argument("--out", type=Path, default=DOCS, help="output folder (default: examples/docs)")
    args = ap.parse_args(argv)
    if args.out.exists():
        for p in args.out.iterdir():
            if p.is_file():
                p.unlink()
    build_all(args.out)
    FACTS.write_text(json.dumps(facts_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(list(args.out.iterdir()))} documents to {args.out} and {len(FACT_LIST)} facts to {FACTS}")
    if args.check and not check(args.out):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
