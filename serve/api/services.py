"""What the routes work with: the started components of the server process, held in `app.state.services`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from answer.answerer import Answerer
from answer.generation import Generator
from ingest.jobs.queue import JobService
from retrieval.errors import ConfigError
from retrieval.index import Index
from retrieval.search import Retriever
from serve.api.observability import Metrics
from serve.audit import AuditLog
from serve.documents import DocumentService
from serve.oidc.authenticator import OIDCAuthenticator
from serve.recent_answers import RecentAnswers
from serve.stores.feedback import FeedbackStore
from serve.stores.keys import KeyStore
from serve.stores.ratelimit import Limiter
from serve.stores.shared_limits import SharedLimits


@dataclass(slots=True)
class Services:
    retriever: Retriever
    index: Index
    keys: KeyStore
    metrics: Metrics
    answerer: Answerer | None = None
    documents: DocumentService | None = None
    generator: Generator | None = None
    limiter: Limiter | None = None
    anonymous: bool = False
    max_upload_files: int = 100
    jobs: JobService | None = None
    max_upload_wait_s: float = 120.0
    feedback: FeedbackStore | None = None
    auth_failures: Limiter | None = None  # failed authentications per client address
    shared_limits: SharedLimits | None = None  # the limiters count in Redis (for /readyz)
    recent_answers: RecentAnswers = field(default_factory=RecentAnswers)  # what a vote on an answer records
    audit: AuditLog | None = None  # the audit trail's recorder (None: not recorded)
    oidc: OIDCAuthenticator | None = None  # single sign-on: the identity provider's JWTs as bearer tokens

    def need_answerer(self) -> Answerer:
        if self.answerer is None:
            raise ConfigError("this server was started without an answerer")
        return self.answerer

    def need_jobs(self) -> JobService:
        if self.jobs is None:
            raise ConfigError("this server was started without an indexing queue")
        return self.jobs

    def need_documents(self) -> DocumentService:
        if self.documents is None:
            raise ConfigError("this server was started without document management")
        return self.documents


def services(request: Request) -> Services:
    """The dependency routes declare to reach the server's components."""
    return request.app.state.services


# The components a route needs, as dependencies: a route names what it uses in its signature, and a server
# started without it answers with one clear error (a ConfigError: 400, "this server was started without ...").
ServicesDep = Annotated[Services, Depends(services)]


def _answerer(s: ServicesDep) -> Answerer:
    return s.need_answerer()


def _jobs(s: ServicesDep) -> JobService:
    return s.need_jobs()


def _documents(s: ServicesDep) -> DocumentService:
    return s.need_documents()


AnswererDep = Annotated[Answerer, Depends(_answerer)]
JobsDep = Annotated[JobService, Depends(_jobs)]
DocumentsDep = Annotated[DocumentService, Depends(_documents)]
