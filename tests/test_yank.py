"""Yank without delete (SPEC §6): `metadata_service yank` / `unyank` on the emulator, the metadata
sensor seeing the marker, the registries listing the version chosen instead of a yanked latest/,
the diff and the report naming the yank, and the decisions themselves as plain functions."""

from __future__ import annotations

import json

import pytest
from dagster import DagsterInstance

from orchestrator.logic.yank import (
    MAX_REASON_LENGTH,
    choose_registry_version,
    markers_to_read,
    plan_registry_yanks,
    yank_diff_items,
    yank_marker_changes,
    yank_reason,
    yanked_connectors,
)
from orchestrator.metadata_service.cli import main as metadata_service
from orchestrator.models.state import EntryManifest, ProcessedMetadataFile, RegistryEntryOutcome, YankMarker
from tests.builders import code_location, make_data, put_connector
from tests.test_release_candidates import rollout_data, upload
from tests.test_sensor_driven_runs import assert_full_run_changes_nothing, metadata_value, sensor_run

REPOSITORY = "airbyte/source-alpha"
BASE = f"metadata/{REPOSITORY}"
REASON = "1.3.0 breaks OAuth refresh"


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


# ---------------------------------------------------------------------------------------------
# The decisions


def test_a_latest_version_that_is_not_yanked_is_listed():
    choice = choose_registry_version("1.3.0", {"1.2.0": "old bug"}, ["1.1.0", "1.2.0", "1.3.0"], "oss")
    assert (choice.version, choice.from_latest) == ("1.3.0", True)


def test_a_yanked_latest_gives_way_to_the_highest_release_with_an_entry_that_is_not_yanked():
    yanked = {"1.3.0": "broken", "1.2.0": "also broken"}
    versions = ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0-rc.1", "1.2.5-dev.abc", "2.0.0"]
    choice = choose_registry_version("1.3.0", yanked, versions, "cloud")
    # 1.2.0 is yanked too; pre-releases never become latest/; 2.0.0 is newer than the yanked latest.
    assert (choice.version, choice.from_latest, choice.yanked_version, choice.reason) == (
        "1.1.0",
        False,
        "1.3.0",
        "broken",
    )
    assert "listing 1.1.0" in choice.explanation and "cloud" in choice.explanation


def test_every_version_yanked_or_without_an_entry_withdraws_the_connector():
    choice = choose_registry_version("1.3.0", {"1.3.0": "broken", "1.2.0": "broken"}, ["1.2.0", "1.3.0"], "oss")
    assert choice.version is None and not choice.from_latest
    assert "leaves the registry" in choice.explanation
    assert choose_registry_version("1.3.0", {"1.3.0": "broken"}, [], "oss").version is None


def test_a_marker_reason_is_one_bounded_line_whatever_it_holds():
    assert yank_reason(b"  broken\n  auth \n") == "broken auth"
    assert yank_reason(b"") == "no reason given"
    assert yank_reason(b"\xff\xfe bad bytes") == "\ufffd\ufffd bad bytes"
    assert len(yank_reason(b"x" * 10_000)) == MAX_REASON_LENGTH


def test_marker_changes_from_a_listing_and_from_reads():
    recorded = {
        "metadata/a/1.0.0/.yanked": YankMarker(generation=5, reason="r"),
        "metadata/a/0.9.0/.yanked": YankMarker(generation=2, reason="r"),
    }
    listed = {"metadata/a/1.0.0/.yanked": 5, "metadata/a/1.1.0/.yanked": 7}
    assert markers_to_read(listed, recorded) == (["metadata/a/1.1.0/.yanked"], ["metadata/a/0.9.0/.yanked"])
    found = {
        "metadata/a/1.1.0/.yanked": (b"new\n", 7),
        "metadata/a/0.9.0/.yanked": None,
        "metadata/a/1.0.0/.yanked": (b"r", 5),  # read again, unchanged: not a change
        "metadata/a/2.0.0/.yanked": None,  # named, never recorded, absent: nothing
    }
    assert yank_marker_changes(found, recorded) == {
        "metadata/a/0.9.0/.yanked": None,
        "metadata/a/1.1.0/.yanked": YankMarker(generation=7, reason="new"),
    }


def _record(tag: str, **registries: int | None) -> ProcessedMetadataFile:
    return ProcessedMetadataFile(
        generation=1,
        etag="e",
        valid=True,
        definition_id="def-a",
        connector_type="source",
        docker_image_tag=tag,
        registries={
            name: RegistryEntryOutcome(status="disabled")
            if generation is None
            else RegistryEntryOutcome(status="written", generation=generation)
            for name, generation in registries.items()
        },
    )


