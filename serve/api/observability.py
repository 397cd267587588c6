"""Prometheus metrics of the API and the request middleware: request ids, per-route counts, one log line each.

Each app has its own registry (tests build many apps in one process). The middleware is plain ASGI so that a
streamed answer is measured and logged when its last byte is sent, not when its headers are.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from answer.answerer import Answer

log = logging.getLogger("docent.api")


class Metrics:
    def __init__(
        self,
        index_size: Callable[[], float] = lambda: math.nan,
        queue_depth: Callable[[], float] | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.registry = registry = registry or CollectorRegistry()
        self.requests = Counter("docent_http_requests", "HTTP requests", ["route", "status"], registry=registry)
        self.latency = Histogram("docent_http_request_seconds", "HTTP request latency", ["route"], registry=registry)
        self.search = Histogram("docent_search_seconds", "Retrieval latency", ["mode"], registry=registry)
        self.generation = Histogram(
            "docent_generation_seconds",
            "Model generation latency (whole answer)",
            registry=registry,
            buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120),
        )
        self.first_token = Histogram(
            "docent_first_token_seconds",
            "Time to the first streamed answer token",
            registry=registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30),
        )
        self.tokens = Counter(
            "docent_generation_tokens", "Tokens sent to and produced by the model", ["kind"], registry=registry
        )
        self.answers = Counter(
            "docent_answers", "Answers by mode (generated, extractive, not_found)", ["mode"], registry=registry
        )
        self.abstentions = Counter(
            "docent_abstentions", "Answers saying the documents do not contain the answer", registry=registry
        )
        self.fallbacks = Counter(
            "docent_generator_fallbacks", "Extractive answers given because the generator failed", registry=registry
        )
        self.tier_answers = Counter(
            "docent_tier_answers",
            "Answers by the model tier that wrote them ('none': no model)",
            ["tier"],
            registry=registry,
        )
        self.tier_generation = Histogram(
            "docent_tier_generation_seconds",
            "Generation time per model tier",
            ["tier"],
            registry=registry,
            buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120),
        )
        self.tier_failures = Counter(
            "docent_tier_failures", "Model tiers that failed to answer", ["tier"], registry=registry
        )
        self.escalations = Counter(
            "docent_escalations", "Answers handed on to a larger tier, by reason", ["reason"], registry=registry
        )
        self.escalations_refused = Counter(
            "docent_escalations_refused",
            "Escalations due but refused because a budget was spent",
            ["budget"],
            registry=registry,
        )
        self.question_types = Counter(
            "docent_questions", "Questions by the planner's type", ["type"], registry=registry
        )
        Gauge("docent_index_chunks", "Chunks in the index", registry=registry).set_function(index_size)
        if queue_depth is not None:  # what an autoscaler of workers watches (KEDA reads Redis directly)
            Gauge("docent_queue_depth", "Indexing tasks waiting for a worker", registry=registry).set_function(
                queue_depth
            )
        self.jobs = Counter("docent_jobs_submitted", "Indexing jobs submitted", ["kind"], registry=registry)
        self.auth_failures = Counter("docent_auth_failures", "Requests whose authentication failed", registry=registry)
        self.cancelled = Counter(
            "docent_answers_cancelled",
            "Streamed answers whose client went away before the end (the model was stopped)",
            registry=registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

    content_type = CONTENT_TYPE_LATEST

    def record(self, answer: Answer) -> None:
        """Count one answer and log it."""
        self.answers.labels(answer.mode.value).inc()
        if answer.mode == "not_found":
            self.abstentions.inc()
        if answer.fallback_reason:
            self.fallbacks.inc()
        timings = answer.timings_ms
        if "retrieve" in timings:
            self.search.labels("hybrid").observe(timings["retrieve"] / 1000)
        if "generate" in timings:
            self.generation.observe(timings["generate"] / 1000)
        if "first_token" in timings:
            self.first_token.observe(timings["first_token"] / 1000)
        self.tokens.labels("prompt").inc(answer.usage.get("prompt_tokens", 0))
        self.tokens.labels("completion").inc(answer.usage.get("completion_tokens", 0))
        route = answer.route
        if route is not None:
            self.tier_answers.labels(route.tier).inc()
            for tier, ms in route.timings_ms.items():
                if tier not in route.failed:
                    self.tier_generation.labels(tier).observe(ms / 1000)
            for tier in route.failed:
                self.tier_failures.labels(tier).inc()
            if route.escalated:
                for reason in route.reasons:
                    self.escalations.labels(reason).inc()
            if route.budget_exhausted:
                self.escalations_refused.labels(route.budget_exhausted).inc()
            if route.plan:
                self.question_types.labels(str(route.plan.get("type"))).inc()
        log.info(
            "answer mode=%s tier=%s escalated=%s reasons=%s grounded=%s citations=%d fallback=%s timings=%s",
            answer.mode.value,
            route.tier if route else None,
            route.escalated if route else False,
            ",".join(route.reasons) if route else "",
            answer.grounded,
            len(answer.citations),
            bool(answer.fallback_reason),
            timings,
        )


class RequestContext:
    """Request ids, the per-route metrics and one log line per request (ASGI middleware).

    The id comes from the client's `X-Request-ID` or is made here; it is put in `request.state`, the response
    headers and the log line."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:200] or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                route = getattr(scope.get("route"), "path", "unmatched")
                elapsed = time.perf_counter() - started
                self.metrics.requests.labels(route, str(status)).inc()
                self.metrics.latency.labels(route).observe(elapsed)
                log.info(
                    "request id=%s method=%s route=%s status=%d ms=%.1f",
                    request_id,
                    scope["method"],
                    route,
                    status,
                    elapsed * 1000,
                )

        await self.app(scope, receive, send_with_id)
