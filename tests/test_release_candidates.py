"""Release candidates and override-path copies end to end (SPEC §4.1): uploaded with the real
upload command, picked up by the real metadata sensor, built by the real generate_registry job on
the emulator; each scenario ends with a full run that must find nothing left to change."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance

from orchestrator.metadata_service.cli import main as metadata_service
from tests.builders import code_location, make_data, make_spec
from tests.test_sensor_driven_runs import assert_full_run_changes_nothing, metadata_value, sensor_run

REPOSITORY = "airbyte/source-rollout"
BASE = f"metadata/{REPOSITORY}"
ICON = b"<svg xmlns='http://www.w3.org/2000/svg'/>"


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


def upload(gcs_env, tmp_path: Path, data: dict, *options: str) -> None:
    """The upload command, as an author runs it, plus the spec the entries will need."""
    folder = tmp_path / f"{data['dockerRepository'].replace('/', '_')}-{data['dockerImageTag']}"
    folder.mkdir()
    (folder / "metadata.yaml").write_bytes(yaml.safe_dump({"metadataSpecVersion": 1.0, "data": data}).encode())
    (folder / "icon.svg").write_bytes(ICON)
    assert metadata_service(["upload", str(folder / "metadata.yaml"), os.environ["METADATA_BUCKET"], *options]) == 0
    tag = options[-1] if options and options[0] == "--prerelease" else data["dockerImageTag"]
    spec = json.dumps(make_spec(title=f"{data['dockerRepository']} {tag}")).encode()
    gcs_env["specs"].write(f"specs/{data['dockerRepository']}/{tag}/spec.json", spec)


def rollout_data(tag: str, **rollout) -> dict:
    return make_data(
        "source-rollout",
        tag=tag,
        releases={"rolloutConfiguration": {"enableProgressiveRollout": True, **rollout}, "isReleaseCandidate": True},
    )


def latest_entries(gcs_env) -> dict[str, dict]:
    """registry -> the connector's entry in the published registry."""
    found = {}
    for registry in ("oss", "cloud"):
        published = json.loads(gcs_env["metadata"].read(f"registries/v0/{registry}_registry.json")[0])
        found[registry] = next(entry for entry in published["sources"] if entry["dockerRepository"] == REPOSITORY)
    return found


