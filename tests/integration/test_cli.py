"""The `docent` command as a user runs it: separate processes, real files, a real embedded index."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import qdrant_edge as qe

from retrieval.edge_index import EdgeIndex
from retrieval.embedding import PACKAGED_MODEL
from retrieval.errors import IndexLockedError
from retrieval.models import IndexSpec
from tests.conftest import SAMPLE_DOCS


def docent_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCENT_")}
    env.update({"DOCENT_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}, **extra)
    return env


def docent(*args: str, data_dir: Path, timeout: float = 300, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "serve.cli", *args],
        env=docent_env(data_dir, **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def stored(data_dir: Path) -> set[tuple]:
    """Every point in an embedded index as (document, chunk, revision, text)."""
    shard = qe.EdgeShard.load(str(data_dir / "qdrant-edge" / "docent"))
    try:
        points, offset = set(), None
        while True:
            records, offset = shard.scroll(qe.ScrollRequest(offset=offset, limit=500, with_payload=True))
            for r in records:
                p = r.payload
                points.add((p["document_id"], p["chunk"], p["revision"], p["text"]))
            if offset is None:
                return points
    finally:
        shard.close()


def test_ingest_then_search_as_json(tmp_path):
    corpus = tmp_path / "docs"
    shutil.copytree(SAMPLE_DOCS, corpus)
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    result = docent("ingest", str(corpus), "--json", data_dir=tmp_path / "data")
    assert result.returncode == 1, result.stderr  # one document failed, the rest were indexed
    report = json.loads(result.stdout)
    assert report["indexed"] == 20 and report["unchanged"] == 0 and report["removed"] == 0
    assert report["chunks"] == report["embedded"] > 100
    assert [f["path"] for f in report["failed"]] == [str((corpus / "broken.pdf").resolve())]
    assert report["failed"][0]["reason"].startswith("cannot parse pdf")

    result = docent("search", "年假最多可以结转几天？", "--k", "3", "--json", data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    assert len(hits) == 3 and all({"source", "score", "text", "page", "headings"} <= set(h) for h in hits)
    assert hits[0]["score"] >= hits[-1]["score"]

    result = docent("search", "Which port does the VPN gateway listen on?", data_dir=tmp_path / "data")
    assert result.returncode == 0 and "vpn-setup.md" in result.stdout


def test_ingest_refuses_an_index_held_by_another_process(tmp_path):
    holder = EdgeIndex(tmp_path / "data", IndexSpec("docent", PACKAGED_MODEL, 384))
    holder.start()
    try:
        started = time.perf_counter()
        result = docent("ingest", str(SAMPLE_DOCS / "vpn-setup.md"), data_dir=tmp_path / "data")
    finally:
        holder.close()
    assert result.returncode == 2
    assert "index_locked" in result.stderr and f"pid {os.getpid()}" in result.stderr
    assert time.perf_counter() - started < 120


def test_sync_reindexes_only_what_changed_and_removes_deleted_files(tmp_path):
    share = tmp_path / "share"
    share.mkdir()
    for name in ("vpn-setup.md", "oncall-runbook.md", "it-faq.html"):
        shutil.copy(SAMPLE_DOCS / name, share / name)
    first = docent("sync", str(share), "--public", "--json", data_dir=tmp_path / "data")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["indexed"] == 3

    (share / "it-faq.html").unlink()
    (share / "vpn-setup.md").write_text("# VPN\n\nThe VPN gateway now listens on port 8443.\n")
    (share / "new.md").write_text("# Parking\n\nVisitors park on level -2.\n")
    second = docent("sync", str(share), "--public", "--json", data_dir=tmp_path / "data")
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    assert (report["indexed"], report["unchanged"], report["removed"]) == (2, 1, 1)
    assert report["embedded"] < json.loads(first.stdout)["embedded"]  # the unchanged runbook was not embedded
    sources = {point[0] for point in stored(tmp_path / "data")}
    assert len(sources) == 3  # vpn-setup, oncall-runbook, new: the deleted page left no point behind


def test_missing_path_is_a_clear_error(tmp_path):
    result = docent("ingest", str(tmp_path / "nowhere"), data_dir=tmp_path / "data")
    assert result.returncode == 2 and "path_not_found" in result.stderr


def test_killed_run_then_rerun_equals_an_uninterrupted_run(tmp_path):
    corpus = tmp_path / "docs"
    shutil.copytree(SAMPLE_DOCS, corpus)
    killed_dir, clean_dir = tmp_path / "killed", tmp_path / "clean"
    # Write document by document and log each one, so the test can kill the run in the middle.
    env = docent_env(killed_dir, DOCENT_INGEST__BATCH_CHUNKS="1", DOCENT_LOG_LEVEL="INFO")
    process = subprocess.Popen(
        [sys.executable, "-m", "serve.cli", "ingest", str(corpus), "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    indexed = 0
    for line in process.stderr:
        indexed += " indexed source=" in line
        if indexed == 5:
            break
    assert indexed == 5 and process.poll() is None, "the run finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    partial = stored(killed_dir)
    assert 0 < len({p[0] for p in partial}) < 20

    rerun = docent("ingest", str(corpus), "--json", data_dir=killed_dir)
    clean = docent("ingest", str(corpus), "--json", data_dir=clean_dir)
    assert rerun.returncode == clean.returncode == 0, rerun.stderr + clean.stderr
    assert json.loads(rerun.stdout)["unchanged"] > 0
    after, expected = stored(killed_dir), stored(clean_dir)
    assert after == expected
    assert len(after) == json.loads(clean.stdout)["chunks"]  # no duplicates, no orphans


def test_a_qdrant_server_that_is_down_fails_fast_with_a_named_error(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.perf_counter()
    result = docent(
        "ingest",
        str(SAMPLE_DOCS / "vpn-setup.md"),
        data_dir=tmp_path / "data",
        DOCENT_QDRANT__URL=f"http://127.0.0.1:{port}",
        DOCENT_QDRANT__TIMEOUT_S="2",
    )
    assert result.returncode == 2 and "index_unavailable" in result.stderr, result.stderr
    assert time.perf_counter() - started < 120
    assert not (tmp_path / "data").exists()  # nothing was written locally instead


def write_beir(folder: Path) -> None:
    """A three-document BEIR data set with a hand-made qrels file (a header, a grade 2, a grade 0)."""
    (folder / "qrels").mkdir(parents=True)
    corpus = [
        {"_id": "d1", "title": "Parking", "text": "Staff park in the underground garage on level B2."},
        {"_id": "d2", "title": "Remote access", "text": "The VPN gateway listens on port 51820."},
        {"_id": "d3", "title": "年假", "text": "入职满一年的员工每年享有十五天带薪年假。"},
    ]
    queries = [
        {"_id": "q1", "text": "Which port does the VPN use?"},
        {"_id": "q2", "text": "员工有几天年假？"},
        {"_id": "q3", "text": "unlabelled question"},
    ]
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in corpus))
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in queries))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td2\t2\nq2\td3\t1\nq2\td1\t0\n")


def test_eval_reports_every_mode_and_reuses_its_index(tmp_path):
    write_beir(tmp_path / "toy")
    result = docent(
        "eval", str(tmp_path / "toy"), "--modes", "dense,sparse,hybrid", "--json", data_dir=tmp_path / "data"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["dataset"] == "toy" and report["queries"] == 2  # q3 has no labels
    assert [r["mode"] for r in report["results"]] == ["dense", "sparse", "hybrid"]
    for row in report["results"]:
        assert set(row) == {"mode", "ndcg@10", "recall@5", "recall@10", "recall@100", "mrr@10", "latency_ms"}
        assert row["latency_ms"]["p50"] <= row["latency_ms"]["p95"]
    hybrid = report["results"][2]
    assert hybrid["ndcg@10"] == hybrid["mrr@10"] == hybrid["recall@5"] == 1.0  # both answers ranked first

    table = docent("eval", str(tmp_path / "toy"), "--modes", "hybrid", data_dir=tmp_path / "data")
    assert table.returncode == 0, table.stderr
    assert "0 documents indexed" in table.stderr and "3 unchanged" in table.stderr  # the index was reused
    assert "hybrid" in table.stdout and "nDCG@10" in table.stdout


def test_eval_on_a_folder_with_a_golden_file_and_a_missing_reranker(tmp_path):
    golden = tmp_path / "golden.json"
    golden.write_text(json.dumps([{"question": "Which port does the VPN gateway listen on?", "file": "vpn-setup.md"}]))
    result = docent(
        "eval",
        str(SAMPLE_DOCS),
        "--queries",
        str(golden),
        "--modes",
        "hybrid",
        "--k",
        "5",
        "--json",
        data_dir=tmp_path / "data",
    )
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)["results"][0]
    assert row["mrr@5"] == 1.0 and row["recall@5"] == 1.0
    result = docent("eval", str(SAMPLE_DOCS), "--queries", str(golden), "--modes", "rerank", data_dir=tmp_path / "data")
    assert result.returncode == 2 and "DOCENT_RETRIEVAL__RERANK_MODEL" in result.stderr


def test_search_as_a_principal_with_filters(tmp_path):
    data = tmp_path / "data"
    hr, it = tmp_path / "corp" / "hr", tmp_path / "corp" / "it"
    shutil.copytree(SAMPLE_DOCS, hr, ignore=shutil.ignore_patterns("vpn-*", "*.pdf"))
    it.mkdir()
    shutil.copy(SAMPLE_DOCS / "vpn-setup.md", it)
    assert docent("ingest", str(hr), "--acl", "group:hr", "--tag", "policy", data_dir=data).returncode == 0
    assert docent("ingest", str(it), "--public", data_dir=data).returncode == 0

    def sources(*args: str) -> list[str]:
        result = docent("search", "VPN gateway port leave policy", "--k", "20", "--json", *args, data_dir=data)
        assert result.returncode == 0, result.stderr
        return [Path(p["source"]).parent.name for p in json.loads(result.stdout)]

    assert set(sources()) == {"hr", "it"}  # the operator sees everything
    assert set(sources("--user", "ann")) == {"it"}  # no groups: public documents only
    assert set(sources("--user", "hal", "--group", "group:hr")) == {"hr", "it"}
    assert set(sources("--user", "hal", "--group", "group:hr", "--prefix", str(hr))) == {"hr"}
    assert set(sources("--user", "ann", "--prefix", str(hr))) == set()  # a filter never widens access
    assert set(sources("--tag", "policy")) == {"hr"}
    assert set(sources("--type", "md", "--prefix", str(it))) == {"it"}
    assert sources("--after", "2999-01-01") == []


def test_ask_answers_with_sources_as_the_asking_principal(tmp_path):
    data = tmp_path / "data"
    hr, it = tmp_path / "corp" / "hr", tmp_path / "corp" / "it"
    hr.mkdir(parents=True)
    it.mkdir()
    shutil.copy(SAMPLE_DOCS / "remote-work-policy.docx", hr)
    shutil.copy(SAMPLE_DOCS / "vpn-setup.md", it)
    assert docent("ingest", str(hr), "--acl", "group:hr", data_dir=data).returncode == 0
    assert docent("ingest", str(it), "--public", data_dir=data).returncode == 0
    question = "How much is the one-time home office stipend?"

    # The default generator: the packaged local model, streamed to stdout, then the sources.
    shown = docent("ask", question, data_dir=data)
    assert shown.returncode == 0, shown.stderr
    # the model's answer, or the quotes that replace it when it fails the checks (the ladder's last rung)
    assert "remote-work-policy.docx" in shown.stdout and (
        "written by SmolLM2" in shown.stdout
        or "quoted from the documents (no model)" in shown.stdout
        or "not found in the documents" in shown.stdout
    )

    quoted = docent("ask", question, "--extractive", "--json", data_dir=data)
    answer = json.loads(quoted.stdout)
    assert answer["mode"] == "extractive" and "stipend" in answer["text"].lower()
    assert {Path(c["source"]).name for c in answer["citations"]} == {"remote-work-policy.docx"}

    outsider = json.loads(docent("ask", question, "--extractive", "--json", "--user", "ann", data_dir=data).stdout)
    assert all(Path(c["source"]).name != "remote-work-policy.docx" for c in outsider["citations"])
    assert outsider["mode"] == "not_found" or "stipend" not in outsider["text"].lower()


def test_an_uncaught_error_exits_3_with_one_line_and_the_traceback_only_under_debug(tmp_path):
    not_a_folder = tmp_path / "data"
    not_a_folder.write_text("a file where the data folder should be")
    result = docent("keys", "create", "--user", "ann", data_dir=not_a_folder, timeout=60)
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("docent: internal error (FileExistsError")
    assert "Traceback" not in result.stderr

    debug = docent("keys", "create", "--user", "ann", data_dir=not_a_folder, timeout=60, DOCENT_LOG_LEVEL="DEBUG")
    assert debug.returncode == 3 and "Traceback (most recent call last)" in debug.stderr


def complete(line: str, tmp_path: Path) -> list[str]:
    """What the shell would offer after `line`, through argcomplete's protocol (as `register-python-argcomplete
    docent` sets it up: the command runs with _ARGCOMPLETE set and writes the words instead of running)."""
    out = tmp_path / "completions"
    env = docent_env(
        tmp_path / "data",
        _ARGCOMPLETE="1",
        _ARGCOMPLETE_SHELL="bash",
        COMP_LINE=line,
        COMP_POINT=str(len(line)),
        COMP_TYPE="9",
        _ARGCOMPLETE_IFS="\n",
        _ARGCOMPLETE_STDOUT_FILENAME=str(out),
    )
    done = subprocess.run([sys.executable, "-m", "serve.cli"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return out.read_text().split("\n")


def test_shell_completion_offers_commands_options_and_choices(tmp_path):
    assert {"ingest", "search", "ask", "reindex", "serve"} <= set(complete("docent ", tmp_path))
    assert {"--mode", "--neighbours"} <= set(complete("docent search --", tmp_path))
    assert set(complete("docent search q --mode ", tmp_path)) == {"dense", "sparse", "hybrid", "rerank"}
    assert complete("docent keys c", tmp_path) == ["create "]


def reopen(data_dir: Path) -> None:
    """Open the embedded index as another owner would: IndexLockedError while a process still holds it."""
    index = EdgeIndex(data_dir, IndexSpec("docent", PACKAGED_MODEL, 384), check_spec=False)
    index.start()
    index.close()


def test_a_command_closes_what_it_opened_even_when_it_fails(tmp_path):
    from serve.composition import command
    from serve.settings import Settings

    settings = Settings(_env_file=None, data_dir=tmp_path / "data", answer={"mode": "extractive"})
    with pytest.raises(RuntimeError), command(settings) as process:
        process.retriever(rerank=False)
        feedback = process.feedback()
        reopen_failed = None
        try:
            reopen(tmp_path / "data")
        except IndexLockedError as exc:
            reopen_failed = exc
        raise RuntimeError("the command failed half-way")
    assert reopen_failed is not None  # held while the command ran,
    reopen(tmp_path / "data")  # released after it failed
    with pytest.raises(RuntimeError, match="closed"):
        feedback.votes()


def test_the_api_server_process_closes_its_index_and_jobs(tmp_path):
    from fastapi.testclient import TestClient

    from serve.composition import api_server
    from serve.settings import Settings

    settings = Settings(_env_file=None, data_dir=tmp_path / "data", answer={"mode": "extractive"})
    with api_server(settings) as server:
        assert server.model == "none (extractive answers)"
        assert TestClient(server.app).get("/healthz").status_code == 200
    reopen(tmp_path / "data")


def test_a_restarted_server_resumes_the_jobs_a_stopped_one_left(tmp_path):
    """No Redis: the jobs are rows in the data folder's database. A server that stopped with one task still queued
    and another running (its lease runs out: the process died) leaves both to the next one, which runs them."""
    from fastapi.testclient import TestClient

    from ingest.jobs.store import Grant, Job, TaskRecord, TaskState
    from serve.composition import api_server
    from serve.settings import Settings
    from serve.stores.jobs import DatabaseJobStore
    from serve.stores.keys import KeyStore
    from tests.support.stores import database

    folder = tmp_path / "share"
    folder.mkdir()
    files = []
    for name, text in [("vpn.md", "The VPN gateway listens on TCP port 8443."), ("leave.md", "Carry over 5 days.")]:
        (folder / name).write_text(f"# {name}\n\n{text}\n")
        files.append(str(folder / name))
    data = tmp_path / "data"
    db = database(data)
    admin = KeyStore(db).create("root", (), role="admin")[0]
    store = DatabaseJobStore(db)
    store.create(
        Job("left0000behind00", "ingest", Grant(public=True), total_files=2, tasks=2, label=str(folder)),
        [TaskRecord("left0000behind00", 0, files[:1]), TaskRecord("left0000behind00", 1, files[1:])],
    )
    running = store.task("left0000behind00", 1)
    running.state, running.worker, running.attempts = TaskState.RUNNING, "gone:1", 1
    store.save_task(running)
    assert store.lease("left0000behind00", 1, "gone:1", ttl_s=0.5)
    db.close()

    settings = Settings(
        _env_file=None, data_dir=data, answer={"mode": "extractive"}, queue={"lease_s": 1.0, "heartbeat_s": 0.2}
    )
    with api_server(settings) as server:
        client = TestClient(server.app)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job = client.get("/v1/jobs/left0000behind00", headers={"Authorization": f"Bearer {admin}"}).json()
            if job["state"] not in ("queued", "running"):
                break
            time.sleep(0.5)
        assert job["state"] == "succeeded", job
        assert job["progress"]["indexed"] == 2, job
        found = client.post(
            "/v1/search", json={"query": "VPN gateway port"}, headers={"Authorization": f"Bearer {admin}"}
        )
        assert any("8443" in passage["text"] for passage in found.json()["passages"]), found.text


def test_an_upload_to_the_server_is_indexed_and_in_the_audit_trail(tmp_path):
    """The whole server as `docent serve` builds it: an upload is a job on the in-process queue, recorded as who
    uploaded what, with the documents it made."""
    from fastapi.testclient import TestClient

    from serve.composition import api_server
    from serve.settings import Settings
    from serve.stores.keys import KeyStore
    from tests.support.stores import database

    data = tmp_path / "data"
    db = database(data)
    admin = {"Authorization": f"Bearer {KeyStore(db).create('root', (), role='admin')[0]}"}
    db.close()
    settings = Settings(_env_file=None, data_dir=data, answer={"mode": "extractive"})
    with api_server(settings) as server:
        client = TestClient(server.app)
        uploaded = client.post(
            "/v1/documents",
            params={"wait": 120},
            files=[("files", ("vpn.md", b"# VPN\n\nThe VPN gateway listens on TCP port 8443.\n", "text/markdown"))],
            data={"acl": "group:it", "tags": "network", "folder": "it"},
            headers=admin,
        )
        assert uploaded.status_code == 200, uploaded.text
        body = uploaded.json()
        assert body["job"]["state"] == "succeeded", body
        (document,) = body["documents"]
        deadline = time.monotonic() + 10  # the audit trail is written in the background
        while time.monotonic() < deadline:
            events = client.get("/v1/audit", params={"action": "upload"}, headers=admin).json()["events"]
            if events:
                break
            time.sleep(0.1)
        (event,) = events
        assert (event["user_id"], event["query"], event["status"]) == ("root", "it", 200)
        assert event["detail"]["job"] == body["job"]["id"] and event["detail"]["acl"] == ["group:it"]
        assert event["documents"] == [{"doc_id": document["document_id"], "title": "vpn.md"}]
