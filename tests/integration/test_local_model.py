"""The in-process llama.cpp model beyond the generator contract (tests/contract/test_generator_contract.py): the
embedded server that `xllamacpp` starts listens on a loopback port, which must take no request but Docent's."""

from __future__ import annotations

import httpx
import pytest

from answer.local_model import LlamaCppGenerator, packaged_model_path
from retrieval.errors import GeneratorUnavailableError

pytestmark = pytest.mark.slow


def test_the_embedded_servers_port_answers_no_one_without_the_generators_key():
    local = LlamaCppGenerator(packaged_model_path(), context_length=512, threads=1)
    local.start()
    try:
        url = local.address
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}/v1/models", timeout=10).status_code == 401
        assert httpx.post(f"{url}/tokenize", json={"content": "sky"}, timeout=10).status_code == 401
        chat = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
        assert httpx.post(f"{url}/v1/chat/completions", json=chat, timeout=10).status_code == 401
        wrong = {"Authorization": "Bearer not-the-key"}
        assert httpx.post(f"{url}/v1/chat/completions", json=chat, headers=wrong, timeout=10).status_code == 401
        assert local.count_tokens(["sky"])[0] > 0  # the generator itself still can
    finally:
        local.close()
    with pytest.raises(GeneratorUnavailableError):
        local.count_tokens(["sky"])