def test_release_candidate_joins_latest_in_the_sensor_run_and_leaves_when_promoted_or_removed(
    gcs_env, resources, instance, tmp_path, capsys
):
    upload(gcs_env, tmp_path, make_data("source-rollout", tag="1.2.3"))
    _, first, cursor = sensor_run(resources, instance, None)
    assert first.success

    upload(gcs_env, tmp_path, rollout_data("1.3.0-rc.1", maxPercentage=30))
    assert gcs_env["metadata"].read(f"{BASE}/release_candidate/metadata.yaml") is not None
    request, second, cursor = sensor_run(resources, instance, cursor)
    assert second.success
    assert request.run_config["ops"]["metadata_definitions"]["config"]["changed_files"] == [
        f"{BASE}/1.3.0-rc.1/metadata.yaml",
        f"{BASE}/release_candidate/metadata.yaml",
    ]
    assert metadata_value(second, "metadata_definitions", "full_scan") is False
    for registry, entry in latest_entries(gcs_env).items():
        assert entry["dockerImageTag"] == "1.2.3", registry
        candidate = entry["releases"]["releaseCandidates"]["1.3.0-rc.1"]
        assert candidate["dockerImageTag"] == "1.3.0-rc.1"
        assert candidate["spec"]["connectionSpecification"]["title"] == f"{REPOSITORY} 1.3.0-rc.1"
        assert candidate["releases"]["rolloutConfiguration"] == {
            "enableProgressiveRollout": True,
            "initialPercentage": 0,
            "maxPercentage": 30,
            "advanceDelayMinutes": 10,
        }
        own = json.loads(gcs_env["metadata"].read(f"{BASE}/release_candidate/{registry}.json")[0])
        assert {key: value for key, value in candidate.items() if key != "releases"} == {
            key: value for key, value in own.items() if key != "releases"
        }, "the release candidate's own entry for that registry"
    assert_full_run_changes_nothing(gcs_env, resources)

    # Promoted: the release candidate is not newer than latest any more.
    upload(gcs_env, tmp_path, make_data("source-rollout", tag="1.3.0"))
    _, third, cursor = sensor_run(resources, instance, cursor)
    assert third.success
    for registry, entry in latest_entries(gcs_env).items():
        assert entry["dockerImageTag"] == "1.3.0", registry
        assert "releaseCandidates" not in entry.get("releases", {}), registry
    assert_full_run_changes_nothing(gcs_env, resources)

    # A new release candidate, then its release_candidate/ folder deleted.
    upload(gcs_env, tmp_path, rollout_data("1.4.0-rc.1"))
    _, fourth, cursor = sensor_run(resources, instance, cursor)
    assert fourth.success
    assert all("1.4.0-rc.1" in entry["releases"]["releaseCandidates"] for entry in latest_entries(gcs_env).values())
    for name in ("metadata.yaml", "icon.svg"):
        gcs_env["metadata"].delete(f"{BASE}/release_candidate/{name}")
    request, fifth, cursor = sensor_run(resources, instance, cursor)
    assert fifth.success
    assert request.run_config["ops"]["metadata_definitions"]["config"]["deleted_files"] == [
        f"{BASE}/release_candidate/metadata.yaml"
    ]
    for registry, entry in latest_entries(gcs_env).items():
        assert "releaseCandidates" not in entry.get("releases", {}), registry
        assert gcs_env["metadata"].read(f"{BASE}/release_candidate/{registry}.json") is None
    assert gcs_env["metadata"].read(f"{BASE}/1.4.0-rc.1/oss.json") is not None, "the versioned entry stays"
    assert_full_run_changes_nothing(gcs_env, resources)


def test_seed_format_never_puts_a_release_candidate_in_latest(gcs_env, resources, instance, tmp_path, monkeypatch):
    from orchestrator.resources.deployments import local_resources

    monkeypatch.setenv("REGISTRY_FORMAT", "2023")
    seed_resources = local_resources(os.environ)
    upload(gcs_env, tmp_path, make_data("source-rollout", tag="1.2.3"))
    upload(gcs_env, tmp_path, rollout_data("1.3.0-rc.1"))
    _, run, _ = sensor_run(seed_resources, instance, None)
    assert run.success
    for entry in latest_entries(gcs_env).values():
        assert "releases" not in entry and "language" not in entry and "generated" not in entry


def run_full(resources):
    result = (
        code_location()
        .resolve_job_def("generate_registry")
        .execute_in_process(resources=resources, instance=DagsterInstance.ephemeral())
    )
    assert result.success
    return result


STRICT = "airbyte/source-vault-strict-encrypt"


def strict_data(tag: str = "2.1.0", strict: bool = True) -> dict:
    cloud = {"enabled": True, **({"dockerRepository": STRICT} if strict else {})}
    return make_data(
        "source-vault", tag=tag, tags=["language:java"], registryOverrides={"oss": {"enabled": True}, "cloud": cloud}
    )


def put_version(gcs_env, data: dict, latest: bool = True) -> None:
    document = yaml.safe_dump({"metadataSpecVersion": "1.0", "data": data}).encode()
    folders = [data["dockerImageTag"]] + (["latest"] if latest else [])
    for folder in folders:
        gcs_env["metadata"].write(f"metadata/{data['dockerRepository']}/{folder}/metadata.yaml", document)
    for repository in (data["dockerRepository"], STRICT):
        gcs_env["specs"].write(
            f"specs/{repository}/{data['dockerImageTag']}/spec.json", json.dumps(make_spec()).encode()
        )


