"""`docent sync` over a connector, end to end: a real S3-compatible server (moto's server process), the real
parsers in their sandbox, the real models and the embedded index.

What a sync must guarantee: only changed documents are fetched and embedded, documents deleted at the source
leave the index, a permission changed at the source is changed without re-embedding, two sources never collide,
a source that cannot be listed changes nothing, one bad document fails alone, and a killed sync resumes."""

from __future__ import annotations

import json

import pytest

from ingest.connectors import make_connector
from ingest.connectors.base import SourceDocument
from ingest.sync import Source, SourceSync
from retrieval.access import ALL_ACCESS, Principal
from retrieval.errors import SourceUnavailableError
from retrieval.search import SearchRequest
from tests.integration.test_cli import docent
from tests.support.s3_server import SECRET_KEY, S3Server

pytestmark = pytest.mark.slow

VPN = "# VPN\n\nThe VPN gateway of the Lisbon office listens on port 8443 for remote staff.\n"
TRAVEL = "差旅报销\n\n出差结束后十五个工作日内提交报销单，逾期财务部不予受理。\n"
LEAVE = "# Leave\n\nUnused annual leave of up to five days may be carried over to the next year.\n"


@pytest.fixture(scope="module")
def s3():
    with S3Server() as server:
        yield server


@pytest.fixture
def bucket(s3, request):
    name = f"docs-{request.node.name[-40:].lower().replace('_', '-')}".rstrip("-")[:63]
    client = s3.client()
    client.create_bucket(Bucket=name)
    client.put_object(Bucket=name, Key="it/vpn.md", Body=VPN.encode())
    client.put_object(Bucket=name, Key="finance/travel.txt", Body=TRAVEL.encode())
    client.put_object(Bucket=name, Key="hr/leave.md", Body=LEAVE.encode())
    client.put_object(Bucket=name, Key="hr/", Body=b"")  # a "folder" as consoles create them
    client.put_object(Bucket=name, Key="hr/.DS_Store", Body=b"\x00\x01")
    return name


def sources_in(retriever, query: str, principal=ALL_ACCESS) -> list[str]:
    return [p.source for p in retriever.search(SearchRequest(query, principal, k=3)).passages]


def test_an_s3_source_syncs_only_what_changed(pipeline, retriever, s3, bucket):
    client = s3.client()
    source = Source("handbook", "s3", acl=("group:staff",))
    connector = make_connector("s3", s3.options(bucket))
    sync = SourceSync(pipeline, max_file_mb=10)

    first = sync.run(source, connector)
    assert (first.files, first.indexed, first.unchanged, first.failed) == (3, 3, 0, [])
    assert sources_in(retriever, "VPN gateway port", Principal("ann", ("staff",)))[0] == "handbook:it/vpn.md"
    assert (
        sources_in(retriever, "出差报销什么时候提交", Principal("ann", ("staff",)))[0] == "handbook:finance/travel.txt"
    )
    assert sources_in(retriever, "VPN gateway port", Principal("bob", ("sales",))) == []

    again = sync.run(source, connector)
    assert (again.indexed, again.unchanged, again.embedded, again.removed) == (0, 3, 0, 0)

    client.put_object(Bucket=bucket, Key="it/vpn.md", Body=VPN.replace("8443", "9443").encode())
    client.delete_object(Bucket=bucket, Key="hr/leave.md")
    changed = sync.run(source, connector)
    assert (changed.indexed, changed.unchanged, changed.removed) == (1, 1, 1)
    hits = retriever.search(SearchRequest("VPN gateway port", ALL_ACCESS, k=3)).passages
    assert "9443" in hits[0].text and all(p.source != "handbook:hr/leave.md" for p in hits)

    regranted = sync.run(Source("handbook", "s3", acl=("group:it",)), connector)
    assert (regranted.access_updated, regranted.embedded, regranted.unchanged) == (2, 0, 2)
    assert sources_in(retriever, "VPN gateway port", Principal("ann", ("staff",))) == []
    assert sources_in(retriever, "VPN gateway port", Principal("cid", ("it",)))[0] == "handbook:it/vpn.md"
    connector.close()


