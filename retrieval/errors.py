"""One error family for all of Docent.

Domain code raises a `DocentError` subclass with a stable `code`; only the entry points (the CLI, the HTTP API,
the Slack bot) decide how an error is shown. Codes are part of the public contract: never rename one. Every code
sent on the wire is a member of `ErrorCode`, including those the HTTP layer produces itself (`invalid_request`,
`not_found`, `not_ready`, `internal`), and serve/api/errors.py maps each one to a status (a test checks it).

`transient` says whether the same request may succeed if tried again later (a dependency down or busy), so
callers decide to retry or to say "try again" from the error's class, never from its message or code text.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    CONFIG_INVALID = "config_invalid"
    INDEX_LOCKED = "index_locked"
    INDEX_MISMATCH = "index_mismatch"
    INDEX_UNAVAILABLE = "index_unavailable"
    MODEL_UNAVAILABLE = "model_unavailable"
    PATH_NOT_FOUND = "path_not_found"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    GENERATOR_UNAVAILABLE = "generator_unavailable"
    GENERATOR_TIMEOUT = "generator_timeout"
    RATE_LIMITED = "rate_limited"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    MODEL_NOT_FOUND = "model_not_found"
    QUEUE_UNAVAILABLE = "queue_unavailable"
    QUEUE_FULL = "queue_full"
    DATABASE_UNAVAILABLE = "database_unavailable"
    IDENTITY_PROVIDER_UNAVAILABLE = "identity_provider_unavailable"
    SOURCE_UNAVAILABLE = "source_unavailable"
    # Produced by the HTTP layer itself rather than by a DocentError subclass.
    INVALID_REQUEST = "invalid_request"  # the body or a parameter does not match the schema
    NOT_FOUND = "not_found"  # no such route
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_READY = "not_ready"  # /readyz: a dependency is not ready yet
    INTERNAL = "internal"  # an unexpected exception (a bug); the details are in the server log


class DocentError(Exception):
    """Base of every error Docent raises on purpose."""

    code: ErrorCode = ErrorCode.CONFIG_INVALID
    transient: bool = False  # True: a dependency is down or busy, and the same request may succeed later

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(DocentError):
    code = ErrorCode.CONFIG_INVALID


class IndexLockedError(DocentError):
    """The embedded index is held by another process (embedded stores are single-process)."""

    code = ErrorCode.INDEX_LOCKED


class IndexMismatchError(DocentError):
    """An existing collection was built with another embedding model or vector size."""

    code = ErrorCode.INDEX_MISMATCH


class IndexUnavailableError(DocentError):
    """The Qdrant server cannot be reached or answered with an error."""

    code = ErrorCode.INDEX_UNAVAILABLE
    transient = True


class ModelUnavailableError(DocentError):
    """A model cannot be loaded (not installed, a wrong path): trying again will not help."""

    code = ErrorCode.MODEL_UNAVAILABLE


class PathNotFoundError(DocentError):
    code = ErrorCode.PATH_NOT_FOUND


class UnauthorizedError(DocentError):
    """No API key, or one that is not known."""

    code = ErrorCode.UNAUTHORIZED


class ForbiddenError(DocentError):
    """A known key that may not do this (document management needs an admin key)."""

    code = ErrorCode.FORBIDDEN


class GeneratorUnavailableError(DocentError):
    """The language model server is down, slow, busy or answered with an error."""

    code = ErrorCode.GENERATOR_UNAVAILABLE
    transient = True


class GeneratorTimeoutError(GeneratorUnavailableError):
    """The answer's deadline passed before the model finished (a hung or overloaded model server)."""

    code = ErrorCode.GENERATOR_TIMEOUT


class RateLimitedError(DocentError):
    """Too many requests from one caller; `retry_after_s` says when the next one is allowed."""

    code = ErrorCode.RATE_LIMITED
    transient = True

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ModelNotFoundError(DocentError):
    """A chat completion asked for a model this server does not offer (it offers `docent`)."""

    code = ErrorCode.MODEL_NOT_FOUND


class QueueUnavailableError(DocentError):
    """The job queue (Redis) cannot be reached: new jobs are refused, searches go on."""

    code = ErrorCode.QUEUE_UNAVAILABLE
    transient = True


class QueueFullError(DocentError):
    """The in-process queue holds as many tasks as it may: try again when some have run."""

    code = ErrorCode.QUEUE_FULL
    transient = True


class DatabaseUnavailableError(DocentError):
    """The relational store (keys, feedback, audit) cannot be reached: new keys and admin routes are refused,
    answers go on for keys seen in the last minutes."""

    code = ErrorCode.DATABASE_UNAVAILABLE
    transient = True


class IdentityProviderUnavailableError(DocentError):
    """The OpenID Connect provider's metadata or keys cannot be fetched: a token signed by a key not yet known
    cannot be checked (tokens of known keys still are)."""

    code = ErrorCode.IDENTITY_PROVIDER_UNAVAILABLE
    transient = True


class SourceUnavailableError(DocentError):
    """A document source (S3, a website, Confluence, ...) could not be listed completely: a sync changes and
    deletes nothing of that source until a later sync lists it whole."""

    code = ErrorCode.SOURCE_UNAVAILABLE
    transient = True
