"""Who is asking: the principal every search carries, and the access rule the index enforces.

The rule, applied inside Qdrant to every prefetch (so a user who may read only a few documents still gets k
results when the global top 100 are forbidden):

- a document marked public is visible to everyone;
- otherwise it is visible to a principal that holds one of the entries of its ACL: `group:<name>` for one of
  the principal's groups, or `user:<id>` for the principal itself;
- a document with no ACL that is not public is visible to nobody.

A principal with no groups therefore sees public documents and those shared with it by name. The principal comes
from authentication (the API key, the Slack user), never from request parameters; filters can only narrow it.

One principal syntax everywhere (CLI, upload form, keys, settings, Slack): an ACL entry is `group:<name>` or
`user:<id>`, and a bare name is a group (`hr` is `group:hr`). A principal's groups may be written either way
(`--groups hr` or `--groups group:hr`), and its user id with or without `user:`. Names are case-insensitive
(`HR` is `hr`, `Ann@Corp.com` is `ann@corp.com`), as e-mail addresses and most directories' group names are.
Any other spelling (`role:x`, `*`, an empty name) is refused with an error where it is given, so an entry can
never be silently unmatched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from retrieval.errors import ConfigError

USER_PREFIX = "user:"
GROUP_PREFIX = "group:"
_KINDS = (USER_PREFIX, GROUP_PREFIX)


def _split(entry: str) -> tuple[str, str]:
    """(prefix, name) of an entry as written, lower-cased: the prefix is "" for a bare name."""
    text = entry.strip().lower()
    head, colon, rest = text.partition(":")
    if not colon:
        return "", text
    prefix = head.strip() + ":"
    if prefix not in _KINDS:
        raise ConfigError(f"unknown principal {entry!r}: write group:<name> or user:<id> (a bare name is a group)")
    return prefix, rest.strip()


def acl_entry(entry: str) -> str:
    """The canonical ACL entry of `entry`: `group:<name>` or `user:<id>`; `ConfigError` for an unusable one."""
    prefix, name = _split(entry)
    if not name:
        raise ConfigError(f"empty principal {entry!r}: write group:<name> or user:<id>")
    if not prefix and name in {"*", "public", "everyone"}:
        raise ConfigError(
            f"{entry!r} is not a principal: to share documents with everyone, make them public "
            "(--public, or public=true in an upload)"
        )
    return (prefix or GROUP_PREFIX) + name


def acl_entries(entries: Iterable[str]) -> tuple[str, ...]:
    """Canonical, distinct and sorted: the form stored on documents (and hashed into their revision)."""
    return tuple(sorted({acl_entry(e) for e in entries if e.strip()}))


def group_name(group: str) -> str:
    """A principal's group as given (`hr` or `group:hr`): its name. A `user:` entry is refused: not a group."""
    prefix, name = _split(group)
    if prefix == USER_PREFIX:
        raise ConfigError(
            f"{group!r} is a user, not a group: give the user id as the user, and groups as group:<name> or a bare name"
        )
    if not name:
        raise ConfigError(f"empty group {group!r}")
    return name


def user_name(user_id: str) -> str:
    """A user id as given (`Ann` or `user:ann`): the id itself, lower-cased."""
    text = user_id.strip().lower()
    if text.startswith(USER_PREFIX):
        text = text[len(USER_PREFIX) :].strip()
    if text.startswith(GROUP_PREFIX):
        raise ConfigError(f"{user_id!r} is a group, not a user id")
    return text


@dataclass(frozen=True, slots=True)
class Principal:
    """A user id and the groups the user belongs to."""

    user_id: str
    groups: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "user_id", user_name(self.user_id))
        object.__setattr__(self, "groups", tuple(sorted({group_name(g) for g in self.groups if g.strip()})))

    @property
    def tokens(self) -> tuple[str, ...]:
        """The ACL entries that grant this principal access: `user:<id>` and `group:<name>` for each group, and
        the bare group names that documents indexed before the canonical form were given."""
        own = (f"{USER_PREFIX}{self.user_id}",) if self.user_id else ()
        return own + tuple(GROUP_PREFIX + g for g in self.groups) + self.groups


# The principal of a caller that is only allowed public documents (the anonymous web page, a shared channel).
PUBLIC_ONLY = Principal(user_id="")


@dataclass(frozen=True, slots=True)
class AllAccess:
    """Administrative access that bypasses the ACL: evaluation runs and index maintenance, never a request."""


ALL_ACCESS = AllAccess()

Access = Principal | AllAccess