def test_override_copy_is_written_recorded_and_removed_with_its_claim(gcs_env, resources):
    copy = f"metadata/{STRICT}/2.1.0/cloud.json"
    put_version(gcs_env, strict_data())
    first = run_full(resources)
    own = gcs_env["metadata"].read("metadata/airbyte/source-vault/2.1.0/cloud.json")
    assert gcs_env["metadata"].read(copy)[0] == own[0], "the copy is the versioned entry, where the image looks it up"
    assert json.loads(own[0])["dockerRepository"] == STRICT
    assert metadata_value(first, "registry_entry", "override_copies_written") == 1
    assert gcs_env["metadata"].read(f"metadata/{STRICT}/latest/cloud.json") is None, "latest/ gets no copy"
    assert gcs_env["metadata"].read(f"metadata/{STRICT}/2.1.0/oss.json") is None, "oss names the file's own image"
    manifest = json.loads(gcs_env["metadata"].read("orchestrator_state/registry_entry_manifest.json")[0])
    outcome = manifest["files"]["metadata/airbyte/source-vault/2.1.0/metadata.yaml"]["registries"]["cloud"]
    assert outcome["copy_path"] == copy and outcome["copy_generation"] == gcs_env["metadata"].generation_of(copy)

    # The override no longer points at the strict image: the copy goes.
    put_version(gcs_env, strict_data(strict=False), latest=False)
    second = run_full(resources)
    assert gcs_env["metadata"].read(copy) is None
    assert metadata_value(second, "registry_entry", "override_copies_deleted") == 1

    # Back again, then the metadata file deleted: its copy goes with it.
    put_version(gcs_env, strict_data(), latest=False)
    run_full(resources)
    assert gcs_env["metadata"].read(copy) is not None
    gcs_env["metadata"].delete("metadata/airbyte/source-vault/2.1.0/metadata.yaml")
    run_full(resources)
    assert gcs_env["metadata"].read(copy) is None
    assert gcs_env["metadata"].read("metadata/airbyte/source-vault/latest/cloud.json") is not None


def test_override_copy_never_replaces_or_deletes_an_entry_it_does_not_own(gcs_env, resources):
    put_version(gcs_env, strict_data())
    run_full(resources)
    copy = f"metadata/{STRICT}/2.1.0/cloud.json"
    # The strict image gets a metadata file of its own in that very folder: its entry wins.
    own = make_data("source-vault-strict-encrypt", tag="2.1.0", tags=["language:java"])
    own["name"] = "Vault Strict"
    own["definitionId"] = strict_data()["definitionId"]
    put_version(gcs_env, own, latest=False)
    run_full(resources)
    assert json.loads(gcs_env["metadata"].read(copy)[0])["name"] == "Vault Strict"
    # The file that wrote the copy is deleted: the entry now there is someone else's and stays.
    gcs_env["metadata"].delete("metadata/airbyte/source-vault/2.1.0/metadata.yaml")
    run_full(resources)
    assert json.loads(gcs_env["metadata"].read(copy)[0])["name"] == "Vault Strict"


def test_seed_format_writes_no_override_copy(gcs_env, resources, monkeypatch):
    from orchestrator.resources.deployments import local_resources

    monkeypatch.setenv("REGISTRY_FORMAT", "2023")
    put_version(gcs_env, strict_data())
    run_full(local_resources(os.environ))
    assert gcs_env["metadata"].read(f"metadata/{STRICT}/2.1.0/cloud.json") is None


def test_warnings_are_reported_on_metadata_definitions_and_do_not_refuse_the_file(gcs_env, resources):
    newer = {"breakingChanges": {"3.0.0": {"message": "m", "upgradeDeadline": "2025-01-01"}}}
    put_version(gcs_env, make_data("source-vault", tag="2.1.0", releases=newer))
    result = run_full(resources)
    assert metadata_value(result, "metadata_definitions", "warnings_in_this_run") == 2  # the version and latest/
    text = metadata_value(result, "metadata_definitions", "warnings")
    assert (
        "metadata/airbyte/source-vault/2.1.0/metadata.yaml: data.releases.breakingChanges.3.0.0: "
        "breaking change 3.0.0 is newer than dockerImageTag 2.1.0"
    ) in text
    assert gcs_env["metadata"].read("metadata/airbyte/source-vault/latest/oss.json") is not None
