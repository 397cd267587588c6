"""The provider's signing keys (its JWKS), cached and fetched again when a token names a key id not known yet.

Providers rotate keys by publishing the new one beside the old, then signing with it: a token with an unknown
`kid` is the signal to fetch the set again. Anyone can write any `kid` into a token, so that fetch happens at most
once per `min_refresh_s`: a flood of forged key ids costs the provider one request, not one per token.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, Key

from retrieval.errors import IdentityProviderUnavailableError
from serve.oidc.discovery import fetch_json

log = logging.getLogger("docent.oidc")


class KeySet:
    """The public keys at `jwks_uri()`; fetched on first use, after `max_age_s`, and on an unknown key id."""

    def __init__(
        self,
        jwks_uri: Callable[[], str],
        http: httpx.Client,
        *,
        max_age_s: float = 3600.0,
        min_refresh_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._jwks_uri = jwks_uri
        self._http = http
        self._max_age_s = max_age_s
        self._min_refresh_s = min_refresh_s
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: list[Key] | None = None
        self._fetched_at = 0.0

    def keys_for(self, kid: str | None) -> list[Key]:
        """The signature keys a token with key id `kid` may be signed with: the one of that id, or every key when
        the token names none. An unknown id fetches the set again (see `refetch`).
        `IdentityProviderUnavailableError` when no set was ever fetched and none can be."""
        with self._lock:
            if self._keys is None or self._clock() - self._fetched_at >= self._max_age_s:
                self._refresh()
            matching = _matching(self._keys or [], kid)
        if not matching and kid is not None:
            log.info("oidc: a token names key %r, not among the provider's keys: fetching them again", kid)
            return self.refetch(kid)
        return matching

    def refetch(self, kid: str | None) -> list[Key]:
        """The keys of id `kid` (all, for None) after fetching the set again, when a token's key is not known: a
        new `kid`, or a token that names none and that no known key verifies. [] if the set was fetched within
        `min_refresh_s` (the rate limit)."""
        with self._lock:
            if self._keys is not None and self._clock() - self._fetched_at < self._min_refresh_s:
                return []
            self._refresh()
            return _matching(self._keys or [], kid)

    def _refresh(self) -> None:
        """Fetch the set; on failure keep the keys known (a provider outage must not refuse valid tokens)."""
        try:
            body = fetch_json(self._http, self._jwks_uri(), "signing keys (JWKS)")
        except IdentityProviderUnavailableError:
            if self._keys is None:
                raise
            log.warning("oidc: the provider's keys could not be fetched again; the known ones stay in use")
            self._fetched_at = self._clock()  # not again at once: the same rate limit as a success
            return
        self._keys = _signature_keys(body.get("keys"))
        self._fetched_at = self._clock()


def _matching(keys: list[Key], kid: str | None) -> list[Key]:
    return [k for k in keys if kid is None or k.kid == kid]


def _signature_keys(entries: object) -> list[Key]:
    """The set's public signature keys: encryption keys, symmetric keys and kinds not understood are skipped
    (a symmetric "key" from a JWKS would let anyone who read the set sign tokens)."""
    keys: list[Key] = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("kty") == "oct" or entry.get("use", "sig") != "sig":
            continue
        try:
            keys.append(JWKRegistry.import_key(entry))
        except (JoseError, ValueError, TypeError) as exc:
            log.info("oidc: a key of the provider's set was skipped (%s)", exc)
    return keys
