"""The ONNX Runtime backends of the embedding model: exported here from the packaged weights, cached, and giving
the vectors torch gives (the index may hold vectors of one backend and be searched with another's)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from retrieval.embedding import SentenceTransformerEmbedder
from retrieval.errors import ModelUnavailableError
from retrieval.onnx_encoder import export_key

pytestmark = pytest.mark.slow

TEXTS = [
    "The VPN gateway listens on port 8443; use the Brightkelp client to connect.",
    "报销单必须在出差结束后十五个工作日内提交，逾期需部门负责人说明原因。",
    "On-call engineers hand over the pager every Tuesday at 10:00 Pacific time. " * 40,  # past the model's limit
    "a",
]


@pytest.fixture(scope="module")
def torch_vectors():
    model = SentenceTransformerEmbedder(backend="torch", precision="float32")
    model.start()
    return model.embed_documents(TEXTS), model.embed_query("which port does the VPN use")


def test_auto_embeds_documents_with_torch_and_queries_with_onnx(tmp_path, torch_vectors):
    documents, query = torch_vectors
    model = SentenceTransformerEmbedder(backend="auto", precision="float32", export_cache=tmp_path)
    model.start()
    assert list(tmp_path.glob("*-fp32-*/model.onnx"))  # the queries' export
    np.testing.assert_allclose(model.embed_documents(TEXTS), documents, atol=1e-5)  # torch itself
    assert float(model.embed_query("which port does the VPN use") @ query) >= 0.9999
    assert model.effective_precision == "float32"


@pytest.mark.parametrize(("backend", "floor"), [("onnx", 0.9999), ("onnx-int8", 0.99)])
def test_onnx_vectors_match_torch(tmp_path, torch_vectors, backend, floor):
    documents, query = torch_vectors
    model = SentenceTransformerEmbedder(backend=backend, export_cache=tmp_path)
    model.start()
    vectors = model.embed_documents(TEXTS)
    assert vectors.shape == documents.shape and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert float((vectors * documents).sum(axis=1).min()) >= floor
    assert float(model.embed_query("which port does the VPN use") @ query) >= floor
    assert model.dimension == 384 and model.max_tokens == 256
    assert model.effective_precision == ("int8" if backend == "onnx-int8" else "float32")


def test_export_is_made_once_and_reused(tmp_path):
    first = SentenceTransformerEmbedder(backend="onnx", export_cache=tmp_path)
    first.start()
    [file] = list(tmp_path.glob("*/model.onnx"))
    made = file.stat().st_mtime_ns
    second = SentenceTransformerEmbedder(backend="onnx", export_cache=tmp_path)
    second.start()
    assert list(tmp_path.glob("*/model.onnx")) == [file] and file.stat().st_mtime_ns == made
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p != file]  # no temporary file left behind
    np.testing.assert_array_equal(first.embed_query("leave policy"), second.embed_query("leave policy"))


def test_a_broken_export_is_a_clear_error(tmp_path):
    model = SentenceTransformerEmbedder(backend="onnx", export_cache=tmp_path)
    model.start()
    [file] = list(tmp_path.glob("*/model.onnx"))
    file.write_bytes(b"not an onnx file")
    with pytest.raises(ModelUnavailableError, match="ONNX"):
        SentenceTransformerEmbedder(backend="onnx", export_cache=tmp_path).start()


def test_export_key_follows_the_model_files(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    before = export_key("m", str(tmp_path), int8=False)
    assert export_key("m", str(tmp_path), int8=True) != before
    (tmp_path / "model.safetensors").write_bytes(b"other weights")
    os.utime(tmp_path / "model.safetensors", ns=(1, 1))
    assert export_key("m", str(tmp_path), int8=False) != before


def test_unknown_backend_and_gpu_onnx_are_refused():
    with pytest.raises(ValueError, match="backend"):
        SentenceTransformerEmbedder(backend="tensorrt")
    with pytest.raises(ValueError, match="CPU"):
        SentenceTransformerEmbedder(backend="onnx", device="cuda")
