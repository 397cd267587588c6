"""The provider's metadata, from `<issuer>/.well-known/openid-configuration` (OpenID Connect Discovery 1.0).

Fetched on first use (constructors do no I/O), then kept `cache_s`; a failed refresh keeps serving the metadata
already known, so a provider outage does not stop tokens signed by known keys from being checked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from retrieval.errors import IdentityProviderUnavailableError

WELL_KNOWN = "/.well-known/openid-configuration"


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    """What Docent uses of the provider's metadata."""

    issuer: str
    jwks_uri: str
    authorization_endpoint: str = ""
    token_endpoint: str = ""
    userinfo_endpoint: str = ""  # where a session's refresh asks who the reader is now
    end_session_endpoint: str = ""  # "" where the provider has no RP-initiated logout


def fetch_json(http: httpx.Client, url: str, what: str) -> dict[str, object]:
    """The JSON object at `url`; `IdentityProviderUnavailableError` naming `what` for any failure (the client's
    timeouts bound the wait)."""
    try:
        response = http.get(url)
        response.raise_for_status()
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise IdentityProviderUnavailableError(f"the identity provider's {what} could not be fetched ({exc})") from exc
    if not isinstance(body, dict):
        raise IdentityProviderUnavailableError(f"the identity provider's {what} at {url} is not a JSON object")
    return body


class Discovery:
    """The metadata of the provider at `issuer`, fetched on first use and again after `cache_s`."""

    def __init__(
        self,
        issuer: str,
        http: httpx.Client,
        *,
        cache_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self._http = http
        self._cache_s = cache_s
        self._clock = clock
        self._lock = threading.Lock()
        self._metadata: ProviderMetadata | None = None
        self._fetched_at = 0.0

    def metadata(self) -> ProviderMetadata:
        """The provider's metadata; `IdentityProviderUnavailableError` if it was never fetched and cannot be."""
        with self._lock:
            stale = self._metadata is None or self._clock() - self._fetched_at >= self._cache_s
            if stale:
                try:
                    self._metadata = self._fetch()
                    self._fetched_at = self._clock()
                except IdentityProviderUnavailableError:
                    if self._metadata is None:
                        raise
            assert self._metadata is not None
            return self._metadata

    def _fetch(self) -> ProviderMetadata:
        url = self.issuer.rstrip("/") + WELL_KNOWN
        body = fetch_json(self._http, url, "metadata")
        issuer, jwks_uri = body.get("issuer"), body.get("jwks_uri")
        if issuer != self.issuer:  # OpenID Connect Discovery 1.0, section 4.3: they must be identical
            raise IdentityProviderUnavailableError(
                f"the identity provider at {url} names its issuer {issuer!r}: set DOCENT_OIDC__ISSUER to exactly that"
            )
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise IdentityProviderUnavailableError(f"the identity provider's metadata at {url} has no jwks_uri")

        def text(name: str) -> str:
            value = body.get(name)
            return value if isinstance(value, str) else ""

        return ProviderMetadata(
            issuer=issuer,
            jwks_uri=jwks_uri,
            authorization_endpoint=text("authorization_endpoint"),
            token_endpoint=text("token_endpoint"),
            userinfo_endpoint=text("userinfo_endpoint"),
            end_session_endpoint=text("end_session_endpoint"),
        )
