"""The web page's sign-in: the authorization code flow with PKCE (RFC 7636) and a nonce, by hand over the
provider's discovered endpoints (authlib builds the PKCE challenge and the authorization URL).

`start` gives the URL to send the browser to and the `Flow` to keep in a cookie; `finish` checks the callback's
state against that flow, exchanges the code, and checks the ID token like any bearer token (signature, issuer,
expiry) plus its audience (the client id) and nonce.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A completed sign-in: who, their ID token, and the refresh token ("" when the provider sent none)."""

    identity: Identity
    id_token: str
    refresh_token: str = ""


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

    def finish(self, flow: Flow | None, params: dict[str, str], redirect_uri: str) -> SignedIn:
        """The identity of a completed sign-in, its ID token and refresh token, from the callback's query `params`.

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
        body = self._token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": flow.verifier,
            },
            "exchange the authorization code",
        )
        id_token = body.get("id_token")
        if not isinstance(id_token, str):
            raise SignInError("the identity provider sent no ID token for the authorization code")
        claims = self._id_tokens.claims(id_token)
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or not hmac.compare_digest(nonce.encode(), flow.nonce.encode()):
            raise SignInError("the ID token was not issued for this sign-in (nonce)")
        refresh = body.get("refresh_token")
        return SignedIn(self._mapping.identity(claims), id_token, refresh if isinstance(refresh, str) else "")

    def refresh(self, refresh_token: str, subject: str) -> tuple[Identity, str]:
        """Who the reader of a session is now, by its refresh token: a new ID token where the provider sends one,
        else its user info. The identity and the refresh token to keep (rotated or the same).

        Raises:
            SignInError: the provider refused the refresh token (revoked, the user disabled), or named another user.
            ForbiddenError: the reader's groups no longer allow them to sign in.
            IdentityProviderUnavailableError: the provider could not be reached.
        """
        body = self._token_request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token}, "refresh the session"
        )
        id_token, access_token = body.get("id_token"), body.get("access_token")
        if isinstance(id_token, str):
            claims = self._id_tokens.claims(id_token)
        elif isinstance(access_token, str):
            claims = self._userinfo(access_token)
        else:
            raise SignInError("the identity provider's refresh sent neither an ID token nor an access token")
        if claims.get("sub") != subject:
            raise SignInError("the identity provider's refresh names another user")
        rotated = body.get("refresh_token")
        return self._mapping.identity(claims), rotated if isinstance(rotated, str) and rotated else refresh_token

    def _userinfo(self, access_token: str) -> dict[str, object]:
        endpoint = self._discovery.metadata().userinfo_endpoint
        if not endpoint:
            raise SignInError("the identity provider has no userinfo endpoint to refresh a session with")
        try:
            response = self._http.get(endpoint, headers={"Authorization": f"Bearer {access_token}"})
        except httpx.HTTPError as exc:
            raise IdentityProviderUnavailableError(f"the identity provider's userinfo failed ({exc})") from exc
        if response.status_code >= 500:
            raise IdentityProviderUnavailableError(f"the identity provider's userinfo answered {response.status_code}")
        try:
            claims = response.json()
        except ValueError:
            claims = None
        if response.status_code != 200 or not isinstance(claims, dict):
            raise SignInError(f"the identity provider's userinfo refused the session ({response.status_code})")
        return claims

    def _token_request(self, data: dict[str, str], what: str) -> dict[str, object]:
        """A call to the token endpoint as this client: its JSON body; 4xx → SignInError, else unavailable."""
        endpoint = self._discovery.metadata().token_endpoint
        try:
            response = self._http.post(
                endpoint,
                data=data,
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
        if not isinstance(body, dict):
            body = {}
        if response.status_code != 200:
            reason = body.get("error_description") or body.get("error") or f"status {response.status_code}"
            raise SignInError(f"the identity provider did not {what}: {reason}")
        return body
