"""dagster_cloud.yaml and scripts/deploy_dagster_cloud.sh, checked offline.

The file is validated by the Dagster Cloud CLI's own offline check (`dagster-cloud ci check` with
the connection check skipped). The deploy script is run for real with a stand-in `dagster-cloud`
(and `kubectl`) that records what it was asked to do; the stand-in passes `ci check` on to the
real CLI. Nothing here talks to Dagster+.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
CLOUD_YAML = REPO_ROOT / "dagster_cloud.yaml"
DEPLOY_SCRIPT = REPO_ROOT / "scripts" / "deploy_dagster_cloud.sh"
REAL_CLI = Path(sys.executable).parent / "dagster-cloud"
LOCATION_NAME = "metadata_service_orchestrator"
CHECK_FLAGS = ["--dagster-cloud-yaml-check=error", "--dagster-cloud-connect-check=skip"]

FAKE_TOKEN = "user:test-token-that-must-never-be-printed-4f1c"
FAKE_CREDENTIALS = json.dumps({"type": "service_account", "private_key": "-----SECRET-KEY-MATERIAL-9d2e-----"})


def _ci_check(project_dir: Path, yaml_name: str = "dagster_cloud.yaml") -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(REAL_CLI),
            "ci",
            "check",
            "--project-dir",
            str(project_dir),
            "--dagster-cloud-yaml-path",
            yaml_name,
            *CHECK_FLAGS,
        ],
        cwd=project_dir,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )


# --------------------------------------------------------------------------------------------
# dagster_cloud.yaml
# --------------------------------------------------------------------------------------------


def test_cli_offline_check_accepts_dagster_cloud_yaml():
    result = _ci_check(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Checked OK" in result.stdout
    assert "Passed: 1" in result.stdout


def test_cli_offline_check_from_repo_root_with_default_path():
    result = subprocess.run(
        [str(REAL_CLI), "ci", "check", *CHECK_FLAGS], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "breakage",
    [
        pytest.param(
            lambda location: location["code_source"].update(package_name="orchestrator"), id="two-code-sources"
        ),
        pytest.param(lambda location: location.pop("location_name"), id="no-location-name"),
        pytest.param(lambda location: location.update(unknown_key=True), id="unknown-key"),
        pytest.param(lambda location: location.update(build={"directory": "no/such/dir"}), id="missing-build-dir"),
    ],
)
def test_cli_offline_check_rejects_a_broken_copy(tmp_path, breakage):
    document = yaml.safe_load(CLOUD_YAML.read_text())
    breakage(document["locations"][0])
    (tmp_path / "dagster_cloud.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    result = _ci_check(tmp_path)
    assert result.returncode != 0, result.stdout
    assert "Failed: 1" in result.stdout
    # The intact file still passes from the same place, so the failure is the breakage.
    (tmp_path / "intact.yaml").write_text(CLOUD_YAML.read_text())
    assert _ci_check(tmp_path, "intact.yaml").returncode == 0


def test_cli_offline_check_rejects_a_missing_file(tmp_path):
    result = _ci_check(tmp_path)
    assert result.returncode != 0
    assert "No such file" in result.stdout + result.stderr


def test_location_names_the_package_and_the_runtime_variables():
    from dagster_cloud_cli.config.models import load_dagster_cloud_yaml

    parsed = load_dagster_cloud_yaml(CLOUD_YAML.read_text())
    [location] = parsed.locations
    assert location.location_name == LOCATION_NAME
    assert location.code_source is not None and location.container_context is not None
    assert location.code_source.module_name == "orchestrator.definitions"
    k8s = location.container_context["k8s"]
    assert set(k8s["env_vars"]) == {
        "METADATA_BUCKET",
        "SPEC_CACHE_BUCKET",
        "METADATA_CDN_BASE_URL",
    }
    assert k8s["env_secrets"] == ["connector-orchestrator-gcs"]
    text = CLOUD_YAML.read_text()
    for name in ("METADATA_BUCKET", "SPEC_CACHE_BUCKET", "GCS_CREDENTIALS", "METADATA_CDN_BASE_URL"):
        assert name in text, f"{name} is not documented in dagster_cloud.yaml"


def test_location_name_matches_pyproject():
    import tomllib

    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert pyproject["tool"]["dagster"]["code_location_name"] == LOCATION_NAME
    assert pyproject["tool"]["dagster"]["module_name"] == "orchestrator.definitions"


# --------------------------------------------------------------------------------------------
# scripts/deploy_dagster_cloud.sh
# --------------------------------------------------------------------------------------------

STUB_CLI = """#!/usr/bin/env bash
# Records each call (arguments, the location file it was given, whether the token reached it).
log="$STUB_LOG_DIR/dagster-cloud.jsonl"
location_file=""
previous=""
for argument in "$@"; do
  if [ "$previous" = "--location-file" ]; then location_file="$argument"; fi
  previous="$argument"
