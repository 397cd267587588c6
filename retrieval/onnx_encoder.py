"""A sentence-transformers model run by ONNX Runtime: exported here from its own weights, optionally in int8.

On a CPU, ONNX Runtime runs the same network with fused kernels and none of torch's per-call overhead; its int8
variant multiplies 8-bit weights (bench/embedding_backends.py measures both beside torch). Nothing is downloaded:
the export is traced from the loaded sentence-transformers model (transformer, pooling and all), once, and kept
in a cache folder under a name derived from the model's files, so any sentence-transformers model works this
way as well as through torch, and a changed model gets a new export.

The int8 variant quantizes weights per output channel (dynamic quantization: activations stay float and are
scaled per batch), except the matrices whose input is wider than their output: the feed-forward down projections,
whose input is GELU's output with its large outliers. Quantized too, they cost the most: the vectors' cosine to
torch's fell to 0.994 mean / 0.988 min on SciFact passages, against 0.997 / 0.995 with them kept in float.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval.errors import ModelUnavailableError

if TYPE_CHECKING:  # heavy imports, made when an export or a session is built
    from sentence_transformers import SentenceTransformer

BACKENDS = ("auto", "torch", "onnx", "onnx-int8")  # "auto": documents on torch, queries on ONNX
EXPORT_VERSION = "1"  # part of the cache key: a change to how the export is made makes a new one
OPSET = 17


def export_key(name: str, path: str, *, int8: bool) -> str:
    """The cache folder's name for a model: its name, the files it was loaded from (names, sizes, times) and the
    export's own version, so that replacing the weights or changing this module makes a new export."""
    digest = hashlib.sha256(f"{EXPORT_VERSION}|{name}|{path}|{int8}".encode())
    folder = Path(path)
    if folder.is_dir():
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            stat = file.stat()
            digest.update(f"|{file.relative_to(folder)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in name)[-60:]
    return f"{slug}-{'int8' if int8 else 'fp32'}-{digest.hexdigest()[:16]}"


def exported_model(model: SentenceTransformer, name: str, path: str, cache: Path, *, int8: bool) -> Path:
    """The ONNX file of `model` under `cache`, exported (and quantized) now unless an earlier run did.

    Several processes may start at once (API replicas, workers): each writes to its own temporary file and
    renames it into place, so a reader sees either no file or a whole one.
    """
    target = cache / export_key(name, path, int8=int8) / "model.onnx"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        float_file = Path(scratch) / "float.onnx"
        try:
            _export(model, float_file)
            if int8:
                quantized = Path(scratch) / "int8.onnx"
                _quantize(float_file, quantized)
                float_file = quantized
        except Exception as exc:  # the exporter raises many types; all mean "this model cannot run on ONNX"
            raise ModelUnavailableError(f"cannot export embedding model {name!r} to ONNX: {exc}") from exc
        os.replace(float_file, target)
    return target


class _Pooled:
    """The model's forward pass from token ids to its sentence embedding, as the one function the exporter traces."""

    @staticmethod
    def module(model: SentenceTransformer, inputs: list[str]) -> Any:
        import torch

        class Pooled(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
                embedding: torch.Tensor = self.model(dict(zip(inputs, tensors, strict=True)))["sentence_embedding"]
                return embedding

        return Pooled().eval()


def _export(model: SentenceTransformer, file: Path) -> None:
    import torch

    sample = model.tokenizer(["an example sentence", "and a second, longer example"], padding=True, return_tensors="pt")
    inputs = [k for k in model.tokenizer.model_input_names if k in sample]
    axes = {k: {0: "batch", 1: "tokens"} for k in inputs} | {"embedding": {0: "batch"}}
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python branches it fixes: expected, not the user's
        # The TorchScript exporter writes one self-contained file and needs no onnxscript; its output is checked
        # against torch's vectors by the tests and bench/embedding_backends.py.
        torch.onnx.export(
            _Pooled.module(model, inputs),
            tuple(sample[k] for k in inputs),
            str(file),
            input_names=inputs,
            output_names=["embedding"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


def _quantize(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source))
    weights = {w.name: tuple(w.dims) for w in graph.graph.initializer}
    keep_float = [
        node.name
        for node in graph.graph.node
        if node.op_type == "MatMul"
        and len(shape := weights.get(node.input[1], ())) == 2
        and shape[0] > shape[1]  # wider input than output: the feed-forward down projection
    ]
    quantize_dynamic(
        str(source), str(target), weight_type=QuantType.QInt8, per_channel=True, nodes_to_exclude=keep_float
    )


class OnnxEncoder:
    """Normalized vectors of texts from an exported model; the tokenizer is the model's own (a fast tokenizer)."""

    def __init__(self, file: Path, tokenizer: Any, *, max_tokens: int, threads: int = 0) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0: ONNX Runtime's default, one per physical core
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for a broken file
            raise ModelUnavailableError(f"cannot load the ONNX embedding model {file}: {exc}") from exc
        self._inputs = [i.name for i in self._session.get_inputs()]
        self._tokenizer = tokenizer
        self.max_tokens = max_tokens

    def encode(self, texts: list[str]) -> np.ndarray:
        batch = self._tokenizer(texts, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="np")
        feed = {k: np.asarray(batch[k], dtype=np.int64) for k in self._inputs}
        vectors = np.asarray(self._session.run(None, feed)[0], dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        normalized: np.ndarray = vectors / np.maximum(norms, 1e-12)  # numpy types the quotient as Any
        return normalized