def test_two_sources_with_the_same_keys_do_not_collide(pipeline, edge_index, s3, bucket):
    sync = SourceSync(pipeline, max_file_mb=10)
    connector = make_connector("s3", s3.options(bucket))
    sync.run(Source("east", "s3", public=True), connector)
    sync.run(Source("west", "s3", public=True), connector)
    sources = sorted(source for _, source in edge_index.documents())
    assert sources == sorted(
        f"{s}:{k}" for s in ("east", "west") for k in ("it/vpn.md", "finance/travel.txt", "hr/leave.md")
    )
    assert (
        sync.run(Source("east", "s3", public=True), make_connector("s3", s3.options(bucket, prefix="it/"))).removed == 2
    )
    assert sum(source.startswith("west:") for _, source in edge_index.documents()) == 3  # the other source untouched


def test_a_source_that_cannot_be_listed_changes_nothing(pipeline, edge_index, s3, bucket):
    sync = SourceSync(pipeline, max_file_mb=10)
    sync.run(Source("handbook", "s3", public=True), make_connector("s3", s3.options(bucket)))
    before = sorted(edge_index.documents())
    with pytest.raises(SourceUnavailableError, match="NoSuchBucket"):
        sync.run(Source("handbook", "s3", public=True), make_connector("s3", s3.options("no-such-bucket")))
    wrong_key = make_connector("s3", s3.options(bucket, endpoint_url="http://127.0.0.1:9", timeout_s=1))
    with pytest.raises(SourceUnavailableError):
        sync.run(Source("handbook", "s3", public=True), wrong_key)
    assert sorted(edge_index.documents()) == before


class Interrupting:
    """The S3 connector, killed (as by Ctrl-C or a pod eviction) when it comes to fetch document `at`."""

    def __init__(self, inner, at: int) -> None:
        self.inner, self.at, self.fetched = inner, at, 0

    def documents(self):
        return self.inner.documents()

    def fetch(self, document: SourceDocument, *, max_bytes: int) -> bytes:
        if self.fetched == self.at:
            raise KeyboardInterrupt
        self.fetched += 1
        return self.inner.fetch(document, max_bytes=max_bytes)

    def close(self) -> None:
        self.inner.close()


def test_a_killed_sync_resumes_where_it_stopped(pipeline, edge_index, s3, bucket):
    sync = SourceSync(pipeline, max_file_mb=10, fetch_batch=1)
    source = Source("handbook", "s3", public=True)
    with pytest.raises(KeyboardInterrupt):
        sync.run(source, Interrupting(make_connector("s3", s3.options(bucket)), at=2))
    assert len(list(edge_index.documents())) == 2
    resumed = Interrupting(make_connector("s3", s3.options(bucket)), at=-1)
    report = sync.run(source, resumed)
    assert (report.unchanged, report.indexed, resumed.fetched) == (2, 1, 1)


def test_one_document_that_cannot_be_fetched_fails_alone(pipeline, s3, bucket):
    client = s3.client()
    client.put_object(Bucket=bucket, Key="big/report.txt", Body=b"x" * 3_000_000)
    connector = make_connector("s3", s3.options(bucket))

    class Vanishing:
        """The document deleted between the listing and its fetch."""

        def documents(self):
            return connector.documents()

        def fetch(self, document, *, max_bytes):
            if document.key == "it/vpn.md":
                client.delete_object(Bucket=bucket, Key="it/vpn.md")
            return connector.fetch(document, max_bytes=max_bytes)

        def close(self):
            connector.close()

    report = SourceSync(pipeline, max_file_mb=2).run(Source("handbook", "s3", public=True), Vanishing())
    reasons = {f.path: f.reason for f in report.failed}
    assert reasons.keys() == {"handbook:big/report.txt", "handbook:it/vpn.md"}
    assert "file too large" in reasons["handbook:big/report.txt"]
    assert "NoSuchKey" in reasons["handbook:it/vpn.md"]
    assert report.indexed == 2


