"""One error shape for every error: `{"error": {"message", "type", "code"}, "request_id"}`.

Domain code raises `DocentError`s with stable codes; this module alone decides their HTTP status. The type names
the family as OpenAI's API does, so OpenAI SDKs raise their matching exception classes.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from retrieval.errors import DocentError, ErrorCode, RateLimitedError

log = logging.getLogger("docent.api")

# Total: every ErrorCode has its status and OpenAI error type here (tests/unit/test_errors.py fails otherwise),
# so no code can fall through to a 500 unnoticed.
STATUS: dict[ErrorCode, tuple[int, str]] = {
    ErrorCode.UNAUTHORIZED: (401, "authentication_error"),
    ErrorCode.FORBIDDEN: (403, "permission_error"),
    ErrorCode.PATH_NOT_FOUND: (404, "not_found_error"),
    ErrorCode.CONFIG_INVALID: (400, "invalid_request_error"),
    ErrorCode.INDEX_UNAVAILABLE: (503, "service_unavailable"),
    ErrorCode.INDEX_LOCKED: (503, "service_unavailable"),
    ErrorCode.INDEX_MISMATCH: (503, "service_unavailable"),
    ErrorCode.MODEL_UNAVAILABLE: (503, "service_unavailable"),
    ErrorCode.GENERATOR_UNAVAILABLE: (503, "service_unavailable"),
    ErrorCode.GENERATOR_TIMEOUT: (503, "service_unavailable"),
    ErrorCode.RATE_LIMITED: (429, "rate_limit_error"),
    ErrorCode.PAYLOAD_TOO_LARGE: (413, "invalid_request_error"),
    ErrorCode.MODEL_NOT_FOUND: (404, "invalid_request_error"),
    ErrorCode.QUEUE_UNAVAILABLE: (503, "service_unavailable"),
    ErrorCode.DATABASE_UNAVAILABLE: (503, "service_unavailable"),
    ErrorCode.IDENTITY_PROVIDER_UNAVAILABLE: (503, "service_unavailable"),
    ErrorCode.SOURCE_UNAVAILABLE: (503, "service_unavailable"),
    ErrorCode.QUEUE_FULL: (503, "service_unavailable"),
    ErrorCode.INVALID_REQUEST: (422, "invalid_request_error"),
    ErrorCode.NOT_FOUND: (404, "invalid_request_error"),
    ErrorCode.METHOD_NOT_ALLOWED: (405, "invalid_request_error"),
    ErrorCode.NOT_READY: (503, "service_unavailable"),
    ErrorCode.INTERNAL: (500, "api_error"),
}


_INTERNAL_MESSAGE = "internal error; the request id is in the server log"


class ErrorDetail(BaseModel):
    message: str
    type: str  # the family, as OpenAI names it: invalid_request_error, authentication_error, ...
    code: str  # stable: part of the API's contract


class ErrorBody(BaseModel):
    """Every error response: OpenAI's shape, and the request id that is also in the server's log line."""

    error: ErrorDetail
    request_id: str


_MEANING = {
    400: "the request cannot be carried out as asked (code config_invalid: the message says why)",
    401: "no API key, or an unknown one (or a single sign-on token that is invalid or expired)",
    403: "the key may not do this (document and job routes need an admin key)",
    404: "no such document, job or model",
    413: "the upload is larger than the limit",
    422: "the body or a parameter does not match the schema",
    429: "too many requests (or failed authentications) from this caller; see Retry-After",
    503: "a dependency is down or busy: the index, the model, the job queue, the identity provider",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI entries of the errors a route can answer, all in the one error shape."""
    return {status: {"model": ErrorBody, "description": _MEANING[status]} for status in statuses}


def error_body(message: str, kind: str, code: str, request_id: str) -> dict[str, object]:
    return {"error": {"message": message, "type": kind, "code": code}, "request_id": request_id}


def error_of(exc: Exception, request_id: str) -> dict[str, object]:
    """The error body of an exception (the last event of a stream, or the body of `error_response`)."""
    if isinstance(exc, DocentError):
        _, kind = STATUS[exc.code]
        return error_body(exc.message, kind, str(exc.code), request_id)
    log.error("unexpected error id=%s", request_id, exc_info=exc)
    return error_body(_INTERNAL_MESSAGE, STATUS[ErrorCode.INTERNAL][1], ErrorCode.INTERNAL, request_id)


def error_response(exc: Exception, request_id: str) -> JSONResponse:
    """The HTTP response of an error raised before a response started (a stream's first event included)."""
    status = STATUS[exc.code if isinstance(exc, DocentError) else ErrorCode.INTERNAL][0]
    response = JSONResponse(error_of(exc, request_id), status_code=status)
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, RateLimitedError):
        response.headers["Retry-After"] = str(exc.retry_after_s)
    return response


def respond(request: Request, code: ErrorCode, message: str, *, status: int | None = None) -> JSONResponse:
    """The error response of `code` (its status and type from STATUS; `status` overrides the status only)."""
    default_status, kind = STATUS[code]
    request_id = getattr(request.state, "request_id", "")
    return JSONResponse(error_body(message, kind, code, request_id), status_code=status or default_status)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DocentError)
    async def docent_error(request: Request, exc: DocentError) -> JSONResponse:
        return error_response(exc, getattr(request.state, "request_id", ""))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return respond(request, ErrorCode.INVALID_REQUEST, details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED}.get(
            exc.status_code, ErrorCode.INVALID_REQUEST
        )
        return respond(request, code, str(exc.detail), status=exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error id=%s", getattr(request.state, "request_id", ""))
        return respond(request, ErrorCode.INTERNAL, _INTERNAL_MESSAGE)
