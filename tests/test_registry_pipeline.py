"""End to end on the emulator: the real generate_registry job over a small bucket."""

from __future__ import annotations

import json

import pytest
import yaml
from dagster import DagsterInstance, build_resources

from orchestrator.assets.registry import publish_registry, stage_registry
from orchestrator.models.steps import MetadataEntries, RegistryEntryResult
from orchestrator.resources.gcs import ConcurrentWriteError
from orchestrator.resources.policy import RegistryPublishPolicy
from orchestrator.resources.state import read_entry_manifest
from tests.builders import code_location, make_data, make_spec, put_connector


def run_job(resources, job_name="generate_registry", instance=None, raise_on_error=True):
    job = code_location().resolve_job_def(job_name)
    return job.execute_in_process(
        resources=resources, instance=instance or DagsterInstance.ephemeral(), raise_on_error=raise_on_error
    )


def read_json(gcs_env, path):
    stored = gcs_env["metadata"].read(path)
    assert stored is not None, f"{path} was not written"
    return json.loads(stored[0])


def test_generate_registry_end_to_end(gcs_env, resources):
    put_connector(gcs_env, make_data("source-alpha"))
    put_connector(gcs_env, make_data("destination-beta", connector_type="destination", tag="0.4.0"))
    result = run_job(resources)
    assert result.success
    oss = read_json(gcs_env, "registries/v0/oss_registry.json")
    assert [entry["dockerRepository"] for entry in oss["sources"]] == ["airbyte/source-alpha"]
    assert [entry["dockerRepository"] for entry in oss["destinations"]] == ["airbyte/destination-beta"]
    assert (
        read_json(gcs_env, "metadata/airbyte/source-alpha/1.2.3/oss.json")["sourceDefinitionId"]
        == oss["sources"][0]["sourceDefinitionId"]
    )
    mask = yaml.safe_load(gcs_env["metadata"].read("registries/v0/specs_secrets_mask.yaml")[0])
    assert mask == {"properties": ["api_key", "client_secret", "personal_token"]}


def object_generations(gcs_env):
    return {blob.name: blob.generation for blob in gcs_env["metadata"].list_blobs("")}


def test_second_run_rewrites_nothing_and_one_upload_updates_one_connector(gcs_env, resources):
    for index in range(4):
        put_connector(gcs_env, make_data(f"source-s{index}"))
    assert run_job(resources).success
    before = object_generations(gcs_env)
    registry_bytes = gcs_env["metadata"].read("registries/v0/oss_registry.json")[0]

    second = run_job(resources)
    assert second.success
    assert object_generations(gcs_env) == before, "a run with no change must write nothing"
    assert gcs_env["metadata"].read("registries/v0/oss_registry.json")[0] == registry_bytes

    put_connector(gcs_env, make_data("source-s2", tag="1.3.0"))
    third = run_job(resources)
    assert third.success
    after = object_generations(gcs_env)
    changed = sorted(name for name in after if before.get(name) != after[name])
    entry_writes = [name for name in changed if name.endswith((".json",)) and name.startswith("metadata/")]
    assert sorted(entry_writes) == sorted(
        f"metadata/airbyte/source-s2/{folder}/{registry}.json"
        for folder in ("1.3.0", "latest")
        for registry in ("oss", "cloud")
    )
    oss = read_json(gcs_env, "registries/v0/oss_registry.json")
    assert {entry["dockerRepository"]: entry["dockerImageTag"] for entry in oss["sources"]} == {
        "airbyte/source-s0": "1.2.3",
        "airbyte/source-s1": "1.2.3",
        "airbyte/source-s2": "1.3.0",
        "airbyte/source-s3": "1.2.3",
    }
    materialization = third.asset_materializations_for_node("persisted_oss_registry")[0]
    assert "1.2.3 → 1.3.0" in materialization.metadata["registry_diff"].value
    staged = third.asset_materializations_for_node("latest_oss_registry_entries")[0]
    assert staged.metadata["entries_downloaded"].value == 1, "only the changed latest entry is downloaded"
    assert read_json(gcs_env, "orchestrator_state/oss_registry_diff.json")["changed"][0]["to"] == "1.3.0"


