"""The code location as a whole: built lazily, the deployment chosen explicitly, names greppable,
the asset graph connected from the registries to the report."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.resources.deployments import Deployment, DeploymentError, deployment_resources, select_deployment
from tests.builders import code_location

REPO_ROOT = Path(__file__).resolve().parents[1]
SERVICE_ACCOUNT = json.dumps(
    {
        "type": "service_account",
        "client_email": "orchestrator@example.iam.gserviceaccount.com",
        "private_key": "-----BEGIN PRIVATE KEY-----...",
    }
)
BUCKETS = {"METADATA_BUCKET": "m", "SPEC_CACHE_BUCKET": "s"}
PRIVATE = ("ORCHESTRATOR_", "GCS_", "DAGSTER_CLOUD")
SPEC_ASSETS = {
    "metadata": ["metadata_definitions", "valid_metadata_report"],
    "registry_entry": ["metadata_entry", "registry_entry"],
    "registry": [
        "latest_oss_registry_entries",
        "latest_cloud_registry_entries",
        "persisted_oss_registry",
        "persisted_cloud_registry",
    ],
    "specs_secrets_mask": ["all_specs_secrets", "specs_secrets_mask_yaml"],
    "registry_reports": [
        "oss_sources_dataframe",
        "cloud_sources_dataframe",
        "oss_destinations_dataframe",
        "cloud_destinations_dataframe",
        "all_sources_dataframe",
        "all_destinations_dataframe",
        "connector_registry_report",
    ],
}

# What this project publishes beside the registries (SPEC §8), in the registry group.
ADDED_ASSETS = {
    "registry": [
        "persisted_oss_registry_documents",
        "persisted_cloud_registry_documents",
        "persisted_registry_manifest",
    ],
}


def python(code: str, cwd: Path = REPO_ROOT, **env: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith(PRIVATE)}
    environment.pop("STORAGE_EMULATOR_HOST", None)
    environment.update(env, PYTHONPATH=str(REPO_ROOT))
    command = [sys.executable, "-c", code]
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=300)


# --------------------------------------------------------------------------------------------
# Choosing the deployment


@pytest.mark.parametrize(
    "environ, expected",
    [
        ({}, Deployment.local),
        ({"ORCHESTRATOR_DEPLOYMENT": "local", "GCS_CREDENTIALS": SERVICE_ACCOUNT}, Deployment.local),
        ({"ORCHESTRATOR_DEPLOYMENT": "GCS"}, Deployment.gcs),
        ({"GCS_CREDENTIALS": SERVICE_ACCOUNT}, Deployment.gcs),
        ({"DAGSTER_CLOUD_DEPLOYMENT_NAME": "prod"}, Deployment.gcs),
        ({"STORAGE_EMULATOR_HOST": "http://127.0.0.1:9023"}, Deployment.local),
    ],
    ids=[
        "nothing",
        "explicit-local-wins",
        "explicit-gcs",
        "credentials-signal",
        "dagster-cloud-signal",
        "emulator-only",
    ],
)
def test_each_environment_selects_one_deployment(environ, expected):
    assert select_deployment(environ)[0] is expected


def test_an_unknown_deployment_name_is_refused():
    with pytest.raises(DeploymentError, match="ORCHESTRATOR_DEPLOYMENT='emulator' is not a deployment"):
        select_deployment({"ORCHESTRATOR_DEPLOYMENT": "emulator"})


@pytest.mark.parametrize(
    "environ, missing",
    [
        ({"ORCHESTRATOR_DEPLOYMENT": "gcs", **BUCKETS}, "GCS_CREDENTIALS is not set"),
        ({"DAGSTER_CLOUD_DEPLOYMENT_NAME": "prod", **BUCKETS}, "GCS_CREDENTIALS is not set"),
        (
            {"ORCHESTRATOR_DEPLOYMENT": "gcs", "GCS_CREDENTIALS": "{not json", **BUCKETS},
            "GCS_CREDENTIALS is not a service-account JSON key",
        ),
        ({"GCS_CREDENTIALS": SERVICE_ACCOUNT, "SPEC_CACHE_BUCKET": "s"}, "METADATA_BUCKET is not set"),
        (
            {"GCS_CREDENTIALS": SERVICE_ACCOUNT, **BUCKETS, "STORAGE_EMULATOR_HOST": "http://x"},
            "STORAGE_EMULATOR_HOST is set",
        ),
    ],
    ids=["explicit-gcs-no-credentials", "dagster-cloud-no-credentials", "not-a-key", "no-bucket", "emulator-host-set"],
)
def test_gcs_without_what_it_needs_fails_instead_of_falling_back(environ, missing):
    with pytest.raises(DeploymentError) as refused:
        deployment_resources(environ)
    assert missing in str(refused.value)
    assert "ORCHESTRATOR_DEPLOYMENT=local" in str(refused.value), "the message says how to use the emulator instead"


def test_gcs_with_credentials_gets_the_real_gcs_resources():
    deployment, resources = deployment_resources({"GCS_CREDENTIALS": SERVICE_ACCOUNT, **BUCKETS})
    assert deployment is Deployment.gcs
    assert resources["gcp_gcs_client"].emulator_host is None
    assert "io_manager" in resources  # step outputs kept in the bucket for pods on other machines


def test_local_gets_the_emulator_with_its_defaults():
    deployment, resources = deployment_resources({})
    assert deployment is Deployment.local
    assert resources["gcp_gcs_client"].emulator_host == "http://127.0.0.1:9023"
    assert resources["gcs_bucket_manager"].bucket_name == "connector-metadata"
    assert resources["spec_cache"].bucket_name == "connector-spec-cache"


def test_loading_the_code_location_for_gcs_without_credentials_fails_naming_the_variable():
    inherited = {
        key: value for key, value in os.environ.items() if key not in ("GCS_CREDENTIALS", "STORAGE_EMULATOR_HOST")
    }
    loaded = subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "definitions", "validate", "-m", "orchestrator.definitions"],
        cwd=REPO_ROOT,
        env={**inherited, "ORCHESTRATOR_DEPLOYMENT": "gcs", **BUCKETS},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert loaded.returncode != 0
    assert "GCS_CREDENTIALS is not set" in loaded.stdout + loaded.stderr


# --------------------------------------------------------------------------------------------
# Importing is free of side effects; building reads .env


def test_importing_a_pure_module_pulls_in_neither_dagster_nor_google_cloud():
    probe = python(
        "import sys, orchestrator.logic.transform, orchestrator.logic.validation, orchestrator.logic.incremental\n"
        "print(sorted(name for name in ('dagster', 'google.cloud', 'pandas') if name in sys.modules))"
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[]"


def test_loading_the_code_location_leaves_pandas_and_jinja2_to_the_report_steps():
    probe = python(
        "import sys\n"
        "from orchestrator.definitions import defs\n"
        "defs()\n"
        "print(sorted(name for name in ('pandas', 'jinja2', 'numpy') if name in sys.modules))"
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stdout.strip().splitlines()[-1] == "[]"


def test_importing_the_code_location_changes_no_environment_and_building_it_reads_dotenv(tmp_path):
    (tmp_path / ".env").write_text("METADATA_BUCKET=from-dotenv\nORCHESTRATOR_PROBE=1\n")
    probe = python(
        "import os\n"
        "before = dict(os.environ)\n"
        "import orchestrator.definitions, orchestrator.assets.registry, orchestrator.sensors.metadata\n"
        "assert dict(os.environ) == before, 'importing changed the environment'\n"
        "definitions = orchestrator.definitions.defs()\n"
        "bucket = definitions.resources['gcs_bucket_manager'].bucket_name\n"
        "print(os.environ.get('ORCHESTRATOR_PROBE'), bucket)",
        cwd=tmp_path,
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stdout.strip().splitlines()[-1] == "1 from-dotenv"


# --------------------------------------------------------------------------------------------
# Names and the graph


def test_every_spec_asset_is_a_decorated_function_of_its_group_module():
    sources = {group: (REPO_ROOT / "orchestrator" / "assets" / f"{group}.py").read_text() for group in SPEC_ASSETS}
    specs = {spec.key.to_user_string(): spec for spec in code_location().resolve_all_asset_specs()}
    for group, names in {**SPEC_ASSETS, **ADDED_ASSETS}.items():
        for name in names:
            found = re.search(rf"^def {name}\(", sources[group], re.MULTILINE)
            assert found, f"no `def {name}(` in orchestrator/assets/{group}.py"
            assert specs[name].group_name == group
    assert set(specs) == {name for names in [*SPEC_ASSETS.values(), *ADDED_ASSETS.values()] for name in names}


def test_the_report_group_hangs_off_the_published_registries():
    specs = {spec.key.to_user_string(): spec for spec in code_location().resolve_all_asset_specs()}
    for registry in ("oss", "cloud"):
        for kind in ("sources", "destinations"):
            deps = {dep.asset_key.to_user_string() for dep in specs[f"{registry}_{kind}_dataframe"].deps}
            assert deps == {f"persisted_{registry}_registry"}


def test_runtime_code_uses_no_private_dagster_names():
    offenders = [
        f"{path.relative_to(REPO_ROOT)}:{number}"
        for path in (REPO_ROOT / "orchestrator").rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bdagster\._", line)
    ]
    assert offenders == []


def test_gcs_step_outputs_are_kept_with_the_service_account_of_gcs_credentials(tmp_path, monkeypatch):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from dagster import build_resources

    from orchestrator.resources.gcs import GcsClient

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key = json.dumps(
        {
            "type": "service_account",
            "project_id": "orchestrator-key-project",
            "client_email": "orchestrator@orchestrator-key-project.iam.gserviceaccount.com",
            "private_key": pem.decode(),
            "token_uri": "https://oauth2.googleapis.com/token",
        }
    )
    # A run worker given only the key: Application Default Credentials would find nothing.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    monkeypatch.setenv("GCS_CREDENTIALS", key)
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    _, resources = deployment_resources({"GCS_CREDENTIALS": key, **BUCKETS})

    with build_resources({"gcs": resources["io_manager"].gcs}) as built:
        client = built.gcs
    assert client.project == "orchestrator-key-project"
    assert client is GcsClient(gcs_credentials=key).get_client(), "the client every other resource uses"
