"""`docent.client` against a running `docent serve`: every method, sync and async, the streamed answer, and the
server's errors raised as typed exceptions carrying its codes; and the client's routes against the OpenAPI schema,
so it cannot drift from the API."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from docent.client import (
    ROUTES,
    AsyncDocent,
    AuthenticationError,
    Docent,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from serve.app import create_app
from tests.integrations.conftest import HR


def test_every_route_of_the_client_is_in_the_openapi_schema_with_its_parameters():
    """`app.openapi()` needs no started component: the app is built over none."""
    check_routes(create_app(retriever=None, index=None, keys=None).openapi())


def check_routes(schema: dict) -> None:
    components = schema["components"]["schemas"]

    def resolve(node: dict) -> dict:
        while "$ref" in node:
            node = components[node["$ref"].rsplit("/", 1)[-1]]
        return node

    for name, route in ROUTES.items():
        operation = schema["paths"].get(route.path, {}).get(route.method.lower())
        assert operation is not None, f"{name}: {route.method} {route.path} is not in the API"
        declared = {p["name"]: p["in"] for p in operation.get("parameters", [])}
        path_params = {part[1:-1] for part in route.path.split("/") if part.startswith("{")}
        assert {n for n, where in declared.items() if where == "path"} == path_params, name
        assert set(route.query) <= {n for n, where in declared.items() if where == "query"}, name
        content = operation.get("requestBody", {}).get("content", {})
        if route.body:
            fields = resolve(content["application/json"]["schema"])["properties"]
            assert set(route.body) == set(fields), f"{name}: the client sends {route.body}, the API takes {set(fields)}"
        if route.form:
            fields = resolve(content["multipart/form-data"]["schema"])["properties"]
            assert set(route.form) == set(fields), f"{name}: {route.form} against {set(fields)}"
        if not route.body and not route.form:
            assert not content, f"{name}: the API takes a body the client does not send"
        # Each client method exists on both clients and takes the route's path parameters by name.
        for client in (Docent, AsyncDocent):
            method = getattr(client, name)
            assert path_params <= set(inspect.signature(method).parameters), f"{client.__name__}.{name}"


@pytest.mark.slow
def test_the_routes_match_the_running_servers_schema(server):
    import httpx

    check_routes(httpx.get(f"{server.url}/openapi.json", timeout=30).json())


@pytest.mark.slow
def test_search_and_ask_see_only_what_the_key_may_read(server, corpus):
    with Docent(server.url, corpus.keys["hana"]) as hana, Docent(server.url, corpus.keys["erik"]) as erik:
        found = hana.search("parental leave weeks", k=5)
        assert any(HR in p["text"] for p in found["passages"])
        assert all("/eng/" not in p["source"] for p in found["passages"])
        assert not any(HR in p["text"] for p in erik.search("parental leave weeks", k=5)["passages"])
        answer = hana.ask("How many weeks of parental leave?", mode="extractive")
        assert answer["mode"] == "extractive" and "26 weeks" in answer["text"]
        assert any("marlin" in c["source"] for c in answer["citations"]) and answer["request_id"]
        filtered = hana.search("leave cafeteria", k=5, filters={"source_prefix": str(corpus.folders["public"])})
        assert filtered["passages"] and all("/public/" in p["source"] for p in filtered["passages"])


@pytest.mark.slow
def test_the_streamed_answer_is_an_iterator_of_events(server, corpus):
    with Docent(server.url, corpus.keys["hana"]) as hana:
        events = list(hana.ask_stream("How many weeks of parental leave?"))
    names = [e.event for e in events]
    assert names[-2:] == ["citations", "done"] and "delta" in names, names
    text = "".join(e.data["text"] for e in events if e.event == "delta")
    assert "26 weeks" in text and events[-1].data["text"] == text
    assert any("marlin" in c["source"] for c in events[-2].data["citations"])


@pytest.mark.slow
def test_documents_and_jobs(server, corpus, tmp_path):
    note = tmp_path / "heron-parking.md"
    note.write_text("# Heron parking\n\nThe Heron garage has 220 parking spaces and 12 chargers.\n")
    with Docent(server.url, corpus.keys["ingest"]) as ingest, Docent(server.url, corpus.keys["admin"]) as admin:
        uploaded = ingest.upload([note], acl=["group:hr"], tags=["facilities"], folder="facilities")
        job = ingest.wait_for_job(uploaded["job"]["id"], timeout=120)
        assert job["state"] == "succeeded", job
        assert uploaded["job"]["id"] in {j["id"] for j in ingest.list_jobs(limit=10)["jobs"]}
        document_id = uploaded["documents"][0]["document_id"]
        assert ingest.get_document(document_id)["source"].endswith("heron-parking.md")
        listed = ingest.list_documents(limit=500)
        assert document_id in {d["document_id"] for d in listed["documents"]} and listed["total"] >= 4
        with Docent(server.url, corpus.keys["hana"]) as hana:
            assert any("220 parking" in p["text"] for p in hana.search("Heron garage parking spaces")["passages"])
        inline = admin.upload([("gull-note.txt", b"The Gull room seats 8.")], public=True, wait=60)
        assert inline["job"]["state"] == "succeeded", inline
        assert ingest.delete_document(document_id)["deleted"] is True
        with pytest.raises(NotFoundError) as missing:
            ingest.get_document(document_id)
        assert missing.value.code == "path_not_found" or missing.value.status == 404
        assert ingest.cancel_job(uploaded["job"]["id"])["state"] == "succeeded"  # finished jobs stay as they were


@pytest.mark.slow
def test_errors_are_typed_and_carry_the_servers_code(server, corpus):
    with Docent(server.url, "not-a-key") as stranger:
        with pytest.raises(AuthenticationError) as refused:
            stranger.search("anything")
        assert refused.value.code == "unauthorized" and refused.value.status == 401 and refused.value.request_id
        with pytest.raises(AuthenticationError):
            list(stranger.ask_stream("anything"))
    with Docent(server.url, corpus.keys["hana"]) as hana:
        with pytest.raises(PermissionDeniedError) as forbidden:
            hana.list_documents()
        assert forbidden.value.code == "forbidden"
        with pytest.raises(InvalidRequestError) as invalid:
            hana.search("x", k=1000)
        assert invalid.value.code == "invalid_request" and invalid.value.status == 422
    with Docent(server.url, corpus.keys["ingest"]) as ingest, pytest.raises(NotFoundError) as missing:
        ingest.get_job("no-such-job")
    assert missing.value.status == 404 and missing.value.code


@pytest.mark.slow
def test_the_async_client(server, corpus):
    async def run() -> tuple[dict, list, dict]:
        async with AsyncDocent(server.url, corpus.keys["hana"]) as hana:
            found, answer = await asyncio.gather(hana.search("parental leave"), hana.ask("parental leave weeks?"))
            events = [event async for event in hana.ask_stream("How many weeks of parental leave?")]
            with pytest.raises(PermissionDeniedError):
                await hana.list_jobs()
        async with AsyncDocent(server.url, corpus.keys["ingest"]) as ingest:
            page = await ingest.list_documents(limit=5)
            uploaded = await ingest.upload([("tern.txt", b"The Tern lab opens at nine.")], public=True)
            job = await ingest.wait_for_job(uploaded["job"]["id"], timeout=120)
            assert (await ingest.get_job(job["id"]))["state"] == "succeeded"
            assert (await ingest.get_document(uploaded["documents"][0]["document_id"]))["source"].endswith("tern.txt")
            await ingest.delete_document(uploaded["documents"][0]["document_id"])
            await ingest.cancel_job(job["id"])
        return found, events, {"answer": answer, "page": page}

    found, events, rest = asyncio.run(run())
    assert any(HR in p["text"] for p in found["passages"])
    assert events[-1].event == "done" and "26 weeks" in events[-1].data["text"]
    assert "26 weeks" in rest["answer"]["text"] and rest["page"]["documents"]
