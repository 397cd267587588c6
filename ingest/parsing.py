"""Files to `ParsedDocument`s with the reader their row in formats.py names: unstructured for Office, HTML,
Markdown and e-mail; pypdfium2 for PDF; Tesseract (ocr.py) for images and PDF pages without a text layer;
extract-msg for Outlook .msg (messages.py). Legacy Office files reach this module already converted to OOXML
(legacy_office.py, called by the sandbox so that the copy is checked like any OOXML file).

PDFs go through pypdfium2 page by page (page numbers kept) because unstructured's PDF extra pulls a CUDA
build of torch and several hundred MB of layout models; pdfium extracts Chinese and English text in
milliseconds. Plain text and PDF pages share one layout-free reader (`text_blocks`). This module runs inside the
parser sandbox (see `sandbox.py`), never in the main process.
"""

from __future__ import annotations

import logging
import re
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, cast

from ingest import ocr
from ingest.documents import Block, BlockKind, ParsedDocument
from ingest.formats import Format, Headings, Reader, format_named
from ingest.ocr import OcrOptions, OcrUnavailable
from ingest.offline import configure_unstructured

if TYPE_CHECKING:
    from PIL.Image import Image
    from unstructured.documents.elements import Element

log = logging.getLogger(__name__)

_SENTENCE_END = tuple("。！？.!?；;：:，,")
_BULLETS = tuple("•·-*–—▪●○◦")
_RULE = re.compile(r"^[=\-_*~]{3,}$")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_SKIPPED = {"Header", "Footer", "PageBreak", "PageNumber", "Image", "Formula", "FigureCaption"}


def parse(path: Path, doc_type: str, *, ocr_options: OcrOptions | None = None) -> ParsedDocument:
    """Parse `path` as `doc_type` (one of filetypes.SUPPORTED), with the reader its row in formats.py names.

    `ocr_options` (None: OCR off) decide whether images and PDF pages without text are read with Tesseract;
    raises OcrUnavailable for an image, or a PDF with no text layer, that they leave unread."""
    options = ocr_options or OcrOptions(mode="off")
    fmt = format_named(doc_type)
    if fmt.reader is Reader.PDF:
        return _parse_pdf(path, options)
    if fmt.reader is Reader.IMAGE:
        return _parse_image(path, doc_type, options)
    if fmt.reader is Reader.OUTLOOK:
        return _parse_msg(path)
    if fmt.reader is Reader.LIBREOFFICE:
        raise ValueError(f"{doc_type} is parsed as its LibreOffice conversion to {fmt.convert_to}")
    if fmt.reader is Reader.TEXT:
        blocks, meta_title = text_blocks(decode_text(path.read_bytes())), None
    else:
        configure_unstructured()
        blocks, meta_title = _parse_with_unstructured(path, fmt)
    if fmt.sheets:  # sheet names are not titles
        return ParsedDocument(title=meta_title or path.stem, doc_type=doc_type, blocks=blocks)
    title = meta_title or _first_heading(blocks) or _first_short_line(blocks) or path.stem
    return ParsedDocument(title=title, doc_type=doc_type, blocks=blocks)


# -- headings -------------------------------------------------------------------------------------


def looks_like_heading(text: str) -> bool:
    """Short, single-line, and not ending like a sentence: a Chinese paragraph never passes."""
    text = text.strip()
    if not text or "\n" in text or text.endswith(_SENTENCE_END) or text.startswith(_BULLETS):
        return False
    if not any(ch.isalnum() for ch in text):
        return False
    cjk = len(_CJK.findall(text))
    return cjk <= 30 and len(text.split()) <= 12 and len(text) <= 100


def _first_heading(blocks: list[Block]) -> str | None:
    return next((b.text for b in blocks if b.kind is BlockKind.HEADING), None)


def _first_short_line(blocks: list[Block]) -> str | None:
    for block in blocks[:3]:
        if block.kind is BlockKind.TEXT and looks_like_heading(block.text):
            return block.text
    return None


# -- unstructured ---------------------------------------------------------------------------------


