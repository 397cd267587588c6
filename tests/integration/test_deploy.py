"""The deployment files, validated offline: the Helm chart (lint, render with Helm's own engine through
helm-python-sdk, strict validation of every manifest against Kubernetes 1.30's schemas, the values schema),
docker-compose.yml (Debian's docker-compose validates it without an engine) and the Dockerfile."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import helm_python
import pytest
import yaml

from tests.conftest import REPO

CHART = REPO / "deploy" / "helm" / "docent"
PRODUCTION = yaml.safe_load((REPO / "deploy" / "helm" / "values-production.yaml").read_text())
SECRETS = {
    "secrets": {
        "qdrantApiKey": "q-key-123",
        "redisPassword": "r-pass-456",
        "vllmApiKey": "v-key-789",
        "postgresPassword": "p-pass-012",
    }
}
KUBERNETES = "1.30.0"
CRDS = {"keda.sh/v1alpha1"}  # not in Kubernetes' schemas: checked by the assertions below


def render(values: dict) -> list[dict]:
    out = helm_python.Chart.load(str(CHART)).render(values, name="docent", namespace="docent")
    return [doc for name, text in out.items() if not name.endswith(".txt") for doc in yaml.safe_load_all(text) if doc]


def notes(values: dict) -> str:
    out = helm_python.Chart.load(str(CHART)).render(values, name="docent", namespace="docent")
    return next(text for name, text in out.items() if name.endswith("NOTES.txt"))


def of_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def containers(spec: dict) -> list[dict]:
    """The init containers and containers of a pod spec."""
    return [*spec.get("initContainers", []), *spec["containers"]]


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container["env"]}


def pods(docs: list[dict]) -> list[tuple[str, dict]]:
    """(name, pod spec) of every workload."""
    found = []
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet"):
            found.append((doc["metadata"]["name"], doc["spec"]["template"]["spec"]))
        elif doc["kind"] == "CronJob":
            found.append((doc["metadata"]["name"], doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
    return found


@pytest.fixture(scope="module")
def default_docs():
    return render(SECRETS)


@pytest.fixture(scope="module")
def production_docs():
    return render(PRODUCTION)


def test_the_chart_lints_clean():
    result = helm_python.lint(str(CHART), strict=True)
    # The Qdrant and Redis charts are dependencies fetched by `helm dependency update`: not reachable offline.
    errors = [e for e in result["errors"] if "missing these dependencies: qdrant,redis" not in e]
    assert errors == [], result


@pytest.mark.parametrize("label", ["default", "production"])
def test_every_rendered_manifest_passes_strict_kubernetes_validation(label, default_docs, production_docs, tmp_path):
    docs = default_docs if label == "default" else production_docs
    files = []
    for n, doc in enumerate(d for d in docs if d["apiVersion"] not in CRDS):
        path = tmp_path / f"{n:02d}-{doc['kind']}.yaml"
        path.write_text(yaml.safe_dump(doc))
        files.append(str(path))
    validate = shutil.which("kubernetes-validate") or str(Path(sys.executable).parent / "kubernetes-validate")
    result = subprocess.run(
        [validate, "--strict", "-k", KUBERNETES, *files], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" passed for resource ") == len(files), result.stdout


def test_default_install_has_every_part(default_docs):
    names = {(d["kind"], d["metadata"]["name"]) for d in default_docs}
    assert {
        ("Deployment", "docent-api"),
        ("Deployment", "docent-worker"),
        ("Deployment", "docent-vllm"),
        ("Service", "docent-api"),
        ("Service", "docent-vllm"),
        ("ConfigMap", "docent-config"),
        ("Secret", "docent-secrets"),
        ("PodDisruptionBudget", "docent-api"),
        ("PodDisruptionBudget", "docent-worker"),
        ("PersistentVolumeClaim", "docent-vllm-cache"),
        ("StatefulSet", "docent-postgresql"),
        ("Service", "docent-postgresql"),
    } <= names
    config = of_kind(default_docs, "ConfigMap")[0]["data"]
    assert config["DOCENT_QDRANT__URL"] == "http://docent-qdrant:6333"  # the bundled Qdrant chart
    assert config["DOCENT_LLM__BASE_URL"] == "http://docent-vllm:8000"
    postgres = of_kind(default_docs, "StatefulSet")[0]
    assert postgres["spec"]["template"]["spec"]["containers"][0]["image"] == "postgres:17.6-alpine"  # official
    claim = postgres["spec"]["volumeClaimTemplates"][0]["spec"]
    assert claim["accessModes"] == ["ReadWriteOnce"] and claim["resources"]["requests"]["storage"] == "8Gi"


def test_every_docent_container_reaches_the_database_through_the_secret(default_docs, production_docs):
    """The bundled PostgreSQL: its password from the Secret, composed into the URL by Kubernetes; an external
    one: the whole URL from the Secret. Never in the ConfigMap."""
    specs = dict(pods(default_docs))
    for name in ("docent-api", "docent-worker"):
        for container in containers(specs[name]):
            env = env_of(container)
            assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
                "name": "docent-secrets",
                "key": "postgres-password",
            }
            assert env["DOCENT_DATABASE_URL"]["value"] == (
                "postgresql+psycopg://docent:$(POSTGRES_PASSWORD)@docent-postgresql:5432/docent"
            )
    server = env_of(specs["docent-postgresql"]["containers"][0])
    assert server["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "postgres-password"
    assert of_kind(default_docs, "Secret")[0]["stringData"]["postgres-password"] == "p-pass-012"
    for name, spec in pods(production_docs):
        if name.startswith("docent-") and name != "docent-vllm":
            for container in containers(spec):
                url = env_of(container)["DOCENT_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
                assert url == {"name": "docent-secrets", "key": "database-url"}, (name, container["name"])
    for docs in (default_docs, production_docs):
        for config in of_kind(docs, "ConfigMap"):
            assert "DOCENT_DATABASE_URL" not in config["data"]


def test_the_api_migrates_the_database_before_it_starts(default_docs, production_docs):
    for docs in (default_docs, production_docs):
        api = dict(pods(docs))["docent-api"]
        (init,) = api["initContainers"]
        assert init["args"] == ["db", "upgrade"] and init["image"] == api["containers"][0]["image"]
        assert "DOCENT_DATABASE_URL" in env_of(init)
        # /data: the SQLite files of an older release are imported once
        assert {m["mountPath"] for m in init["volumeMounts"]} == {"/data", "/tmp"}


def test_an_external_database_needs_its_url():
    values = {**SECRETS, "postgresql": {"enabled": False}}
    with pytest.raises(helm_python.HelmError, match=r"secrets\.databaseUrl"):
        render(values)
    url = "postgresql+psycopg://docent:pw@pg.corp:5432/docent?sslmode=require"
    docs = render({"secrets": {**SECRETS["secrets"], "databaseUrl": url}, "postgresql": {"enabled": False}})
    assert not of_kind(docs, "StatefulSet")
    secret = of_kind(docs, "Secret")[0]["stringData"]
    assert secret["database-url"] == url and "postgres-password" not in secret
    policies = {p["metadata"]["name"] for p in of_kind(docs, "NetworkPolicy")}
    assert "docent-postgresql-clients" not in policies
    with pytest.raises(helm_python.HelmValuesError):
        render({"secrets": {**SECRETS["secrets"], "databaseUrl": "mysql://x"}, "postgresql": {"enabled": False}})


def test_the_gpu_is_asked_for_by_vllm_only(default_docs, production_docs):
    for docs in (default_docs, production_docs):
        for name, spec in pods(docs):
            for container in containers(spec):
                resources = container["resources"]
                assert resources.get("requests") and resources.get("limits"), (name, container["name"])
                gpu = resources["limits"].get("nvidia.com/gpu")
                assert (gpu == 1) == (name == "docent-vllm"), (name, resources)
    vllm = dict(pods(production_docs))["docent-vllm"]
    assert vllm["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-L4"}
    assert vllm["tolerations"][0]["key"] == "nvidia.com/gpu"
    args = vllm["containers"][0]["args"]
    assert "--enable-prefix-caching" in args and "--max-model-len=16384" in args


def test_probes_on_every_server(default_docs):
    specs = dict(pods(default_docs))
    api = specs["docent-api"]["containers"][0]
    assert (
        api["readinessProbe"]["httpGet"]["path"] == "/readyz" and api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    )
    assert api["startupProbe"]
    vllm = specs["docent-vllm"]["containers"][0]
    assert {vllm[p]["httpGet"]["path"] for p in ("startupProbe", "readinessProbe", "livenessProbe")} == {"/health"}
    worker = specs["docent-worker"]["containers"][0]
    assert worker["livenessProbe"]["httpGet"]["port"] == "metrics"
    postgres = specs["docent-postgresql"]["containers"][0]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert postgres[probe]["exec"]["command"][:3] == ["pg_isready", "-h", "127.0.0.1"], probe


def test_no_container_runs_as_root(default_docs, production_docs):
    for docs in (default_docs, production_docs):
        for name, spec in pods(docs):
            pod = spec["securityContext"]
            assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0, name
            for container in containers(spec):
                context = container.get("securityContext", {})
                assert context.get("runAsUser", pod["runAsUser"]) != 0, (name, container["name"])
                assert context.get("allowPrivilegeEscalation") is False, (name, container["name"])


def test_secrets_stay_out_of_config_maps(default_docs):
    secret_values = set(SECRETS["secrets"].values())
    for config in of_kind(default_docs, "ConfigMap"):
        for key, value in config["data"].items():
            assert not any(word in key for word in ("KEY", "TOKEN", "SECRET", "PASSWORD")), key
            assert not any(s in str(value) for s in secret_values), key
    secret = of_kind(default_docs, "Secret")[0]
    assert set(secret["stringData"].values()) == secret_values
    env = dict(pods(default_docs))["docent-api"]["containers"][0]["env"]
    assert {e["name"]: e["valueFrom"]["secretKeyRef"]["key"] for e in env if "valueFrom" in e}[
        "DOCENT_QDRANT__API_KEY"
    ] == "qdrant-api-key"


def test_only_docent_reaches_qdrant_redis_postgresql_and_vllm(default_docs):
    policies = {p["metadata"]["name"]: p for p in of_kind(default_docs, "NetworkPolicy")}
    assert set(policies) == {
        "docent-qdrant-clients",
        "docent-redis-clients",
        "docent-postgresql-clients",
        "docent-vllm-clients",
    }
    allowed = {
        name: {
            peer["podSelector"]["matchLabels"].get("app.kubernetes.io/component")
            for peer in p["spec"]["ingress"][0]["from"]
        }
        for name, p in policies.items()
    }
    assert allowed["docent-redis-clients"] == {"api", "worker", "sync", "slack"}
    assert allowed["docent-postgresql-clients"] == {"api", "worker", "sync", "slack"}
    postgres = policies["docent-postgresql-clients"]["spec"]
    assert postgres["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "postgresql"
    assert postgres["ingress"][0]["ports"] == [{"port": 5432, "protocol": "TCP"}]
    assert allowed["docent-qdrant-clients"] == {"api", "worker", "sync", "slack", None}  # None: its own peers
    assert allowed["docent-vllm-clients"] == {"api", "slack"}


def test_production_values_scale_out(production_docs):
    names = {(d["kind"], d["metadata"]["name"]) for d in production_docs}
    assert ("Secret", "docent-secrets") not in names  # the existing Secret is used
    assert ("Ingress", "docent-api") in names and ("CronJob", "docent-sync") in names
    assert ("Deployment", "docent-slack") in names
    hpa = of_kind(production_docs, "HorizontalPodAutoscaler")[0]
    assert hpa["spec"]["minReplicas"] == 3 and hpa["spec"]["scaleTargetRef"]["name"] == "docent-api"
    scaled = of_kind(production_docs, "ScaledObject")[0]
    trigger = scaled["spec"]["triggers"][0]
    assert scaled["spec"]["maxReplicaCount"] == 4 and scaled["spec"]["scaleTargetRef"]["name"] == "docent-worker"
    assert trigger["type"] == "redis" and trigger["metadata"]["listName"] == "docent.ingest"
    assert (
        of_kind(production_docs, "TriggerAuthentication")[0]["spec"]["secretTargetRef"][0]["name"] == "docent-secrets"
    )
    config = of_kind(production_docs, "ConfigMap")[0]["data"]
    assert config["DOCENT_QDRANT__URL"] == "https://qdrant.corp.example:6333"
    assert (config["DOCENT_QDRANT__SHARDS"], config["DOCENT_QDRANT__REPLICATION_FACTOR"]) == ("6", "2")
    worker = next(d for d in production_docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "docent-worker")
    assert "replicas" not in worker["spec"]  # KEDA owns the count
    sync = dict(pods(production_docs))["docent-sync"]["containers"][0]["args"]
    assert sync[:3] == ["sync", "/sources/handbooks", "/sources/policies"] and "--queue" in sync
    policies = {p["metadata"]["name"] for p in of_kind(production_docs, "NetworkPolicy")}
    assert "docent-qdrant-clients" not in policies  # an external cluster is not ours to police


def test_production_keeps_its_state_in_postgresql_not_sqlite(production_docs):
    assert PRODUCTION["postgresql"] == {"enabled": False}  # a managed database, its URL in the existing Secret
    assert not of_kind(production_docs, "StatefulSet")
    assert "sqlite" not in yaml.safe_dump_all(production_docs).lower()
    # The shared volume stays for uploads only: the API writes them, the workers read them
    assert "docent-data" in {c["metadata"]["name"] for c in of_kind(production_docs, "PersistentVolumeClaim")}


def test_a_larger_tier_reaches_the_settings_without_its_key(monkeypatch):
    tier = {
        "name": "large",
        "base_url": "http://vllm-large:8000",
        "model": "Qwen/Qwen3-32B",
        "api_key_env": "DOCENT_LLM__API_KEY",
        "context_length": 32768,
    }
    values = {
        **SECRETS,
        "docent": {
            **yaml.safe_load((CHART / "values.yaml").read_text())["docent"],
            "routing": {"tiers": [tier], "budgetPerMinute": 30, "budgetPerCallerPerMinute": 5},
        },
    }
    config = next(d for d in of_kind(render(values), "ConfigMap") if d["metadata"]["name"] == "docent-config")["data"]
    assert "v-key-789" not in str(config)
    from serve.settings import Settings

    for key, value in config.items():
        if key.startswith("DOCENT_ROUTING__"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("DOCENT_LLM__API_KEY", "v-key-789")  # what the pods get from the Secret
    routing = Settings().routing
    assert (routing.budget_per_minute, routing.budget_per_caller_per_minute) == (30, 5)
    assert [(t.name, t.base_url, t.model, t.context_length) for t in routing.tiers] == [
        ("large", "http://vllm-large:8000", "Qwen/Qwen3-32B", 32768)
    ]
    assert routing.tiers[0].api_key.get_secret_value() == "v-key-789"
    monkeypatch.delenv("DOCENT_LLM__API_KEY")
    with pytest.raises(ValueError, match="DOCENT_LLM__API_KEY, which is not set"):
        Settings()


def test_file_roots_reach_the_settings(monkeypatch):
    values = {**SECRETS, "docent": {"collection": "docent", "llm": {"model": "m"}, "api": {"fileRoots": ["/sources"]}}}
    config = next(d for d in of_kind(render(values), "ConfigMap") if d["metadata"]["name"] == "docent-config")["data"]
    from serve.settings import Settings

    monkeypatch.setenv("DOCENT_API__FILE_ROOTS", config["DOCENT_API__FILE_ROOTS"])
    assert Settings(_env_file=None).api.file_roots == [Path("/sources")]
    default = next(d for d in of_kind(render(SECRETS), "ConfigMap") if d["metadata"]["name"] == "docent-config")
    assert "DOCENT_API__FILE_ROOTS" not in default["data"]


@pytest.mark.parametrize(
    "bad",
    [
        {"docent": {"collection": "docent", "llm": {"model": "m"}, "routing": {"tiers": [{"model": "no-url"}]}}},
        {"worker": {"autoscaling": {"mode": "magic"}}},
        {"api": {"replicas": "three"}},
        {"vllm": {"gpuMemoryUtilization": 1.5}},
        {"docent": {"extraEnv": {"NOT_DOCENT": "x"}}},
        {"unknownKey": 1},
        {"docent": {"api": {"fileRoots": ["relative/folder"]}}},
    ],
)
def test_values_that_break_the_schema_are_rejected(bad):
    with pytest.raises(helm_python.HelmValuesError):
        render({**SECRETS, **bad})


def test_missing_secrets_are_refused_with_a_clear_message():
    with pytest.raises(helm_python.HelmError, match=r"secrets\.qdrantApiKey"):
        render({})


def test_notes_say_how_to_reach_the_api_and_make_the_first_key():
    text = notes(SECRETS)
    assert "port-forward svc/docent-api 8000:8000" in text and "docent keys create --user admin --admin" in text


COMPOSE_ENV = {
    "QDRANT_API_KEY": "q",
    "REDIS_PASSWORD": "r",
    "VLLM_API_KEY": "v",
    "POSTGRES_PASSWORD": "p",
    "PATH": "/usr/bin:/bin",
}


def compose(*files: str, env: dict[str, str] = COMPOSE_ENV) -> subprocess.CompletedProcess:
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is not installed (apt-get install docker-compose; .ci/run does it)"
    args = [binary]
    for f in files:
        args += ["-f", str(REPO / f)]
    return subprocess.run([*args, "config"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_the_compose_file_validates_for_the_gpu_host():
    result = compose("docker-compose.yml")
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert {"qdrant", "redis", "vllm", "api", "worker", "slack"} <= set(services)
    assert "ports" not in services["qdrant"] and "ports" not in services["redis"]  # not published
    gpu = services["vllm"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"] and gpu["count"] == 1
    assert {"--enable-prefix-caching", "--max-model-len=16384"} <= set(services["vllm"]["command"])
    assert services["api"]["depends_on"]["qdrant"]["condition"] == "service_healthy"
    assert services["slack"]["profiles"] == ["slack"]
    assert services["api"]["environment"]["DOCENT_QDRANT__API_KEY"] == "q"
    missing = compose("docker-compose.yml", env={"PATH": "/usr/bin:/bin"})
    assert missing.returncode != 0 and "QDRANT_API_KEY" in missing.stderr


def test_the_compose_file_keeps_state_in_postgresql():
    services = yaml.safe_load(compose("docker-compose.yml").stdout)["services"]
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:") and "ports" not in postgres  # official, not published
    assert postgres["environment"]["POSTGRES_PASSWORD"] == "p"
    assert "pg_isready" in postgres["healthcheck"]["test"][1]
    assert any(v.startswith("postgres-data:") for v in postgres["volumes"])
    for name in ("api", "worker", "slack"):
        assert services[name]["environment"]["DOCENT_DATABASE_URL"] == (
            "postgresql+psycopg://docent:p@postgres:5432/docent"
        )
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
    env = {k: v for k, v in COMPOSE_ENV.items() if k != "POSTGRES_PASSWORD"}
    missing = compose("docker-compose.yml", env=env)
    assert missing.returncode != 0 and "POSTGRES_PASSWORD" in missing.stderr


def test_the_cpu_variant_runs_without_vllm():
    result = compose("docker-compose.yml", "deploy/docker/compose.cpu.yml")
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert services["vllm"]["profiles"] == ["gpu"]  # not started
    assert services["api"]["environment"]["DOCENT_LLM__BASE_URL"] == ""  # the local model
    assert "vllm" not in services["api"].get("depends_on", {})


def test_the_image_is_multi_stage_slim_pinned_and_unprivileged():
    dockerfile = (REPO / "deploy" / "docker" / "Dockerfile").read_text()
    stages = [line for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert len(stages) == 2 and "python:3.11.11-slim-bookworm" in dockerfile
    assert "USER ${UID}:${UID}" in dockerfile and "ARG UID=10001" in dockerfile
    assert "HEALTHCHECK" in dockerfile and 'ENTRYPOINT ["docent"]' in dockerfile
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".git", ".venv", "data", "tests"} <= set(ignored)


def test_env_example_documents_every_variable_the_compose_files_read():
    import re

    used = set()
    for name in ("docker-compose.yml", "deploy/docker/compose.cpu.yml"):
        used |= set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", (REPO / name).read_text()))
    documented = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", (REPO / ".env.example").read_text(), re.MULTILINE))
    assert used and used <= documented, used - documented


def test_single_sign_on_takes_its_settings_from_the_config_map_and_its_secrets_from_the_secret(monkeypatch):
    oidc = {
        "issuer": "https://login.microsoftonline.com/t-1/v2.0",
        "clientId": "app-1",
        "userClaim": "preferred_username",
        "groupMap": {"5f2c-guid": "hr"},
        "adminGroup": "docent-admins",
    }
    secrets = {**SECRETS["secrets"], "oidcClientSecret": "c-secret-345", "oidcSessionSecret": "s-secret-678"}
    values = {"secrets": secrets, "docent": {"publicUrl": "https://docent.corp.com", "oidc": oidc}}
    docs = render(values)
    config = next(d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"] == "docent-config")["data"]
    assert not any(s in str(config) for s in ("c-secret-345", "s-secret-678"))
    secret = of_kind(docs, "Secret")[0]["stringData"]
    assert (secret["oidc-client-secret"], secret["oidc-session-secret"]) == ("c-secret-345", "s-secret-678")
    env = env_of(dict(pods(docs))["docent-api"]["containers"][0])
    assert env["DOCENT_OIDC__CLIENT_SECRET"]["valueFrom"]["secretKeyRef"]["key"] == "oidc-client-secret"
    assert env["DOCENT_OIDC__SESSION_SECRET"]["valueFrom"]["secretKeyRef"]["key"] == "oidc-session-secret"
    from serve.settings import Settings

    for key, value in config.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DOCENT_OIDC__CLIENT_SECRET", "c-secret-345")  # what the pods get from the Secret
    settings = Settings(_env_file=None)
    assert settings.oidc.issuer == oidc["issuer"] and settings.oidc.client_id == "app-1"
    assert settings.oidc.group_map == {"5f2c-guid": "hr"} and settings.oidc.user_claim == "preferred_username"
    assert settings.public_url == "https://docent.corp.com"
    assert settings.oidc.client_secret.get_secret_value() == "c-secret-345"
    default = next(d for d in of_kind(render(SECRETS), "ConfigMap") if d["metadata"]["name"] == "docent-config")
    assert not any(key.startswith("DOCENT_OIDC__") for key in default["data"])  # off unless an issuer is given
    with pytest.raises(helm_python.HelmError, match=r"docent\.oidc\.clientId"):
        render({**SECRETS, "docent": {"oidc": {"issuer": "https://idp.corp.com"}}})
    with pytest.raises(helm_python.HelmValuesError):
        render({**SECRETS, "docent": {"oidc": {"issuer": "idp.corp.com"}}})  # not a URL


def test_the_compose_file_passes_single_sign_on_through(monkeypatch):
    env = {**COMPOSE_ENV, "OIDC_ISSUER": "https://idp.corp.com", "OIDC_CLIENT_ID": "docent", "OIDC_CLIENT_SECRET": "x"}
    api = yaml.safe_load(compose("docker-compose.yml", env=env).stdout)["services"]["api"]["environment"]
    assert (api["DOCENT_OIDC__ISSUER"], api["DOCENT_OIDC__CLIENT_ID"]) == ("https://idp.corp.com", "docent")
    assert api["DOCENT_OIDC__CLIENT_SECRET"] == "x"
    off = yaml.safe_load(compose("docker-compose.yml").stdout)["services"]["api"]["environment"]
    assert off["DOCENT_OIDC__ISSUER"] == ""  # single sign-on stays off


def test_the_configured_sources_sync_in_their_own_cronjob_with_their_secrets(production_docs, default_docs):
    from serve.settings import SourceSettings

    cronjobs = {d["metadata"]["name"]: d for d in of_kind(production_docs, "CronJob")}
    sources_job = dict(pods(production_docs))["docent-sync-sources"]["containers"][0]
    assert sources_job["args"] == ["sync"]
    assert env_of(sources_job)["CONFLUENCE_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "docent-sources",
        "key": "confluence-token",
    }
    assert cronjobs["docent-sync-sources"]["spec"]["concurrencyPolicy"] == "Forbid"
    config = of_kind(production_docs, "ConfigMap")[0]["data"]
    sources = [SourceSettings.model_validate(s) for s in yaml.safe_load(config["DOCENT_SOURCES"])]
    assert [(s.name, s.kind) for s in sources] == [("wiki", "confluence"), ("handbook", "s3")]
    assert "api_token" not in sources[0].options and sources[0].options["api_token_env"] == "CONFLUENCE_TOKEN"
    assert "docent-sync-sources" not in dict(pods(default_docs))  # no sources configured: no CronJob
    with pytest.raises(Exception, match="connectors"):
        render({**SECRETS, "sync": {"enabled": True, "connectors": [{"name": "Bad Name", "kind": "s3"}]}})
