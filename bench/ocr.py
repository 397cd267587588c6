"""How well and how fast scanned pages are read: Tesseract through Docent's own PDF reader.

    python -m bench.ocr [--languages eng+chi_sim] [--pages-per-config 1] [--out bench/reports/ocr.json]

Pages are made on the spot (tests/support/scans.py): body paragraphs of the sample corpus's plain-text files
(examples/docs/incident-postmortem-2025-02-11.txt in English, 会议纪要-2025-04-02.txt in Chinese) drawn in black on
a white A4 page at 300 dpi in several fonts and sizes, each saved as a one-page image-only PDF and parsed by
`ingest.parsing.parse` exactly as a parser worker does (pdfium renders it at 300 dpi, Tesseract reads it).

**Character accuracy** is 1 - normalized Levenshtein distance (rapidfuzz: edits / length of the longer text)
between the paragraphs drawn and the text of the parsed blocks, both with whitespace runs made one space and
the spaces between two CJK characters removed (line breaks are layout, not text); **content accuracy** compares
the characters alone (NFKC, whitespace removed: Tesseract writes Chinese punctuation half-width). **Seconds per
page** is the wall time of `parse` per page (render + PNG + Tesseract), one page at a time on one Tesseract thread.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz.distance import Levenshtein

from bench.common import REPORTS, SAMPLE_DOCS, new_report, percentiles, stderr_console, write_report
from ingest.ocr import OcrOptions, tidy_cjk, unavailable_reason
from ingest.parsing import parse
from tests.support import scans

SOURCES = {"en": SAMPLE_DOCS / "incident-postmortem-2025-02-11.txt", "zh": SAMPLE_DOCS / "会议纪要-2025-04-02.txt"}
PAGE_CHARS = {"en": 900, "zh": 400}  # about a third of a page of body text at the largest size


@dataclass(frozen=True, slots=True)
class Config:
    language: str
    font: Path
    size_px: int  # at 300 dpi: 28 px ≈ 6.7 pt, 36 ≈ 8.6 pt, 46 ≈ 11 pt

    @property
    def name(self) -> str:
        return f"{self.language}-{self.font.stem}-{self.size_px}px"


CONFIGS = (
    Config("en", scans.DEJAVU, 46),
    Config("en", scans.DEJAVU_SERIF, 36),
    Config("en", scans.WQY, 28),
    Config("zh", scans.WQY, 46),
    Config("zh", scans.WQY, 36),
    Config("zh", scans.WQY, 28),
)


def paragraphs(language: str) -> list[str]:
    """The body paragraphs of the language's source file (headings, rules, tables and lists left out)."""
    text = SOURCES[language].read_text(encoding="utf-8")
    minimum = 80 if language == "en" else 40
    found = []
    for block in text.split("\n\n"):
        lines = [line.strip() for line in block.splitlines()]
        if any(line.startswith(("*", "-", "=", "|")) or "|" in line for line in lines):
            continue
        paragraph = " ".join(line for line in lines if line)
        if len(paragraph) >= minimum:
            found.append(paragraph)
    return found


def page_texts(language: str, pages: int, offset: int) -> list[list[str]]:
    """`pages` pages of consecutive paragraphs, about PAGE_CHARS each, starting at paragraph `offset`."""
    pool = paragraphs(language)
    out: list[list[str]] = []
    index = offset
    for _ in range(pages):
        page: list[str] = []
        while sum(map(len, page)) < PAGE_CHARS[language]:
            page.append(pool[index % len(pool)])
            index += 1
        out.append(page)
    return out


def normalized(text: str) -> str:
    return tidy_cjk(" ".join(text.split()))


def accuracy(truth: str, read: str) -> float:
    return 1.0 - Levenshtein.normalized_distance(normalized(truth), normalized(read))


def content_accuracy(truth: str, read: str) -> float:
    """The same on the characters alone: NFKC (a full-width ： is :) and no whitespace at all, since Tesseract
    writes Chinese punctuation half-width with spaces around it ("时间 : 2025")."""

    def bare(text: str) -> str:
        return "".join(unicodedata.normalize("NFKC", text).split())

    return 1.0 - Levenshtein.normalized_distance(bare(truth), bare(read))


def measure(config: Config, texts: list[str], options: OcrOptions, folder: Path, number: int) -> dict[str, object]:
    image = scans.page_image(texts, font=config.font, size_px=config.size_px, cjk=config.language == "zh")
    path = scans.save_pdf(folder / f"{config.name}-{number}.pdf", [image])
    started = time.perf_counter()
    document = parse(path, "pdf", ocr_options=options)
    seconds = time.perf_counter() - started
    truth = " ".join(texts)
    read = " ".join(b.text for b in document.blocks)
    return {
        "config": config.name,
        "language": config.language,
        "font": config.font.name,
        "size_px": config.size_px,
        "chars": len(normalized(truth)),
        "accuracy": round(accuracy(truth, read), 4),
        "content_accuracy": round(content_accuracy(truth, read), 4),
        "seconds": round(seconds, 2),
        "sample": normalized(read)[:120],
    }


def summary(rows: list[dict[str, object]]) -> dict[str, object]:
    accuracies = [float(str(r["accuracy"])) for r in rows]
    content = [float(str(r["content_accuracy"])) for r in rows]
    seconds = [float(str(r["seconds"])) for r in rows]
    chars = sum(int(str(r["chars"])) for r in rows)
    return {
        "pages": len(rows),
        "accuracy_mean": round(sum(accuracies) / len(accuracies), 4),
        "accuracy_min": round(min(accuracies), 4),
        "content_accuracy_mean": round(sum(content) / len(content), 4),
        "seconds_per_page": percentiles(seconds, digits=2),
        "chars_per_s": round(chars / sum(seconds), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--languages", default=OcrOptions().languages, help="Tesseract's -l (default: %(default)s)")
    parser.add_argument("--pages-per-config", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPORTS / "ocr.json")
    args = parser.parse_args()
    console = stderr_console()
    options = OcrOptions(mode="on", languages=args.languages)
    if reason := unavailable_reason(options):
        console.print(f"[red]{reason}[/red]")
        return 1

    started = time.perf_counter()
    report = new_report("ocr", languages=args.languages, dpi=options.dpi, configs=[c.name for c in CONFIGS])
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="docent-ocr-") as tmp:
        for offset, config in enumerate(CONFIGS):  # each page its own paragraphs (about three per page)
            pages = page_texts(config.language, args.pages_per_config, offset * args.pages_per_config * 3)
            for number, texts in enumerate(pages):
                row = measure(config, texts, options, Path(tmp), number)
                console.print(
                    f"{config.name:28} accuracy {row['accuracy']:.4f}  content {row['content_accuracy']:.4f}"
                    f"  {row['seconds']:5.2f} s"
                )
                rows.append(row)
    report["pages"] = rows
    report["by_language"] = {lang: summary([r for r in rows if r["language"] == lang]) for lang in SOURCES}
    report["by_config"] = {c.name: summary([r for r in rows if r["config"] == c.name]) for c in CONFIGS}
    report["overall"] = summary(rows)
    write_report(report, args.out, started)
    console.print(report["by_language"])
    console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
