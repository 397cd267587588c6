import socket
import time

import pytest

from retrieval.errors import IndexUnavailableError
from retrieval.models import IndexSpec
from retrieval.qdrant_index import QdrantServerIndex


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_qdrant_server_that_is_down_is_a_clear_error_within_the_timeout():
    index = QdrantServerIndex(IndexSpec("docent", "m", 8), url=f"http://127.0.0.1:{free_port()}", timeout_s=2)
    started = time.perf_counter()
    with pytest.raises(IndexUnavailableError, match="Qdrant connection failed"):
        index.start()
    assert time.perf_counter() - started < 10
