"""A parser process that cannot start fails the files it was given, with the reason; nothing is lost or misreported.

The defect: `docent serve`'s composition run from a script without an `if __name__ == "__main__":` guard made
every spawned parser process re-run the script and exit with code 1. The start error escaped the parsing thread
("Exception in thread Thread-1 (run)"), the pipeline heard of no file, and the upload job ended "succeeded" with
documents_done 0 of 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from ingest import sandbox
from ingest.jobs.store import Grant
from ingest.jobs.tasks import TaskPolicy
from ingest.pipeline import IngestPipeline
from ingest.quarantine import Quarantine
from ingest.sandbox import ParseLimits, ParserPool
from tests.support.queueing import in_process_jobs

REASON = "the parser process could not start: it exited with code 1 before it was ready"


def _dies_before_ready(conn, memory_mb):  # the spawned process imports this module and runs it as its target
    raise SystemExit(1)


@pytest.fixture
def parsers_that_cannot_start(monkeypatch):
    monkeypatch.setattr(sandbox, "_worker_main", _dies_before_ready)


@dataclass
class _NoIndex:
    """Nothing is indexed yet, and nothing gets that far: every file fails in its parser."""

    def document_state(self, document_id):
        return None


def _pipeline(parsers: ParserPool) -> IngestPipeline:
    embedder = SimpleNamespace(name="none", batch_size=8)
    return IngestPipeline(
        index=_NoIndex(),  # type: ignore[arg-type]
        embedder=embedder,  # type: ignore[arg-type]
        sparse=SimpleNamespace(),  # type: ignore[arg-type]
        chunker=SimpleNamespace(chunk_tokens=200, overlap_tokens=40),  # type: ignore[arg-type]
        parsers=parsers,
    )


def _files(folder, n):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"note{i}.md"
        path.write_text(f"# Note {i}\n\nSomething worth indexing.\n")
        paths.append(path.resolve())
    return paths


def test_every_file_fails_with_the_reason_when_no_parser_can_start(parsers_that_cannot_start, tmp_path):
    files = _files(tmp_path / "docs", 3)  # more files than workers: the one left over fails too
    pool = ParserPool(ParseLimits(), workers=2)
    pool.start()
    try:
        report = _pipeline(pool).run(files)
    finally:
        pool.close()
    assert sorted(f.path for f in report.failed) == sorted(str(p) for p in files), report
    assert all(f.reason.startswith(REASON) for f in report.failed), report.failed
    assert report.indexed == 0 and not report.ok
    assert all(p.is_file() for p in files)


def test_an_upload_job_whose_parser_cannot_start_fails_and_keeps_the_files(parsers_that_cannot_start, tmp_path):
    uploads, kept = tmp_path / "data" / "uploads", tmp_path / "data" / "quarantine"
    files = _files(uploads / "team", 2)
    pool = ParserPool(ParseLimits())
    pool.start()
    jobs = in_process_jobs(
        _pipeline(pool),
        policy=TaskPolicy(max_attempts=2, backoff_s=0.05),
        quarantine=Quarantine(uploads, kept, retention_days=7),
    )
    try:
        job_id = jobs.submit(files, Grant(public=True), kind="upload").job.job_id
        job = jobs.wait(job_id, 60).to_dict()
    finally:
        jobs.queue.close()
        pool.close()
    assert job["state"] == "failed", job
    assert job["progress"]["documents_done"] == 2 and job["progress"]["dead"] == 2, job
    for dead in job["dead_letter"]:  # retried (the machine may have been busy), then dead-lettered
        assert dead["attempts"] == 2 and dead["reason"].startswith(REASON), dead
        target = kept / job_id / "team" / dead["path"].rsplit("/", 1)[-1]
        assert f"moved to {target}" in dead["reason"], dead
        assert target.is_file()  # not deleted: kept apart, and the job says where
