"""The routes' audit hooks: `audit(request, s, who, action, ...)` at the start of a route, then `.searched`,
`.answered`, `.done` or `.failed` with its outcome. With no recorder (audit off) every call does nothing.

The documents recorded for a search or an answer are the ones its caller was shown (the results, the
citations), which the retriever has already filtered by the caller's access.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from fastapi import Request
from pydantic import BaseModel

from answer.answerer import Answer
from retrieval.errors import DocentError, ErrorCode
from retrieval.passages import Passage
from serve.api.auth import Caller
from serve.api.errors import STATUS
from serve.api.services import Services
from serve.audit import AuditLog
from serve.stores.audit import AuditEvent

# The web page says it is the web page (serve/web/static/api.js); any other caller is "api".
CHANNEL_HEADER = "x-docent-channel"
CHANNELS = frozenset({"web"})


@dataclass(frozen=True, slots=True)
class Audit:
    """One request's event so far; each outcome method records it once complete."""

    log: AuditLog | None
    base: AuditEvent

    def done(self, documents: Iterable[tuple[str, str]] = (), *, detail: dict[str, object] | None = None) -> None:
        merged = {**json.loads(self.base.detail), **(detail or {})} if self.base.detail else detail
        self._record(documents=list(documents), detail=json.dumps(merged, default=str) if merged else None)

    def searched(self, passages: Iterable[Passage]) -> None:
        self.done((p.document_id, p.title) for p in passages)

    def answered(self, answer: Answer) -> None:
        self._record(
            documents=[(c.document_id, c.title) for c in answer.citations],
            mode=answer.mode.value,
            tier=answer.route.tier if answer.route else None,
            answer=answer.text,
        )

    @contextlib.contextmanager
    def failures(self) -> Iterator[None]:
        """Record an exception raised in the block as the request's outcome (then let it go on to its handler)."""
        try:
            yield
        except Exception as exc:
            self.failed(exc)
            raise

    def failed(self, exc: BaseException) -> None:
        code = exc.code if isinstance(exc, DocentError) else ErrorCode.INTERNAL
        self._record(status=STATUS[code][0], error_code=str(code))

    def _record(self, **outcome: object) -> None:
        if self.log is not None:
            self.log.record(replace(self.base, **outcome))  # type: ignore[arg-type]


def audit(
    request: Request,
    s: Services,
    who: Caller,
    action: str,
    *,
    query: str | None = None,
    filters: BaseModel | None = None,
    channel: str = "api",
) -> Audit:
    """The event of `who`'s request; `channel` is the route's (api, chat, completions), or the page's header."""
    claimed = request.headers.get(CHANNEL_HEADER, "").strip().lower()
    return Audit(
        s.audit,
        AuditEvent(
            action,
            user_id=who.principal.user_id,
            key_id=who.key_id,
            groups=",".join(sorted(who.principal.groups)),
            client=request.client.host if request.client else "",
            channel=claimed if claimed in CHANNELS else channel,
            request_id=getattr(request.state, "request_id", ""),
            query=query,
            filters=filters.model_dump_json(exclude_defaults=True) if filters is not None else None,
            # a provider token's sign-in session (or token id): which sign-in made the request
            detail=json.dumps({"session": who.session}) if who.session else None,
        ),
    )