def decode_text(data: bytes) -> str:
    for encoding in ("utf-8-sig", "utf-16", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding != "utf-16" or data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return text
    return data.decode("utf-8", errors="replace")


def _partition(path: Path, fmt: Format) -> tuple[list[Element], str | None]:
    """Run the format's unstructured partitioner; returns its elements and a metadata title if any."""
    if fmt.partitioner is None:
        raise ValueError(f"no unstructured partitioner for {fmt.name!r}")
    module, _, name = fmt.partitioner.partition(":")
    partition = getattr(import_module(module), name)
    text = decode_text(path.read_bytes()) if fmt.text_input else None
    source = {"text": text} if fmt.text_input else {"filename": str(path)}
    elements = partition(**source, **fmt.options)
    return elements, fmt.title(path, text, elements) if fmt.title else None


def _parse_with_unstructured(path: Path, fmt: Format) -> tuple[list[Block], str | None]:
    elements, meta_title = _partition(path, fmt)
    return _element_blocks(elements, fmt), (meta_title or "").strip() or None


def _element_blocks(elements: list[Element], fmt: Format) -> list[Block]:
    blocks: list[Block] = []
    sheet: str | None = None
    for element in elements:
        category = element.category
        text = (element.text or "").strip()
        meta = element.metadata
        page = meta.page_number
        if category in _SKIPPED or not text:
            continue
        if category == "Table":
            if fmt.sheets and meta.page_name and meta.page_name != sheet:
                sheet = meta.page_name
                blocks.append(Block(BlockKind.HEADING, sheet, level=1, page=page))
            rows = table_rows(meta.text_as_html) if meta.text_as_html else ()
            blocks.append(Block(BlockKind.TABLE, render_rows(rows) if rows else text, page=page, rows=rows))
            continue
        depth = meta.category_depth or 0
        trusted = fmt.headings is Headings.ALL or (fmt.headings is Headings.TOP_LEVEL and depth == 0)
        if category == "Title" and trusted and looks_like_heading(text):
            blocks.append(Block(BlockKind.HEADING, text, level=depth + 1, page=page))
        else:
            blocks.append(Block(BlockKind.TEXT, text, page=page))
    return blocks


# -- Outlook --------------------------------------------------------------------------------------


def _parse_msg(path: Path) -> ParsedDocument:
    """Subject as title; From/To/Cc/Date as one block; the plain body, or the HTML body when there is none."""
    from ingest.messages import read_msg

    message = read_msg(path)
    blocks = [Block(BlockKind.TEXT, "\n".join(f"{name}: {value}" for name, value in message.headers))]
    if message.body:
        blocks.extend(text_blocks(message.body))
    elif message.html:
        from unstructured.partition.html import partition_html

        configure_unstructured()
        blocks.extend(_element_blocks(partition_html(text=message.html), format_named("html")))
    blocks = [b for b in blocks if b.text.strip()]
    return ParsedDocument(title=message.subject or path.stem, doc_type="msg", blocks=blocks)


def table_rows(html: str) -> tuple[tuple[str, ...], ...]:
    """Rows of cell texts from an HTML table (what unstructured puts in `text_as_html`)."""
    import lxml.html

    root = lxml.html.fromstring(html)
    rows = []
    for tr in root.iter("tr"):
        # lxml-stubs type a tree's children as plain _Element; in an lxml.html tree each is an HtmlElement.
        cells = tuple(
            " ".join(cast(lxml.html.HtmlElement, td).text_content().split()) for td in tr if td.tag in ("td", "th")
        )
        if any(cells):
            rows.append(cells)
    return tuple(rows)


def render_rows(rows: tuple[tuple[str, ...], ...]) -> str:
    return "\n".join(" | ".join(row) for row in rows)


# -- PDF ------------------------------------------------------------------------------------------

_NUMBERED = re.compile(r"^(\d+(?:\.\d+)*)[.、)]?\s+\S|^第[一二三四五六七八九十百\d]+[章节条部分]")


def _parse_pdf(path: Path, options: OcrOptions) -> ParsedDocument:
    """Each page's text layer; a page without one (fewer than ocr.MIN_PAGE_CHARS characters) is OCRed when OCR
    is available, and left out otherwise (a PDF left with no text at all raises OcrUnavailable)."""
    import pypdfium2 as pdfium

    unread: list[int] = []
    pdf = pdfium.PdfDocument(str(path))
    try:
        meta_title = (pdf.get_metadata_dict().get("Title") or "").strip()
        blocks: list[Block] = []
        for index in range(len(pdf)):
            page = pdf[index]
            textpage = page.get_textpage()
            try:
                text = textpage.get_text_range()
                if not ocr.has_text(text):
                    if ocr.unavailable_reason(options):  # asked when first needed: a text PDF never starts tesseract
                        unread.append(index + 1)
                    else:
                        image, dpi = ocr.render_pdf_page(page, options.dpi)
                        text = _ocr_page(image, options, where=f"path={path} page={index + 1}", dpi=dpi)
                blocks.extend(text_blocks(text, page=index + 1))
            finally:
                textpage.close()
                page.close()
    finally:
        pdf.close()
    if unread:
        unavailable = ocr.unavailable_reason(options)
        if not any(b.text.strip() for b in blocks):
            raise OcrUnavailable(f"no text layer and {unavailable}")
        log.warning("pages without a text layer left out path=%s pages=%s: %s", path, unread, unavailable)
    title = meta_title or _first_heading(blocks) or path.stem
    return ParsedDocument(title=title, doc_type="pdf", blocks=blocks)


def _parse_image(path: Path, doc_type: str, options: OcrOptions) -> ParsedDocument:
    """A scanned page, or a multi-page TIFF page by page (numbered from 1), read by Tesseract."""
    unavailable = ocr.unavailable_reason(options)
    if unavailable:
        raise OcrUnavailable(f"{doc_type} image: its text can only be read by OCR, and {unavailable}")
    dpi = ocr.image_dpi(path)
    blocks: list[Block] = []
    for index, image in enumerate(ocr.image_pages(path)):
        text = _ocr_page(image, options, where=f"path={path} page={index + 1}", dpi=dpi)
        blocks.extend(text_blocks(text, page=index + 1))
    title = _first_heading(blocks) or path.stem
    return ParsedDocument(title=title, doc_type=doc_type, blocks=blocks)


def _ocr_page(image: Image, options: OcrOptions, *, where: str, dpi: int | None) -> str:
    """One page's OCR; a page that overruns its time limit is logged and left out (its text is "")."""
    try:
        return ocr.read_image(image, options, where=where, dpi=dpi)
    except ocr.PageTimeout as exc:
        log.warning("%s %s; the page is left out", where, exc)
        return ""


def text_blocks(text: str, *, page: int | None = None) -> list[Block]:
    """Paragraphs and headings from layout-free text (a PDF page): wrapped lines are joined back.

    A line is a heading when it is short, does not end like a sentence and is followed by body text (a
    sentence, or a clearly longer line); a Setext underline (=== or ---) also marks one;
    a numbered line ("2.1 Scope", "第三章") is a heading at its numbering depth.
    """
    lines = [line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    width = max((len(line) for line in lines), default=0)
    blocks: list[Block] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks.append(Block(BlockKind.TEXT, _join_lines(paragraph), page=page))
            paragraph.clear()

    for i, line in enumerate(lines):
        if not line:
            flush()
            continue
        if _RULE.match(line):  # a Setext underline makes the line above it a heading; other rules are layout
            if len(paragraph) == 1 and looks_like_heading(paragraph[0]):
                blocks.append(Block(BlockKind.HEADING, paragraph.pop(), level=1 if line[0] == "=" else 2, page=page))
            flush()
            continue
        following = next((rest for rest in lines[i + 1 :] if rest), "")
        body_follows = following and (not looks_like_heading(following) or len(following) > 1.5 * len(line))
        short = len(line) <= 0.6 * width or _NUMBERED.match(line)  # a wrapped body line runs to the margin
        if not paragraph and looks_like_heading(line) and body_follows and short:
            blocks.append(Block(BlockKind.HEADING, line, level=_heading_level(line), page=page))
            continue
        if line.startswith(_BULLETS):
            flush()  # each list item is its own paragraph
        paragraph.append(line)
        if line.endswith(("。", "！", "？", ".", "!", "?")) and len(line) < 0.6 * width:
            flush()  # a short last line of a paragraph
    flush()
    return blocks


def _heading_level(line: str) -> int:
    match = _NUMBERED.match(line)
    if match and match.group(1):
        return match.group(1).count(".") + 1
    return 1


def _join_lines(lines: list[str]) -> str:
    out = lines[0]
    for line in lines[1:]:
        cjk_boundary = _CJK.match(out[-1:] or " ") and _CJK.match(line[:1])
        out += line if cjk_boundary else " " + line
    return out
