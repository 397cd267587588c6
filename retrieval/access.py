"""Who is asking: the principal every search carries, and the access rule the index enforces.

The rule, applied inside Qdrant to every prefetch (so a user who may read only a few documents still gets k
results when the global top 100 are forbidden):

- a document marked public is visible to everyone;
- otherwise it is visible to a principal that holds one of the entries of its ACL: one of the principal's
  groups, or `user:<id>` for the principal itself;
- a document with no ACL that is not public is visible to nobody.

A principal with no groups therefore sees public documents and those shared with it by name. The principal comes
from authentication (the API key, the Slack user), never from request parameters; filters can only narrow it.
"""

from __future__ import annotations

from dataclasses import dataclass

USER_PREFIX = "user:"


@dataclass(frozen=True, slots=True)
class Principal:
    """A user id and the groups the user belongs to."""

    user_id: str
    groups: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "groups", tuple(sorted({g for g in self.groups if g})))

    @property
    def tokens(self) -> tuple[str, ...]:
        """The ACL entries that grant this principal access."""
        own = (f"{USER_PREFIX}{self.user_id}",) if self.user_id else ()
        return own + self.groups


# The principal of a caller that is only allowed public documents (the anonymous web page, a shared channel).
PUBLIC_ONLY = Principal(user_id="")


@dataclass(frozen=True, slots=True)
class AllAccess:
    """Administrative access that bypasses the ACL: evaluation runs and index maintenance, never a request."""


ALL_ACCESS = AllAccess()

Access = Principal | AllAccess
