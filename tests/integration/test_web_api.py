"""The API the web page uses (issue 18): who am I, original files behind the ACL, votes on answers, security
headers. The real app, embedding models and Qdrant Edge index; answers are extractive (no model needed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from answer.answerer import Answerer, AnswerOptions
from serve.api.security import STRICT_CSP
from serve.app import create_app
from serve.documents import DocumentService
from serve.stores.ingested_roots import IngestedRoots
from tests.conftest import SAMPLE_DOCS
from tests.support.stores import feedback_store, team_keys

HANDBOOK = "员工手册.docx"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def files(pipeline, tmp_path):
    """HR files (a PDF, an HTML page, a Chinese-named .docx) and a public page under a served root; an HR file
    ingested from a folder the server does not serve; an uploads folder."""
    served, elsewhere = tmp_path / "served", tmp_path / "elsewhere"
    hr, public = served / "hr", served / "public"
    for folder, names in (
        (hr, ["travel-policy.pdf", "it-faq.html", HANDBOOK, "vpn-setup.md"]),
        (public, ["password-reset-zh.html"]),
        (elsewhere, ["oncall-runbook.md"]),
    ):
        folder.mkdir(parents=True)
        for name in names:
            shutil.copy(SAMPLE_DOCS / name, folder)
    assert pipeline.run([hr], acl=["group:hr"]).ok
    assert pipeline.run([public], public=True).ok
    assert pipeline.run([elsewhere], acl=["group:hr"]).ok
    ids = {Path(source).name: doc for doc, source in pipeline.index.documents()}
    recorded = IngestedRoots(tmp_path / "ingested_roots.json")
    return {"served": served, "elsewhere": elsewhere, "uploads": tmp_path / "uploads", "ids": ids, "recorded": recorded}


@pytest.fixture
def keys(tmp_path):
    return team_keys(tmp_path)


def make_app(files, keys, retriever, edge_index, tmp_path, *, anonymous: bool = False):
    files["uploads"].mkdir(exist_ok=True)
    return create_app(
        retriever=retriever,
        index=edge_index,
        keys=keys["store"],
        answerer=Answerer(retriever, None, AnswerOptions()),
        documents=DocumentService(
            edge_index, files["uploads"], None, file_roots=(files["served"],), ingested_roots=files["recorded"]
        ),
        feedback=feedback_store(tmp_path),
        anonymous=anonymous,
    )


@pytest.fixture
def client(files, keys, retriever, edge_index, tmp_path):
    with TestClient(make_app(files, keys, retriever, edge_index, tmp_path)) as c:
        yield c


@pytest.fixture
def anonymous_client(files, keys, retriever, edge_index, tmp_path):
    with TestClient(make_app(files, keys, retriever, edge_index, tmp_path, anonymous=True)) as c:
        yield c


def test_me_says_who_the_key_is(client, keys):
    assert client.get("/v1/me", headers=bearer(keys["hr"])).json() == {
        "user": "hana",
        "groups": ["hr"],
        "admin": False,
        "role": "read",
        "anonymous": False,
    }
    assert client.get("/v1/me", headers=bearer(keys["admin"])).json()["admin"] is True
    for headers in ({}, bearer("dk_not-a-real-key")):
        refused = client.get("/v1/me", headers=headers)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"


def test_me_without_a_key_in_anonymous_mode(anonymous_client):
    me = anonymous_client.get("/v1/me").json()
    assert me == {"user": "anonymous", "groups": [], "admin": False, "role": "read", "anonymous": True}


def file_of(client, files, name: str, key: str | None):
    return client.get(f"/v1/documents/{files['ids'][name]}/file", headers=bearer(key) if key else {})


def test_a_reader_gets_the_original_file_with_its_type_and_disposition(client, files, keys):
    pdf = file_of(client, files, "travel-policy.pdf", keys["hr"])
    assert pdf.status_code == 200, pdf.text
    assert pdf.content == (SAMPLE_DOCS / "travel-policy.pdf").read_bytes()
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == 'inline; filename="travel-policy.pdf"'
    assert pdf.headers["content-security-policy"] == "sandbox"
    assert pdf.headers["x-content-type-options"] == "nosniff"

    page = file_of(client, files, "it-faq.html", keys["hr"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-disposition"].startswith("attachment;")  # never rendered on our origin
    assert page.headers["content-security-policy"] == "sandbox"

    handbook = file_of(client, files, HANDBOOK, keys["hr"])
    assert handbook.status_code == 200 and handbook.content == (SAMPLE_DOCS / HANDBOOK).read_bytes()
    assert handbook.headers["content-disposition"] == f"attachment; filename*=utf-8''{quote(HANDBOOK)}"
    assert handbook.headers["content-type"].startswith("application/vnd.openxmlformats")


def test_another_groups_document_is_the_same_404_as_a_missing_one(client, files, keys):
    guessed = file_of(client, files, "travel-policy.pdf", keys["it"])
    random_id = client.get("/v1/documents/00000000-0000-0000-0000-000000000000/file", headers=bearer(keys["it"]))
    assert guessed.status_code == random_id.status_code == 404
    assert guessed.json()["error"] == random_id.json()["error"]
    assert guessed.headers.keys() == random_id.headers.keys()
    assert file_of(client, files, "travel-policy.pdf", None).status_code == 401


def test_anonymous_callers_get_public_files_only_and_may_vote(anonymous_client, files):
    assert file_of(anonymous_client, files, "password-reset-zh.html", None).status_code == 200
    assert file_of(anonymous_client, files, "travel-policy.pdf", None).status_code == 404
    asked = anonymous_client.post("/v1/ask", json={"question": "How do I reset my password?"})
    vote = {"answer_id": asked.json()["request_id"], "vote": "up"}
    assert anonymous_client.post("/v1/feedback", json=vote).status_code == 201


def test_files_outside_the_served_folders_are_not_sent(client, files, keys):
    # Indexed from a folder the server was not told to serve: searchable, not downloadable.
    outside = file_of(client, files, "oncall-runbook.md", keys["hr"])
    assert outside.status_code == 404 and "DOCENT_API__FILE_ROOTS" in outside.json()["error"]["message"]
    # ... until `docent ingest` records the folder it was given (read at each request).
    files["recorded"].add([files["elsewhere"]])
    assert file_of(client, files, "oncall-runbook.md", keys["hr"]).status_code == 200
    # A served document's file replaced by a link out of the served folders (to the server's own files).
    faq = files["served"] / "hr" / "it-faq.html"
    faq.unlink()
    faq.symlink_to("/etc/passwd")
    assert file_of(client, files, "it-faq.html", keys["hr"]).status_code == 404
    # A link in the uploads folder to a file elsewhere does not make that file servable either.
    vpn = files["served"] / "hr" / "vpn-setup.md"
    moved = files["uploads"].parent / "vpn-setup.md"
    vpn.rename(moved)
    vpn.symlink_to(moved)
    assert file_of(client, files, "vpn-setup.md", keys["hr"]).status_code == 404


def test_a_file_gone_from_disk_is_404_with_a_clear_message(client, files, keys):
    (files["served"] / "hr" / "travel-policy.pdf").unlink()
    gone = file_of(client, files, "travel-policy.pdf", keys["hr"])
    assert gone.status_code == 404
    assert gone.json()["error"]["message"] == "the document's file is no longer available"


QUESTION = "What does the travel policy say about booking flights?"


def test_a_vote_on_an_answer_is_stored_with_its_context(client, keys):
    asked = client.post("/v1/ask", json={"question": QUESTION}, headers=bearer(keys["hr"]))
    assert asked.status_code == 200, asked.text
    answer_id = asked.json()["request_id"]

    vote = {"answer_id": answer_id, "vote": "down", "comment": "Missing the per-diem rates."}
    assert client.post("/v1/feedback", json=vote, headers=bearer(keys["it"])).status_code == 404  # not theirs
    recorded = client.post("/v1/feedback", json=vote, headers=bearer(keys["hr"]))
    assert recorded.status_code == 201 and recorded.json() == {"recorded": True}

    stored = client.get("/v1/feedback", headers=bearer(keys["admin"])).json()["feedback"]
    assert len(stored) == 1
    item = stored[0]
    assert item["answer_id"] == answer_id and item["channel"] == "web" and item["vote"] == "down"
    assert item["comment"] == "Missing the per-diem rates." and item["question"] == QUESTION
    assert item["answer"] == asked.json()["text"] and item["mode"] == asked.json()["mode"]
    assert item["user"] == item["asked_by"] != ""
    assert [s["document_id"] for s in item["sources"]] == [c["document_id"] for c in asked.json()["citations"]]


def test_votes_on_unknown_answers_and_bad_votes_are_refused(client, keys):
    unknown = client.post("/v1/feedback", json={"answer_id": "nope", "vote": "up"}, headers=bearer(keys["hr"]))
    assert unknown.status_code == 404 and unknown.json()["error"]["message"].startswith("no such answer")
    for body in (
        {"answer_id": "x", "vote": "sideways"},
        {"answer_id": "x"},
        {"answer_id": "x", "vote": "up", "comment": "x" * 2001},
    ):
        assert client.post("/v1/feedback", json=body, headers=bearer(keys["hr"])).status_code == 422


def sse_events(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_a_streamed_answer_can_be_voted_on_and_has_the_security_headers(client, keys):
    with client.stream(
        "POST", "/v1/ask", json={"question": QUESTION, "stream": True}, headers=bearer(keys["hr"])
    ) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["content-security-policy"] == STRICT_CSP
        assert stream.headers["x-frame-options"] == "DENY"
        text = "".join(stream.iter_text())
    events = sse_events(text)
    citations = next(data for name, data in events if name == "citations")["citations"]
    assert citations and {"doc_type", "modified"} <= set(citations[0])
    done = next(data for name, data in events if name == "done")
    vote = {"answer_id": done["request_id"], "vote": "up"}
    assert client.post("/v1/feedback", json=vote, headers=bearer(keys["hr"])).status_code == 201


def test_every_response_has_the_security_headers(client, keys):
    for response in (
        client.get("/"),
        client.post("/v1/search", json={"query": "travel"}, headers=bearer(keys["hr"])),
        client.post("/v1/search", json={"query": "travel"}),  # an error too
    ):
        assert response.headers["content-security-policy"] == STRICT_CSP
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["x-frame-options"] == "DENY"


def test_passages_and_citations_carry_type_and_modification_time(client, keys):
    passages = client.post("/v1/search", json={"query": "travel policy flights"}, headers=bearer(keys["hr"])).json()
    top = passages["passages"][0]
    assert top["doc_type"] and top["modified"].startswith("20")
    answer = client.post("/v1/ask", json={"question": QUESTION}, headers=bearer(keys["hr"])).json()
    assert all(c["doc_type"] and c["modified"] for c in answer["citations"])


def test_docent_eval_feedback_shows_the_channel_and_the_comment(tmp_path, capsys):
    from argparse import Namespace

    from serve.evaluate import run_feedback
    from serve.settings import Settings

    store = feedback_store(tmp_path)
    store.record_answer("a1", question="q?", answer="a.", mode="extractive", sources=[], user="k1", channel="web")
    store.vote("a1", user="k1", vote="down", comment="out of date")
    store.close()
    settings = Settings(_env_file=None, data_dir=tmp_path)
    assert run_feedback(settings, Namespace(json=True)) == 0
    review = json.loads(capsys.readouterr().out)["review"]
    expected = {"question": "q?", "answer": "a.", "mode": "extractive", "user": "k1", "channel": "web"}
    assert review == [{**expected, "comment": "out of date"}]
    assert run_feedback(settings, Namespace(json=False)) == 0
    shown = capsys.readouterr().out
    assert "q?" in shown and "(web)" in shown and "out of date" in shown
