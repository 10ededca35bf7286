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


def schema_check(result, asset="persisted_oss_registry"):
    return next(
        evaluation
        for evaluation in result.get_asset_check_evaluations()
        if evaluation.asset_key.to_user_string() == asset and evaluation.check_name == "schema_valid"
    )


def rewrite_json(gcs_env, path, change):
    document = read_json(gcs_env, path)
    change(document)
    gcs_env["metadata"].write(path, json.dumps(document, indent=2).encode())
    return gcs_env["metadata"].generation_of(path)


OSS_INPUTS = "orchestrator_state/oss_registry_inputs.json"
OSS_REGISTRY = "registries/v0/oss_registry.json"


def test_schema_check_reads_only_new_entries_of_a_registry_it_checked_before(gcs_env, resources):
    for index in range(3):
        put_connector(gcs_env, make_data(f"source-s{index}"), spec=make_spec(secret=f"key_{index}"))
    first = run_job(resources)
    assert schema_check(first).metadata["checked_now"].value == 3, "the first build checks every entry"
    inputs = read_json(gcs_env, OSS_INPUTS)
    assert inputs["schema_fingerprint"]
    assert inputs["entries"]["metadata/airbyte/source-s0/latest/oss.json"]["secret_names"] == [
        "client_secret",
        "key_0",
        "personal_token",
    ]

    put_connector(gcs_env, make_data("source-s1", tag="1.3.0"), spec=make_spec(secret="key_1b"))
    second = run_job(resources)
    check = schema_check(second)
    assert check.passed and check.metadata["checked_now"].value == 1, "the two reused entries were checked before"
    assert "(1 checked now, the others as published)" in check.description
    mask = yaml.safe_load(gcs_env["metadata"].read("registries/v0/specs_secrets_mask.yaml")[0])
    assert {"key_0", "key_1b", "key_2"} <= set(mask["properties"]) and "key_1" not in mask["properties"]


def test_a_registry_checked_against_another_model_is_checked_again_in_full(gcs_env, resources):
    for index in range(3):
        put_connector(gcs_env, make_data(f"source-s{index}"))
    assert run_job(resources).success
    published = gcs_env["metadata"].read(OSS_REGISTRY)

    # The registry now holds an entry this model refuses, and the inputs (their generation matching,
    # so every entry is reused) record the fingerprint of another model.
    def break_an_entry(registry):
        registry["sources"][2]["dockerImageTag"] = 7

    generation = rewrite_json(gcs_env, OSS_REGISTRY, break_an_entry)

    def as_if_checked_by_another_model(inputs):
        inputs["registry_generation"] = generation
        inputs["schema_fingerprint"] = "another model"

    rewrite_json(gcs_env, OSS_INPUTS, as_if_checked_by_another_model)
    put_connector(gcs_env, make_data("source-s0", tag="1.3.0"))
    result = run_job(resources, raise_on_error=False)
    check = schema_check(result)
    assert not check.passed and check.metadata["checked_now"].value == 3
    assert "sources.2.dockerImageTag: Input should be a valid string" in check.description
    assert not result.asset_materializations_for_node("persisted_oss_registry")
    assert gcs_env["metadata"].read(OSS_REGISTRY)[0] != published[0], "the edited registry stays; nothing was published"


def test_a_registry_edited_by_hand_is_rebuilt_and_checked_in_full(gcs_env, resources):
    for index in range(3):
        put_connector(gcs_env, make_data(f"source-s{index}"))
    assert run_job(resources).success
    published = gcs_env["metadata"].read(OSS_REGISTRY)[0]

    def break_an_entry(registry):
        registry["sources"][1]["dockerImageTag"] = 7

    rewrite_json(gcs_env, OSS_REGISTRY, break_an_entry)
    result = run_job(resources)
    staged = result.asset_materializations_for_node("latest_oss_registry_entries")[0]
    assert staged.metadata["entries_reused_from_published_registry"].value == 0
    assert schema_check(result).metadata["checked_now"].value == 3
    assert gcs_env["metadata"].read(OSS_REGISTRY)[0] == published