def test_docent_sync_reads_its_sources_from_the_settings(tmp_path, s3, bucket):
    sources = [
        {
            "name": "handbook",
            "kind": "s3",
            "acl": ["group:staff"],
            "options": {**s3.options(bucket), "secret_access_key": None, "secret_access_key_env": "HANDBOOK_S3_SECRET"},
        }
    ]
    del sources[0]["options"]["secret_access_key"]
    env = {"DOCENT_SOURCES": json.dumps(sources), "HANDBOOK_S3_SECRET": SECRET_KEY}
    done = docent("sync", "--json", data_dir=tmp_path / "data", **env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)["sources"]["handbook"]
    assert (report["indexed"], report["failed"]) == (3, [])
    unknown = docent("sync", "--source", "wiki", data_dir=tmp_path / "data", **env)
    assert unknown.returncode == 2 and "no configured source named wiki" in unknown.stderr
    down = docent(
        "sync",
        "--json",
        data_dir=tmp_path / "data",
        DOCENT_SOURCES=json.dumps([{**sources[0], "options": {**sources[0]["options"], "bucket": "gone"}}]),
        HANDBOOK_S3_SECRET=SECRET_KEY,
    )
    assert down.returncode == 1
    assert json.loads(down.stdout)["sources"]["handbook"]["error"] == "source_unavailable"


def test_a_reindex_rebuilds_a_sources_documents_by_syncing_it_again(pipeline, edge_index, s3, bucket, tmp_path):
    from ingest.reindex import EdgeVersions, ReindexState, plan_target, reindex
    from ingest.sync import ConnectedSources
    from retrieval.edge_index import EdgeIndex
    from tests.integration.test_reindex import pipeline_into

    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "leave.md").write_text(LEAVE)
    source = Source("handbook", "s3", acl=("group:staff",))
    connector = make_connector("s3", s3.options(bucket))
    SourceSync(pipeline, max_file_mb=10).run(source, connector)
    assert pipeline.run([folder], public=True).indexed == 1
    before = {g.document_id: g for g in edge_index.grants()}
    edge_index.close()

    data = tmp_path / "data"  # the edge_index fixture's folder
    versions, state = EdgeVersions(data, "docent"), ReindexState(data / "reindex-docent.json")
    current, target, _ = plan_target(versions, state)
    target_index = EdgeIndex(data, edge_index.spec, version=target)
    target_index.start()
    serving = EdgeIndex(data, edge_index.spec)
    serving.start()
    report = reindex(
        lambda: list(serving.grants()),
        pipeline_into(target_index, pipeline),
        versions,
        state,
        current,
        target,
        sources=ConnectedSources([(source, connector)], max_file_mb=10),
    )
    assert report.switched and not report.missing and not report.failed, report
    rebuilt = EdgeIndex(data, edge_index.spec, version=target)
    rebuilt.start()
    after = {g.document_id: g for g in rebuilt.grants()}
    assert after.keys() == before.keys()
    assert {g.acl for g in after.values() if g.source.startswith("handbook:")} == {("group:staff",)}
    rebuilt.close()
    serving.close()


def test_an_e_mails_attachments_stay_with_it_and_follow_its_permissions(pipeline, retriever, s3, bucket):
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "it@corp.example", "staff@corp.example", "VPN changes"
    message["Date"] = "Mon, 7 Dec 2026 09:00:00 +0000"
    message.set_content("The new VPN settings are attached.")
    message.add_attachment(
        b"# Ports\n\nThe Porto office's VPN concentrator accepts connections on port 4500.\n",
        maintype="text",
        subtype="markdown",
        filename="ports.md",
    )
    s3.client().put_object(Bucket=bucket, Key="mail/vpn.eml", Body=message.as_bytes())
    connector = make_connector("s3", s3.options(bucket))
    sync = SourceSync(pipeline, max_file_mb=10)
    staff, it = Principal("ann", ("staff",)), Principal("cid", ("it",))

    first = sync.run(Source("handbook", "s3", acl=("group:staff",)), connector)
    assert first.indexed == 5 and not first.failed, first  # 4 listed documents and the attachment
    hits = retriever.search(SearchRequest("Porto VPN concentrator port", staff, k=3)).passages
    assert hits[0].source == "handbook:mail/vpn.eml#attachment/1-ports.md" and hits[0].title == "ports.md — VPN changes"

    again = sync.run(Source("handbook", "s3", acl=("group:staff",)), connector)
    assert (again.removed, again.embedded) == (0, 0)  # the attachment is not taken for a document the source lost
    regranted = sync.run(Source("handbook", "s3", acl=("group:it",)), connector)
    assert regranted.access_updated == 5 and regranted.embedded == 0  # 4 listed documents and the attachment
    assert sources_in(retriever, "Porto VPN concentrator port", staff) == []
    assert sources_in(retriever, "Porto VPN concentrator port", it)[0].endswith("#attachment/1-ports.md")


