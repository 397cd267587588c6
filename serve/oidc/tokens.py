"""Validation of the provider's JWTs: signature by one of its keys, `alg` pinned, then `iss`, `aud`, `exp` and
`nbf` (with a small clock skew). Every refusal is an `UnauthorizedError` whose message says what was wrong.

The algorithm is checked against the configured list before any key is touched: `none` and the HS* algorithms
are never on it (serve/settings.py refuses them), so a token "signed" with the provider's public key as an HMAC
secret, or not signed at all, is refused whatever key it names.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Callable, Collection

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import Key

from retrieval.errors import UnauthorizedError
from serve.oidc.keys import KeySet

# Three base64url parts separated by dots (the signature part is empty for alg none).
_JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


def looks_like_jwt(token: str) -> bool:
    """Whether `token` has a JWT's shape (an API key, `dk_...`, has not)."""
    return bool(_JWT.match(token))


class InvalidTokenError(UnauthorizedError):
    """A bearer JWT that is malformed, not signed by the provider, or not valid for Docent now."""


class TokenValidator:
    """Checks the provider's tokens; `claims(token)` returns a valid token's claims."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        algorithms: Collection[str],
        keys: KeySet,
        clock_skew_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.algorithms = frozenset(algorithms)
        self._keys = keys
        self._skew = clock_skew_s
        self._clock = clock

    def claims(self, token: str) -> dict[str, object]:
        """The claims of a valid token.

        Raises:
            InvalidTokenError: malformed, an algorithm not accepted, an unknown key, a bad signature, another
                issuer or audience, expired or not yet valid.
            IdentityProviderUnavailableError: the provider's keys were never fetched and cannot be now.
        """
        header = _header(token)
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise InvalidTokenError(f"the token is signed with {alg!r}; accepted: {', '.join(sorted(self.algorithms))}")
        kid = header.get("kid") if isinstance(header.get("kid"), str) else None
        keys = self._keys.keys_for(kid)
        if not keys:
            raise InvalidTokenError(f"the token's signing key {kid!r} is not one of the identity provider's keys")
        claims = _verified(token, str(alg), keys)
        if claims is None and kid is None:  # no key id: the provider may have rotated its one key
            claims = _verified(token, str(alg), self._keys.refetch(None))
        if claims is None:
            raise InvalidTokenError("the token's signature does not verify with the identity provider's keys")
        self._check(claims)
        return claims

    def _check(self, claims: dict[str, object]) -> None:
        if claims.get("iss") != self.issuer:
            raise InvalidTokenError(f"the token was issued by {claims.get('iss')!r}, not by {self.issuer}")
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if self.audience not in audiences:
            raise InvalidTokenError(f"the token is meant for {aud!r}, not for this server ({self.audience})")
        now = self._clock()
        exp, nbf, iat = claims.get("exp"), claims.get("nbf"), claims.get("iat")
        if not _number(exp):
            raise InvalidTokenError("the token has no expiry (exp claim)")
        if exp + self._skew <= now:
            raise InvalidTokenError("the token has expired: get a new one from the identity provider")
        if nbf is not None and (not _number(nbf) or nbf - self._skew > now):
            raise InvalidTokenError("the token is not valid yet (nbf claim)")
        if iat is not None and (not _number(iat) or iat - self._skew > now):
            raise InvalidTokenError("the token was issued in the future (iat claim)")


def _verified(token: str, alg: str, keys: list[Key]) -> dict[str, object] | None:
    """The claims of `token` if one of `keys` verifies its signature with `alg`, else None."""
    for key in keys:
        try:
            return jwt.decode(token, key, algorithms=[alg]).claims
        except (JoseError, ValueError):
            continue
    return None


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _header(token: str) -> dict[str, object]:
    if not looks_like_jwt(token):
        raise InvalidTokenError("the bearer token is not a JWT")
    part = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise InvalidTokenError("the token's header is not valid JSON") from exc
    if not isinstance(header, dict):
        raise InvalidTokenError("the token's header is not a JSON object")
    return header
