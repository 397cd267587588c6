"""Optional second-stage reranking with a cross-encoder, which reads the query and a passage together.

A cross-encoder is far more accurate than comparing two embeddings, and far slower: it runs one forward pass per
(query, passage) pair, so it reranks the few dozen candidates that the index returned, never the whole corpus.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from retrieval.errors import ModelUnavailableError

if TYPE_CHECKING:  # imported in start(): loading torch takes seconds
    from sentence_transformers import CrossEncoder


class Reranker(Protocol):
    """Scores how well each text answers a query. `start()` loads weights; nothing else does I/O.

    Higher is more relevant. Scores compare texts for one query; they are not comparable across queries or models.
    """

    name: str

    def start(self) -> None: ...

    def score(self, query: str, texts: list[str]) -> list[float]: ...


class CrossEncoderReranker:
    """A sentence-transformers `CrossEncoder` (an HF id or a local folder), batched, on the configured device.

    The scores are what `CrossEncoder.predict` returns with the model's own activation: the one its config names
    (`config.json` → `sentence_transformers.activation_fn`), else sentence-transformers' default, which for a
    one-label model is a sigmoid. So a reranker whose config names none (bge-reranker) gives a relevance in (0, 1),
    while one whose config names `torch.nn.Identity` (the cross-encoder/ms-marco models) gives raw logits, about
    -10 to 10. Either way only the order within one query is meaningful; `activation` names the one in use.
    """

    def __init__(self, model: str, *, device: str = "cpu", batch_size: int = 16, max_length: int = 512) -> None:
        self.name = model
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length  # tokens of query and text together; the text is truncated beyond it
        self._model: CrossEncoder | None = None

    def start(self) -> None:
        if self._model is not None:
            return
        folder = Path(self.name).expanduser()
        local = folder.is_dir()
        path = str(folder) if local else self.name
        from sentence_transformers import CrossEncoder
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()

        # A local folder never reaches for the hub; an id may, unless the deployment sets HF_HUB_OFFLINE=1.
        try:
            self._model = CrossEncoder(path, device=self.device, max_length=self.max_length, local_files_only=local)
        except (OSError, ValueError) as exc:
            raise ModelUnavailableError(f"cannot load reranking model {self.name!r} from {path!r}: {exc}") from exc

    @property
    def model(self) -> CrossEncoder:
        if self._model is None:
            raise RuntimeError("CrossEncoderReranker.start() was not called")
        return self._model

    @property
    def activation(self) -> str:
        """The activation applied to the model's logits, e.g. "Sigmoid" or "Identity"."""
        return type(self.model.activation_fn).__name__

    def score(self, query: str, texts: list[str]) -> list[float]:
        """One relevance score per text, in the order of `texts`; higher is more relevant."""
        model = self.model
        if not texts:
            return []
        scores = model.predict(
            [(query, text) for text in texts],
            batch_size=self.batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return [float(s) for s in scores]
