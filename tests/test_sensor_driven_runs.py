"""Runs as the metadata sensor requests them: the sensor names the changed files in the run config,
the run reads only those and publishes from the entry manifest. Each scenario ends by comparing the
result with a full run (the bucket listed), which must find nothing left to change."""

from __future__ import annotations

import difflib
import json

import pytest
from dagster import DagsterInstance

from orchestrator.layout import ENTRY_MANIFEST_PATH
from orchestrator.models.state import EntryManifest
from orchestrator.sensors.metadata import (
    NAMED_FILES_LIMIT,
    NO_CHANGE,
    RUN_KEY_TAG,
    run_config_for,
)
from orchestrator.sensors.metadata import (
    generate_registry_on_new_latest_metadata_file_blobs as metadata_sensor,
)
from tests.builders import code_location, make_data, make_spec, put_connector, tick, to_yaml

REGISTRY_FILES = (
    "registries/v0/oss_registry.json",
    "registries/v0/cloud_registry.json",
    "registries/v0/specs_secrets_mask.yaml",
    "registries/v0/manifest.json",
)


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


def sensor_run(resources, instance, cursor):
    """One tick, the run it requests executed as the daemon would (its config, tags and run key),
    and the tick after it, which must acknowledge the change. Returns (request, run result, cursor)."""
    requests, skip, cursor = tick(metadata_sensor, resources, instance, cursor)
    assert len(requests) == 1, skip
    request = requests[0]
    result = (
        code_location()
        .resolve_job_def("generate_registry")
        .execute_in_process(
            run_config=request.run_config,
            resources=resources,
            instance=instance,
            tags={**request.tags, RUN_KEY_TAG: request.run_key},
            raise_on_error=False,
        )
    )
    after_requests, after_skip, cursor = tick(metadata_sensor, resources, instance, cursor)
    if result.success:
        assert not after_requests and after_skip.startswith(NO_CHANGE)
    return request, result, cursor


def metadata_value(result, node, key):
    return result.asset_materializations_for_node(node)[0].metadata[key].value


def published_state(gcs_env):
    return {path: gcs_env["metadata"].read(path) for path in (*REGISTRY_FILES, ENTRY_MANIFEST_PATH)}


def assert_full_run_changes_nothing(gcs_env, resources):
    """A run that lists the whole bucket agrees with what the sensor's runs built: it rewrites nothing."""
    before = published_state(gcs_env)
    manifest = json.loads(before[ENTRY_MANIFEST_PATH][0])
    due_a_retry = sum(
        1
        for record in manifest["files"].values()
        if record["valid"] and any(o["status"] == "failed" for o in record["registries"].values())
    )
    result = (
        code_location()
        .resolve_job_def("generate_registry")
        .execute_in_process(resources=resources, instance=DagsterInstance.ephemeral())
    )
    assert result.success
    assert metadata_value(result, "metadata_definitions", "full_scan") is True
    assert metadata_value(result, "metadata_definitions", "new_or_changed") == due_a_retry
    assert metadata_value(result, "persisted_oss_registry", "published") == "unchanged (same bytes)"
    assert metadata_value(result, "persisted_cloud_registry", "published") == "unchanged (same bytes)"
    after = published_state(gcs_env)
    for path in before:
        if after[path] != before[path]:
            changes = difflib.unified_diff(
                before[path][0].decode().splitlines(), after[path][0].decode().splitlines(), lineterm=""
            )
            raise AssertionError(f"the full run rewrote {path}:\n" + "\n".join(changes))


def oss_tags(gcs_env):
    oss = json.loads(gcs_env["metadata"].read("registries/v0/oss_registry.json")[0])
    return {entry["dockerRepository"]: entry["dockerImageTag"] for entry in oss["sources"] + oss["destinations"]}