done
"$STUB_PYTHON" - "$log" "$location_file" "$@" <<'PY'
import json, os, sys
log, location_file, *args = sys.argv[1:]
entry = {
    "args": args,
    "token_in_env": os.environ.get("DAGSTER_CLOUD_API_TOKEN") == os.environ.get("EXPECTED_TOKEN"),
    "organization_env": os.environ.get("DAGSTER_CLOUD_ORGANIZATION"),
    "deployment_env": os.environ.get("DAGSTER_CLOUD_DEPLOYMENT"),
    "location_file": open(location_file).read() if location_file else None,
    "location_file_mode": oct(os.stat(location_file).st_mode & 0o777) if location_file else None,
}
with open(log, "a") as handle:
    handle.write(json.dumps(entry) + "\\n")
PY
if [ "$1 $2" = "ci check" ]; then
  exec "$REAL_DAGSTER_CLOUD" "$@"
fi
exit "${STUB_EXIT_CODE:-0}"
"""

STUB_KUBECTL = """#!/usr/bin/env bash
# Records kubectl calls; for `apply -f -` it also records the manifest read from stdin.
log="$STUB_LOG_DIR/kubectl.log"
echo "ARGS: $*" >> "$log"
for argument in "$@"; do
  if [ "$argument" = "--dry-run=client" ]; then
    # Render a Secret the way kubectl would (base64 data), from the --from-file argument.
    for item in "$@"; do
      case "$item" in
        --from-file=*) spec="${item#--from-file=}"; key="${spec%%=*}"; path="${spec#*=}";
          echo "apiVersion: v1"; echo "kind: Secret"; echo "data:"; echo "  $key: $(base64 -w0 < "$path")";;
      esac
    done
    exit 0
  fi
done
if [ "$*" != "${*/apply/}" ]; then
  echo "MANIFEST:" >> "$log"; cat >> "$log"
