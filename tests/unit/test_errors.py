"""The error family: every code has an HTTP status, every code on the wire is an ErrorCode, and retrying is
decided by the error's `transient` flag, not by its text."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from retrieval import errors
from retrieval.errors import DocentError, ErrorCode
from serve.api.errors import STATUS, install_error_handlers

ERROR_CLASSES = [
    c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, DocentError) and c is not DocentError
]


def test_every_error_code_has_an_http_status():
    assert set(STATUS) == set(ErrorCode), "map each ErrorCode in serve/api/errors.py STATUS"
    for code, (status, kind) in STATUS.items():
        assert 400 <= status < 600 and kind, code


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    class Body(BaseModel):
        n: int

    @app.post("/body")
    def body(b: Body) -> dict[str, int]:
        return {"n": b.n}

    @app.get("/bug")
    def bug() -> None:
        raise ValueError("a bug")

    @app.get("/raise/{name}")
    def raise_(name: str) -> None:
        cls = getattr(errors, name)
        raise cls("nope", 3) if cls is errors.RateLimitedError else cls("nope")

    return app


def test_every_code_the_api_sends_is_an_error_code_with_its_mapped_status():
    client = TestClient(_app(), raise_server_exceptions=False)
    responses = [
        client.post("/body", json={"n": "x"}),
        client.get("/nowhere"),
        client.delete("/body"),
        client.get("/bug"),
    ]
    responses += [client.get(f"/raise/{cls.__name__}") for cls in ERROR_CLASSES]
    sent = set()
    for response in responses:
        code = ErrorCode(response.json()["error"]["code"])  # raises for a code outside the enum
        sent.add(code)
        status, kind = STATUS[code]
        assert response.json()["error"]["type"] == kind
        assert response.status_code == status
    assert {ErrorCode.INVALID_REQUEST, ErrorCode.NOT_FOUND, ErrorCode.METHOD_NOT_ALLOWED, ErrorCode.INTERNAL} <= sent
    assert {cls.code for cls in ERROR_CLASSES} <= sent


def test_transient_is_a_flag_of_the_error_class_not_of_its_text():
    transient = {cls.__name__ for cls in ERROR_CLASSES if cls.transient}
    assert transient == {
        "IndexUnavailableError",
        "GeneratorUnavailableError",
        "GeneratorTimeoutError",
        "RateLimitedError",
        "QueueUnavailableError",
        "QueueFullError",
        "DatabaseUnavailableError",
        "IdentityProviderUnavailableError",
        "SourceUnavailableError",
    }
    # A model that cannot be loaded is named "unavailable" but trying again will not load it.
    assert not errors.ModelUnavailableError("model_unavailable").transient
    assert errors.GeneratorTimeoutError("deadline passed").transient