def test_run_after_one_upload_reads_only_that_upload(gcs_env, resources, instance):
    for index in range(5):
        put_connector(gcs_env, make_data(f"source-s{index}"))
    _, first, cursor = sensor_run(resources, instance, None)
    assert first.success
    # No manifest yet: the named files are not enough, the first run lists the bucket.
    assert metadata_value(first, "metadata_definitions", "full_scan") is True

    put_connector(gcs_env, make_data("source-s2", tag="1.3.0"))
    request, second, cursor = sensor_run(resources, instance, cursor)
    assert second.success
    named = request.run_config["ops"]["metadata_definitions"]["config"]
    assert named == {
        "changed_files": [
            "metadata/airbyte/source-s2/1.3.0/metadata.yaml",
            "metadata/airbyte/source-s2/latest/metadata.yaml",
        ],
        "deleted_files": [],
    }
    assert metadata_value(second, "metadata_definitions", "full_scan") is False
    assert metadata_value(second, "metadata_definitions", "metadata_files") == 11  # 5 x (version + latest/) + 1.3.0
    assert metadata_value(second, "metadata_definitions", "new_or_changed") == 2
    assert metadata_value(second, "latest_oss_registry_entries", "entries_downloaded") == 1
    assert metadata_value(second, "latest_oss_registry_entries", "entries_reused_from_published_registry") == 4
    assert oss_tags(gcs_env)["airbyte/source-s2"] == "1.3.0"
    assert "1.2.3 → 1.3.0" in metadata_value(second, "persisted_oss_registry", "registry_diff")
    assert_full_run_changes_nothing(gcs_env, resources)


def test_deletion_invalid_file_and_missing_spec_in_one_sensor_run(gcs_env, resources, instance):
    for index in range(4):
        put_connector(gcs_env, make_data(f"source-s{index}"))
    _, first, cursor = sensor_run(resources, instance, None)
    assert first.success
    metadata = gcs_env["metadata"]
    kept_latest_entry = metadata.read("metadata/airbyte/source-s2/latest/oss.json")

    metadata.delete("metadata/airbyte/source-s1/1.2.3/metadata.yaml")  # a version removed; latest/ stays
    metadata.write("metadata/airbyte/source-s2/latest/metadata.yaml", b"data: [unclosed\n")  # malformed YAML
    put_connector(gcs_env, make_data("source-s3", tag="1.4.0"), spec_images=[])  # no spec in the cache yet

    request, second, cursor = sensor_run(resources, instance, cursor)
    assert second.success, "bad input is skipped, never fatal to the others"
    named = request.run_config["ops"]["metadata_definitions"]["config"]
    assert named["deleted_files"] == ["metadata/airbyte/source-s1/1.2.3/metadata.yaml"]
    assert metadata_value(second, "metadata_definitions", "full_scan") is False
    assert metadata.read("metadata/airbyte/source-s1/1.2.3/oss.json") is None, (
        "a deleted file takes its entries with it"
    )
    assert metadata.read("metadata/airbyte/source-s2/latest/oss.json") == kept_latest_entry
    report = second.output_for_node("valid_metadata_report")
    assert list(report) == ["metadata/airbyte/source-s2/latest/metadata.yaml"]
    failures = second.output_for_node("registry_entry").failed
    assert any("airbyte/source-s3:1.4.0" in error for error in failures.values())
    # The last good entries stay published: s2 despite its broken latest/, s3 despite its missing spec.
    assert oss_tags(gcs_env) == {f"airbyte/source-s{index}": "1.2.3" for index in range(4)}
    assert_full_run_changes_nothing(gcs_env, resources)

    # The spec arrives; no metadata file changes. A run (here, named files from an unrelated upload)
    # retries the failed entries from the manifest.
    gcs_env["specs"].write("specs/airbyte/source-s3/1.4.0/spec.json", json.dumps(make_spec()).encode())
    put_connector(gcs_env, make_data("source-s0", tag="1.2.4"))
    _, third, cursor = sensor_run(resources, instance, cursor)
    assert third.success and metadata_value(third, "metadata_definitions", "full_scan") is False
    assert oss_tags(gcs_env) == {
        "airbyte/source-s0": "1.2.4",
        "airbyte/source-s1": "1.2.3",
        "airbyte/source-s2": "1.2.3",
        "airbyte/source-s3": "1.4.0",
    }
    assert_full_run_changes_nothing(gcs_env, resources)


