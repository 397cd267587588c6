"""Single sign-on's parts for one server process, built from `OIDCSettings` (no I/O until the first token or
sign-in): discovery, keys, token validation and the claims mapping for bearer tokens; the sign-in flow and the
session cookies for the web page."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import replace

import httpx

from retrieval.errors import ForbiddenError, IdentityProviderUnavailableError, UnauthorizedError
from serve.oidc.claims import ClaimsMapping, Identity
from serve.oidc.discovery import Discovery
from serve.oidc.keys import KeySet
from serve.oidc.session import Session, SessionCookies
from serve.oidc.signin import SignIn
from serve.oidc.tokens import TokenValidator
from serve.settings import OIDCSettings
from serve.stores.sessions import SessionStore

log = logging.getLogger("docent.oidc")
REFRESH_RETRY_S = 60.0  # a refresh that could not reach the provider is tried again this much later


class OIDCAuthenticator:
    """`identity(token)`: who a valid token of the provider names; `close()` releases its HTTP connections."""

    def __init__(
        self,
        settings: OIDCSettings,
        *,
        sessions: SessionStore,
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

        def validator(audience: str) -> TokenValidator:
            return TokenValidator(
                issuer=settings.issuer,
                audience=audience,
                algorithms=settings.algorithms,
                keys=self.keys,
                clock_skew_s=settings.clock_skew_s,
                clock=wall_clock,
            )

        self.validator = validator(settings.expected_audience)
        self.mapping = ClaimsMapping.of(settings)
        self.public_url = public_url.rstrip("/")  # "": the URL each request came in on (development)
        self.signin = SignIn(
            self.discovery,
            self._http,
            client_id=settings.client_id,
            client_secret=settings.client_secret.get_secret_value() if settings.client_secret else "",
            scopes=settings.scopes,
            # ID tokens are for the client itself, whatever audience the API's access tokens carry.
            id_tokens=validator(settings.client_id),
            mapping=self.mapping,
        )
        secret = settings.session_secret.get_secret_value() if settings.session_secret else ""
        if not secret:  # an empty variable (compose's ${X:-}) is no secret: never sign with ""
            log.warning(
                "oidc: no DOCENT_OIDC__SESSION_SECRET: a sign-in under way fails if the provider sends the reader"
                " back to another replica, or after this process restarts"
            )
            secret = secrets.token_hex(32)
        self.cookies = SessionCookies(
            secret, max_age_s=settings.session_hours * 3600, store=sessions, refresh_s=settings.refresh_minutes * 60
        )

    @property
    def secure_cookies(self) -> bool:
        """Cookies only over HTTPS where the page is served over HTTPS."""
        return self.public_url.startswith("https://")

    @property
    def provider(self) -> str:
        """The provider's name for the page's sign-in button (DOCENT_OIDC__PROVIDER_NAME, else its host)."""
        return self.settings.provider_name or httpx.URL(self.settings.issuer).host

    def session(self, value: str) -> Session | None:
        """The live session of a session cookie's value, asking the provider again who its reader is when the
        refresh is due: a group removed there is gone from the session, and a reader the provider no longer
        knows (refresh token revoked, user disabled) or no longer allows is signed out (None). While the provider
        cannot be reached the session keeps what it had, and asks again a minute later."""
        session = self.cookies.session(value)
        if session is None or not session.refresh_due:
            return session
        store = self.cookies.store
        if not store.claim_refresh(value, retry_after_s=REFRESH_RETRY_S):
            return session  # another request of this reader refreshes it
        try:
            identity, refresh_token = self.signin.refresh(session.refresh_token, session.identity.subject)
        except IdentityProviderUnavailableError as exc:
            log.warning(
                "oidc: the session of %s keeps its groups until the provider answers: %s",
                session.identity.principal.user_id,
                exc.message,
            )
            return session
        except (UnauthorizedError, ForbiddenError) as exc:
            log.info("oidc: the session of %s ends: %s", session.identity.principal.user_id, exc.message)
            store.end(value)
            return None
        identity = replace(identity, session=session.identity.session)  # the audit trail's session id stays
        store.refreshed(value, identity, refresh_token=refresh_token, refresh_after_s=self.cookies.refresh_s)
        return replace(session, identity=identity, refresh_token=refresh_token, refresh_due=False)

    def identity(self, token: str) -> Identity:
        """The identity a bearer JWT names (see `TokenValidator.claims` and `ClaimsMapping.identity` for the
        errors)."""
        return self.mapping.identity(self.validator.claims(token))

    def close(self) -> None:
        self._http.close()
