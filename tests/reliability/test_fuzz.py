"""Property-based fuzzing of the HTTP API with schemathesis, against the real app: whatever a client sends,
no 5xx, and every response keeps to the OpenAPI schema (documented status codes, content types, bodies).

The number of examples per operation is bounded for CI (DOCENT_FUZZ_EXAMPLES, default 25); run with more to
search harder. The app is the embedded default's, on the sample corpus, answering extractively (a model adds
nothing to the API's behaviour that fuzzing could find, and would make each example cost seconds).
"""

from __future__ import annotations

import os
import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ingest.chunking import Chunker
from ingest.pipeline import IngestPipeline
from ingest.sandbox import ParseLimits, ParserPool
from retrieval.edge_index import EdgeIndex
from retrieval.models import IndexSpec
from retrieval.search import Retriever
from retrieval.sparse import SparseEncoder
from serve.documents import DocumentService
from serve.stores.ratelimit import RateLimiter
from tests.conftest import SAMPLE_DOCS
from tests.reliability.conftest import bearer, make_app
from tests.support.queueing import in_process_jobs
from tests.support.stores import key_store

EXAMPLES = int(os.environ.get("DOCENT_FUZZ_EXAMPLES", "25"))
# No 5xx; statuses, content types, headers and bodies as documented; invalid data refused. Not "every schema-valid
# request is accepted": a valid `mode: rerank` is rightly 400 on a server with no reranker configured.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory, embedder, multilingual_embedder):
    data = tmp_path_factory.mktemp("fuzz")
    spec = IndexSpec(
        "docent", embedder.name, embedder.dimension, multilingual_embedder.name, multilingual_embedder.dimension
    )
    index = EdgeIndex(data / "index", spec)
    index.start()
    parsers = ParserPool(ParseLimits(timeout_s=60))
    parsers.start()
    pipeline = IngestPipeline(
        index=index,
        embedder=embedder,
        sparse=SparseEncoder(),
        chunker=Chunker(embedder, chunk_tokens=200, overlap_tokens=40),
        parsers=parsers,
        multilingual_embedder=multilingual_embedder,
    )
    docs = data / "docs"
    shutil.copytree(SAMPLE_DOCS, docs, ignore=shutil.ignore_patterns("*.pdf", "*.pptx", "*.xlsx"))
    assert pipeline.run([docs], acl=["group:staff"]).ok
    store = key_store(data)
    admin = store.create("root", ("staff",), role="admin")[0]
    jobs = in_process_jobs(pipeline)
    retriever = Retriever(index, embedder, SparseEncoder(), multilingual_embedder=multilingual_embedder)
    app = make_app(
        retriever,
        index,
        store,
        None,
        jobs=jobs,
        anonymous=True,
        documents=DocumentService(index, data / "uploads", jobs),
        limiter=RateLimiter(per_minute=100_000, burst=100_000),
    )
    yield app, admin
    jobs.queue.close()  # before the index it writes to
    index.close()
    parsers.close()


def fuzz_operation(operation, mode: GenerationMode, checks: list, admin: str, fuzzed: list[int]) -> None:
    """Run one operation's Hypothesis test in one generation mode, recording each response's status in `fuzzed`;
    raises the first check that fails (or Unsatisfiable)."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case) -> None:
        response = case.call(headers={**bearer(admin), **(case.headers or {})})
        fuzzed.append(response.status_code)
        case.validate_response(response, checks=checks)

    fuzz()


def test_no_request_gets_a_server_error_or_a_response_off_its_schema(fuzz_app):
    """Every operation of /openapi.json, fuzzed with schemathesis's strategies (valid and invalid data) through
    Hypothesis, each response checked by schemathesis: no 5xx, a documented status, content type and body."""
    app, admin = fuzz_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    fuzzed: list[int] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        # Whether data the schema forbids is refused, on the JSON operations: FastAPI ignores unknown query
        # parameters by design, and any bytes are a valid uploaded file whatever the fuzzer meant them to be.
        strict = "application/json" in operation.get_request_payload_content_types() and operation.method == "POST"
        checks = [*CHECKS, negative_data_rejection] if strict else CHECKS
        for mode in GenerationMode:  # data the schema allows, and data it does not
            try:
                fuzz_operation(operation, mode, checks, admin, fuzzed)
            except Unsatisfiable:
                continue  # nothing of this operation's request can be made invalid (no parameters, or only a path)
            except Exception as exc:
                failures.append(f"{operation.label} ({mode.value}): {exc}"[:2000])
    print(
        f"\nfuzzed {len(fuzzed)} requests over {len(operations)} operations: "
        + ", ".join(f"{status}: {fuzzed.count(status)}" for status in sorted(set(fuzzed)))
    )
    assert not failures, "\n\n".join(failures)
    assert fuzzed and max(fuzzed) < 500
