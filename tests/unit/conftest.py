"""tests/unit is the fast lane (`make test-fast`, with tests/contract): no model is loaded and no worker started.

The shared fixtures that load an embedding model or start parser workers (tests/conftest.py) are replaced here by
ones that fail the test, so a test that needs them is written in tests/integration instead of slowing this lane.
"""

from __future__ import annotations

import pytest

WHY = "tests/unit loads no model and starts no worker (make test-fast): a test that needs {} goes in tests/integration"


@pytest.fixture
def embedder():
    pytest.fail(WHY.format("the embedding model"))


@pytest.fixture
def multilingual_embedder():
    pytest.fail(WHY.format("the multilingual model"))


@pytest.fixture
def parser_pool():
    pytest.fail(WHY.format("parser workers"))