fi
"""


@pytest.fixture
def stubs(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    for name, text in (("dagster-cloud", STUB_CLI), ("kubectl", STUB_KUBECTL)):
        path = bin_dir / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return {"bin": bin_dir, "logs": log_dir}


def _base_env(stubs: dict, **values: str) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DAGSTER_CLOUD", "GCS_", "METADATA_", "SPEC_CACHE", "STORAGE_EMULATOR"))
    }
    env.update(
        PATH=f"{stubs['bin']}{os.pathsep}{env.get('PATH', '')}",
        DAGSTER_CLOUD_CLI=str(stubs["bin"] / "dagster-cloud"),
        REAL_DAGSTER_CLOUD=str(REAL_CLI),
        STUB_PYTHON=sys.executable,
        STUB_LOG_DIR=str(stubs["logs"]),
        EXPECTED_TOKEN=FAKE_TOKEN,
        NO_COLOR="1",
    )
    env.update(values)
    return env


def _hybrid_env(stubs: dict, **values: str) -> dict:
    defaults = dict(
        DAGSTER_CLOUD_API_TOKEN=FAKE_TOKEN,
        DAGSTER_CLOUD_ORGANIZATION="connectors-org",
        DAGSTER_CLOUD_DEPLOYMENT="staging",
        DAGSTER_CLOUD_IMAGE="registry.invalid/connector-orchestrator:abc123",
        METADATA_BUCKET="prod-connector-metadata",
        SPEC_CACHE_BUCKET="prod-spec-cache",
        METADATA_CDN_BASE_URL="https://connectors.example.com",
    )
    defaults.update(values)
    return _base_env(stubs, **defaults)


def _deploy(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(DEPLOY_SCRIPT)], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180
    )


def _cli_calls(stubs: dict) -> list[dict]:
    log = stubs["logs"] / "dagster-cloud.jsonl"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def _option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


@pytest.mark.parametrize(
    "missing, message",
    [
        ("DAGSTER_CLOUD_API_TOKEN", "DAGSTER_CLOUD_API_TOKEN is not set"),
        ("DAGSTER_CLOUD_ORGANIZATION", "DAGSTER_CLOUD_ORGANIZATION is not set"),
        ("DAGSTER_CLOUD_IMAGE", "DAGSTER_CLOUD_IMAGE is not set"),
        ("METADATA_BUCKET", "METADATA_BUCKET is not set"),
        ("SPEC_CACHE_BUCKET", "SPEC_CACHE_BUCKET is not set"),
    ],
)
def test_deploy_refuses_with_a_clear_message_when_a_variable_is_unset(stubs, missing, message):
    env = _hybrid_env(stubs)
    del env[missing]
    result = _deploy(env)
    assert result.returncode != 0
    assert message in result.stderr
    assert _cli_calls(stubs) == [], "nothing may be sent to Dagster+ before the settings are complete"
    assert FAKE_TOKEN not in result.stdout + result.stderr


def test_deploy_rejects_an_unknown_target(stubs):
    result = _deploy(_hybrid_env(stubs, DAGSTER_CLOUD_DEPLOY_TARGET="moon"))
    assert result.returncode != 0
    assert "DAGSTER_CLOUD_DEPLOY_TARGET" in result.stderr


def test_deploy_hybrid_checks_then_adds_the_location_with_its_variables(stubs):
    # The deployer's own ADC file path never reaches the pods, which read GCS_CREDENTIALS only.
    result = _deploy(_hybrid_env(stubs, GOOGLE_APPLICATION_CREDENTIALS="/home/someone/laptop-key.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    check, deploy = _cli_calls(stubs)

    assert check["args"][:2] == ["ci", "check"]
    assert "--dagster-cloud-connect-check=skip" in check["args"]
    assert "Checked OK" in result.stdout  # the real CLI ran the check

    args = deploy["args"]
    assert args[:2] == ["deployment", "add-location"]
    assert _option(args, "--location-name") == LOCATION_NAME
    assert _option(args, "--image") == "registry.invalid/connector-orchestrator:abc123"
    assert _option(args, "--organization") == "connectors-org"
    assert _option(args, "--deployment") == "staging"
    assert deploy["token_in_env"], "the CLI reads the token from DAGSTER_CLOUD_API_TOKEN"
    assert deploy["location_file_mode"] == "0o600"

    location = yaml.safe_load(deploy["location_file"])["locations"][0]
    assert location["location_name"] == LOCATION_NAME
    assert location["code_source"] == {"module_name": "orchestrator.definitions"}
    k8s = location["container_context"]["k8s"]
    assert sorted(k8s["env_vars"]) == [
        "METADATA_BUCKET=prod-connector-metadata",
        "METADATA_CDN_BASE_URL=https://connectors.example.com",
        "SPEC_CACHE_BUCKET=prod-spec-cache",
    ]
    assert k8s["env_secrets"] == ["connector-orchestrator-gcs"]
    # No GCS_CREDENTIALS here, so kubectl was not needed.
    assert not (stubs["logs"] / "kubectl.log").exists()
    assert "existing Secret connector-orchestrator-gcs" in result.stdout


def test_deploy_never_prints_or_passes_the_token_or_the_credentials(stubs):
    env = _hybrid_env(stubs, GCS_CREDENTIALS=FAKE_CREDENTIALS, DAGSTER_CLOUD_K8S_NAMESPACE="dagster-agent")
    result = _deploy(env)
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert FAKE_TOKEN not in output
    assert "SECRET-KEY-MATERIAL" not in output
    for call in _cli_calls(stubs):
        assert FAKE_TOKEN not in json.dumps(call["args"])
        assert "SECRET-KEY-MATERIAL" not in json.dumps(call)  # neither in arguments nor in the location file

    kubectl_log = (stubs["logs"] / "kubectl.log").read_text()
    assert "SECRET-KEY-MATERIAL" not in kubectl_log.split("MANIFEST:")[0], (
        "credentials must not be on kubectl's command line"
    )
    assert "--namespace dagster-agent create secret generic connector-orchestrator-gcs" in kubectl_log
    manifest = yaml.safe_load(kubectl_log.split("MANIFEST:")[1])
    import base64

    assert json.loads(base64.b64decode(manifest["data"]["GCS_CREDENTIALS"])) == json.loads(FAKE_CREDENTIALS)


def test_deploy_with_credentials_needs_the_agent_namespace(stubs):
    result = _deploy(_hybrid_env(stubs, GCS_CREDENTIALS=FAKE_CREDENTIALS))
    assert result.returncode != 0
    assert "DAGSTER_CLOUD_K8S_NAMESPACE is not set" in result.stderr
    assert "SECRET-KEY-MATERIAL" not in result.stdout + result.stderr


def test_deploy_defaults_to_the_prod_deployment_and_leaves_unset_names_to_the_agent(stubs):
    env = _hybrid_env(stubs)
    del env["DAGSTER_CLOUD_DEPLOYMENT"]
    del env["METADATA_CDN_BASE_URL"]
    result = _deploy(env)
    assert result.returncode == 0, result.stdout + result.stderr
    deploy = _cli_calls(stubs)[-1]
    assert _option(deploy["args"], "--deployment") == "prod"
    env_vars = yaml.safe_load(deploy["location_file"])["locations"][0]["container_context"]["k8s"]["env_vars"]
    assert "METADATA_CDN_BASE_URL" in env_vars  # bare name: the value comes from the agent, if it has one


def test_deploy_serverless_uses_the_serverless_command_without_agent_config(stubs):
    env = _base_env(
        stubs,
        DAGSTER_CLOUD_API_TOKEN=FAKE_TOKEN,
        DAGSTER_CLOUD_ORGANIZATION="connectors-org",
        DAGSTER_CLOUD_DEPLOY_TARGET="serverless",
    )
    result = _deploy(env)
    assert result.returncode == 0, result.stdout + result.stderr
    deploy = _cli_calls(stubs)[-1]
    assert deploy["args"][:2] == ["serverless", "deploy-python-executable"]
    assert _option(deploy["args"], "--location-name") == LOCATION_NAME
    assert _option(deploy["args"], "--python-version") == "3.11"
    location = yaml.safe_load(deploy["location_file"])["locations"][0]
    assert "container_context" not in location
    assert location["code_source"] == {"module_name": "orchestrator.definitions"}
    assert "Environment variables" in result.stdout  # tells where the variables must be set


def test_deploy_fails_when_the_cli_fails(stubs):
    result = _deploy(_hybrid_env(stubs, STUB_EXIT_CODE="3"))
    assert result.returncode == 3
    assert ">> deployed" not in result.stdout