def test_inputs_without_secret_names_still_give_the_whole_mask(gcs_env, resources):
    for index in range(3):
        put_connector(gcs_env, make_data(f"source-s{index}"), spec=make_spec(secret=f"key_{index}"))
    assert run_job(resources).success
    mask_path = "registries/v0/specs_secrets_mask.yaml"
    full_mask = gcs_env["metadata"].read(mask_path)[0]

    def as_an_older_build_wrote_them(inputs):
        for entry in inputs["entries"].values():
            del entry["secret_names"]

    rewrite_json(gcs_env, OSS_INPUTS, as_an_older_build_wrote_them)
    put_connector(gcs_env, make_data("source-s1", tag="1.2.4"), spec=make_spec(secret="key_1"))
    result = run_job(resources)
    staged = result.asset_materializations_for_node("latest_oss_registry_entries")[0]
    assert staged.metadata["entries_reused_from_published_registry"].value == 2
    assert gcs_env["metadata"].read(mask_path)[0] == full_mask
    recorded = read_json(gcs_env, OSS_INPUTS)["entries"]["metadata/airbyte/source-s2/latest/oss.json"]
    assert recorded["secret_names"] == ["client_secret", "key_2", "personal_token"]


def test_a_registry_built_on_the_published_one_has_the_bytes_of_a_full_rebuild(gcs_env, resources):
    def spec(index):
        awkward = make_spec(secret=f"key_{index}")
        awkward["connectionSpecification"]["description"] = 'ends\n    }\n      "spec": {\n'
        return awkward

    for index in range(3):
        put_connector(gcs_env, make_data(f"source-s{index}"), spec=spec(index))
    put_connector(gcs_env, make_data("destination-d", connector_type="destination"), spec=spec(9))
    assert run_job(resources).success
    put_connector(gcs_env, make_data("source-s1", tag="1.3.0"), spec=spec(4))
    incremental = run_job(resources)
    staged = incremental.asset_materializations_for_node("latest_oss_registry_entries")[0]
    assert staged.metadata["entries_reused_from_published_registry"].value == 3

    def published():
        return {
            blob.name: gcs_env["metadata"].read(blob.name)[0]
            for blob in gcs_env["metadata"].list_blobs("registries/v0/")
            if not blob.name.endswith("manifest.json")  # it records generations
        }

    built_on_published = published()
    for blob in gcs_env["metadata"].list_blobs(""):
        if not blob.name.endswith(("metadata.yaml", "icon.svg")):
            gcs_env["metadata"].delete(blob.name)
    assert run_job(resources).success
    assert published() == built_on_published
    assert len(built_on_published) == 2 * (1 + 1 + 4) + 1, "registry, light index, four documents each; the mask"


def test_step_outputs_can_travel_through_the_bucket_as_between_kubernetes_pods(gcs_env, resources):
    from orchestrator.resources.gcs import GcsClient
    from orchestrator.resources.step_outputs import STEP_OUTPUTS_PREFIX, bucket_pickle_io_manager

    put_connector(gcs_env, make_data("source-alpha"))
    put_connector(gcs_env, make_data("destination-beta", connector_type="destination", tag="0.4.0"))
    client = GcsClient(emulator_host=gcs_env["emulator_url"])
    io_manager = bucket_pickle_io_manager(client, gcs_env["metadata"].bucket_name)
    result = run_job({**resources, "io_manager": io_manager})

    assert result.success
    kept = {
        blob.name.removeprefix(f"{STEP_OUTPUTS_PREFIX}/")
        for blob in gcs_env["metadata"].list_blobs(STEP_OUTPUTS_PREFIX)
    }
    # The staged registries reached the publishing steps from the bucket, not from memory.
    assert {"latest_oss_registry_entries", "latest_cloud_registry_entries", "registry_entry"} <= kept
    oss = read_json(gcs_env, "registries/v0/oss_registry.json")
    assert [entry["dockerRepository"] for entry in oss["sources"]] == ["airbyte/source-alpha"]
    assert [entry["dockerRepository"] for entry in oss["destinations"]] == ["airbyte/destination-beta"]
