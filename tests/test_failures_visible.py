"""Failures are visible and the loop heals itself (SPEC §7): a bad file and a missing spec never
stop the good connectors, but their checks go red, read back from the instance; when the file is
fixed and the spec arrives, the sensor's next tick requests the run that repairs both, with no
run launched by hand. Runs are executed as the daemon executes a sensor's request."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from dagster import AssetCheckEvaluation, DagsterEventType, DagsterInstance, TableMetadataValue

from orchestrator.layout import SPEC_WATCH_PATH
from orchestrator.sensors.metadata import NO_CHANGE, RUN_KEY_TAG
from orchestrator.sensors.metadata import generate_registry_on_new_latest_metadata_file_blobs as metadata_sensor
from tests.builders import code_location, make_data, make_spec, put_connector, tick


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


def run_requested(request, resources, instance):
    """The run the daemon launches for a sensor's request: its config, tags and run key."""
    return (
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


def checks_of_run(instance, run_id) -> dict[tuple[str, str], AssetCheckEvaluation]:
    """The run's check evaluations as the instance stored them."""
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
    evaluations = [record.event_log_entry.dagster_event.event_specific_data for record in records]
    return {(evaluation.asset_key.to_user_string(), evaluation.check_name): evaluation for evaluation in evaluations}


def table_rows(evaluation: AssetCheckEvaluation, key: str) -> list[Mapping[str, Any]]:
    table = evaluation.metadata[key]
    assert isinstance(table, TableMetadataValue)
    return [record.data for record in table.records]


def registry_tags(gcs_env, registry: str) -> dict[str, str]:
    stored = gcs_env["metadata"].read(f"registries/v0/{registry}_registry.json")
    assert stored is not None
    document = json.loads(stored[0])
    return {
        entry["dockerRepository"]: entry["dockerImageTag"] for entry in document["sources"] + document["destinations"]
    }


BROKEN = "metadata/airbyte/source-broken/1.1.0/metadata.yaml"
BROKEN_LATEST = "metadata/airbyte/source-broken/latest/metadata.yaml"
WAITING = "metadata/airbyte/source-waiting/1.4.0/metadata.yaml"
WAITING_LATEST = "metadata/airbyte/source-waiting/latest/metadata.yaml"
WAITING_SPEC = "specs/airbyte/source-waiting/1.4.0/spec.json"


def test_invalid_file_and_missing_spec_go_red_then_heal_without_a_hand_launched_run(gcs_env, resources, instance):
    put_connector(gcs_env, make_data("source-good"))
    put_connector(gcs_env, make_data("destination-good", connector_type="destination", tag="0.4.0"))
    broken = make_data("source-broken", tag="1.1.0")
    del broken["license"]  # a required field
    put_connector(gcs_env, broken)
    put_connector(gcs_env, make_data("source-waiting", tag="1.4.0"), spec_images=[])  # its spec is not cached yet

    requests, _, cursor = tick(metadata_sensor, resources, instance)
    assert len(requests) == 1
    first = run_requested(requests[0], resources, instance)
    assert first.success, "a bad file and a missing spec never fail the run"
    for registry in ("oss", "cloud"):
        assert registry_tags(gcs_env, registry) == {"airbyte/source-good": "1.2.3", "airbyte/destination-good": "0.4.0"}
    assert first.asset_materializations_for_node("persisted_oss_registry")

    checks = checks_of_run(instance, first.run_id)
    invalid = checks[("metadata_definitions", "metadata_files_valid")]
    assert not invalid.passed and invalid.severity.value == "ERROR"
    assert invalid.metadata["invalid_files"].value == 2
    assert {(row["file"], row["field"]) for row in table_rows(invalid, "invalid_file_table")} == {
        (BROKEN, "data.license"),
        (BROKEN_LATEST, "data.license"),
    }
    built = checks[("registry_entry", "registry_entries_built")]
    assert not built.passed and built.metadata["failed_entries"].value == 4  # two files x two registries
    rows = table_rows(built, "failed_entry_table")
    assert {(row["file"], row["registry"]) for row in rows} == {
        (path, registry) for path in (WAITING, WAITING_LATEST) for registry in ("oss", "cloud")
    }
    assert all("no spec in the spec cache for image airbyte/source-waiting:1.4.0" in row["reason"] for row in rows)
    assert all(WAITING_SPEC in row["awaited_specs"] for row in rows)
    # The failures are visible on the entries step itself, without "Nothing written".
    entry_metadata = first.asset_materializations_for_node("registry_entry")[0].metadata
    assert entry_metadata["failed_in_bucket"].value == 4
    assert "Nothing written" not in entry_metadata["written_urls"].value

    # The state of the bucket, not of one run: a run for an unrelated upload reads neither the bad
    # file nor the waiting one, and both checks are still red.
    requests, skip, cursor = tick(metadata_sensor, resources, instance, cursor)
    assert requests == [] and skip.startswith(NO_CHANGE), "the acknowledging tick asks for nothing"
    put_connector(gcs_env, make_data("source-good", tag="1.2.4"))
    requests, _, cursor = tick(metadata_sensor, resources, instance, cursor)
    unrelated = run_requested(requests[0], resources, instance)
    assert unrelated.success
    assert BROKEN not in {item.path for item in unrelated.output_for_node("metadata_definitions").changed}
    again = checks_of_run(instance, unrelated.run_id)
    assert not again[("metadata_definitions", "metadata_files_valid")].passed
    assert again[("metadata_definitions", "metadata_files_valid")].metadata["invalid_files"].value == 2
    assert not again[("registry_entry", "registry_entries_built")].passed
    requests, skip, cursor = tick(metadata_sensor, resources, instance, cursor)
    assert requests == [] and skip.startswith(NO_CHANGE)

    # The author fixes the file and the spec arrives. Nobody launches anything.
    put_connector(gcs_env, make_data("source-broken", tag="1.1.0"))
    gcs_env["specs"].write(WAITING_SPEC, json.dumps(make_spec()).encode())
    requests, skip, cursor = tick(metadata_sensor, resources, instance, cursor)
    assert skip is None and len(requests) == 1
    scan = requests[0].run_config["ops"]["metadata_definitions"]["config"]
    assert scan["changed_files"] == [BROKEN, BROKEN_LATEST]
    assert scan["rebuild_files"] == [WAITING, WAITING_LATEST], "exactly the entries that waited for the spec"
    healed = run_requested(requests[0], resources, instance)
    assert healed.success

    checks = checks_of_run(instance, healed.run_id)
    assert checks[("metadata_definitions", "metadata_files_valid")].passed
    assert checks[("registry_entry", "registry_entries_built")].passed
    assert checks[("registry_entry", "registry_entries_built")].metadata["failed_entries"].value == 0
    for registry in ("oss", "cloud"):
        tags = registry_tags(gcs_env, registry)
        assert tags["airbyte/source-waiting"] == "1.4.0" and tags["airbyte/source-broken"] == "1.1.0"
        assert tags["airbyte/source-good"] == "1.2.4"
    requests, skip, _ = tick(metadata_sensor, resources, instance, cursor)
    assert requests == [] and skip.startswith(NO_CHANGE), "healed: nothing left to request"


def test_a_rewritten_spec_rebuilds_exactly_the_entries_built_from_it(gcs_env, resources, instance):
    put_connector(gcs_env, make_data("source-alpha"))
    put_connector(gcs_env, make_data("source-beta", tag="0.9.0"))
    requests, _, cursor = tick(metadata_sensor, resources, instance)
    assert run_requested(requests[0], resources, instance).success
    requests, skip, cursor = tick(metadata_sensor, resources, instance, cursor)
    assert requests == [] and "spec files the entries use or wait for" in skip

    gcs_env["specs"].write(
        "specs/airbyte/source-beta/0.9.0/spec.json", json.dumps(make_spec(title="Beta, corrected")).encode()
    )
    requests, skip, cursor = tick(metadata_sensor, resources, instance, cursor)
    assert len(requests) == 1
    request = requests[0]
    assert request.run_config["ops"]["metadata_definitions"]["config"] == {
        "changed_files": [],
        "deleted_files": [],
        "rebuild_files": [
            "metadata/airbyte/source-beta/0.9.0/metadata.yaml",
            "metadata/airbyte/source-beta/latest/metadata.yaml",
        ],
    }
    assert request.tags["orchestrator/rebuilt_for_specs"] == "2 files, 1 specs arrived or changed"
    alpha_entry = gcs_env["metadata"].read("metadata/airbyte/source-alpha/latest/oss.json")
    rebuilt = run_requested(request, resources, instance)
    assert rebuilt.success
    assert rebuilt.asset_materializations_for_node("metadata_definitions")[0].metadata["rebuilt_for_specs"].value == 2
    assert gcs_env["metadata"].read("metadata/airbyte/source-alpha/latest/oss.json") == alpha_entry, "untouched"
    oss = json.loads(gcs_env["metadata"].read("registries/v0/oss_registry.json")[0])
    beta = next(entry for entry in oss["sources"] if entry["dockerRepository"] == "airbyte/source-beta")
    assert beta["spec"]["connectionSpecification"]["title"] == "Beta, corrected"
    requests, skip, _ = tick(metadata_sensor, resources, instance, cursor)
    assert requests == [] and skip.startswith(NO_CHANGE)


def test_manifest_records_the_specs_of_each_entry_and_the_watch_file_follows(gcs_env, resources, instance):
    put_connector(gcs_env, make_data("source-alpha"), cloud_spec=make_spec(title="Cloud"))
    put_connector(gcs_env, make_data("source-nospec"), spec_images=[])
    result = code_location().resolve_job_def("generate_registry").execute_in_process(resources=resources)
    assert result.success
    manifest = json.loads(gcs_env["metadata"].read("orchestrator_state/registry_entry_manifest.json")[0])
    record = manifest["files"]["metadata/airbyte/source-alpha/1.2.3/metadata.yaml"]
    plain = gcs_env["specs"].generation_of("specs/airbyte/source-alpha/1.2.3/spec.json")
    cloud = gcs_env["specs"].generation_of("specs/airbyte/source-alpha/1.2.3/spec.cloud.json")
    assert record["registries"]["oss"]["specs"] == {"specs/airbyte/source-alpha/1.2.3/spec.json": plain}
    assert record["registries"]["cloud"]["specs"] == {"specs/airbyte/source-alpha/1.2.3/spec.cloud.json": cloud}
    waiting = manifest["files"]["metadata/airbyte/source-nospec/1.2.3/metadata.yaml"]["registries"]["cloud"]
    assert waiting["status"] == "failed"
    assert waiting["specs"] == {
        "specs/airbyte/source-nospec/1.2.3/spec.cloud.json": 0,
        "specs/airbyte/source-nospec/1.2.3/spec.json": 0,
    }
    watch = json.loads(gcs_env["metadata"].read(SPEC_WATCH_PATH)[0])
    assert watch["specs"]["specs/airbyte/source-nospec/1.2.3/spec.json"] == {
        "metadata/airbyte/source-nospec/1.2.3/metadata.yaml": 0,
        "metadata/airbyte/source-nospec/latest/metadata.yaml": 0,
    }
    assert watch["specs"]["specs/airbyte/source-alpha/1.2.3/spec.cloud.json"] == {
        "metadata/airbyte/source-alpha/1.2.3/metadata.yaml": cloud,
        "metadata/airbyte/source-alpha/latest/metadata.yaml": cloud,
    }


def test_persisted_registries_show_their_safety_checks(gcs_env, resources, instance):
    put_connector(gcs_env, make_data("source-alpha"))
    result = (
        code_location().resolve_job_def("generate_registry").execute_in_process(resources=resources, instance=instance)
    )
    assert result.success
    checks = checks_of_run(instance, result.run_id)
    for registry in ("oss", "cloud"):
        for name in ("schema_valid", "no_duplicate_definition_ids", "not_empty", "no_unexplained_loss"):
            assert checks[(f"persisted_{registry}_registry", name)].passed
    assert not any(asset.startswith("latest_") for asset, _ in checks), "the checks sit on the asset that publishes"
    published = result.asset_materializations_for_node("persisted_oss_registry")[0].metadata["published"].value
    assert published.startswith("published (generation ")

    # A rerun with nothing new: the registry is not rewritten, and says so in plain words.
    again = (
        code_location().resolve_job_def("generate_registry").execute_in_process(resources=resources, instance=instance)
    )
    metadata = again.asset_materializations_for_node("persisted_oss_registry")[0].metadata
    assert metadata["published"].value == "unchanged (same bytes)"
    assert "First 1 of 1 connectors." in metadata["preview"].value
