"""Shared fixtures: a real fake-gcs-server per test session, and fresh buckets per test."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from orchestrator.local.ports import free_port
from orchestrator.resources.deployments import local_resources
from orchestrator.resources.gcs import GcsBucketManager, GcsClient

# Real connector files kept outside the repository (development checkouts have them beside it).
SHARED_DATA = Path(
    os.environ.get("ORCHESTRATOR_REFERENCE_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)
_bucket_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory):
    """The bundled fake-gcs-server on a free loopback port, in its own data directory.

    Started through the project's own launcher, which logs to a file: the wrapper's FakeGCSServer
    pipes the server's log and never reads it, so the server blocks after a few hundred requests."""
    from orchestrator.local.emulator import EmulatorConfig, start_emulator, stop_emulator

    config = EmulatorConfig(state_dir=tmp_path_factory.mktemp("gcs_emulator"), port=free_port())
    status = start_emulator(config)
    try:
        yield SimpleNamespace(url=status.url, host=config.host, port=config.port, config=config)
    finally:
        stop_emulator(config)


@pytest.fixture
def gcs_env(gcs_emulator, monkeypatch):
    """Fresh, empty metadata and spec-cache buckets; the environment points every resource at them."""
    number = next(_bucket_numbers)
    metadata_bucket = f"test-metadata-{os.getpid()}-{number}"
    spec_bucket = f"test-specs-{os.getpid()}-{number}"
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.url)
    monkeypatch.setenv("METADATA_BUCKET", metadata_bucket)
    monkeypatch.setenv("SPEC_CACHE_BUCKET", spec_bucket)
    monkeypatch.setenv("METADATA_CDN_BASE_URL", "")
    monkeypatch.delenv("GCS_CREDENTIALS", raising=False)
    monkeypatch.setenv("ORCHESTRATOR_DEPLOYMENT", "local")
    client = GcsClient(emulator_host=gcs_emulator.url)
    metadata = GcsBucketManager(gcp_gcs_client=client, bucket_name=metadata_bucket, cdn_base_url="")
    specs = GcsBucketManager(gcp_gcs_client=client, bucket_name=spec_bucket, cdn_base_url="")
    metadata.ensure_bucket()
    specs.ensure_bucket()
    return {"emulator_url": gcs_emulator.url, "metadata": metadata, "specs": specs}


@pytest.fixture
def resources(gcs_env):
    """The code location's own local resource set, bound to this test's buckets."""
    return local_resources(os.environ)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"reference data (real connector metadata files) not found at {SHARED_DATA}: "
            "set ORCHESTRATOR_REFERENCE_DATA to such a folder to run this test (README, Development)"
        )
    return SHARED_DATA
