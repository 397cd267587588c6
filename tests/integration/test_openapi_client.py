"""A client generated from /openapi.json (openapi-python-client) calls the real app: a search result and an error
come back as typed objects, so the schema documents what the routes send, errors included."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from serve.app import create_app
from tests.integration.test_api import corpus, keys  # noqa: F401 - fixtures


def generate_client(schema: dict, into: Path, name: str = "docent_client") -> None:
    """Generate a client package `name` under `into` from `schema`, as a user of the API would."""
    (into / "openapi.json").write_text(json.dumps(schema), encoding="utf-8")
    generator = Path(sys.executable).with_name("openapi-python-client")
    subprocess.run(
        [
            str(generator),
            "generate",
            "--path",
            str(into / "openapi.json"),
            "--output-path",
            str(into / name),
            "--meta",
            "none",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def test_a_generated_client_parses_a_search_result_and_an_error(
    corpus, keys, retriever, edge_index, tmp_path, monkeypatch
):
    app = create_app(retriever=retriever, index=edge_index, keys=keys["store"])
    with TestClient(app) as http:
        schema = http.get("/openapi.json").json()
        assert schema["components"]["securitySchemes"]["HTTPBearer"] == {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "an API key (`docent keys create`), or a JWT of the identity provider when single sign-on is on"
            ),
        }
        events = schema["paths"]["/v1/ask"]["post"]["responses"]["200"]["content"]["text/event-stream"]["schema"]
        assert set(events["properties"]["event"]["enum"]) == {"sources", "delta", "citations", "done", "error"}
        assert all(
            ref["$ref"].rsplit("/", 1)[1] in schema["components"]["schemas"] for ref in events["x-event-data"].values()
        )
        for status in ("401", "422", "429", "503"):
            assert schema["paths"]["/v1/search"]["post"]["responses"][status]["content"]["application/json"][
                "schema"
            ] == {"$ref": "#/components/schemas/ErrorBody"}

        generate_client(schema, tmp_path)
        monkeypatch.syspath_prepend(str(tmp_path))
        search = importlib.import_module("docent_client.api.default.search_v1_search_post")
        models = importlib.import_module("docent_client.models")
        client = importlib.import_module("docent_client.client")

        hr = client.AuthenticatedClient(base_url="http://testserver", token=keys["hr"])
        hr.set_httpx_client(http)
        http.headers["Authorization"] = f"Bearer {keys['hr']}"  # the client's own httpx client is replaced
        found = search.sync(client=hr, body=models.SearchBody(query="home office stipend", k=3))
        assert isinstance(found, models.SearchResponse) and found.query == "home office stipend"
        assert found.passages and isinstance(found.passages[0], models.Passage)
        assert found.passages[0].source and found.passages[0].score > 0

        http.headers["Authorization"] = "Bearer dk_wrong"
        refused = search.sync(client=hr, body=models.SearchBody(query="home office stipend"))
        assert isinstance(refused, models.ErrorBody) and isinstance(refused.error, models.ErrorDetail)
        assert refused.error.code == "unauthorized" and refused.error.type_ == "authentication_error"
        assert refused.request_id