def test_docent_sync_reads_every_kind_of_source_in_one_run(tmp_path, s3, bucket):
    """The command as a CronJob runs it: one `docent sync` over a folder, S3, a website, Git, Confluence and
    SharePoint, each reported by name; a second run embeds nothing."""
    from tests.support.confluence_server import ConfluenceServer
    from tests.support.git_repos import GitRemote
    from tests.support.graph_server import GraphServer, group_grant
    from tests.support.site_server import Page, SiteServer

    share = tmp_path / "share"
    share.mkdir()
    (share / "leave.md").write_text(LEAVE)
    remote = GitRemote(tmp_path / "origin")
    remote.write("docs/vpn.md", VPN)
    remote.commit_and_push("docs")
    html = "<html><head><title>Travel</title></head><body><p>Trains are booked second class.</p></body></html>"
    with SiteServer() as site, ConfluenceServer("datacenter") as wiki, GraphServer(tmp_path) as graph:
        site.pages["/"] = Page(html.encode())
        wiki.add_space("ENG", groups=["confluence-users"])
        wiki.add_page("ENG", "Badges", "<p>Lost visitor badges are replaced at the reception desk.</p>")
        library = graph.add_drive("Documents")
        graph.add(library, "parking.md", "# Parking\n\nThe garage opens at six in the morning.\n").permissions = [
            group_grant("HR Team")
        ]
        sources = [
            {"name": "share", "kind": "folder", "public": True, "options": {"path": str(share)}},
            {"name": "handbook", "kind": "s3", "public": True, "options": s3.options(bucket)},
            {
                "name": "intranet",
                "kind": "web",
                "public": True,
                "options": {"start_urls": [site.url + "/"], "delay_s": 0},
            },
            {"name": "docs", "kind": "git", "public": True, "options": {"url": str(remote.bare), "branch": "main"}},
            {"name": "wiki", "kind": "confluence", "options": wiki.options(spaces=["ENG"])},
            {
                "name": "files",
                "kind": "sharepoint",
                "principals": {"group:HR Team": "group:hr"},
                "options": graph.options(site=f"{GraphServer.HOSTNAME}:/sites/hr"),
            },
        ]
        env = {"DOCENT_SOURCES": json.dumps(sources)}
        done = docent("sync", "--json", data_dir=tmp_path / "data", **env)
        assert done.returncode == 0, done.stderr
        reports = json.loads(done.stdout)["sources"]
        indexed = {name: (r["indexed"], r["failed"]) for name, r in reports.items()}
        assert indexed == {
            "share": (1, []),
            "handbook": (3, []),
            "intranet": (1, []),
            "docs": (1, []),
            "wiki": (1, []),
            "files": (1, []),
        }
        again = json.loads(docent("sync", "--json", data_dir=tmp_path / "data", **env).stdout)["sources"]
        assert {name: r["embedded"] for name, r in again.items()} == dict.fromkeys(indexed, 0)
        found = docent(
            "search",
            "garage opening hours",
            "--user",
            "hal",
            "--group",
            "hr",
            "--json",
            data_dir=tmp_path / "data",
            **env,
        )
        assert json.loads(found.stdout)[0]["source"].startswith("files:")
