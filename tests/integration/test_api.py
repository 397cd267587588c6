"""The HTTP API through FastAPI's TestClient: the real app, the real models, a real Qdrant Edge index."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time

import pytest
from fastapi.testclient import TestClient
from qdrant_client import QdrantClient
from slack_sdk.signature import SignatureVerifier

from retrieval.models import IndexSpec
from retrieval.qdrant_index import QdrantServerIndex
from retrieval.search import Retriever
from retrieval.sparse import SparseEncoder
from serve.app import create_app
from tests.conftest import SAMPLE_DOCS
from tests.integration.test_cli import docent_env
from tests.support.slack_mock import SlackMock
from tests.support.stores import key_store, team_keys


@pytest.fixture
def corpus(pipeline, tmp_path):
    """HR documents for group:hr, IT documents for group:it, and one public document."""
    import shutil

    hr, it, public = tmp_path / "corp" / "hr", tmp_path / "corp" / "it", tmp_path / "corp" / "public"
    shutil.copytree(SAMPLE_DOCS, hr, ignore=shutil.ignore_patterns("vpn-*", "password-*", "it-*", "*.pdf"))
    it.mkdir(parents=True)
    public.mkdir(parents=True)
    shutil.copy(SAMPLE_DOCS / "vpn-setup.md", it)
    shutil.copy(SAMPLE_DOCS / "password-reset-zh.html", public)
    assert pipeline.run([hr], acl=["group:hr"]).ok
    assert pipeline.run([it], acl=["group:it"]).ok
    assert pipeline.run([public], public=True).ok
    return {"hr": hr, "it": it, "public": public}


@pytest.fixture
def keys(tmp_path):
    return team_keys(tmp_path)


@pytest.fixture
def client(corpus, keys, retriever, edge_index):
    app = create_app(retriever=retriever, index=edge_index, keys=keys["store"])
    with TestClient(app) as c:
        yield c


def folders(response, corpus) -> set[str]:
    assert response.status_code == 200, response.text
    names = {str(path): name for name, path in corpus.items()}
    return {
        names[str(next(p for p in __import__("pathlib").Path(x["source"]).parents if str(p) in names))]
        for x in response.json()["passages"]
    }


def ask(client, key: str | None, **body):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.post(
        "/v1/search", json={"query": "VPN gateway port password leave policy", "k": 20, **body}, headers=headers
    )


def test_search_is_filtered_by_the_key_principal(client, keys, corpus):
    assert folders(ask(client, keys["hr"]), corpus) == {"hr", "public"}
    assert folders(ask(client, keys["it"]), corpus) == {"it", "public"}
    # A filter naming the other team's folder narrows to nothing instead of widening access.
    assert folders(ask(client, keys["it"], filters={"source_prefix": str(corpus["hr"])}), corpus) == set()
    assert folders(ask(client, keys["hr"], filters={"source_prefix": str(corpus["hr"])}), corpus) == {"hr"}


def test_passages_carry_sources_and_stage_scores(client, keys):
    response = client.post(
        "/v1/search",
        json={"query": "Which port does the VPN gateway listen on?", "k": 3},
        headers={"Authorization": f"Bearer {keys['it']}"},
    )
    body = response.json()
    top = body["passages"][0]
    assert top["source"].endswith("vpn-setup.md") and top["title"] and "fused" in top["scores"]
    assert {"document_id", "headings", "page", "chunks", "text"} <= set(top)
    assert body["language"] == "en" and {"embed", "search"} <= set(body["timings_ms"])


@pytest.mark.parametrize("header", [None, "Bearer dk_not-a-real-key", "Basic abc"])
def test_missing_or_unknown_keys_are_401_with_the_error_shape(client, header):
    headers = {"Authorization": header} if header else {}
    response = client.post("/v1/search", json={"query": "vpn"}, headers=headers)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"
    error = response.json()["error"]
    assert error["code"] == "unauthorized" and error["type"] == "authentication_error" and error["message"]
    assert response.json()["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"query": ""},
        {"query": "x", "k": 0},
        {"query": "x", "k": "many"},
        {"query": "x", "mode": "psychic"},
        {"query": "x", "filters": {"modified_after": "soon"}},
    ],
)
def test_bad_input_is_422_with_the_error_shape(client, keys, body):
    response = client.post("/v1/search", json=body, headers={"Authorization": f"Bearer {keys['hr']}"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request" and response.json()["error"]["message"]


def test_unknown_route_and_method_keep_the_error_shape(client):
    assert client.get("/v1/nothing").json()["error"]["code"] == "not_found"
    assert client.get("/v1/search").status_code == 405


def test_anonymous_mode_sees_public_documents_only(corpus, keys, retriever, edge_index):
    app = create_app(retriever=retriever, index=edge_index, keys=keys["store"], anonymous=True)
    with TestClient(app) as c:
        assert folders(ask(c, None), corpus) == {"public"}
        assert folders(ask(c, keys["hr"]), corpus) == {"hr", "public"}  # a key still counts
        assert folders(ask(c, "anonymous"), corpus) == {"public"}  # what SDKs that insist on a key send
        assert ask(c, "dk_mistyped").status_code == 401  # a wrong key is not silently anonymous


def test_health_readiness_metrics_and_request_ids(client, keys, edge_index):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["index"]["chunks"] == edge_index.count() > 0
    ask(client, keys["hr"])
    given = client.get("/healthz", headers={"X-Request-ID": "trace-123"})
    assert given.headers["X-Request-ID"] == "trace-123"
    metrics = client.get("/metrics").text
    assert 'docent_http_requests_total{route="/v1/search",status="200"} 1.0' in metrics
    assert "docent_search_seconds_bucket" in metrics


SLACK_SECRET = "e2e-signing-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_qdrant_that_went_down_is_503_within_seconds(embedder, keys):
    index = QdrantServerIndex(IndexSpec("docent", embedder.name, embedder.dimension), timeout_s=2)
    index._client = QdrantClient(url=f"http://127.0.0.1:{free_port()}", timeout=2)  # started, then the server died
    app = create_app(retriever=Retriever(index, embedder, SparseEncoder()), index=index, keys=keys["store"])
    with TestClient(app) as c:
        started = time.perf_counter()
        response = ask(c, keys["hr"])
        assert response.status_code == 503 and response.json()["error"]["code"] == "index_unavailable"
        ready = c.get("/readyz")
        assert ready.status_code == 503 and "index not reachable" in ready.json()["error"]["message"]
        assert time.perf_counter() - started < 20


def test_keys_create_prints_a_key_that_maps_to_its_principal(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "serve.cli",
            "keys",
            "create",
            "--user",
            "ann",
            "--groups",
            "group:hr, group:x",
            "--admin",
            "--json",
        ],
        env=docent_env(tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    key = json.loads(result.stdout)["key"]
    record = key_store(tmp_path / "data").lookup(key)
    assert record is not None and record.admin
    assert (record.principal.user_id, record.principal.groups) == ("ann", ("hr", "x"))  # canonical: group names
    assert json.loads(result.stdout)["groups"] == ["hr", "x"]
    assert key not in (tmp_path / "data" / "docent.sqlite").read_bytes().decode(errors="ignore")  # stored hashed


def test_docent_serve_answers_over_http(tmp_path):
    """The server's composition root end to end: the local model, documents, the openai SDK over real HTTP."""
    import httpx
    import openai

    data = tmp_path / "data"
    ingest = subprocess.run(
        [sys.executable, "-m", "serve.cli", "ingest", str(SAMPLE_DOCS / "vpn-setup.md"), "--public"],
        env=docent_env(data),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ingest.returncode == 0, ingest.stderr
    made = subprocess.run(
        [sys.executable, "-m", "serve.cli", "keys", "create", "--user", "root", "--admin", "--json"],
        env=docent_env(data),
        capture_output=True,
        text=True,
        timeout=60,
    )
    admin = {"Authorization": f"Bearer {json.loads(made.stdout)['key']}"}
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    slack = SlackMock().__enter__()
    server = subprocess.Popen(
        [sys.executable, "-m", "serve.cli", "serve", "--port", str(port)],
        env=docent_env(
            data,
            DOCENT_AUTH__ANONYMOUS="true",
            DOCENT_SLACK__BOT_TOKEN="xoxb-1",
            DOCENT_SLACK__SIGNING_SECRET=SLACK_SECRET,
            DOCENT_SLACK__API_URL=slack.url,
        ),
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()[-3000:]
            time.sleep(0.5)
        response = httpx.post(f"{url}/v1/search", json={"query": "VPN gateway port", "k": 1}, timeout=30)
        assert response.status_code == 200 and response.json()["passages"][0]["source"].endswith("vpn-setup.md")

        answer = httpx.post(
            f"{url}/v1/ask", json={"question": "Which port does the VPN gateway listen on?"}, timeout=120
        ).json()
        route = answer["route"]
        assert route["tiers"] == ["small"]  # the local model was asked ...
        if answer["mode"] == "extractive":  # ... and its answer failed the checks (or its deadline): the quotes
            assert route["tier"] in {"extractive", "none"} and "8443" in answer["text"], answer
        else:
            assert answer["mode"] in {"generated", "not_found"} and answer["model"].startswith("SmolLM2"), answer
        assert answer["citations"][0]["source"].endswith("vpn-setup.md")

        sdk = openai.OpenAI(base_url=f"{url}/v1", api_key=admin["Authorization"][7:], max_retries=0, timeout=120)
        chunks = list(
            sdk.chat.completions.create(
                model="docent",
                stream=True,
                messages=[{"role": "user", "content": "Which port does the VPN gateway use?"}],
            )
        )
        assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].model_extra["sources"]

        upload = httpx.post(
            f"{url}/v1/documents",
            headers=admin,
            data={"public": "true"},
            timeout=120,
            params={"wait": 100},
            files=[("files", ("it-faq.html", (SAMPLE_DOCS / "it-faq.html").read_bytes(), "text/html"))],
        )
        assert upload.status_code == 200 and upload.json()["indexed"] == 1, upload.text
        listing = httpx.get(f"{url}/v1/documents", headers=admin, timeout=30).json()
        assert listing["total"] == 2

        # The server owns the embedded index: a direct ingest says where to send the files instead ...
        folder = tmp_path / "handbook"
        folder.mkdir()
        for name in ("oncall-runbook.md", "incident-postmortem-2025-02-11.txt"):
            shutil.copy(SAMPLE_DOCS / name, folder / name)
        direct = subprocess.run(
            [sys.executable, "-m", "serve.cli", "ingest", str(folder), "--public"],
            env=docent_env(data),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert direct.returncode == 2 and "--server URL" in direct.stderr, direct.stderr
        # ... and `--server` uploads them as a job, follows it and reports.
        sent = subprocess.run(
            [sys.executable, "-m", "serve.cli", "ingest", str(folder), "--public", "--server", url, "--json"],
            env=docent_env(data, DOCENT_API_KEY=admin["Authorization"][7:]),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert sent.returncode == 0, sent.stderr
        (job,) = json.loads(sent.stdout)
        assert job["state"] == "succeeded" and job["progress"]["indexed"] == 2, job
        listing = httpx.get(
            f"{url}/v1/documents", headers=admin, params={"prefix": str(data / "uploads" / "handbook")}, timeout=30
        ).json()
        assert listing["total"] == 2

        # The Slack bot, configured from the environment, answers a signed mention in its thread.
        body = json.dumps(
            {
                "type": "event_callback",
                "team_id": "T1",
                "event_id": "Ev1",
                "event": {
                    "type": "app_mention",
                    "user": "U1",
                    "text": "<@UBOT> Which port does the VPN gateway use?",
                    "channel": "C1",
                    "ts": "5.0001",
                },
            }
        )
        stamp = str(int(time.time()))
        signature = SignatureVerifier(SLACK_SECRET).generate_signature(timestamp=stamp, body=body)
        sent = httpx.post(
            f"{url}/slack/events",
            content=body,
            timeout=30,
            headers={
                "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": signature,
                "Content-Type": "application/json",
            },
        )
        assert sent.status_code == 200
        deadline = time.monotonic() + 120
        while not slack.sent("chat.postMessage"):
            assert time.monotonic() < deadline, slack.calls
            time.sleep(0.2)
        assert slack.sent("chat.postMessage")[0]["thread_ts"] == "5.0001"
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        slack.__exit__()
