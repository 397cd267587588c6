"""The provider's bearer tokens as Docent identities: discovery, keys, validation and the claims mapping, built
once per server process from `OIDCSettings` (no I/O until the first token)."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from serve.oidc.claims import ClaimsMapping, Identity
from serve.oidc.discovery import Discovery
from serve.oidc.keys import KeySet
from serve.oidc.tokens import TokenValidator
from serve.settings import OIDCSettings


class OIDCAuthenticator:
    """`identity(token)`: who a valid token of the provider names; `close()` releases its HTTP connections."""

    def __init__(
        self,
        settings: OIDCSettings,
        *,
        public_url: str = "",
        http: httpx.Client | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        # Every call to the provider is bounded: a hung provider costs a request `http_timeout_s`, not a worker.
        self._http = http or httpx.Client(timeout=httpx.Timeout(settings.http_timeout_s), follow_redirects=False)
        self.discovery = Discovery(settings.issuer, self._http, cache_s=settings.discovery_cache_s, clock=monotonic)
        self.keys = KeySet(
            lambda: self.discovery.metadata().jwks_uri,
            self._http,
            max_age_s=settings.discovery_cache_s,
            min_refresh_s=settings.jwks_refresh_min_s,
            clock=monotonic,
        )
        self.validator = TokenValidator(
            issuer=settings.issuer,
            audience=settings.expected_audience,
            algorithms=settings.algorithms,
            keys=self.keys,
            clock_skew_s=settings.clock_skew_s,
            clock=wall_clock,
        )
        self.mapping = ClaimsMapping.of(settings)
        self.public_url = public_url.rstrip("/")  # "": the URL each request came in on (development)

    @property
    def provider(self) -> str:
        """The provider's name for the page's sign-in button (its host)."""
        return httpx.URL(self.settings.issuer).host

    def identity(self, token: str) -> Identity:
        """The identity a bearer JWT names (see `TokenValidator.claims` and `ClaimsMapping.identity` for the
        errors)."""
        return self.mapping.identity(self.validator.claims(token))

    def close(self) -> None:
        self._http.close()
