"""A real OpenID Connect provider (`oidc-provider-mock`, a PyPI package) in its own process on a free port, and a
client that gets tokens from it the way a relying party does: the authorization code flow over HTTP.

The provider signs ID tokens with an RSA key it generates at start (RS256), names itself by the URL it is reached
at (`http://127.0.0.1:<port>`), accepts any client id and secret, and lets a test set a user's claims
(`PUT /users/<sub>`), which its next tokens carry (custom claims such as `groups` whatever the scope).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import subprocess
import sys
import time
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from tests.support.llama_servers import free_port

CLIENT_ID = "docent-tests"
CLIENT_SECRET = "docent-tests-secret"
REDIRECT_URI = "http://127.0.0.1:9/callback"  # never reached: the code is read from the redirect itself


class OIDCProvider:
    def __init__(self) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> OIDCProvider:
        return self.start()

    def start(self) -> OIDCProvider:
        """Start it (again, after `stop()`: on the same port, with a new signing key and no users)."""
        self._process = subprocess.Popen(
            [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            assert self._process.poll() is None and time.monotonic() < deadline, "oidc-provider-mock did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_user(self, sub: str, claims: dict[str, object]) -> None:
        """The claims of user `sub` from now on (their next tokens carry them)."""
        response = httpx.put(f"{self.issuer}/users/{quote(sub, safe='')}", json=claims, timeout=10)
        assert response.status_code == 204, response.text

    def revoke_tokens(self, sub: str) -> None:
        """Revoke every access and refresh token of user `sub` (as disabling the user at a provider does)."""
        response = httpx.post(f"{self.issuer}/users/{quote(sub, safe='')}/revoke-tokens", timeout=10)
        assert response.status_code == 204, response.text

    def tokens(self, sub: str, *, client_id: str = CLIENT_ID, scope: str = "openid email profile") -> dict:
        """The token response (`id_token`, `access_token`, ...) of signing `sub` in: the authorization request
        with PKCE, the provider's form submitted as the user, then the code exchanged at the token endpoint."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        state = secrets.token_urlsafe(16)
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": scope,
            "state": state,
            "nonce": secrets.token_urlsafe(16),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        with httpx.Client(base_url=self.issuer, timeout=10) as http:
            form = http.get("/oauth2/authorize", params=params)
            assert form.status_code == 200 and "sub" in form.text, form.text
            authorized = http.post("/oauth2/authorize", params=params, data={"sub": sub})
            assert authorized.status_code in (302, 303), authorized.text
            query = parse_qs(urlsplit(authorized.headers["location"]).query)
            assert query["state"] == [state]
            token = http.post(
                "/oauth2/token",
                data={
                    "grant_type": "authorization_code",
                    "code": query["code"][0],
                    "redirect_uri": REDIRECT_URI,
                    "code_verifier": verifier,
                },
                auth=(client_id, CLIENT_SECRET),
            )
            assert token.status_code == 200, token.text
            return token.json()

    def id_token(self, sub: str, **kwargs: str) -> str:
        return self.tokens(sub, **kwargs)["id_token"]