def test_named_deleted_file_that_is_back_is_processed_as_a_change(gcs_env, resources, instance):
    for index in range(3):
        put_connector(gcs_env, make_data(f"source-s{index}"))
    _, _, cursor = sensor_run(resources, instance, None)
    path = "metadata/airbyte/source-s1/1.2.3/metadata.yaml"
    gcs_env["metadata"].delete(path)
    request = tick(metadata_sensor, resources, instance, cursor)[0][0]
    assert request.run_config["ops"]["metadata_definitions"]["config"]["deleted_files"] == [path]
    # Re-created between the tick and the run: the run must not delete what exists.
    gcs_env["metadata"].write(path, to_yaml(make_data("source-s1")))
    result = (
        code_location()
        .resolve_job_def("generate_registry")
        .execute_in_process(run_config=request.run_config, resources=resources, instance=instance)
    )
    assert result.success
    assert metadata_value(result, "metadata_definitions", "deleted") == 0
    assert metadata_value(result, "metadata_definitions", "new_or_changed") == 1
    assert gcs_env["metadata"].read("metadata/airbyte/source-s1/1.2.3/oss.json") is not None
    assert_full_run_changes_nothing(gcs_env, resources)


def test_named_files_without_a_manifest_fall_back_to_listing(gcs_env, resources):
    for index in range(3):
        put_connector(gcs_env, make_data(f"source-s{index}"))
    assert (
        code_location()
        .resolve_job_def("generate_registry")
        .execute_in_process(resources=resources, instance=DagsterInstance.ephemeral())
        .success
    )
    gcs_env["metadata"].delete(ENTRY_MANIFEST_PATH)
    put_connector(gcs_env, make_data("source-s1", tag="1.9.0"))
    config = run_config_for({"metadata/airbyte/source-s1/1.9.0/metadata.yaml": 1})
    result = (
        code_location()
        .resolve_job_def("generate_registry")
        .execute_in_process(run_config=config, resources=resources, instance=DagsterInstance.ephemeral())
    )
    assert result.success
    assert metadata_value(result, "metadata_definitions", "full_scan") is True
    assert metadata_value(result, "metadata_definitions", "new_or_changed") == 7, "every file is rebuilt once"
    assert oss_tags(gcs_env)["airbyte/source-s1"] == "1.9.0"


def test_manifest_of_the_previous_format_rebuilds_every_entry_once(gcs_env, resources):
    put_connector(gcs_env, make_data("source-s0"))
    assert (
        code_location()
        .resolve_job_def("generate_registry")
        .execute_in_process(resources=resources, instance=DagsterInstance.ephemeral())
        .success
    )
    manifest = json.loads(gcs_env["metadata"].read(ENTRY_MANIFEST_PATH)[0])
    manifest["version"] = 1
    for record in manifest["files"].values():
        for outcome in record["registries"].values():
            outcome.pop("generation", None)
    gcs_env["metadata"].write(ENTRY_MANIFEST_PATH, json.dumps(manifest).encode())
    result = (
        code_location()
        .resolve_job_def("generate_registry")
        .execute_in_process(resources=resources, instance=DagsterInstance.ephemeral())
    )
    assert result.success
    assert metadata_value(result, "metadata_definitions", "new_or_changed") == 2
    assert json.loads(gcs_env["metadata"].read(ENTRY_MANIFEST_PATH)[0])["version"] == EntryManifest().version


def test_unreadable_manifest_fails_naming_the_file(gcs_env, resources):
    put_connector(gcs_env, make_data("source-s0"))
    gcs_env["metadata"].write(ENTRY_MANIFEST_PATH, b"{not json")
    result = (
        code_location()
        .resolve_job_def("generate_registry")
        .execute_in_process(resources=resources, instance=DagsterInstance.ephemeral(), raise_on_error=False)
    )
    assert not result.success
    failure = result.failure_data_for_node("metadata_definitions")
    assert ENTRY_MANIFEST_PATH in failure.error.message


def test_run_config_names_files_only_for_a_small_change():
    small = {"metadata/a/1/metadata.yaml": 5, "metadata/b/1/metadata.yaml": None}
    assert run_config_for(small) == {
        "ops": {
            "metadata_definitions": {
                "config": {
                    "changed_files": ["metadata/a/1/metadata.yaml"],
                    "deleted_files": ["metadata/b/1/metadata.yaml"],
                }
            }
        }
    }
    large = {f"metadata/c{index}/1/metadata.yaml": index for index in range(NAMED_FILES_LIMIT + 1)}
    assert run_config_for(large) == {}, "a bulk change leaves the run to list the bucket"