def test_the_registry_build_swaps_a_yanked_latest_entry_for_the_chosen_versions_entry():
    manifest = EntryManifest(
        files={
            f"{BASE}/1.2.3/metadata.yaml": _record("1.2.3", oss=12, cloud=None),
            f"{BASE}/1.3.0/metadata.yaml": _record("1.3.0", oss=13, cloud=14),
            f"{BASE}/latest/metadata.yaml": _record("1.3.0", oss=20, cloud=21),
            # a repository whose name starts like this one's is not this connector
            "metadata/airbyte/source-alpha-beta/1.0.0/metadata.yaml": _record("1.0.0", oss=30),
        },
        yank_markers={f"{BASE}/1.3.0/.yanked": YankMarker(generation=3, reason=REASON)},
    )
    connectors = yanked_connectors(manifest)
    assert len(connectors) == 1
    connector = connectors[0]
    assert (connector.repository_folder, connector.latest_version, connector.yanked) == (
        BASE,
        "1.3.0",
        {"1.3.0": REASON},
    )
    assert connector.versioned_entries == {"oss": {"1.2.3": 12, "1.3.0": 13}, "cloud": {"1.3.0": 14}}

    latest = {f"{BASE}/latest/oss.json": 20, "metadata/airbyte/source-beta/latest/oss.json": 40}
    oss = plan_registry_yanks("oss", latest, connectors)
    assert oss.generations == {f"{BASE}/1.2.3/oss.json": 12, "metadata/airbyte/source-beta/latest/oss.json": 40}
    assert oss.withdrawn_definition_ids == set()
    # 1.2.3 disables cloud: no cloud version is left to list.
    cloud = plan_registry_yanks("cloud", {f"{BASE}/latest/cloud.json": 21}, connectors)
    assert cloud.generations == {}
    assert cloud.withdrawn_definition_ids == {"def-a"}

    diff = {
        "changed": [
            {"definitionId": "def-a", "name": "Alpha", "dockerRepository": REPOSITORY, "connectorType": "source"}
        ],
        "removed": [],
    }
    assert yank_diff_items(oss.substitutions, diff) == [
        {
            "connectorType": "source",
            "definitionId": "def-a",
            "dockerRepository": REPOSITORY,
            "name": "Alpha",
            "from": "1.3.0",
            "to": "1.2.3",
            "reason": REASON,
        }
    ]
    assert yank_diff_items(oss.substitutions, {"changed": [], "removed": []}) == [], "no change, no yank to report"


# ---------------------------------------------------------------------------------------------
# The commands


