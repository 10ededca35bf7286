"""The deployment files, checked without Docker, Kubernetes or a database.

- Dockerfile / .dockerignore: parsed; base image, Poetry install from poetry.lock, the gRPC command
  (module, port), no package-index host, and what the build context lets in or keeps out.
- deploy/helm/values.yaml (chart dagster/dagster): the user-code deployment (image, module, port,
  environment, secrets), the run launcher, the queue, retries and PostgreSQL; the pod it yields
  is built with dagster-k8s's own job builder.
- deploy/dagster.prod.yaml: validated by Dagster's instance config schema, its run coordinator
  built from the file; the same limits as the Helm values. (tests/test_postgres_instance.py runs
  it against a real PostgreSQL server.)
- dagster_cloud.yaml's Kubernetes container context, built the same way.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
HELM_VALUES = REPO_ROOT / "deploy" / "helm" / "values.yaml"
PROD_INSTANCE_YAML = REPO_ROOT / "deploy" / "dagster.prod.yaml"
CLOUD_YAML = REPO_ROOT / "dagster_cloud.yaml"
DEPLOY_README = REPO_ROOT / "deploy" / "README.md"

PACKAGE = "orchestrator"
MODULE = "orchestrator.definitions"
PORT = 4000
IMAGE_NAME = "connector-orchestrator"
GRPC_COMMAND = ["dagster", "api", "grpc", "-m", MODULE, "-h", "0.0.0.0", "-p", str(PORT)]
RUNTIME_VARIABLES = ("METADATA_BUCKET", "SPEC_CACHE_BUCKET", "METADATA_CDN_BASE_URL")
GCS_SECRET = "connector-orchestrator-gcs"
PG_VARIABLES = ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB")
EXPECTED_LIMITS = [
    {"key": "orchestrator/job", "value": "generate_registry", "limit": 1},
    {"key": "orchestrator/concurrency", "value": "registry_writer", "limit": 1},
]


# --------------------------------------------------------------------------------------------
# Dockerfile
# --------------------------------------------------------------------------------------------


def parse_dockerfile(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: comments dropped, continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if not full:
            continue
        keyword, _, arguments = full.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    assert not pending, "the Dockerfile ends inside a continuation line"
    return instructions


def stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, arguments in instructions:
        if keyword == "FROM":
            result.append([])
        assert result, "the Dockerfile must start with FROM (ARG before FROM is not used here)"
        result[-1].append((keyword, arguments))
    return result


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return parse_dockerfile(DOCKERFILE.read_text())


def test_dockerfile_instructions_are_known(dockerfile):
    known = {"FROM", "ARG", "ENV", "RUN", "COPY", "WORKDIR", "USER", "EXPOSE", "HEALTHCHECK", "CMD", "LABEL"}
    assert {keyword for keyword, _ in dockerfile} <= known


def test_dockerfile_builds_on_python_311_slim(dockerfile):
    bases = [arguments.split()[0] for keyword, arguments in dockerfile if keyword == "FROM"]
    assert bases and all(base == "python:3.11-slim" for base in bases), bases


def test_dockerfile_installs_with_poetry_from_the_lock_file(dockerfile):
    build = stages(dockerfile)[0]
    copies = " ".join(arguments for keyword, arguments in build if keyword == "COPY")
    assert "poetry.lock" in copies and "pyproject.toml" in copies
    runs = [arguments for keyword, arguments in build if keyword == "RUN"]
    pip_installs = [run for run in runs if "pip install" in run]
    assert any("$POETRY_SPEC" in run for run in pip_installs), "Poetry must come from pip"
    args = {
        arguments.split("=", 1)[0]: arguments.split("=", 1)[1].strip('"')
        for keyword, arguments in build
        if keyword == "ARG" and "=" in arguments
    }
    assert args["POETRY_SPEC"].startswith("poetry")
    installs = [run for run in runs if "poetry install" in run]
    assert len(installs) == 2, "dependencies first (--no-root), then the project"
    assert "--no-root" in installs[0]
    assert all('--only "$POETRY_GROUPS"' in run for run in installs)
    assert args["POETRY_GROUPS"] == "main"
    text = DOCKERFILE.read_text()
    assert "poetry lock" not in text and "poetry update" not in text, "the image installs the lock as committed"
    # The lock file is installed before the package source is copied (layer caching).
    order = [arguments for keyword, arguments in build if keyword in ("COPY", "RUN")]
    assert order.index(next(a for a in order if "poetry.lock" in a)) < order.index(
        next(a for a in order if a.startswith("orchestrator"))
    )


def test_dockerfile_names_no_package_index_host():
    text = DOCKERFILE.read_text()
    assert "://" not in text, "index hosts come from build arguments, never from the file"
    assert not re.search(r"pypi\.org|pythonhosted|--extra-index-url", text)


def test_dockerfile_runs_the_grpc_server_for_the_module_on_port_4000(dockerfile):
    final = stages(dockerfile)[-1]
    cmd = [arguments for keyword, arguments in final if keyword == "CMD"]
    assert len(cmd) == 1
    assert json.loads(cmd[0]) == GRPC_COMMAND
    assert [arguments for keyword, arguments in final if keyword == "EXPOSE"] == [str(PORT)]
    healthcheck = [arguments for keyword, arguments in final if keyword == "HEALTHCHECK"]
    assert healthcheck and "grpc-health-check" in healthcheck[0] and str(PORT) in healthcheck[0]
    users = [arguments for keyword, arguments in final if keyword == "USER"]
    assert users and users[-1] not in ("root", "0"), "the server does not run as root"
    copies_from_build = [
        arguments for keyword, arguments in final if keyword == "COPY" and arguments.startswith("--from=")
    ]
    assert any("/opt/venv" in arguments for arguments in copies_from_build)


def test_dockerfile_module_is_the_code_location_module():
    import tomllib

    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert pyproject["tool"]["dagster"]["module_name"] == MODULE
    assert any(package["include"] == PACKAGE for package in pyproject["tool"]["poetry"]["packages"])
    for dependency in ("dagster-k8s", "dagster-postgres", "dagster-gcp"):
        assert dependency in pyproject["tool"]["poetry"]["dependencies"], (
            f"{dependency} must be in the image (main group)"
        )


def _pattern_regex(pattern: str) -> re.Pattern:
    """A .dockerignore pattern: `**` spans folders, `*` and `?` stay inside one."""
    regex, index = "", 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            regex, index = regex + "(?:.*/)?", index + 3
        elif pattern.startswith("**", index):
            regex, index = regex + ".*", index + 2
        elif pattern[index] == "*":
            regex, index = regex + "[^/]*", index + 1
        elif pattern[index] == "?":
            regex, index = regex + "[^/]", index + 1
        else:
            regex, index = regex + re.escape(pattern[index]), index + 1
    return re.compile(regex + r"\Z")


def _docker_ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent folders decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: index + 1]) for index in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _pattern_regex((pattern[1:] if negate else pattern).strip("/"))
        if any(regex.match(candidate) for candidate in candidates):
            ignored = not negate
    return ignored


def test_dockerignore_admits_only_the_project_and_keeps_secrets_out():
    patterns = [
        line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    admitted = [
        "pyproject.toml",
        "poetry.lock",
        "README.md",
        "orchestrator/__init__.py",
        "orchestrator/templates/connector_registry_report.html.j2",
    ]
    excluded = [
        ".env",
        "orchestrator/.env",
        ".venv/bin/python",
        ".tools/bin/poetry",
        ".git/config",
        ".dagster_home/dagster.yaml",
        ".local_bucket/x",
        "tests/conftest.py",
        "orchestrator/__pycache__/settings.cpython-311.pyc",
        "deploy/helm/values.yaml",
    ]
    for path in admitted:
        assert not _docker_ignored(path, patterns), f"{path} must be in the build context"
    for path in excluded:
        assert _docker_ignored(path, patterns), f"{path} must stay out of the build context"
    # Everything the Dockerfile copies from the context is admitted.
    for keyword, arguments in parse_dockerfile(DOCKERFILE.read_text()):
        if keyword == "COPY" and not arguments.startswith("--from="):
            for source in shlex.split(arguments)[:-1]:
                assert not _docker_ignored(source.rstrip("/"), patterns), f"COPY {source} is ignored by .dockerignore"


# --------------------------------------------------------------------------------------------
# Helm values (chart dagster/dagster)
# --------------------------------------------------------------------------------------------

# Keys of one entry of dagster-user-deployments.deployments[] in the chart's values schema.
USER_DEPLOYMENT_KEYS = {
    "name",
    "image",
    "dagsterApiGrpcArgs",
    "codeServerArgs",
    "includeConfigInLaunchedRuns",
    "port",
    "env",
    "envConfigMaps",
    "envSecrets",
    "annotations",
    "nodeSelector",
    "affinity",
    "tolerations",
    "podSecurityContext",
    "securityContext",
    "resources",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "labels",
    "volumeMounts",
    "volumes",
    "schedulerName",
}


@pytest.fixture(scope="module")
def helm_values() -> dict:
    return yaml.safe_load(HELM_VALUES.read_text())


@pytest.fixture(scope="module")
def user_deployment(helm_values) -> dict:
    deployments = helm_values["dagster-user-deployments"]["deployments"]
    assert len(deployments) == 1
    return deployments[0]


def test_helm_user_deployment_runs_the_image_module_and_port(helm_values, user_deployment):
    assert helm_values["dagster-user-deployments"]["enabled"] is True
    assert set(user_deployment) <= USER_DEPLOYMENT_KEYS, set(user_deployment) - USER_DEPLOYMENT_KEYS
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", user_deployment["name"])
    assert user_deployment["image"]["repository"].rsplit("/", 1)[-1] == IMAGE_NAME
    assert str(user_deployment["image"]["tag"]) and user_deployment["image"]["tag"] != "latest"
    assert user_deployment["dagsterApiGrpcArgs"] == ["-m", MODULE]
    assert user_deployment["port"] == PORT
    assert user_deployment["includeConfigInLaunchedRuns"] == {"enabled": True}


def test_helm_user_deployment_environment_and_secrets(user_deployment):
    env = {item["name"]: item.get("value") for item in user_deployment["env"]}
    for name in RUNTIME_VARIABLES:
        assert name in env, f"{name} missing from the code location's env"
    assert env["DAGSTER_EXECUTOR"] == "k8s"
    assert env["ORCHESTRATOR_DEPLOYMENT"] == "gcs", "production never falls back to the emulator"
    assert "GCS_CREDENTIALS" not in env, "the service account comes from a Secret, not from values"
    assert {"name": GCS_SECRET} in user_deployment["envSecrets"]
    # One source of credentials: every Google client, the step-output I/O manager's too, is built from it.
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in env


def test_helm_runs_on_kubernetes_with_the_queue_retries_and_postgres(helm_values):
    assert helm_values["runLauncher"]["type"] == "K8sRunLauncher"
    assert helm_values["runLauncher"]["config"]["k8sRunLauncher"]["loadInclusterConfig"] is True
    daemon = helm_values["dagsterDaemon"]
    assert daemon["enabled"] is True
    coordinator = daemon["runCoordinator"]
    assert coordinator["enabled"] is True and coordinator["type"] == "QueuedRunCoordinator"
    assert coordinator["config"]["queuedRunCoordinator"]["tagConcurrencyLimits"] == EXPECTED_LIMITS
    assert daemon["runRetries"] == {"enabled": True, "maxRetries": 2, "retryOnAssetOrOpFailure": False}
    assert daemon["runMonitoring"]["enabled"] is True

    postgresql = helm_values["postgresql"]
    assert postgresql["enabled"] is False and postgresql["postgresqlHost"]
    assert postgresql["postgresqlScheme"] == "postgresql+psycopg2"
    assert postgresql["service"]["port"] == 5432
    assert helm_values["generatePostgresqlPasswordSecret"] is False
    assert helm_values["global"]["postgresqlSecretName"]
    assert not postgresql["postgresqlPassword"], "passwords live in Secrets, not in values"


def _pod_spec_for(container_context: dict) -> dict:
    """The run pod dagster-k8s would create for a run under this container context."""
    import kubernetes
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.job import DagsterK8sJobConfig, construct_dagster_k8s_job

    context = K8sContainerContext.create_from_config(container_context)
    job_config = DagsterK8sJobConfig(
        job_image=f"{IMAGE_NAME}:test", dagster_home="/opt/dagster/dagster_home", instance_config_map="dagster-instance"
    )
    job = construct_dagster_k8s_job(
        job_config,
        ["dagster", "api", "execute_run"],
        "dagster-run-test",
        user_defined_k8s_config=context.run_k8s_config,
    )
    return kubernetes.client.ApiClient().sanitize_for_serialization(job)["spec"]["template"]["spec"]


def _assert_pod_reads_the_service_account(spec: dict) -> dict:
    container = spec["containers"][0]
    env = {item["name"]: item.get("value") for item in container.get("env", [])}
    assert {"secretRef": {"name": GCS_SECRET}} in container["envFrom"]
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in env, "GCS_CREDENTIALS is the only source of credentials"
    return env


def test_helm_run_pod_built_by_dagster_k8s(user_deployment):
    # What the chart hands to run pods (includeConfigInLaunchedRuns), as a container context.
    container_context = {
        "k8s": {
            "env": user_deployment["env"],
            "env_secrets": [secret["name"] for secret in user_deployment["envSecrets"]],
            "resources": user_deployment["resources"],
        }
    }
    env = _assert_pod_reads_the_service_account(_pod_spec_for(container_context))
    assert env["DAGSTER_EXECUTOR"] == "k8s"
    assert env["ORCHESTRATOR_DEPLOYMENT"] == "gcs", "production never falls back to the emulator"


def test_dagster_cloud_container_context_built_by_dagster_k8s(monkeypatch):
    # Bare names take their values from the agent's environment.
    for name in RUNTIME_VARIABLES:
        monkeypatch.setenv(name, f"agent-{name.lower()}")
    [location] = yaml.safe_load(CLOUD_YAML.read_text())["locations"]
    env = _assert_pod_reads_the_service_account(_pod_spec_for(location["container_context"]))
    for name in RUNTIME_VARIABLES:
        assert env[name] == f"agent-{name.lower()}"


# --------------------------------------------------------------------------------------------
# deploy/dagster.prod.yaml
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prod_config() -> dict:
    return yaml.safe_load(PROD_INSTANCE_YAML.read_text())


def test_prod_instance_passes_dagsters_instance_schema(tmp_path, monkeypatch):
    from dagster._core.instance.config import dagster_instance_config

    for name in PG_VARIABLES:
        monkeypatch.delenv(name, raising=False)  # env: references are checked, not resolved, here
    (tmp_path / "dagster.yaml").write_text(PROD_INSTANCE_YAML.read_text())
    config, custom_instance_class = dagster_instance_config(str(tmp_path))
    assert custom_instance_class is None
    assert set(config["storage"]) == {"postgres"}
    assert config["run_retries"] == {"enabled": True, "max_retries": 2, "retry_on_asset_or_op_failure": False}


def test_prod_instance_reads_every_connection_setting_from_the_environment(prod_config):
    database = prod_config["storage"]["postgres"]["postgres_db"]
    references = {field: value["env"] for field, value in database.items() if isinstance(value, dict)}
    assert references == {
        "hostname": "DAGSTER_PG_HOST",
        "port": "DAGSTER_PG_PORT",
        "username": "DAGSTER_PG_USERNAME",
        "password": "DAGSTER_PG_PASSWORD",
        "db_name": "DAGSTER_PG_DB",
    }
    assert database["scheme"] == "postgresql+psycopg2"
    assert (
        "run_storage" not in prod_config
        and "event_log_storage" not in prod_config
        and "schedule_storage" not in prod_config
    )


def test_prod_run_coordinator_is_queued_with_one_generate_registry_at_a_time(prod_config):
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster._serdes.config_class import ConfigurableClassData

    section = prod_config["run_coordinator"]
    coordinator = ConfigurableClassData(
        section["module"], section["class"], yaml.safe_dump(section["config"])
    ).rehydrate()
    assert isinstance(coordinator, QueuedRunCoordinator)
    limits = coordinator.get_run_queue_config().tag_concurrency_limits
    assert limits == EXPECTED_LIMITS
    assert {"key": "orchestrator/job", "value": "generate_registry", "limit": 1} in limits
    assert coordinator.get_run_queue_config().max_concurrent_runs > 1, "other jobs still run beside generate_registry"


def test_prod_and_helm_agree(prod_config, helm_values):
    queued = helm_values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert queued["tagConcurrencyLimits"] == prod_config["run_coordinator"]["config"]["tag_concurrency_limits"]
    assert queued["maxConcurrentRuns"] == prod_config["run_coordinator"]["config"]["max_concurrent_runs"]
    retries = helm_values["dagsterDaemon"]["runRetries"]
    assert (retries["maxRetries"], retries["retryOnAssetOrOpFailure"]) == (
        prod_config["run_retries"]["max_retries"],
        prod_config["run_retries"]["retry_on_asset_or_op_failure"],
    )


def test_local_instance_stays_sqlite():
    local = REPO_ROOT / "dagster.yaml"
    text = local.read_text()
    assert "postgres" not in text.lower(), "the local instance must stay zero-setup (SQLite)"


# --------------------------------------------------------------------------------------------
# Executor selection (DAGSTER_EXECUTOR=k8s -> dagster_k8s.k8s_job_executor)
# --------------------------------------------------------------------------------------------


def _executor_of_generate_registry(value: str | None) -> subprocess.CompletedProcess:
    env = {key: val for key, val in os.environ.items() if key != "DAGSTER_EXECUTOR"}
    if value is not None:
        env["DAGSTER_EXECUTOR"] = value
    code = (
        "from orchestrator.definitions import defs; "
        "print(defs().resolve_job_def('generate_registry').executor_def.name)"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_dagster_executor_k8s_selects_the_k8s_job_executor():
    selected = _executor_of_generate_registry("k8s")
    assert selected.returncode == 0, selected.stderr[-2000:]
    assert selected.stdout.strip().splitlines()[-1] == "k8s"
    default = _executor_of_generate_registry(None)
    assert default.returncode == 0, default.stderr[-2000:]
    assert default.stdout.strip().splitlines()[-1] != "k8s", "without DAGSTER_EXECUTOR nothing needs a cluster"


def test_deploy_readme_walks_through_the_install():
    text = DEPLOY_README.read_text()
    for step in (
        "helm repo add dagster",
        "kubectl create secret generic dagster-postgresql-secret",
        f"kubectl create secret generic {GCS_SECRET}",
        "helm upgrade --install",
        "deploy/helm/values.yaml",
        "docker build",
        "DAGSTER_EXECUTOR",
        "k8s_job_executor",
        "dagster_cloud.yaml",
        "make deploy",
    ):
        assert step in text, f"deploy/README.md does not mention {step!r}"
    for name in (*RUNTIME_VARIABLES, "GCS_CREDENTIALS", *PG_VARIABLES, "DAGSTER_CLOUD_API_TOKEN"):
        assert name in text, f"deploy/README.md does not document {name}"