def test_same_bucket_yields_identical_bytes(gcs_env, resources, tmp_path):
    put_connector(gcs_env, make_data("source-alpha", releaseDate="2024-01-02"))
    put_connector(gcs_env, make_data("destination-beta", connector_type="destination"))
    assert run_job(resources).success
    first = {
        path: gcs_env["metadata"].read(path)[0]
        for path in (
            "registries/v0/oss_registry.json",
            "registries/v0/cloud_registry.json",
            "registries/v0/specs_secrets_mask.yaml",
        )
    }
    # Force a full rebuild from scratch: forget every bookkeeping and published file.
    for blob in gcs_env["metadata"].list_blobs(""):
        if not blob.name.endswith(("metadata.yaml", "icon.svg")):
            gcs_env["metadata"].delete(blob.name)
    assert run_job(resources).success
    for path, data in first.items():
        assert gcs_env["metadata"].read(path)[0] == data, f"{path} differs between two builds of the same bucket"
    assert b'"releaseDate": "2024-01-02"' in first["registries/v0/oss_registry.json"]


def test_bad_file_is_skipped_and_last_good_entry_stays(gcs_env, resources):
    put_connector(gcs_env, make_data("source-good"))
    put_connector(gcs_env, make_data("source-changing"))
    assert run_job(resources).success
    latest_entry = gcs_env["metadata"].read("metadata/airbyte/source-changing/latest/oss.json")

    broken = make_data("source-changing", tag="1.3.0", surprise="field")
    put_connector(gcs_env, broken)
    result = run_job(resources)
    assert result.success, "one bad file must not stop the others"
    assert gcs_env["metadata"].read("metadata/airbyte/source-changing/latest/oss.json") == latest_entry
    assert gcs_env["metadata"].read("metadata/airbyte/source-changing/1.3.0/oss.json") is None
    report = result.output_for_node("valid_metadata_report")
    assert set(report) == {
        "metadata/airbyte/source-changing/1.3.0/metadata.yaml",
        "metadata/airbyte/source-changing/latest/metadata.yaml",
    }
    assert all("surprise" in " ".join(problems) for problems in report.values())
    oss = read_json(gcs_env, "registries/v0/oss_registry.json")
    assert {entry["dockerImageTag"] for entry in oss["sources"]} == {"1.2.3"}

    from orchestrator.local.runner import summarize_bucket

    summary = summarize_bucket(gcs_env["metadata"])
    assert summary.metadata_files == 5  # two versions and latest of one connector, one version and latest of the other
    assert sorted({problem.split(": ", 1)[0] for problem in summary.invalid_files}) == sorted(report)

    # Invalid files stay listed on later runs even though they are not read again.
    again = run_job(resources)
    assert set(again.output_for_node("valid_metadata_report")) == set(report)
    assert again.output_for_node("metadata_definitions").changed == []


def test_missing_spec_fails_that_entry_only_and_is_retried(gcs_env, resources):
    put_connector(gcs_env, make_data("source-good"))
    data = make_data("source-nospec")
    put_connector(gcs_env, data, spec_images=[])
    result = run_job(resources)
    assert result.success
    failures = result.output_for_node("registry_entry").failed
    assert any("airbyte/source-nospec:1.2.3" in error for error in failures.values())
    assert gcs_env["metadata"].read("metadata/airbyte/source-nospec/latest/oss.json") is None
    # The spec arrives later: the next run retries without any metadata change.
    gcs_env["specs"].write("specs/airbyte/source-nospec/1.2.3/spec.json", json.dumps(make_spec()).encode())
    assert run_job(resources).success
    oss = read_json(gcs_env, "registries/v0/oss_registry.json")
    assert "airbyte/source-nospec" in {entry["dockerRepository"] for entry in oss["sources"]}


def test_disabling_a_registry_deletes_the_entry_and_is_an_explained_drop(gcs_env, resources):
    put_connector(gcs_env, make_data("source-leaving"))
    put_connector(gcs_env, make_data("source-staying"))
    assert run_job(resources).success
    assert gcs_env["metadata"].read("metadata/airbyte/source-leaving/latest/cloud.json") is not None

    put_connector(
        gcs_env,
        make_data(
            "source-leaving", tag="1.3.0", registryOverrides={"oss": {"enabled": True}, "cloud": {"enabled": False}}
        ),
    )
    result = run_job(resources)
    assert result.success, "a connector disabled by its own metadata may leave even when that is 50% of the registry"
    assert gcs_env["metadata"].read("metadata/airbyte/source-leaving/latest/cloud.json") is None
    cloud = read_json(gcs_env, "registries/v0/cloud_registry.json")
    assert [entry["dockerRepository"] for entry in cloud["sources"]] == ["airbyte/source-staying"]
    check = [
        evaluation
        for evaluation in result.get_asset_check_evaluations()
        if evaluation.asset_key.to_user_string() == "persisted_cloud_registry"
        and evaluation.check_name == "no_unexplained_loss"
    ][0]
    assert check.passed and "Source Leaving" in check.description