def run_command(capsys, *arguments: str) -> tuple[int, dict]:
    code = metadata_service([*arguments, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_yanking_a_version_that_does_not_exist_is_refused_naming_it(gcs_env, capsys):
    put_connector(gcs_env, make_data("source-alpha"))
    bucket = gcs_env["metadata"].bucket_name
    code, output = run_command(capsys, "yank", REPOSITORY, "9.9.9", bucket, "--reason", "nope")
    assert code == 1 and not output["ok"]
    assert output["problems"] == [
        {
            "file": f"gs://{bucket}/{BASE}/9.9.9/metadata.yaml",
            "field": "version",
            "message": f"does not exist: {REPOSITORY} has no published version 9.9.9 to yank",
        }
    ]
    assert gcs_env["metadata"].read(f"{BASE}/9.9.9/.yanked") is None
    code, output = run_command(capsys, "yank", REPOSITORY, "latest", bucket, "--reason", "nope")
    assert code == 1 and output["problems"][0]["field"] == "version"
    code, output = run_command(capsys, "unyank", REPOSITORY, "9.9.9", bucket)
    assert code == 1 and "no published version 9.9.9" in output["problems"][0]["message"]


def test_yank_writes_the_reason_once_and_unyank_removes_it(gcs_env, capsys):
    put_connector(gcs_env, make_data("source-alpha"))
    bucket = gcs_env["metadata"].bucket_name
    marker = f"{BASE}/1.2.3/.yanked"
    code, output = run_command(capsys, "yank", REPOSITORY, "1.2.3", bucket, "--reason", "  broken   auth ")
    assert code == 0 and output["changed"] and output["marker"] == marker
    assert gcs_env["metadata"].read(marker)[0] == b"broken auth\n"
    blob = gcs_env["metadata"].bucket.get_blob(marker)
    assert blob.content_type.startswith("text/plain") and blob.cache_control == "no-cache"

    generation = gcs_env["metadata"].generation_of(marker)
    code, output = run_command(capsys, "yank", REPOSITORY, "1.2.3", bucket, "--reason", "broken auth")
    assert code == 0 and not output["changed"] and output["summary"].startswith("nothing to change")
    assert gcs_env["metadata"].generation_of(marker) == generation

    code, output = run_command(capsys, "unyank", REPOSITORY, "1.2.3", bucket)
    assert code == 0 and output["changed"]
    assert gcs_env["metadata"].read(marker) is None
    assert gcs_env["metadata"].read(f"{BASE}/1.2.3/metadata.yaml") is not None, "nothing else is touched"
    code, output = run_command(capsys, "unyank", REPOSITORY, "1.2.3", bucket)
    assert code == 0 and not output["changed"]

    assert metadata_service(["yank", REPOSITORY, "1.2.3", bucket, "--reason", "   "]) == 1
    assert "a yank needs a reason" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# End to end: the sensor sees the marker, the registries change, nothing is deleted


def registry_tags(gcs_env) -> dict[str, dict[str, str]]:
    """registry -> dockerRepository -> dockerImageTag, as published."""
    tags = {}
    for registry in ("oss", "cloud"):
        published = json.loads(gcs_env["metadata"].read(f"registries/v0/{registry}_registry.json")[0])
        tags[registry] = {entry["dockerRepository"]: entry["dockerImageTag"] for entry in published["sources"]}
    return tags


def loss_check(result, registry):
    return next(
        evaluation
        for evaluation in result.get_asset_check_evaluations()
        if evaluation.asset_key.to_user_string() == f"persisted_{registry}_registry"
        and evaluation.check_name == "no_unexplained_loss"
    )


def test_yank_and_unyank_of_the_latest_version_through_the_sensor(gcs_env, resources, instance, capsys):
    bucket = gcs_env["metadata"].bucket_name
    put_connector(gcs_env, make_data("source-alpha", tag="1.2.3"))
    put_connector(gcs_env, make_data("source-alpha", tag="1.3.0"))
    put_connector(gcs_env, make_data("source-other"))
    _, first, cursor = sensor_run(resources, instance, None)
    assert first.success
    assert {registry: tags[REPOSITORY] for registry, tags in registry_tags(gcs_env).items()} == {
        "oss": "1.3.0",
        "cloud": "1.3.0",
    }
    entries_before = {
        path: gcs_env["metadata"].read(path)
        for path in (f"{BASE}/1.3.0/oss.json", f"{BASE}/1.3.0/cloud.json", f"{BASE}/latest/oss.json")
    }

    assert metadata_service(["yank", REPOSITORY, "1.3.0", bucket, "--reason", REASON]) == 0
    capsys.readouterr()
    request, yanked, cursor = sensor_run(resources, instance, cursor)
    assert yanked.success
    assert request.run_config["ops"]["metadata_definitions"]["config"]["changed_files"] == [f"{BASE}/1.3.0/.yanked"]
    assert metadata_value(yanked, "metadata_definitions", "full_scan") is False
    assert {registry: tags[REPOSITORY] for registry, tags in registry_tags(gcs_env).items()} == {
        "oss": "1.2.3",
        "cloud": "1.2.3",
    }
    for path, stored in entries_before.items():
        assert gcs_env["metadata"].read(path) == stored, f"{path} must stay for pinned consumers"
    for registry in ("oss", "cloud"):
        diff_text = metadata_value(yanked, f"persisted_{registry}_registry", "registry_diff")
        assert f"yanked: 1.3.0 → 1.2.3 ({REASON})" in diff_text
        recorded = json.loads(gcs_env["metadata"].read(f"orchestrator_state/{registry}_registry_diff.json")[0])
        assert [(item["from"], item["to"], item["reason"]) for item in recorded["yanked"]] == [
            ("1.3.0", "1.2.3", REASON)
        ]
    assert_full_run_changes_nothing(gcs_env, resources)

    # The report shows the yank of the last publish.
    report_run = (
        code_location()
        .resolve_job_def("generate_registry_reports")
        .execute_in_process(resources=resources, instance=instance)
    )
    assert report_run.success
    html = gcs_env["metadata"].read("generated_reports/connector_registry_report.html")[0].decode()
    assert "Yanked" in html and REASON in html and "1.3.0" in html
    report = json.loads(gcs_env["metadata"].read("generated_reports/connector_registry_report.json")[0])
    assert report["registryChanges"]["oss"]["yanked"][0]["reason"] == REASON

    assert metadata_service(["unyank", REPOSITORY, "1.3.0", bucket]) == 0
    capsys.readouterr()
    request, unyanked, cursor = sensor_run(resources, instance, cursor)
    assert unyanked.success
    assert request.run_config["ops"]["metadata_definitions"]["config"]["deleted_files"] == [f"{BASE}/1.3.0/.yanked"]
    assert {registry: tags[REPOSITORY] for registry, tags in registry_tags(gcs_env).items()} == {
        "oss": "1.3.0",
        "cloud": "1.3.0",
    }
    assert "1.2.3 → 1.3.0" in metadata_value(unyanked, "persisted_oss_registry", "registry_diff")
    assert_full_run_changes_nothing(gcs_env, resources)


def test_yanking_every_version_withdraws_the_connector_as_an_explained_loss(gcs_env, resources, instance, capsys):
    bucket = gcs_env["metadata"].bucket_name
    put_connector(gcs_env, make_data("source-alpha", tag="1.2.3"))
    put_connector(gcs_env, make_data("source-alpha", tag="1.3.0"))
    put_connector(gcs_env, make_data("source-other"))  # the loss is half of each registry: far past the 5% limit
    _, first, cursor = sensor_run(resources, instance, None)
    assert first.success

    for version in ("1.2.3", "1.3.0"):
        assert metadata_service(["yank", REPOSITORY, version, bucket, "--reason", f"{version} is broken"]) == 0
    capsys.readouterr()
    _, result, cursor = sensor_run(resources, instance, cursor)
    assert result.success, "a connector whose every version is yanked may leave the registries"
    for registry, tags in registry_tags(gcs_env).items():
        assert REPOSITORY not in tags and "airbyte/source-other" in tags, registry
        check = loss_check(result, registry)
        assert check.passed and "every version yanked: Source Alpha (airbyte/source-alpha" in check.description
        diff_text = metadata_value(result, f"persisted_{registry}_registry", "registry_diff")
        assert "yanked: 1.3.0 → withdrawn (1.3.0 is broken)" in diff_text
    for path in (f"{BASE}/1.2.3/oss.json", f"{BASE}/1.3.0/cloud.json", f"{BASE}/latest/oss.json"):
        assert gcs_env["metadata"].read(path) is not None, f"nothing is deleted: {path}"
    assert_full_run_changes_nothing(gcs_env, resources)


def test_a_full_run_sees_markers_written_while_nothing_watched(gcs_env, resources, capsys):
    """A run launched by hand lists the markers along with the metadata files."""
    put_connector(gcs_env, make_data("source-alpha", tag="1.2.3"))
    put_connector(gcs_env, make_data("source-alpha", tag="1.3.0"))
    job = code_location().resolve_job_def("generate_registry")
    assert job.execute_in_process(resources=resources, instance=DagsterInstance.ephemeral()).success
    assert metadata_service(["yank", REPOSITORY, "1.3.0", gcs_env["metadata"].bucket_name, "--reason", REASON]) == 0
    result = job.execute_in_process(resources=resources, instance=DagsterInstance.ephemeral())
    assert result.success
    assert metadata_value(result, "metadata_definitions", "full_scan") is True
    assert metadata_value(result, "metadata_definitions", "yank_markers_changed") == 1
    assert registry_tags(gcs_env)["oss"][REPOSITORY] == "1.2.3"


def test_a_yanked_release_candidate_leaves_the_latest_entry_until_unyanked(
    gcs_env, resources, instance, tmp_path, capsys
):
    repository, base = "airbyte/source-rollout", "metadata/airbyte/source-rollout"
    bucket = gcs_env["metadata"].bucket_name
    upload(gcs_env, tmp_path, make_data("source-rollout", tag="1.2.3"))
    upload(gcs_env, tmp_path, rollout_data("1.3.0-rc.1"))
    _, first, cursor = sensor_run(resources, instance, None)
    assert first.success

    def candidates() -> dict[str, list[str]]:
        found = {}
        for registry in ("oss", "cloud"):
            published = json.loads(gcs_env["metadata"].read(f"registries/v0/{registry}_registry.json")[0])
            entry = next(item for item in published["sources"] if item["dockerRepository"] == repository)
            found[registry] = sorted(entry.get("releases", {}).get("releaseCandidates", {}))
        return found

    assert candidates() == {"oss": ["1.3.0-rc.1"], "cloud": ["1.3.0-rc.1"]}
    assert metadata_service(["yank", repository, "1.3.0-rc.1", bucket, "--reason", "rollout halted"]) == 0
    capsys.readouterr()
    _, yanked, cursor = sensor_run(resources, instance, cursor)
    assert yanked.success
    assert candidates() == {"oss": [], "cloud": []}
    assert gcs_env["metadata"].read(f"{base}/release_candidate/oss.json") is not None, "nothing is deleted"
    assert gcs_env["metadata"].read(f"{base}/1.3.0-rc.1/cloud.json") is not None
    assert_full_run_changes_nothing(gcs_env, resources)

    assert metadata_service(["unyank", repository, "1.3.0-rc.1", bucket]) == 0
    capsys.readouterr()
    _, unyanked, cursor = sensor_run(resources, instance, cursor)
    assert unyanked.success
    assert candidates() == {"oss": ["1.3.0-rc.1"], "cloud": ["1.3.0-rc.1"]}
    assert_full_run_changes_nothing(gcs_env, resources)
