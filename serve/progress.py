"""A progress bar over files (with chunks/s) and the summary printed at the end of an ingest run."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ingest.pipeline import FileDone
from ingest.report import IngestReport


class IngestProgress:
    """Context manager; `start(total)` and `advance(done)` are the pipeline's callbacks."""

    def __init__(self, console: Console, *, quiet: bool = False, label: str = "indexing") -> None:
        self.console = console
        self.quiet = quiet
        self.chunks = 0
        self.started = time.perf_counter()
        self._progress = Progress(
            TextColumn(f"[bold]{label}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files · {task.fields[rate]} chunks/s · {task.fields[failed]} failed"),
            TimeElapsedColumn(),
            console=console,
            disable=quiet,
        )
        self._task = None
        self._failed = 0

    def __enter__(self) -> IngestProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(*exc)

    def start(self, total: int) -> None:
        self.started = time.perf_counter()
        self._task = self._progress.add_task("ingest", total=total, rate="0.0", failed=0)

    def advance(self, done: FileDone) -> None:
        self.chunks += done.chunks
        self._failed += done.status == "failed"
        rate = self.chunks / max(time.perf_counter() - self.started, 1e-6)
        if self._task is not None:
            self._progress.update(self._task, advance=1, rate=f"{rate:.1f}", failed=self._failed)

    @staticmethod
    def summary(console: Console, report: IngestReport) -> None:
        console.print(
            f"[bold]{report.files}[/] files: [green]{report.indexed} indexed[/], {report.unchanged} unchanged, "
            f"{report.removed} removed, "
            + (f"{report.access_updated} with new permissions, " if report.access_updated else "")
            + f"[red]{len(report.failed)} failed[/]; {report.chunks} chunks written, "
            f"{report.embedded} embedded in {report.seconds:.1f} s"
            + (f" (search index rebuilt in {report.optimize_seconds:.1f} s)" if report.optimize_seconds else "")
        )
        for failure in report.failed:
            console.print(f"  [red]failed[/] {failure.path}: {failure.reason}")


class JobProgress:
    """Follows queued jobs (`poll()` returns each job's status as the API renders it) to the end, with a bar."""

    TERMINAL = ("succeeded", "failed", "partially_failed", "cancelled")

    def __init__(self, console: Console, *, quiet: bool = False, poll_s: float = 0.5) -> None:
        self.console = console
        self.quiet = quiet
        self.poll_s = poll_s

    def follow(self, poll: Callable[[], list[dict]]) -> list[dict]:
        progress = Progress(
            TextColumn("[bold]{task.fields[state]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files · {task.fields[chunks]} chunks · {task.fields[failed]} failed"),
            TimeElapsedColumn(),
            console=self.console,
            disable=self.quiet,
        )
        with progress:
            bar = progress.add_task("jobs", total=None, state="queued", chunks=0, failed=0)
            while True:
                jobs = poll()
                done = sum(j["progress"]["documents_done"] for j in jobs)
                total = sum(j["progress"]["documents_total"] for j in jobs)
                failed = sum(j["progress"]["failed"] + j["progress"]["dead"] for j in jobs)
                states = {j["state"] for j in jobs}
                state = "running" if "running" in states else next(iter(states)) if len(states) == 1 else "running"
                progress.update(
                    bar,
                    completed=done,
                    total=total,
                    state=state,
                    chunks=sum(j["progress"]["chunks"] for j in jobs),
                    failed=failed,
                )
                if all(j["state"] in self.TERMINAL for j in jobs):
                    return jobs
                time.sleep(self.poll_s)

    @staticmethod
    def summary(console: Console, jobs: list[dict]) -> None:
        for job in jobs:
            p = job["progress"]
            console.print(
                f"job [bold]{job['id']}[/] {job['state']}: {p['documents_total']} files: [green]{p['indexed']} "
                f"indexed[/], {p['unchanged']} unchanged, {p['removed']} removed, [red]{p['failed']} failed, "
                f"{p['dead']} dead-lettered[/]; {p['chunks']} chunks in {job['timings']['elapsed_s']:.1f} s"
            )
            for failure in job["failures"] + job["dead_letter"]:
                console.print(f"  [red]✗[/] {failure['path']}: {failure['reason']} (attempts: {failure['attempts']})")
