"""`docent reindex`: a new version is built from the documents' sources while the current one serves, the switch
is atomic and can be undone, a killed run resumes. Real parsers, models and Qdrant Edge; the kill is a real
SIGKILL of the `docent reindex` process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import retrieval.edge_index as edge_module
from ingest.reindex import EdgeVersions, ReindexState, plan_target, reindex
from retrieval.access import ALL_ACCESS
from retrieval.edge_index import EdgeIndex
from retrieval.search import Retriever, SearchRequest
from retrieval.sparse import SparseEncoder
from tests.conftest import REPO

QUESTION = "Which port does the VPN gateway listen on?"


def pipeline_into(index, pipeline):
    """The fixture's pipeline (models, parsers, chunker), writing to `index`."""
    from ingest.pipeline import IngestPipeline

    return IngestPipeline(
        index=index,
        embedder=pipeline.embedder,
        sparse=pipeline.sparse,
        chunker=pipeline.chunker,
        parsers=pipeline.parsers,
        multilingual_embedder=pipeline.multilingual_embedder,
    )


def test_searches_keep_answering_through_a_reindex_and_its_switches(
    pipeline, edge_index, sample_corpus, embedder, multilingual_embedder, tmp_path, monkeypatch
):
    monkeypatch.setattr(edge_module, "RETIRE_AFTER_S", 1.0)  # the old version is released a second after a switch
    assert pipeline.run([sample_corpus], public=True).ok
    documents = sum(1 for _ in edge_index.documents())
    edge_index.close()  # the serving process below owns version 1 now
    data = tmp_path / "data"
    serving = EdgeIndex(data, edge_index.spec, follow=True)
    serving.start()
    retriever = Retriever(serving, embedder, SparseEncoder(), multilingual_embedder=multilingual_embedder)

    stop, errors, empty, searches = threading.Event(), [], [], [0]

    def search_throughout() -> None:
        while not stop.is_set():
            try:
                passages = retriever.search(SearchRequest(QUESTION, ALL_ACCESS, k=3)).passages
            except Exception as exc:
                errors.append(repr(exc))
                continue
            searches[0] += 1
            if not passages or "vpn" not in passages[0].source:
                empty.append(serving.version)

    searcher = threading.Thread(target=search_throughout)
    searcher.start()
    try:
        versions = EdgeVersions(data, "docent")
        state = ReindexState(data / "reindex-docent.json")
        source, target, resumed = plan_target(versions, state)
        assert (source, target, resumed) == ("docent", "docent-v2", False)
        target_index = EdgeIndex(data, edge_index.spec, version=target)
        target_index.start()
        report = reindex(
            lambda: list(serving.grants()), pipeline_into(target_index, pipeline), versions, state, source, target
        )
        assert report.switched and report.documents_after == report.documents_before == documents, report
        assert report.indexed == documents and not report.failed and not report.missing
        assert _wait(lambda: serving.version == "docent-v2"), serving.version
        during_build = searches[0]

        # A source that disappeared: the next version would hold fewer documents, so it is not switched to.
        (sample_corpus / "vpn-setup.md").rename(tmp_path / "vpn-setup.md")
        source, target, _ = plan_target(versions, state)
        assert (source, target) == ("docent-v2", "docent-v3")
        third = EdgeIndex(data, edge_index.spec, version=target)
        third.start()
        refused = reindex(
            lambda: list(serving.grants()), pipeline_into(third, pipeline), versions, state, source, target
        )
        assert (
            not refused.switched
            and "--force" in refused.refused
            and refused.missing == [str((sample_corpus / "vpn-setup.md").resolve())]
        )
        assert versions.current() == "docent-v2" and state.load()["target"] == "docent-v3"
        versions.drop("docent-v3")
        state.clear()

        # Switch back to version 1, then drop version 2 once the serving index has let it go.
        versions.switch("docent")
        assert _wait(lambda: serving.version == "docent")
        time.sleep(0.3)
    finally:
        stop.set()
        searcher.join()
    assert errors == [] and empty == [], (errors[:3], empty[:3])
    assert during_build > 5 and searches[0] > during_build
    assert _wait(lambda: _dropped(versions, "docent-v2", serving), timeout=10)
    assert versions.names() == ["docent"]
    serving.close()


def _dropped(versions: EdgeVersions, version: str, serving: EdgeIndex) -> bool:
    from retrieval.errors import IndexLockedError

    serving.count()  # a serving index lets a replaced version go on its next call after the grace period
    try:
        versions.drop(version)
        return True
    except IndexLockedError:
        return False


def _wait(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def docent(data: Path, *args: str, **kwargs) -> subprocess.Popen:
    env = {
        **os.environ,
        "DOCENT_DATA_DIR": str(data),
        "DOCENT_LOG_LEVEL": "INFO",
        "DOCENT_INGEST__BATCH_CHUNKS": "8",
        "HF_HUB_OFFLINE": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "serve.cli", *args],
        cwd=REPO,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,
    )


@pytest.mark.slow
def test_a_killed_reindex_resumes_where_it_stopped(tmp_path, sample_corpus):
    data = tmp_path / "data"
    ingest = docent(data, "ingest", str(sample_corpus), "--public", "--json")
    out, err = ingest.communicate(timeout=600)
    assert ingest.returncode == 0, err[-2000:]
    documents = json.loads(out)["indexed"]

    first = docent(data, "reindex", "--json")
    written = 0
    assert first.stderr is not None
    for line in first.stderr:  # the pipeline logs each document it writes
        written += " indexed source=" in line
        if written == 5:
            first.send_signal(signal.SIGKILL)
            break
    first.wait(timeout=60)
    assert written == 5 and first.returncode == -signal.SIGKILL
    assert EdgeVersions(data, "docent").current() == "docent"  # nothing switched

    second = docent(data, "reindex", "--json")
    out, err = second.communicate(timeout=600)
    assert second.returncode == 0, err[-2000:]
    report = json.loads(out)
    assert report["resumed"] and report["target"] == "docent-v2" and report["switched"], report
    assert report["unchanged"] >= 5 and report["indexed"] + report["unchanged"] == documents, report
    assert report["documents_after"] == documents
    status = docent(data, "reindex", "--status", "--json")
    out, _ = status.communicate(timeout=60)
    assert json.loads(out) == {
        "collection": "docent",
        "current": "docent-v2",
        "versions": ["docent", "docent-v2"],
        "in_progress": None,
    }
    back = docent(data, "reindex", "--switch-to", "docent", "--json")
    assert back.wait(timeout=60) == 0
    # each run is in the audit trail, as the OS user from the command line; the killed one never finished
    export = docent(data, "audit", "export", "--format", "jsonl")
    out, err = export.communicate(timeout=60)
    assert export.returncode == 0, err[-2000:]
    reindexed = [json.loads(line) for line in out.splitlines() if json.loads(line)["action"] == "reindex"]
    assert [(e["query"], e["status"], e["channel"]) for e in reindexed] == [
        ("docent: reindex docent -> docent-v2", 200, "cli"),
        ("docent: switch-to docent", 200, "cli"),
    ], reindexed
    assert reindexed[0]["detail"]["indexed"] == report["indexed"] and reindexed[0]["user_id"]
    search = docent(data, "search", QUESTION, "--json")
    out, err = search.communicate(timeout=300)
    assert search.returncode == 0, err[-2000:]
    assert "vpn-setup.md" in out
