"""What counts as a usable translation of a question (the model's turn itself is tested against a server)."""

from __future__ import annotations

import pytest

from answer.translation import usable


@pytest.mark.parametrize(
    ("reply", "question", "target", "want"),
    [
        (
            "Which port does the VPN gateway listen on?",
            "VPN 网关的端口是多少？",
            "en",
            "Which port does the VPN gateway listen on?",
        ),
        (
            'Translation: "Which port does the VPN use?"\nNote: literal.',
            "VPN 的端口？",
            "en",
            "Which port does the VPN use?",
        ),
        ("译文：年假有多少天？", "How many days of annual leave?", "zh", "年假有多少天？"),
        ("\n\n  「年假有多少天？」  ", "How many days of annual leave?", "zh", "年假有多少天？"),
        ("VPN 网关的端口是多少？", "VPN 网关的端口是多少？", "en", None),  # echoed back in the question's language
        ("", "VPN 网关的端口是多少？", "en", None),
        ("Sure! " + "The VPN gateway is a device that " * 20, "VPN 的端口？", "en", None),  # wandered off
    ],
)
def test_only_a_translation_in_the_target_language_is_used(reply, question, target, want):
    assert usable(reply, question, target) == want


def test_only_a_model_server_is_asked_to_translate_and_only_when_configured(tmp_path):
    from answer.generation import OpenAICompatibleGenerator
    from answer.local_model import LlamaCppGenerator
    from answer.translation import QueryTranslator
    from serve.components import make_translator
    from serve.settings import Settings

    server = OpenAICompatibleGenerator("http://127.0.0.1:9", "m")
    local = LlamaCppGenerator(tmp_path / "model.gguf")  # never started: the decision needs no model
    on = Settings(data_dir=tmp_path, routing={"translate_queries": True})
    assert isinstance(make_translator(on, server), QueryTranslator)
    assert make_translator(on, local) is None  # a 135M CPU model cannot translate
    assert make_translator(on, None) is None  # extractive mode: no model at all
    assert make_translator(Settings(data_dir=tmp_path), server) is None  # off by default
