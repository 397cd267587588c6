"""The web page's sign-in: the authorization code flow with PKCE (RFC 7636) and a nonce, by hand over the
provider's discovered endpoints (authlib builds the PKCE challenge and the authorization URL).

`start` gives the URL to send the browser to and the `Flow` to keep in a cookie; `finish` checks the callback's
state against that flow, exchanges the code, and checks the ID token like any bearer token (signature, issuer,
expiry) plus its audience (the client id) and nonce.
"""

from __future__ import annotations

import hmac

import httpx
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from retrieval.errors import IdentityProviderUnavailableError, UnauthorizedError
from serve.oidc.claims import ClaimsMapping, Identity
from serve.oidc.discovery import Discovery
from serve.oidc.session import Flow
from serve.oidc.tokens import TokenValidator


class SignInError(UnauthorizedError):
    """The callback cannot complete a sign-in: state missing or mismatched, the provider refused, a bad code."""


class SignIn:
    """The authorization code flow against the provider of `discovery`, as client `client_id`."""

    def __init__(
        self,
        discovery: Discovery,
        http: httpx.Client,
        *,
        client_id: str,
        client_secret: str,
        scopes: str,
        id_tokens: TokenValidator,
        mapping: ClaimsMapping,
    ) -> None:
        self._discovery = discovery
        self._http = http
        self._client_id = client_id
        self._client_secret = client_secret
        self._scopes = scopes
        self._id_tokens = id_tokens
        self._mapping = mapping

    def start(self, redirect_uri: str) -> tuple[str, Flow]:
        """The provider's authorization URL for a new sign-in, and the flow the callback will need."""
        flow = Flow.new()
        url = add_params_to_uri(
            self._discovery.metadata().authorization_endpoint,
            [
                ("response_type", "code"),
                ("client_id", self._client_id),
                ("redirect_uri", redirect_uri),
                ("scope", self._scopes),
                ("state", flow.state),
                ("nonce", flow.nonce),
                ("code_challenge", create_s256_code_challenge(flow.verifier)),
                ("code_challenge_method", "S256"),
            ],
        )
        return url, flow

    def finish(self, flow: Flow | None, params: dict[str, str], redirect_uri: str) -> tuple[Identity, str]:
        """The identity of a completed sign-in and its ID token, from the callback's query `params`.

        Raises:
            SignInError: no flow (the cookie is missing or expired), a state that is not the flow's, an error
                from the provider, or a code it does not exchange.
            InvalidTokenError: the ID token is not valid (or not for this sign-in: another nonce).
            ForbiddenError: the reader's groups are not allowed to sign in.
        """
        state = params.get("state", "")
        if flow is None:
            raise SignInError("no sign-in is under way in this browser (or it took too long): start again")
        if not state or not hmac.compare_digest(state.encode(), flow.state.encode()):
            raise SignInError("the sign-in's state does not match this browser's: start again")
        if "error" in params:
            raise SignInError(f"the identity provider refused: {params.get('error_description') or params['error']}")
        code = params.get("code", "")
        if not code:
            raise SignInError("the identity provider sent no authorization code")
        id_token = self._exchange(code, flow, redirect_uri)
        claims = self._id_tokens.claims(id_token)
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or not hmac.compare_digest(nonce.encode(), flow.nonce.encode()):
            raise SignInError("the ID token was not issued for this sign-in (nonce)")
        return self._mapping.identity(claims), id_token

    def _exchange(self, code: str, flow: Flow, redirect_uri: str) -> str:
        endpoint = self._discovery.metadata().token_endpoint
        try:
            response = self._http.post(
                endpoint,
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": redirect_uri,
                    "code_verifier": flow.verifier,
                },
                auth=(self._client_id, self._client_secret),
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise IdentityProviderUnavailableError(f"the identity provider's token endpoint failed ({exc})") from exc
        if response.status_code >= 500:
            raise IdentityProviderUnavailableError(
                f"the identity provider's token endpoint answered {response.status_code}"
            )
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not isinstance(body.get("id_token"), str):
            reason = body.get("error_description") or body.get("error") or f"status {response.status_code}"
            raise SignInError(f"the identity provider did not exchange the authorization code: {reason}")
        return str(body["id_token"])
