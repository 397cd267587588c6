"""Scanned pages made on the spot: text drawn into an image with Pillow, saved as an image-only PDF, a PNG, a
JPEG, a multi-page TIFF, or placed as page 2 of a PDF whose page 1 has a text layer (reportlab).

Used by tests/integration/test_ocr.py and bench/ocr.py; the fonts are Debian's (fonts-wqy-microhei for Chinese
and English, fonts-dejavu-core for English).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

WQY = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
DEJAVU_SERIF = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")

DPI = 300
A4_PX = (2480, 3508)  # A4 at 300 dpi


def page_image(paragraphs: list[str], *, font: Path = WQY, size_px: int = 42, cjk: bool = False) -> Image.Image:
    """A white A4 page at 300 dpi with `paragraphs` in black, wrapped to the margins (42 px ≈ 10 pt)."""
    image = Image.new("L", A4_PX, 255)
    draw = ImageDraw.Draw(image)
    face = ImageFont.truetype(str(font), size_px)
    margin = 200
    # Characters per line: a CJK character is about one em wide, a Latin one about half.
    width = (A4_PX[0] - 2 * margin) // (size_px if cjk else size_px // 2 + 2)
    y = margin
    for paragraph in paragraphs:
        for line in _wrap(paragraph, width, cjk=cjk):
            draw.text((margin, y), line, font=face, fill=0)
            y += int(size_px * 1.5)
        y += size_px
    return image


def _wrap(text: str, width: int, *, cjk: bool) -> list[str]:
    if cjk:
        return [text[i : i + width] for i in range(0, len(text), width)] or [""]
    return textwrap.wrap(text, width) or [""]


def save_pdf(path: Path, pages: list[Image.Image]) -> Path:
    """An image-only PDF (no text layer), one page per image."""
    pages[0].save(path, "PDF", resolution=DPI, save_all=True, append_images=pages[1:])
    return path


def save_tiff(path: Path, pages: list[Image.Image]) -> Path:
    """A multi-page TIFF (Group 4 fax compression, as scanners write it)."""
    bilevel = [page.convert("1") for page in pages]
    bilevel[0].save(path, "TIFF", dpi=(DPI, DPI), compression="group4", save_all=True, append_images=bilevel[1:])
    return path


def save_image(path: Path, page: Image.Image) -> Path:
    """A PNG or JPEG (by the name's suffix) at 300 dpi."""
    page.save(path, dpi=(DPI, DPI))
    return path


def save_mixed_pdf(path: Path, text_lines: list[str], scanned: Image.Image) -> Path:
    """Page 1 with a real text layer (reportlab, Helvetica), page 2 only the scanned image."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=A4)
    y = A4[1] - 72
    for line in text_lines:
        pdf.setFont("Helvetica", 11)
        pdf.drawString(72, y, line)
        y -= 16
    pdf.showPage()
    pdf.drawImage(ImageReader(scanned), 0, 0, width=A4[0], height=A4[1])
    pdf.showPage()
    pdf.save()
    return path
