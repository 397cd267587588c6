"""Parsing in separate processes, so that a hostile or broken file costs one document, never the batch.

Each worker is a spawned Python process that imports the parsers once and then parses file after file. The
parent waits for each answer with a timeout; a worker that overruns it is killed and replaced, and one that
dies (out of memory under its address-space cap, a crash in a native parser) is replaced too. Either way the
file is reported as failed with the reason, and the next file goes to a fresh worker.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import queue
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path

from ingest.documents import Attachment, ParsedDocument
from ingest.ocr import OcrOptions, OcrUnavailable

log = logging.getLogger(__name__)

_START_TIMEOUT_S = 120.0  # importing unstructured on a cold, busy 2-core machine
MAX_OCR_PAGES = 2000  # pages of one file that extend its time limit; past them the per-file limit runs out
_PAGE_RENDER_S = 10.0  # rendering a PDF page at 300 dpi on a busy machine, on top of the page's OCR limit


@dataclass(frozen=True, slots=True)
class ParseLimits:
    timeout_s: float = 60.0
    memory_mb: int = 2048
    max_file_mb: float = 100.0
    max_unpacked_mb: int = 512
    max_zip_ratio: float = 200.0
    # Images and PDF pages without text: Tesseract, each page under its own time limit inside `timeout_s`.
    ocr: OcrOptions = field(default_factory=OcrOptions)


@dataclass(frozen=True, slots=True)
class ParseOutcome:
    """A parsed document, or the reason a file could not be parsed (never both).

    `transient` marks a failure that may pass on another try (a timeout, a crash, memory running out on a
    busy machine); a corrupt, unsupported or too large file fails the same way every time."""

    path: Path
    document: ParsedDocument | None = None
    error: str | None = None
    transient: bool = False


class ParseFailure(Exception):
    """Raised inside a worker for a file that cannot be parsed; becomes `ParseOutcome.error` (and `.transient`)."""

    def __init__(self, reason: str, *, transient: bool = False) -> None:
        super().__init__(reason)
        self.transient = transient


def parse_file(path: Path, limits: ParseLimits, *, attachments: bool = True) -> tuple[str, ParsedDocument]:
    """Detect, check and parse one file (an e-mail's attachments too, unless `attachments` is false). Runs in a
    worker; raises ParseFailure with a readable reason."""
    from ingest import filetypes
    from ingest.formats import Reader, format_named

    size = path.stat().st_size
    if size == 0:
        raise ParseFailure("empty file")
    if size > limits.max_file_mb * 2**20:
        raise ParseFailure(f"file too large: {size / 2**20:.1f} MiB (limit {limits.max_file_mb:g} MiB)")
    try:
        doc_type = filetypes.detect(path)
    except filetypes.UnsupportedType as exc:
        raise ParseFailure(f"unsupported file type: {exc}") from exc
    convert_to = format_named(doc_type).convert_to
    if format_named(doc_type).reader is Reader.LIBREOFFICE and convert_to is not None:
        document = replace(_parse_converted(path, doc_type, convert_to, limits), doc_type=doc_type)
    else:
        document = _check_and_parse(path, doc_type, limits)
    found: tuple[Attachment, ...] = ()
    if attachments and doc_type in ("eml", "msg"):
        from ingest.attachments import parse_attachments

        found = parse_attachments(path, doc_type, limits)
        document = replace(document, attachments=found)
    if not any(block.text.strip() for block in document.blocks) and not found:
        raise ParseFailure(f"no text found in {doc_type} (empty, scanned or image-only)")
    return doc_type, document


def _parse_converted(path: Path, doc_type: str, convert_to: str, limits: ParseLimits) -> ParsedDocument:
    """A legacy Office file parsed as LibreOffice's OOXML copy of it, which is checked like any OOXML file."""
    from ingest import legacy_office

    with tempfile.TemporaryDirectory(prefix="docent-convert-") as outdir:
        try:
            # Three quarters of the parse timeout, so that this worker answers before the parent gives up on it.
            converted = legacy_office.convert(path, convert_to, Path(outdir), timeout_s=0.75 * limits.timeout_s)
        except legacy_office.LibreOfficeMissing as exc:
            raise ParseFailure(f"unsupported file type: legacy Office file ({doc_type}); {exc}") from exc
        except legacy_office.ConversionFailed as exc:
            raise ParseFailure(f"cannot parse {doc_type}: {exc}", transient=exc.transient) from exc
        return _check_and_parse(converted, convert_to, limits)


def _check_and_parse(path: Path, doc_type: str, limits: ParseLimits) -> ParsedDocument:
    from ingest import guards, parsing
    from ingest.formats import format_named

    if format_named(doc_type).zip_member is not None:  # an OOXML container: check it before unpacking
        try:
            guards.check_zip_container(
                path, max_unpacked_bytes=limits.max_unpacked_mb * 2**20, max_ratio=limits.max_zip_ratio
            )
        except guards.RejectedFile as exc:
            raise ParseFailure(str(exc)) from exc
    try:
        return parsing.parse(path, doc_type, ocr_options=limits.ocr)
    except OcrUnavailable as exc:
        raise ParseFailure(str(exc)) from exc
    except MemoryError:
        raise ParseFailure(f"parser ran out of memory (limit {limits.memory_mb} MiB)", transient=True) from None
    except Exception as exc:
        raise ParseFailure(f"cannot parse {doc_type}: {type(exc).__name__}: {exc}"[:500]) from exc


def _worker_main(conn: Connection, memory_mb: int) -> None:
    """Worker loop: import parsers, cap memory, then answer (path, limits) requests until told to stop."""
    import resource

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from importlib import import_module

    from ingest import parsing  # noqa: F401 - import once, before the memory cap and the first timeout
    from ingest.formats import FORMATS
    from ingest.offline import configure_unstructured

    configure_unstructured()
    for fmt in FORMATS:  # every partitioner, before the memory cap and the first timeout
        if fmt.partitioner:
            import_module(fmt.partitioner.partition(":")[0])

    from ingest import ocr

    ocr.page_started = lambda: conn.send(("page", None))  # each OCRed page extends the file's time limit
    cap = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    conn.send(("ready", None))
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        path, limits = request
        try:
            conn.send(("ok", parse_file(Path(path), limits)))
        except ParseFailure as exc:
            conn.send(("error", (str(exc), exc.transient)))
        except MemoryError:
            conn.send(("error", (f"parser ran out of memory (limit {memory_mb} MiB)", True)))


class WorkerStartError(RuntimeError):
    """A parser process died or stayed silent before it was ready: nothing was parsed, the file is not at fault.

    The usual cause is an environment problem: a worker is spawned, so it imports the parent's main module
    again, and a script that starts Docent without an `if __name__ == "__main__":` guard makes every worker
    exit at once; or the parser libraries cannot be imported; or a machine too busy to import them in time."""


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, limits: ParseLimits) -> None:
        self.limits = limits
        self.process: multiprocessing.process.BaseProcess | None = None
        self.conn: Connection | None = None
        self.ready = False

    def start(self) -> None:
        """Spawn the process; it imports the parsers in the background (readiness is awaited on first use)."""
        ctx = multiprocessing.get_context("spawn")  # never fork a process that holds torch threads
        parent, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, self.limits.memory_mb), daemon=True)
        self.process.start()
        child.close()
        self.conn = parent
        self.ready = False

    def _await_ready(self) -> None:
        assert self.conn is not None and self.process is not None
        try:
            if not self.conn.poll(_START_TIMEOUT_S):
                raise EOFError
            self.conn.recv()
        except (EOFError, OSError):
            code = self._reap()
            why = (
                f"it was not ready after {_START_TIMEOUT_S:g} s"
                if code is None
                else f"it exited with code {code} before it was ready (its error is in this process's log)"
            )
            raise WorkerStartError(f"the parser process could not start: {why}") from None
        self.ready = True

    def parse(self, path: Path) -> ParseOutcome:
        if self.process is None or not self.process.is_alive():
            self.start()
        if not self.ready:
            self._await_ready()
        assert self.conn is not None
        self.conn.send((str(path), self.limits))
        started = time.monotonic()
        deadline = started + self.limits.timeout_s
        pages = 0
        try:
            while True:
                remaining = deadline - time.monotonic()
                answer = self.conn.recv() if remaining > 0 and self.conn.poll(remaining) else None
                if answer is None or answer[0] != "page":
                    break
                # An OCR page started: the file gets that page's limit (plus its rendering) from now on, for
                # at most MAX_OCR_PAGES pages; a text file keeps the plain per-file limit.
                pages += 1
                if pages <= MAX_OCR_PAGES:
                    deadline = max(deadline, time.monotonic() + self.limits.ocr.page_timeout_s + _PAGE_RENDER_S)
        except (EOFError, ConnectionResetError):
            code = self._reap()
            return ParseOutcome(path, error=f"parser crashed (exit code {code})", transient=True)
        if answer is None:
            self.stop()
            limit = (
                f"{self.limits.timeout_s:g} s"
                if not pages
                else f"{time.monotonic() - started:.0f} s ({pages} pages OCRed)"
            )
            return ParseOutcome(path, error=f"parser timed out after {limit}", transient=True)
        status, value = answer
        if status == "ok":
            _, document = value
            return ParseOutcome(path, document=document)
        reason, transient = value
        return ParseOutcome(path, error=reason, transient=transient)

    def _reap(self) -> int | None:
        assert self.process is not None
        self.process.join(1)
        code = self.process.exitcode
        self.stop()
        return code

    def stop(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(OSError, ValueError):
                self.conn.send(None)
            self.conn.close()
            self.conn = None
        if self.process is not None:
            self.process.join(0.5)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(5)
            self.process = None


class ParserPool:
    """Parses files in `workers` sandboxed processes, overlapping with whatever the caller does meanwhile.

    `parse_all` yields outcomes in completion order and keeps at most 16 parsed documents per worker waiting,
    so memory stays flat however many files there are.
    """

    def __init__(self, limits: ParseLimits, *, workers: int = 1) -> None:
        self.limits = limits
        self.workers = [_Worker(limits) for _ in range(max(1, workers))]
        self._results: queue.Queue[ParseOutcome | None] | None = None

    def start(self) -> None:
        """Spawn the workers without waiting for them, so that model loading can overlap their start."""
        for worker in self.workers:
            worker.start()

    def wait_ready(self) -> None:
        """Block until every worker has imported its parsers (else the first parse waits for it)."""
        for worker in self.workers:
            if not worker.ready:
                worker._await_ready()

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()

    def backlog(self) -> int:
        """Parsed documents waiting to be taken from `parse_all` (0: the caller would wait for a parser)."""
        return self._results.qsize() if self._results is not None else 0

    def parse_all(self, paths: Iterable[Path]) -> Iterator[ParseOutcome]:
        source = iter(paths)
        source_lock = threading.Lock()
        # Enough parsed documents wait to fill an embedding batch while the workers keep parsing.
        results: queue.Queue[ParseOutcome | None] = queue.Queue(maxsize=16 * len(self.workers))
        self._results = results
        stop = threading.Event()

        start_errors: list[WorkerStartError] = []

        def deliver(outcome: ParseOutcome) -> None:
            while not stop.is_set():
                try:
                    results.put(outcome, timeout=0.2)
                    return
                except queue.Full:
                    continue

        def run(worker: _Worker) -> None:
            # Nothing may escape this thread: the caller would wait for an outcome that never comes, or count a
            # file it never heard of as done. Every path taken from `source` gets exactly one outcome.
            try:
                while not stop.is_set():
                    with source_lock:
                        path = next(source, None)
                    if path is None:
                        return
                    try:
                        outcome = worker.parse(path)
                    except WorkerStartError as exc:
                        # This worker cannot start: it takes no more files (each would wait for it again); the
                        # other workers go on, and the files left when none can are failed with the reason.
                        log.error(
                            '%s path=%s (a script that starts Docent needs an `if __name__ == "__main__":` guard:'
                            " parser processes are spawned and import it again)",
                            exc,
                            path,
                        )
                        start_errors.append(exc)
                        deliver(ParseOutcome(path, error=str(exc), transient=True))
                        return
                    except Exception as exc:  # a pipe that broke under the parent: this file's failure alone
                        log.exception("parser failed path=%s", path)
                        with contextlib.suppress(Exception):
                            worker.stop()
                        reason = f"parser failed: {type(exc).__name__}: {exc}"
                        outcome = ParseOutcome(path, error=reason, transient=True)
                    deliver(outcome)
            finally:
                results.put(None)

        threads = [threading.Thread(target=run, args=(w,), daemon=True) for w in self.workers]
        for t in threads:
            t.start()
        finished = 0
        try:
            while finished < len(threads):
                outcome = results.get()
                if outcome is None:
                    finished += 1
                else:
                    yield outcome
            with source_lock:  # left only when every worker failed to start
                left = list(source)
            for path in left:
                reason = str(start_errors[-1]) if start_errors else "the parser process could not start"
                yield ParseOutcome(path, error=reason, transient=True)
        finally:
            stop.set()
            while any(t.is_alive() for t in threads):
                with contextlib.suppress(queue.Empty):
                    results.get(timeout=0.1)
            for t in threads:
                t.join()
