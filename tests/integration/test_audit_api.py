"""The audit trail through the real app: what an answer and a search record, `GET /v1/audit` for admins only,
and `docent audit export|who-saw` over the same database."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from answer.answerer import Answerer, AnswerOptions
from serve.app import create_app
from serve.audit import AuditLog
from serve.cli import main
from serve.documents import DocumentService
from serve.stores.audit import AuditStore
from tests.integration.test_api import corpus  # noqa: F401 - the fixture: HR, IT and public documents
from tests.support.stores import database, team_keys

LEAVE = "How many days of annual leave do employees get?"
VPN = "Which port does the VPN gateway use?"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def keys(tmp_path):
    return team_keys(tmp_path)


def make_client(corpus, keys, retriever, edge_index, tmp_path, *, answer_text: bool = False):
    audit = AuditLog(AuditStore(database(tmp_path)), answer_text=answer_text, interval_s=0.05)
    audit.start()
    app = create_app(
        retriever=retriever,
        index=edge_index,
        keys=keys["store"],
        answerer=Answerer(retriever, None, AnswerOptions()),
        documents=DocumentService(edge_index, tmp_path / "uploads", None),
        audit=audit,
    )
    return TestClient(app), audit


@pytest.fixture
def client(corpus, keys, retriever, edge_index, tmp_path):
    client, audit = make_client(corpus, keys, retriever, edge_index, tmp_path)
    with client:
        yield client
    audit.close()


def trail(client, keys, **params) -> list[dict]:
    response = client.get("/v1/audit", params=params, headers=bearer(keys["admin"]))
    assert response.status_code == 200, response.text
    return response.json()["events"]


def cited(response) -> set[str]:
    assert response.status_code == 200, response.text
    return {c["document_id"] for c in response.json()["citations"]}


def test_an_answer_records_only_the_documents_its_asker_was_shown(client, keys):
    hana = client.post("/v1/ask", json={"question": LEAVE}, headers={**bearer(keys["hr"]), "X-Docent-Channel": "web"})
    ivan = client.post("/v1/ask", json={"question": VPN, "filters": {"tags": []}}, headers=bearer(keys["it"]))
    hana_docs, ivan_docs = cited(hana), cited(ivan)
    assert hana_docs and ivan_docs - hana_docs  # ivan was shown IT documents hana may not read

    (event,) = trail(client, keys, user="hana")
    assert (event["action"], event["query"], event["channel"]) == ("answer", LEAVE, "web")
    assert event["key_id"] and event["groups"] == ["hr"] and event["client"] == "testclient"
    assert event["request_id"] == hana.json()["request_id"]
    assert event["mode"] == hana.json()["mode"] and event["status"] == 200
    assert {d["doc_id"] for d in event["documents"]} == hana_docs  # ivan's documents are not in it
    assert event["answer"] is None  # answers' text only with DOCENT_AUDIT__ANSWER_TEXT

    it_doc = next(iter(ivan_docs - hana_docs))
    assert [e["user_id"] for e in trail(client, keys, document=it_doc)] == ["ivan"]
    assert [e["channel"] for e in trail(client, keys, user="ivan")] == ["api"]


def test_search_and_a_failed_request_are_recorded_and_pages_follow_the_cursor(client, keys):
    found = client.post("/v1/search", json={"query": "VPN gateway port", "k": 3}, headers=bearer(keys["it"]))
    assert found.status_code == 200
    shown = {p["document_id"] for p in found.json()["passages"]}
    client.post(
        "/v1/chat/completions",
        json={"model": "nope", "messages": [{"role": "user", "content": "hi"}]},
        headers=bearer(keys["it"]),
    )
    refused = trail(client, keys, action="answer")[0]
    assert (refused["channel"], refused["query"], refused["status"]) == ("chat", "hi", 404)
    assert refused["error_code"] == "model_not_found" and refused["documents"] == []
    search = trail(client, keys, action="search")[0]
    assert search["query"] == "VPN gateway port" and {d["doc_id"] for d in search["documents"]} == shown
    first = client.get("/v1/audit", params={"limit": 1}, headers=bearer(keys["admin"])).json()
    assert len(first["events"]) == 1 and first["next_cursor"]
    rest = trail(client, keys, cursor=first["next_cursor"])
    assert rest and all(e["event_id"] < first["events"][0]["event_id"] for e in rest)


def test_the_audit_trail_is_for_admins_only(client, keys):
    assert client.get("/v1/audit", headers=bearer(keys["hr"])).status_code == 403
    assert client.get("/v1/audit").status_code == 401


def test_answer_text_is_recorded_when_the_setting_is_on(corpus, keys, retriever, edge_index, tmp_path):
    client, audit = make_client(corpus, keys, retriever, edge_index, tmp_path, answer_text=True)
    with client:
        answer = client.post("/v1/ask", json={"question": LEAVE}, headers=bearer(keys["hr"]))
        assert answer.status_code == 200
        (event,) = trail(client, keys, user="hana")
    audit.close()
    assert event["answer"] == answer.json()["text"]


def test_export_writes_json_lines_and_who_saw_names_the_users(client, keys, tmp_path, monkeypatch, capsys):
    hana = client.post("/v1/ask", json={"question": LEAVE}, headers=bearer(keys["hr"]))
    client.post("/v1/search", json={"query": "annual leave", "k": 5}, headers=bearer(keys["hr"]))
    assert client.app.state.services.audit.flush(10)
    monkeypatch.setenv("DOCENT_DATA_DIR", str(tmp_path))
    out = tmp_path / "audit.jsonl"
    assert main(["audit", "export", "--since", "2000-01-01", "--format", "jsonl", "--output", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["action"] for r in rows] == ["answer", "search"] and rows[0]["query"] == LEAVE
    capsys.readouterr()
    doc = next(iter(cited(hana)))
    assert main(["audit", "who-saw", doc, "--json"]) == 0
    seen = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {s["user_id"] for s in seen} == {"hana"}


def test_key_changes_are_recorded_from_the_api_and_the_cli(client, keys, tmp_path, monkeypatch):
    made = client.post("/v1/keys", json={"user": "kim", "groups": ["sales"]}, headers=bearer(keys["admin"]))
    assert made.status_code == 201, made.text
    key_id = made.json()["key_id"]
    assert client.delete(f"/v1/keys/{key_id}", headers=bearer(keys["admin"])).status_code == 200
    assert client.app.state.services.audit.flush(10)  # events are listed in the order they were written
    monkeypatch.setenv("DOCENT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("USER", "operator")
    assert main(["keys", "create", "--user", "lea", "--json"]) == 0
    events = trail(client, keys, action="key")
    assert [(e["detail"]["change"], e["channel"]) for e in events] == [
        ("create", "cli"),
        ("revoke", "api"),
        ("create", "api"),
    ]
    assert events[1]["user_id"] == "root" and events[1]["detail"]["key_id"] == key_id
    assert events[2]["detail"]["key_user"] == "kim" and "key" not in events[2]["detail"]  # never the secret
    assert events[0]["detail"]["key_user"] == "lea" and events[0]["user_id"]


def test_a_deleted_document_is_recorded_with_its_title(client, keys):
    found = client.post("/v1/search", json={"query": "VPN gateway port", "k": 1}, headers=bearer(keys["it"]))
    doc = found.json()["passages"][0]
    assert client.delete(f"/v1/documents/{doc['document_id']}", headers=bearer(keys["admin"])).status_code == 200
    (deleted,) = trail(client, keys, action="delete")
    assert deleted["user_id"] == "root" and deleted["query"] == doc["document_id"]
    assert deleted["documents"] == [{"doc_id": doc["document_id"], "title": doc["title"]}]
    assert deleted["detail"]["source"] == doc["source"]
    # the search before it still says who was shown the document
    assert [e["action"] for e in trail(client, keys, document=doc["document_id"])] == ["delete", "search"]
