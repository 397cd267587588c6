"""Text from page images with Tesseract: scanned PDF pages and PNG, JPEG and TIFF files.

Tesseract runs as its own process per page (the `tesseract` command, image on stdin, text on stdout), so each
page has its own time limit (`OcrOptions.page_timeout_s`): one pathological page is killed and skipped instead of
eating the whole file's parse budget. It runs inside the parser sandbox (`sandbox.py`), under the worker's memory
cap, with one thread (`OMP_THREAD_LIMIT=1`): the workers are the parallelism.

Tesseract writes Chinese with a space between characters ("报销 单 必须"); `tidy_cjk` takes those out again so
that the chunker, BM25 and the citations see ordinary Chinese text.
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from PIL.Image import Image
    from pypdfium2 import PdfPage

log = logging.getLogger(__name__)

OcrMode = Literal["auto", "on", "off"]

# A PDF page "has text" when pdfium finds at least this many non-blank characters on it; fewer (a stray page
# number, an empty invisible layer) and the page is read from its image instead.
MIN_PAGE_CHARS = 16

# A poster-sized PDF page is rendered at a lower resolution rather than at 300 dpi into gigabytes (A0 at 300 dpi is
# 140 M pixels); Tesseract reads text at 150 dpi nearly as well.
MAX_PAGE_PIXELS = 40_000_000

_CJK = "\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef"  # ideographs and CJK/full-width punctuation
_CJK_GAP = re.compile(rf"(?<=[{_CJK}])[ \t]+(?=[{_CJK}])")


@dataclass(frozen=True, slots=True)
class OcrOptions:
    """How (and whether) page images are read. `auto`: when the tesseract binary and every language's data are
    installed; `on`: the same, but a missing Tesseract is a configuration error (checked where the pool is built);
    `off`: never."""

    mode: OcrMode = "auto"
    languages: str = "eng+chi_sim"  # Tesseract's `-l`: its traineddata names joined with "+"
    page_timeout_s: float = 30.0
    dpi: int = 300  # PDF pages are rendered at this resolution


class OcrUnavailable(Exception):
    """A file (or its only pages) needs OCR and OCR is off or Tesseract cannot run; the message says which."""


class PageTimeout(Exception):
    """Tesseract ran past `page_timeout_s` on one page (it was killed)."""


def unavailable_reason(options: OcrOptions) -> str | None:
    """Why OCR cannot be used with `options` ("OCR is off", "OCR is unavailable: ..."), or None when it can."""
    if options.mode == "off":
        return "OCR is off"
    missing = _missing(options.languages)
    return f"OCR is unavailable: {missing}" if missing else None


@cache
def _missing(languages: str) -> str | None:
    """What is missing for Tesseract to read `languages` (the binary, or language data), or None. Asked once per
    process: the answer does not change while a worker lives."""
    binary = shutil.which("tesseract")
    if binary is None:
        return "the tesseract program is not installed (Debian: tesseract-ocr)"
    try:
        listed = subprocess.run([binary, "--list-langs"], capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"tesseract does not run: {type(exc).__name__}: {exc}"
    installed = {line.strip() for line in listed.stdout.splitlines()[1:]}  # the first line names the folder
    absent = [lang for lang in languages.split("+") if lang and lang not in installed]
    if absent:
        return f"no Tesseract language data for {', '.join(absent)} (Debian: tesseract-ocr-<lang>)"
    return None


def has_text(text: str) -> bool:
    """Whether a PDF page's own text layer is worth keeping (else the page is OCRed)."""
    return sum(not ch.isspace() for ch in text) >= MIN_PAGE_CHARS


def tidy_cjk(text: str) -> str:
    """Remove the spaces Tesseract puts between two CJK characters; spaces next to Latin text stay."""
    return _CJK_GAP.sub("", text)


def _no_progress_report() -> None:
    pass


# Called as each page's OCR starts. The parser sandbox points it at its pipe to the parent, which then gives the
# file another page's time limit: a 200-page scan is not cut off by a per-file limit sized for a text file.
page_started: Callable[[], None] = _no_progress_report


def read_image(image: Image, options: OcrOptions, *, where: str, dpi: int | None = None) -> str:
    """The text of one page image (`where` names it in the log: which pages were OCRed, and how long each took).
    Raises PageTimeout when Tesseract overruns the page's time limit, and RuntimeError when it fails."""
    page_started()
    started = time.monotonic()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    command = ["tesseract", "stdin", "stdout", "-l", options.languages, "--psm", "3"]
    if dpi:
        command += ["--dpi", str(dpi)]
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    try:
        done = subprocess.run(
            command, input=buffer.getvalue(), capture_output=True, timeout=options.page_timeout_s, env=env
        )
    except subprocess.TimeoutExpired:
        raise PageTimeout(f"OCR of a page ran past {options.page_timeout_s:g} s") from None
    if done.returncode != 0:
        raise RuntimeError(f"tesseract failed (exit {done.returncode}): {done.stderr.decode(errors='replace')[-300:]}")
    text = tidy_cjk(done.stdout.decode("utf-8", errors="replace"))
    log.info("ocr %s seconds=%.2f chars=%d", where, time.monotonic() - started, len(text))
    return text


def render_pdf_page(page: PdfPage, dpi: int) -> tuple[Image, int]:
    """A PDF page as a grey image at `dpi` (an A4 page at 300 dpi: 2480 x 3508 pixels, 8.7 MB), and that
    resolution; a page so large that it would pass MAX_PAGE_PIXELS is rendered at a lower one instead."""
    width, height = page.get_size()  # in points, 1/72 inch
    scale = min(dpi / 72, 0.99 * math.sqrt(MAX_PAGE_PIXELS / max(width * height, 1.0)))  # pdfium rounds up
    image: Image = page.render(scale=scale, grayscale=True).to_pil()
    return image, round(scale * 72)


def image_pages(path: Path) -> Iterator[Image]:
    """Each frame of an image file (a multi-page TIFF has several), in grey, one at a time."""
    from PIL import Image, ImageSequence

    with Image.open(path) as image:
        for frame in ImageSequence.Iterator(image):
            yield frame.convert("L")


def image_dpi(path: Path) -> int | None:
    """The resolution an image file declares (so Tesseract need not guess), if a plausible one."""
    from PIL import Image

    with Image.open(path) as image:
        dpi = image.info.get("dpi")
    try:
        value = round(float(dpi[0])) if dpi else 0
    except (TypeError, ValueError, IndexError):
        return None
    return value if 70 <= value <= 2400 else None
