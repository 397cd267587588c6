"""The principal a provider's claims make: user id, groups through the map, the allow-list and the admin group;
and the settings that refuse algorithms which would let anyone sign."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from retrieval.errors import ForbiddenError, UnauthorizedError
from serve.oidc.claims import ClaimsMapping, claim
from serve.oidc.tokens import looks_like_jwt
from serve.settings import OIDCSettings


def test_user_id_from_the_user_claim_or_else_the_subject():
    mapping = ClaimsMapping()
    assert mapping.identity({"sub": "00u1", "email": "Ann@Corp.com"}).principal.user_id == "ann@corp.com"
    no_email = mapping.identity({"sub": "00u1", "sid": "s-1"})
    assert (no_email.principal.user_id, no_email.subject, no_email.session) == ("00u1", "00u1", "s-1")
    entra = ClaimsMapping(user_claim="preferred_username").identity({"sub": "x", "preferred_username": "ann@corp.com"})
    assert entra.principal.user_id == "ann@corp.com"
    with pytest.raises(UnauthorizedError):
        mapping.identity({"email": "ann@corp.com"})  # no subject


def test_groups_from_a_nested_claim_through_the_map():
    keycloak = ClaimsMapping(groups_claim="realm_access.roles", group_map={"HR-Staff": "hr"})
    claims = {"sub": "1", "realm_access": {"roles": ["hr-staff", "offline_access"]}, "groups": ["ignored"]}
    assert keycloak.identity(claims).principal.groups == ("hr", "offline_access")
    assert claim({"https://corp.com/groups": ["a"]}, "https://corp.com/groups") == ["a"]  # a dotted claim name
    assert claim({"a": {"b": 1}}, "a.c") is None and claim({"a": 1}, "a.b") is None
    one = ClaimsMapping().identity({"sub": "1", "groups": "ops"})
    assert one.principal.groups == ("ops",)
    odd = ClaimsMapping().identity({"sub": "1", "groups": ["urn:x:y", "user:eve", 7, "it"]})
    assert odd.principal.groups == ("it",)  # names that are no valid Docent group are left out, not fatal


def test_the_allow_list_and_the_admin_group_name_either_side_of_the_map():
    mapping = ClaimsMapping(
        group_map={"5f2c-guid": "hr"}, allowed_groups=["hr", "Contractors"], admin_group="docent-admins"
    )
    assert mapping.identity({"sub": "1", "groups": ["5f2c-guid"]}).role == "read"
    assert mapping.identity({"sub": "2", "groups": ["contractors"]}).principal.groups == ("contractors",)
    with pytest.raises(ForbiddenError):
        mapping.identity({"sub": "3", "groups": ["sales"]})
    with pytest.raises(ForbiddenError):
        mapping.identity({"sub": "4"})
    admin = ClaimsMapping(admin_group="docent-admins").identity({"sub": "5", "groups": ["Docent-Admins"]})
    assert admin.role == "admin"
    assert ClaimsMapping().identity({"sub": "6", "groups": ["docent-admins"]}).role == "read"  # no admin group set


def test_settings_refuse_algorithms_that_let_anyone_sign():
    for bad in (["none"], ["HS256"], ["RS256", "HS512"], []):
        with pytest.raises(ValidationError):
            OIDCSettings(issuer="https://idp", client_id="docent", algorithms=bad)
    with pytest.raises(ValidationError):
        OIDCSettings(issuer="https://idp")  # no audience to check
    settings = OIDCSettings(issuer="https://idp", client_id="docent")
    assert settings.enabled and settings.expected_audience == "docent" and settings.algorithms == ["RS256", "ES256"]
    assert not OIDCSettings().enabled


def test_only_jwt_shaped_tokens_are_taken_for_the_providers():
    assert looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln")
    assert looks_like_jwt("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.")  # alg none: refused later, by its alg
    assert not looks_like_jwt("dk_abc123") and not looks_like_jwt("a.b") and not looks_like_jwt("a.b.c.d")


def test_slack_users_groups_go_through_the_providers_group_map_when_single_sign_on_is_on():
    from serve.components import slack_users
    from serve.settings import Settings

    users = {"U1": {"user": "ann@corp.com", "groups": ["Human-Resources", "sales"]}, "Bob@Corp.com": {"user": "bob"}}
    plain = Settings(_env_file=None, slack={"users": users})
    assert slack_users(plain)["U1"].groups == ("human-resources", "sales")  # settings canonicalise the names
    sso = Settings(
        _env_file=None,
        slack={"users": users},
        oidc={"issuer": "https://idp.corp.com", "client_id": "docent", "group_map": {"human-resources": "hr"}},
    )
    mapped = slack_users(sso)
    assert mapped["U1"].groups == ("hr", "sales") and mapped["bob@corp.com"].user == "bob"
