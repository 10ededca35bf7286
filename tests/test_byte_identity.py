"""The same bucket gives the same bytes: every entry, both registries and the secrets mask built
from two generated sample buckets match, digest for digest, what the orchestrator wrote for them
before the architecture change (commit 0f9952c), recorded in fixtures/registry_digests_2023.json.

The seed's format (`REGISTRY_FORMAT=2023`) and the sample as it was generated then (`era="2023"`)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from dagster import DagsterInstance

from orchestrator.layout import (
    CONNECTOR_DOCUMENTS_FOLDER,
    REGISTRY_MANIFEST_PATH,
    REGISTRY_MANIFEST_SIGNATURE_PATH,
    REGISTRY_NAMES,
    light_index_path,
)
from orchestrator.local.load import load_sample
from orchestrator.local.sample import generate_sample
from orchestrator.resources.deployments import local_resources
from tests.builders import code_location

FIXTURE = Path(__file__).parent / "fixtures" / "registry_digests_2023.json"
CDN = "https://connectors.example.test"  # icon URLs then name no emulator port
BUCKETS = {"40x3-seed7-small": (40, 3, 7, "small"), "60x4-seed11-realistic": (60, 4, 11, "realistic")}


# Published beside the registries since (SPEC §8); they add files, and change none of these bytes.
DISTRIBUTION_FILES = (
    REGISTRY_MANIFEST_PATH,
    REGISTRY_MANIFEST_SIGNATURE_PATH,
    *(light_index_path(registry) for registry in REGISTRY_NAMES),
)


def published_digests(bucket) -> dict[str, str]:
    """sha256 of every entry, registry and the mask; not the state files, reports, metadata, icons,
    nor what SPEC §8 publishes beside the registries (manifest, light indexes, connector documents)."""
    digests = {}
    for blob in bucket.list_blobs(""):
        name = blob.name
        if name.startswith(("orchestrator_state/", "generated_reports/", f"{CONNECTOR_DOCUMENTS_FOLDER}/")):
            continue
        if name in DISTRIBUTION_FILES:
            continue
        if not name.startswith("registries/") and name.endswith((".yaml", ".svg")):
            continue
        digests[name] = hashlib.sha256(bucket.read(name)[0]).hexdigest()
    return digests


@pytest.mark.parametrize("label", list(BUCKETS))
def test_sample_bucket_gives_the_bytes_of_before(label, gcs_env, monkeypatch):
    connectors, versions, seed, spec_size = BUCKETS[label]
    monkeypatch.setenv("METADATA_CDN_BASE_URL", CDN)
    monkeypatch.setenv("REGISTRY_FORMAT", "2023")
    sample = generate_sample(connectors=connectors, versions=versions, seed=seed, spec_size=spec_size, era="2023")
    load_sample(sample, gcs_env["metadata"], gcs_env["specs"])
    resources = local_resources(os.environ)
    result = (
        code_location()
        .resolve_job_def("generate_registry")
        .execute_in_process(resources=resources, instance=DagsterInstance.ephemeral())
    )
    assert result.success

    expected = json.loads(FIXTURE.read_text())[label]
    actual = published_digests(gcs_env["metadata"])
    assert sorted(actual) == sorted(expected), "the set of published files changed"
    differing = sorted(name for name in expected if actual[name] != expected[name])
    assert not differing, f"{len(differing)} of {len(expected)} files have other bytes, e.g. {differing[:5]}"