def test_unexplained_loss_refuses_to_publish_and_names_the_connectors(gcs_env, resources):
    for index in range(3):
        put_connector(gcs_env, make_data(f"source-s{index}"))
    assert run_job(resources).success
    published = gcs_env["metadata"].read("registries/v0/oss_registry.json")
    gcs_env["metadata"].delete("metadata/airbyte/source-s1/latest/metadata.yaml")

    result = run_job(resources, raise_on_error=False)
    assert not result.success
    evaluations = {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}
    loss = evaluations[("persisted_oss_registry", "no_unexplained_loss")]
    assert not loss.passed and "Source S1 (airbyte/source-s1" in loss.description
    assert gcs_env["metadata"].read("registries/v0/oss_registry.json") == published, "the old registry stays in place"
    assert not result.asset_materializations_for_node("persisted_oss_registry")


def test_drop_within_configured_share_is_allowed_but_listed(gcs_env, resources, monkeypatch):
    for index in range(3):
        put_connector(gcs_env, make_data(f"source-s{index}"))
    assert run_job(resources).success
    gcs_env["metadata"].delete("metadata/airbyte/source-s1/latest/metadata.yaml")
    permissive = {**resources, "registry_publish_policy": RegistryPublishPolicy(max_unexplained_drop_share=0.5)}
    result = run_job(permissive)
    assert result.success
    loss = [
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "no_unexplained_loss" and e.asset_key.to_user_string() == "persisted_oss_registry"
    ][0]
    assert loss.passed and "airbyte/source-s1" in loss.description, "an allowed loss is still never silent"


def test_empty_bucket_never_publishes_an_empty_registry(gcs_env, resources):
    result = run_job(resources, raise_on_error=False)
    assert not result.success
    evaluations = {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}
    assert not evaluations[("persisted_oss_registry", "not_empty")].passed
    assert gcs_env["metadata"].read("registries/v0/oss_registry.json") is None


def test_concurrent_writer_is_detected_not_overwritten(gcs_env, resources):
    put_connector(gcs_env, make_data("source-alpha"))
    assert run_job(resources).success
    put_connector(gcs_env, make_data("source-alpha", tag="1.3.0"))
    assert run_job(resources, job_name="generate_registry_entry").success
    # This run stages the registry (reading the published generation) ...
    with build_resources(resources) as bound:
        manifest, _ = read_entry_manifest(bound.gcs_bucket_manager)
        entries = RegistryEntryResult(entry_generations={"oss": manifest.published_entry_generations("oss")})
        staged = stage_registry("oss", bound.gcs_bucket_manager, entries)
    assert [connector["dockerImageTag"] for connector in staged.connectors] == ["1.3.0"]
    # ... then another writer publishes first: this run must fail, not overwrite the newer file.
    newer = gcs_env["metadata"].read("registries/v0/oss_registry.json")[0].replace(b"1.2.3", b"1.2.4")
    gcs_env["metadata"].write("registries/v0/oss_registry.json", newer)
    with (
        build_resources(resources) as bound,
        pytest.raises(ConcurrentWriteError, match="changed since this run read it"),
    ):
        publish_registry(staged, bound.gcs_bucket_manager, bound.registry_publish_policy)
    assert gcs_env["metadata"].read("registries/v0/oss_registry.json")[0] == newer


def test_entries_step_refuses_a_manifest_that_changed_since_the_run_compared_with_it(gcs_env, resources):
    from dagster import build_asset_context

    from orchestrator.assets.registry_entry import registry_entry
    from orchestrator.layout import ENTRY_MANIFEST_PATH

    put_connector(gcs_env, make_data("source-alpha"))
    assert run_job(resources).success
    manifest_before = gcs_env["metadata"].read(ENTRY_MANIFEST_PATH)
    stale = MetadataEntries(
        valid=[], invalid=[], deleted=[], manifest_generation=manifest_before[1] - 1, full_scan=True
    )
    with (
        build_resources(resources) as bound,
        pytest.raises(ConcurrentWriteError, match="another run got there first"),
    ):
        registry_entry(
            build_asset_context(),
            metadata_entry=stale,
            gcs_bucket_manager=bound.gcs_bucket_manager,
            spec_cache=bound.spec_cache,
            registry_format_settings=bound.registry_format_settings,
        )
    assert gcs_env["metadata"].read(ENTRY_MANIFEST_PATH) == manifest_before
