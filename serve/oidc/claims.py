"""The principal of a validated token's claims: user id, groups (through the deployment's map), and role.

A pure function of the claims and the settings: the same mapping serves bearer tokens and (later) the web page's
session, so a group removed at the provider takes effect at the next token.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from retrieval.access import Principal, group_name
from retrieval.errors import ConfigError, ForbiddenError, UnauthorizedError
from serve.settings import OIDCSettings
from serve.stores.keys import Role

log = logging.getLogger("docent.oidc")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a token names: the principal searches run as, its role, and the provider's ids for the audit trail."""

    principal: Principal
    role: Role
    subject: str  # the provider's `sub`
    session: str = ""  # the token's `sid` (the sign-in session) or else its `jti`


@dataclass(frozen=True, slots=True)
class ClaimsMapping:
    """How claims become an `Identity` (see `OIDCSettings` for each field's meaning)."""

    user_claim: str = "email"
    groups_claim: str = "groups"
    group_map: Mapping[str, str] | None = None
    allowed_groups: tuple[str, ...] = ()
    admin_group: str = ""

    @classmethod
    def of(cls, settings: OIDCSettings) -> ClaimsMapping:
        return cls(
            user_claim=settings.user_claim,
            groups_claim=settings.groups_claim,
            group_map=dict(settings.group_map),
            allowed_groups=tuple(settings.allowed_groups),
            admin_group=settings.admin_group,
        )

    def identity(self, claims: Mapping[str, object]) -> Identity:
        """The identity of `claims`.

        Raises:
            UnauthorizedError: no usable user id (neither the user claim nor `sub`).
            ForbiddenError: the allow-list is set and none of the user's groups is on it.
        """
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            raise UnauthorizedError("the token has no subject (sub claim)")
        user = claim(claims, self.user_claim)
        user_id = user if isinstance(user, str) and user.strip() else subject
        provider_groups = _strings(claim(claims, self.groups_claim))
        docent_groups = self.groups(provider_groups)
        # The allow-list and the admin group may name either side of the map.
        names = {n.strip().lower() for n in provider_groups} | set(docent_groups)
        if self.allowed_groups and not names & {g.strip().lower() for g in self.allowed_groups}:
            raise ForbiddenError(f"{user_id} is not in a group allowed to use Docent (ask an administrator)")
        admin = bool(self.admin_group) and self.admin_group.strip().lower() in names
        session = claims.get("sid") or claims.get("jti") or ""
        try:
            principal = Principal(user_id, tuple(docent_groups))
        except ConfigError as exc:  # a user id that reads as a group (`group:x`)
            raise UnauthorizedError(f"the token's user id is unusable: {exc.message}") from None
        return Identity(principal, "admin" if admin else "read", subject, str(session))

    def groups(self, provider_groups: Sequence[str]) -> list[str]:
        """Docent's group names of the provider's: mapped where the map names them, else as they are. A name
        that is no valid group (`role:x`, a `user:` entry) is left out rather than refusing the sign-in."""
        mapping = {k.strip().lower(): v for k, v in (self.group_map or {}).items()}
        groups = []
        for name in provider_groups:
            target = mapping.get(name.strip().lower(), name)
            try:
                groups.append(group_name(target))
            except ConfigError:
                log.info("oidc: group %r is not a valid Docent group name; map it (DOCENT_OIDC__GROUP_MAP)", name)
        return groups


def claim(claims: Mapping[str, object], path: str) -> object:
    """The value at a dotted `path` (`realm_access.roles`), or None. A claim whose own name holds dots (as
    some providers' namespaced claims do, `https://corp.com/groups`) is found by its whole name first."""
    if path in claims:
        return claims[path]
    value: object = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _strings(value: object) -> list[str]:
    """A claim holding one name or a list of names, as a list of non-empty strings."""
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str) and v.strip()]
    return []
