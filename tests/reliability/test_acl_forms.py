"""One principal syntax everywhere, and never an ACL entry that silently matches nobody.

The review's second defect: `docent ingest --acl group:hr` (the README's form, and the API's own example)
never matched a key created with `--groups hr`; `--acl hr` did. Now an ACL entry is `group:<name>` or
`user:<id>`, a bare name is a group, a principal's groups may be written either way, and anything else is
refused where it is given. Every form, through every entry point: the pipeline (CLI ingest and sync, queued
jobs), the upload form, `docent keys create`, the Slack user mapping in settings, and the CLI's `--group`.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from ingest.jobs.store import Grant
from retrieval.access import Principal, acl_entries
from retrieval.errors import ConfigError
from retrieval.search import SearchRequest
from serve.app import create_app
from serve.cli import main as docent
from serve.documents import DocumentService
from serve.settings import Settings
from tests.reliability.conftest import bearer
from tests.support.queueing import in_process_jobs
from tests.support.stores import key_store

ACL_FORMS = ["group:hr", "hr", "GROUP:hr", " group: hr "]
GROUP_FORMS = [("hr",), ("group:hr",), ("Group:hr",)]
REFUSED = ["role:hr", "group:", "user:", "*", "public", "team:hr"]


def test_every_written_form_is_one_canonical_entry():
    assert {acl_entries([form]) for form in ACL_FORMS} == {("group:hr",)}
    assert acl_entries(["user:ann@corp.com", "USER: Ann@Corp.com"]) == ("user:ann@corp.com",)
    assert {Principal("ann", groups).tokens[:2] for groups in GROUP_FORMS} == {("user:ann", "group:hr")}
    assert Principal("user:ann").user_id == "ann"
    for bad in REFUSED:
        with pytest.raises(ConfigError):
            acl_entries([bad])
    with pytest.raises(ConfigError, match="a user, not a group"):
        Principal("ann", ("user:bob",))
    assert Grant(("hr", "group:hr", "user:ann")).acl == ("group:hr", "user:ann")


def test_each_acl_form_is_read_by_each_group_form_and_by_nobody_else(pipeline, retriever, tmp_path):
    for n, form in enumerate(ACL_FORMS):
        path = tmp_path / f"policy-{n}.md"
        path.write_text(f"# Parental leave {n}\n\nParental leave rule number {n} is sixteen weeks of paid leave.\n")
        assert pipeline.run([path], acl=[form]).ok
    mine = tmp_path / "ann.md"
    mine.write_text("# Ann's review\n\nThe parental leave review for Ann is due in May.\n")
    assert pipeline.run([mine], acl=["user:ann"]).ok

    def sources(principal: Principal) -> set[str]:
        found = retriever.search(SearchRequest("parental leave sixteen weeks review", principal, k=20)).passages
        return {p.source.rsplit("/", 1)[-1] for p in found}

    everyone_in_hr = {f"policy-{n}.md" for n in range(len(ACL_FORMS))}
    for groups in GROUP_FORMS:
        assert sources(Principal("hana", groups)) == everyone_in_hr
    assert sources(Principal("ann")) == sources(Principal("user:ann")) == {"ann.md"}
    assert sources(Principal("ivan", ("it", "group:hr-admins"))) == set()


def test_the_upload_form_takes_every_form_and_refuses_the_rest_before_saving(pipeline, retriever, edge_index, tmp_path):
    store = key_store(tmp_path)
    admin, hr = store.create("root", (), role="admin")[0], store.create("hana", ("hr",))[0]
    jobs = in_process_jobs(pipeline)
    app = create_app(
        retriever=retriever,
        index=edge_index,
        keys=store,
        jobs=jobs,
        documents=DocumentService(edge_index, tmp_path / "uploads", jobs),
    )
    with TestClient(app) as client:
        for n, form in enumerate(ACL_FORMS):
            files = [("files", (f"benefit-{n}.md", f"# Benefit {n}\n\nThe dental benefit {n} covers two visits."))]
            response = client.post("/v1/documents?wait=60", files=files, data={"acl": form}, headers=bearer(admin))
            assert response.status_code == 200 and response.json()["indexed"] == 1, response.text
        for bad in REFUSED:
            response = client.post(
                "/v1/documents",
                files=[("files", ("x.md", b"# X\n\ntext"))],
                data={"acl": f"hr,{bad}"},
                headers=bearer(admin),
            )
            assert response.status_code == 400, (bad, response.text)
            assert "principal" in response.json()["error"]["message"] or "public" in response.json()["error"]["message"]
        assert not (tmp_path / "uploads" / "x.md").exists()
        found = client.post("/v1/search", json={"query": "dental benefit visits", "k": 20}, headers=bearer(hr))
        assert {p["source"].rsplit("/", 1)[-1] for p in found.json()["passages"]} == {
            f"benefit-{n}.md" for n in range(len(ACL_FORMS))
        }


def test_the_cli_takes_every_form_and_refuses_the_rest_before_loading_a_model(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DOCENT_DATA_DIR", str(tmp_path / "data"))
    doc = tmp_path / "handbook.md"
    doc.write_text("# Handbook\n\nThe canteen serves lunch from noon until two.\n")
    for bad in REFUSED:
        for command in ("ingest", "sync"):
            assert docent([command, str(doc), "--acl", bad]) == 2
            assert "principal" in capsys.readouterr().err or bad in ("*", "public")
    assert not (tmp_path / "data").exists()  # refused before the index was even created

    assert docent(["keys", "create", "--user", "user:hana", "--groups", "group:hr,ops", "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert (made["user"], made["groups"]) == ("hana", ["hr", "ops"])
    assert docent(["keys", "create", "--user", "x", "--groups", "user:bob"]) == 2
    assert "a user, not a group" in capsys.readouterr().err

    assert docent(["ingest", str(doc), "--acl", "HR", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["indexed"] == 1
    for group in ("hr", "group:HR"):  # names are case-insensitive, as e-mail addresses and most directories' are
        assert docent(["search", "canteen lunch", "--user", "hana", "--group", group, "--json"]) == 0
        assert json.loads(capsys.readouterr().out), group  # the passages found
    assert docent(["search", "canteen lunch", "--user", "ivan", "--group", "it", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_slack_user_mappings_take_both_forms_and_refuse_the_rest():
    for groups in (["hr"], ["group:hr"]):
        settings = Settings(_env_file=None, slack={"users": {"ann@corp.com": {"user": "user:ann", "groups": groups}}})
        assert settings.slack.users["ann@corp.com"].model_dump() == {"user": "ann", "groups": ["hr"]}
    with pytest.raises(ValidationError, match="unknown principal"):
        Settings(_env_file=None, slack={"users": {"ann@corp.com": {"user": "ann", "groups": ["role:hr"]}}})
