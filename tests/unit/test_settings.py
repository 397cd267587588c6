from pathlib import Path

from serve.settings import Settings


def test_defaults_are_the_embedded_setup(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    for key in list(__import__("os").environ):
        if key.startswith("DOCENT_"):
            monkeypatch.delenv(key)
    settings = Settings()
    assert settings.data_dir == Path("./data") and settings.qdrant.url is None
    assert settings.embedding.model == "sentence-transformers/all-MiniLM-L6-v2"
    assert (settings.chunking.tokens, settings.chunking.overlap) == (200, 40)


def test_environment_overrides_nested_settings(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOCENT_DATA_DIR", "/srv/docent")
    monkeypatch.setenv("DOCENT_QDRANT__URL", "http://qdrant:6333")
    monkeypatch.setenv("DOCENT_QDRANT__API_KEY", "s3cret")
    monkeypatch.setenv("DOCENT_EMBEDDING__BATCH_SIZE", "64")
    monkeypatch.setenv("DOCENT_CHUNKING__TOKENS", "300")
    settings = Settings()
    assert settings.data_dir == Path("/srv/docent")
    assert settings.qdrant.url == "http://qdrant:6333"
    assert settings.qdrant.api_key.get_secret_value() == "s3cret" and "s3cret" not in repr(settings)
    assert settings.embedding.batch_size == 64 and settings.chunking.tokens == 300


def test_dotenv_file_is_read(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("DOCENT_COLLECTION=handbooks\n")
    assert Settings().collection == "handbooks"


def test_answering_defaults_are_the_answer_packages_own():
    """One default per knob: a setting left unset builds exactly the library's default options and policy."""
    from answer.answerer import AnswerOptions
    from answer.routing import EscalationPolicy
    from serve.components import answer_options, escalation_policy

    settings = Settings(_env_file=None)
    built = answer_options(settings)
    library = AnswerOptions()
    for name in ("passages", "min_relevance", "min_support", "fallback_extractive", "deadline_s"):
        assert getattr(built, name) == getattr(library, name), name
    assert settings.llm.max_answer_tokens == library.max_answer_tokens
    assert escalation_policy(settings) == EscalationPolicy()
