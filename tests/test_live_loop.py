"""The live loop end to end: a real `dagster dev` (daemon, webserver, code server) against its own
emulator. The metadata sensor publishes the first registries from a small sample; then a new
version uploaded with the real `metadata_service upload` command must reach the published
oss_registry.json without anyone starting a run. Prints the seconds from upload to publish.

The sensor interval is ORCHESTRATOR_SENSOR_INTERVAL_SECONDS (30 s in a deployment); the test uses
E2E_SENSOR_INTERVAL_SECONDS (default 5) to stay quick. With 30 s the goal is p95 <= 45 s; that is
measured and printed here, not asserted.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from orchestrator.local.emulator import EmulatorConfig, ensure_buckets, start_emulator, stop_emulator
from orchestrator.local.load import load_sample
from orchestrator.local.ports import free_port
from orchestrator.local.runner import stop_process_group
from orchestrator.local.sample import generate_sample
from orchestrator.resources.gcs import GcsBucketManager, GcsClient
from orchestrator.settings import PROJECT_ROOT

pytestmark = pytest.mark.e2e

OSS_REGISTRY = "registries/v0/oss_registry.json"
REPORT = "generated_reports/connector_registry_report.html"
FIRST_PUBLISH_BOUND = 240.0
UPLOAD_TO_PUBLISH_BOUND = 240.0
CONNECTOR = "airbyte/source-ftp"
NEW_TAG = "1.0.1"


def registry_tags(bucket: GcsBucketManager) -> dict[str, str]:
    """dockerRepository -> dockerImageTag of every connector in the published OSS registry."""
    found = bucket.read(OSS_REGISTRY)
    if found is None:
        return {}
    registry = json.loads(found[0])
    return {
        entry["dockerRepository"]: entry["dockerImageTag"]
        for kind in ("sources", "destinations")
        for entry in registry.get(kind, [])
    }


def wait_for(predicate, bound: float, what: str, dagster: subprocess.Popen, log_file: Path) -> float:
    started = time.monotonic()
    while time.monotonic() - started < bound:
        if predicate():
            return time.monotonic() - started
        if dagster.poll() is not None:
            pytest.fail(
                f"dagster dev exited (code {dagster.returncode}) while waiting for {what}; log tail:\n{tail(log_file)}"
            )
        time.sleep(0.5)
    pytest.fail(f"{what} did not happen within {bound:.0f} s; dagster dev log tail:\n{tail(log_file)}")


def tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def test_upload_reaches_the_published_registry(tmp_path):
    interval = os.environ.get("E2E_SENSOR_INTERVAL_SECONDS", "5")
    emulator = EmulatorConfig(state_dir=tmp_path / "emulator", port=free_port())
    metadata_bucket, spec_bucket = "e2e-metadata", "e2e-specs"
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    log_file = tmp_path / "dagster_dev.log"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "STORAGE_EMULATOR_HOST": emulator.url,
        "METADATA_BUCKET": metadata_bucket,
        "SPEC_CACHE_BUCKET": spec_bucket,
        "METADATA_CDN_BASE_URL": "",
        "ORCHESTRATOR_SENSOR_INTERVAL_SECONDS": interval,
        "ORCHESTRATOR_SENSORS_DEFAULT": "running",
    }
    env.pop("GCS_CREDENTIALS", None)

    dagster = None
    start_emulator(emulator)
    try:
        ensure_buckets(emulator.url, [metadata_bucket, spec_bucket])
        client = GcsClient(emulator_host=emulator.url)
        metadata = GcsBucketManager(gcp_gcs_client=client, bucket_name=metadata_bucket, cdn_base_url="")
        specs = GcsBucketManager(gcp_gcs_client=client, bucket_name=spec_bucket)
        sample = generate_sample(connectors=6, versions=2)
        load_sample(sample, metadata, specs)
        assert CONNECTOR in {connector.docker_repository for connector in sample.connectors}

        with log_file.open("wb") as log:
            dagster = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dagster",
                    "dev",
                    "-m",
                    "orchestrator.definitions",
                    "-p",
                    str(free_port()),
                    "-h",
                    "127.0.0.1",
                ],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        # No run started by hand: the metadata sensor (RUNNING by default) sees the sample and publishes.
        first = wait_for(
            lambda: bool(registry_tags(metadata)),
            FIRST_PUBLISH_BOUND,
            "the first registry publish (sensor-triggered)",
            dagster,
            log_file,
        )
        print(f"\nfirst registries published {first:.1f} s after dagster dev started (sensor interval {interval} s)")
        assert registry_tags(metadata).get(CONNECTOR) == "1.0.0"

        # A new version, with its spec in the spec cache, uploaded with the real command.
        latest_file = metadata.read(f"metadata/{CONNECTOR}/latest/metadata.yaml")
        assert latest_file is not None
        latest = yaml.safe_load(latest_file[0])
        latest["data"]["dockerImageTag"] = NEW_TAG
        folder = tmp_path / "upload" / "source-ftp"
        folder.mkdir(parents=True)
        (folder / "metadata.yaml").write_text(yaml.safe_dump(latest, sort_keys=False))
        icon = metadata.read(f"metadata/{CONNECTOR}/latest/icon.svg")
        if icon is not None:
            (folder / "icon.svg").write_bytes(icon[0])
        spec_file = specs.read(f"specs/{CONNECTOR}/1.0.0/spec.json")
        assert spec_file is not None
        specs.write(f"specs/{CONNECTOR}/{NEW_TAG}/spec.json", spec_file[0])
        upload = subprocess.run(
            [
                sys.executable,
                "-m",
                "orchestrator.metadata_service.cli",
                "upload",
                str(folder / "metadata.yaml"),
                metadata_bucket,
            ],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert upload.returncode == 0, f"metadata_service upload failed:\n{upload.stdout}\n{upload.stderr}"
        uploaded_at = time.monotonic()

        wait_for(
            lambda: registry_tags(metadata).get(CONNECTOR) == NEW_TAG,
            UPLOAD_TO_PUBLISH_BOUND,
            f"{CONNECTOR}:{NEW_TAG} in the published {OSS_REGISTRY}",
            dagster,
            log_file,
        )
        seconds = time.monotonic() - uploaded_at
        print(
            f"upload -> published oss_registry.json: {seconds:.1f} s "
            f"(sensor interval {interval} s; goal p95 <= 45 s at 30 s)"
        )

        # The registry sensor turned the published registries into the report, on its own as well.
        wait_for(
            lambda: metadata.generation_of(REPORT) > 0,
            UPLOAD_TO_PUBLISH_BOUND,
            f"{REPORT} (registry sensor)",
            dagster,
            log_file,
        )
    finally:
        if dagster is not None:
            stop_process_group(dagster, timeout=30.0)
        stop_emulator(emulator)
