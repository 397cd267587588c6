"""Uploads: each file is its own document and outcome; a file that fails leaves the uploads folder; nothing a
hostile upload does reaches outside the data folder or costs a document already indexed.

The review's fifth defect: several files of one name in one request gave one outcome and kept only the last file,
and files that failed (bombs, unsupported, empty) stayed in DATA_DIR/uploads for ever.
"""

from __future__ import annotations

import os
import time

import pytest
from fastapi.testclient import TestClient

from ingest.quarantine import Quarantine
from serve.app import create_app
from serve.documents import DocumentService
from tests.integration.test_bad_input import make_docx, rewrite_part
from tests.reliability.conftest import bearer
from tests.support.queueing import in_process_jobs
from tests.support.stores import key_store


@pytest.fixture
def data(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def admin_app(pipeline, retriever, edge_index, data):
    store = key_store(data)
    keys = {"admin": store.create("root", (), role="admin")[0], "hr": store.create("hana", ("hr",))[0]}
    uploads = data / "uploads"
    jobs = in_process_jobs(pipeline, quarantine=Quarantine(uploads, data / "quarantine", retention_days=7))
    app = create_app(
        retriever=retriever,
        index=edge_index,
        keys=store,
        jobs=jobs,
        max_upload_bytes=4 * 2**20,
        documents=DocumentService(edge_index, uploads, jobs),
    )
    with TestClient(app) as client:
        yield client, keys


def upload(client, key, files, **data):
    return client.post(
        "/v1/documents?wait=120", files=[("files", f) for f in files], data={"acl": "hr", **data}, headers=bearer(key)
    )


def files_under(folder) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


def test_files_of_one_name_are_kept_apart_and_each_has_its_outcome(admin_app, data):
    client, keys = admin_app
    response = upload(
        client,
        keys["admin"],
        [
            ("report.md", b"# Alpha report\n\nThe alpha project shipped in May."),
            ("report.md", b"# Beta report\n\nThe beta project shipped in June."),
            ("REPORT.md", b""),
        ],
    )
    assert response.status_code == 200, response.text
    outcomes = {d["source"].rsplit("/", 1)[-1]: d["status"] for d in response.json()["documents"]}
    assert outcomes == {"report.md": "indexed", "report (2).md": "indexed", "REPORT (3).md": "failed"}
    assert len({d["document_id"] for d in response.json()["documents"]}) == 3
    found = client.post("/v1/search", json={"query": "project shipped"}, headers=bearer(keys["hr"])).json()
    assert {p["title"] for p in found["passages"]} >= {"Alpha report", "Beta report"}


def test_files_that_fail_leave_the_uploads_folder_for_the_quarantine(admin_app, data, tmp_path):
    client, keys = admin_app
    good = make_docx(tmp_path / "good.docx", ["The cafeteria opens at 07:30 on weekdays."] * 3)
    bomb = rewrite_part(good, tmp_path / "bomb.docx", "word/document.xml", b"\0" * (100 * 2**20))
    bad = [
        ("bomb.docx", bomb.read_bytes()),
        ("empty.txt", b""),
        ("photo.jpg", b"\xff\xd8\xff\xe0" + bytes(512)),
        ("corrupt.pdf", b"%PDF-1.7\n1 0 obj <<>> garbage\n%%EOF"),
    ]
    response = upload(client, keys["admin"], [("good.docx", good.read_bytes()), *bad])
    body = response.json()
    assert (body["indexed"], body["failed"]) == (1, 4), body
    assert files_under(data / "uploads") == {"good.docx"}
    job = body["job"]["id"]
    assert files_under(data / "quarantine") == {f"{job}/{name}" for name, _ in bad}


def test_a_failed_replacement_keeps_the_indexed_document(admin_app, data):
    client, keys = admin_app
    assert (
        upload(client, keys["admin"], [("policy.md", b"# Policy\n\nLaptops are replaced every four years.")]).json()[
            "indexed"
        ]
        == 1
    )
    assert upload(client, keys["admin"], [("policy.md", b"")]).json()["failed"] == 1  # an empty new version
    found = client.post("/v1/search", json={"query": "laptops replaced"}, headers=bearer(keys["hr"])).json()
    assert any("four years" in p["text"] for p in found["passages"])  # the indexed version was not lost
    assert "policy.md" not in files_under(data / "uploads")


def test_hostile_names_and_sizes_write_nothing_outside_the_uploads_folder(admin_app, data, tmp_path):
    client, keys = admin_app
    names = ["../../escape.md", "/etc/passwd.md", "..\\..\\win.md", ".hidden.md", "a/b/../../c.md", "nul\x00.md"]
    for name in names:
        response = upload(client, keys["admin"], [(name, b"# Note\n\nA harmless note.")], folder="../../up")
        assert response.status_code in (200, 400), (name, response.text)
    outside = {p for p in tmp_path.rglob("*") if p.is_file() and data not in p.parents}
    assert not outside, outside
    assert all(not part.startswith(".") for f in files_under(data / "uploads") for part in f.split("/"))
    before = client.post("/v1/search", json={"query": "harmless note", "k": 50}, headers=bearer(keys["hr"])).json()
    too_big = upload(client, keys["admin"], [("big.txt", b"x" * (5 * 2**20))])
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "payload_too_large"
    after = client.post("/v1/search", json={"query": "harmless note", "k": 50}, headers=bearer(keys["hr"])).json()
    assert len(after["passages"]) == len(before["passages"]) and "big.txt" not in files_under(data / "uploads")


def test_quarantine_retention(tmp_path):
    uploads, root = tmp_path / "uploads", tmp_path / "quarantine"
    (uploads / "team").mkdir(parents=True)
    (uploads / "team" / "bad.pdf").write_bytes(b"%PDF broken")
    kept = Quarantine(uploads, root, retention_days=7).keep(uploads / "team" / "bad.pdf", "job1")
    assert kept == root / "job1" / "team" / "bad.pdf" and kept.read_bytes() == b"%PDF broken"
    assert Quarantine(uploads, root).keep(tmp_path / "elsewhere.pdf", "job1") is None  # only uploads are moved
    old = time.time() - 8 * 86400
    os.utime(root / "job1", (old, old))
    assert Quarantine(uploads, root, retention_days=7).purge() == 1 and not (root / "job1").exists()
    (uploads / "x.txt").write_text("")
    assert Quarantine(uploads, root, retention_days=0).keep(uploads / "x.txt", "job2") is None
    assert not (uploads / "x.txt").exists() and not (root / "job2").exists()  # 0 days: deleted at once
