"""The web page's single sign-on: `/auth/login` sends the browser to the identity provider, `/auth/callback`
takes it back and sets the session cookie, `/auth/logout` ends the session (and the provider's, where it offers
RP-initiated logout). Without DOCENT_OIDC__ISSUER each answers 404. Sign-ins and sign-outs are in the audit
trail (actions signin, signout) with the provider's subject and the session's id."""

from __future__ import annotations

import secrets
from dataclasses import replace

from authlib.common.urls import add_params_to_uri
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from retrieval.errors import IdentityProviderUnavailableError, PathNotFoundError
from serve.api.auditing import audit
from serve.api.auth import identity_caller
from serve.api.services import ServicesDep
from serve.oidc.authenticator import OIDCAuthenticator
from serve.oidc.session import FLOW_COOKIE, FLOW_MAX_AGE_S, SESSION_COOKIE

router = APIRouter(include_in_schema=False)


def _oidc(s: ServicesDep) -> OIDCAuthenticator:
    if s.oidc is None:
        raise PathNotFoundError("single sign-on is not configured on this server (DOCENT_OIDC__ISSUER)")
    return s.oidc


def _base(oidc: OIDCAuthenticator, request: Request) -> str:
    """Where readers reach Docent: DOCENT_PUBLIC_URL, else the URL of this request (development only: behind
    a proxy the request's own URL may not be the one the provider must send the browser back to)."""
    return oidc.public_url or str(request.base_url).rstrip("/")


@router.get("/auth/login")
def login(request: Request, s: ServicesDep) -> RedirectResponse:
    oidc = _oidc(s)
    url, flow = oidc.signin.start(_base(oidc, request) + "/auth/callback")
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(
        FLOW_COOKIE,
        oidc.cookies.flow_value(flow),
        max_age=FLOW_MAX_AGE_S,
        path="/auth",
        httponly=True,
        secure=oidc.secure_cookies,
        samesite="lax",  # the provider's redirect back is a top-level GET: Lax cookies go with it
    )
    return response


@router.get("/auth/callback")
def callback(request: Request, s: ServicesDep) -> RedirectResponse:
    oidc = _oidc(s)
    flow = oidc.cookies.flow(request.cookies.get(FLOW_COOKIE, ""))
    signed_in = oidc.signin.finish(flow, dict(request.query_params), _base(oidc, request) + "/auth/callback")
    identity = signed_in.identity
    if not identity.session:  # the provider names no session (sid): this sign-in gets its own id
        identity = replace(identity, session=f"web:{secrets.token_urlsafe(12)}")
    audit(request, s, identity_caller(identity), "signin", channel="web").done()
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(FLOW_COOKIE, path="/auth")
    response.set_cookie(
        SESSION_COOKIE,
        oidc.cookies.start(identity, signed_in.refresh_token),
        max_age=int(oidc.cookies.max_age_s),
        path="/",
        httponly=True,
        secure=oidc.secure_cookies,
        samesite="lax",
    )
    return response


@router.get("/auth/logout")
def logout(request: Request, s: ServicesDep) -> RedirectResponse:
    oidc = _oidc(s)
    home = _base(oidc, request) + "/"
    ended = oidc.cookies.end(request.cookies.get(SESSION_COOKIE, ""))  # on every replica, for every copy
    if ended is not None:
        audit(request, s, identity_caller(ended.identity), "signout", channel="web").done()
    target = "/"
    try:
        end_session = oidc.discovery.metadata().end_session_endpoint
    except IdentityProviderUnavailableError:
        end_session = ""  # the session here ends all the same
    if end_session:
        params = [("client_id", oidc.settings.client_id), ("post_logout_redirect_uri", home)]
        target = add_params_to_uri(end_session, params)
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, secure=oidc.secure_cookies, samesite="lax")
    return response
