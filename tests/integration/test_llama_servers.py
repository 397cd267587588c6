"""The second packaged model as a real llama.cpp server: Gemma 3 270M (base) behind tests/support/llama_servers.py."""

from __future__ import annotations

import httpx

from tests.support.llama_servers import GEMMA3_ALIAS, GEMMA3_STOP, gemma3_server

SYSTEM = "You answer questions using only the numbered documents the user provides. Cite as [n]."
USER = (
    "<documents>\n[1] VPN setup: the VPN gateway listens on port 443.\n</documents>\n\n"
    "Question: Which port does the VPN gateway use?"
)


def test_gemma3_server_answers_a_chat_completion_under_its_alias():
    with gemma3_server() as server:
        models = httpx.get(f"{server.url}/v1/models", timeout=10).json()
        assert [m["id"] for m in models["data"]] == [GEMMA3_ALIAS]
        response = httpx.post(
            f"{server.url}/v1/chat/completions",
            timeout=120,
            json={
                "model": GEMMA3_ALIAS,
                "max_tokens": 60,
                "temperature": 0,
                "stop": ["<end_of_turn>", GEMMA3_STOP],
                "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}],
            },
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == GEMMA3_ALIAS  # the alias, not the GGUF's path
    choice = body["choices"][0]
    answer = choice["message"]["content"]
    # The base model answers after the template's "Answer:" and stops at its blank line, rather than copying the
    # documents back (as it does under a chat template of turns) until max_tokens.
    assert "443" in answer and "Question" not in answer and choice["finish_reason"] == "stop", answer
    usage = body["usage"]
    assert usage["prompt_tokens"] > 30 and 0 < usage["completion_tokens"] < 20
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
