"""Concurrent query embeddings share model calls, and each caller gets its own vector (or the model's error)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from retrieval.batching import QueryBatcher


class SlowModel:
    """A model whose call takes 50 ms, recording each batch; the vector of a text is its length."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.batches: list[list[str]] = []
        self.fail_on = fail_on

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.batches.append(list(texts))
        time.sleep(0.05)
        if self.fail_on in texts:
            raise RuntimeError("model failed")
        return np.array([[float(len(t))] for t in texts])


def run_together(batcher: QueryBatcher, texts: list[str]) -> dict[str, object]:
    results: dict[str, object] = {}

    def one(text: str) -> None:
        try:
            results[text] = float(batcher.embed(text)[0])
        except RuntimeError as exc:
            results[text] = exc

    threads = [threading.Thread(target=one, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    return results


def test_a_lone_query_goes_straight_through():
    model = SlowModel()
    assert QueryBatcher(model).embed("abc")[0] == 3.0 and model.batches == [["abc"]]


def test_concurrent_queries_share_calls_and_each_gets_its_own_vector():
    model = SlowModel()
    texts = ["x" * n for n in range(1, 13)]
    results = run_together(QueryBatcher(model, max_batch=5), texts)
    assert results == {t: float(len(t)) for t in texts}
    assert sum(len(b) for b in model.batches) == 12 and len(model.batches) < 12
    assert max(len(b) for b in model.batches) <= 5


def test_a_model_error_reaches_every_caller_of_that_batch_and_the_batcher_recovers():
    model = SlowModel(fail_on="bad")
    batcher = QueryBatcher(model)
    results = run_together(batcher, ["first", "bad", "other", "more"])
    failed = {t for t, r in results.items() if isinstance(r, RuntimeError)}
    assert "bad" in failed and all(results[t] == float(len(t)) for t in results if t not in failed)
    assert batcher.embed("after")[0] == 5.0
    with pytest.raises(RuntimeError):
        batcher.embed("bad")
