"""Issue 16's hostile files, each reproduced: refused by validation naming the field or line, refused by
the upload command with exit 1 and nothing written, and skipped by a run that publishes the others."""

from __future__ import annotations

import json
import os

import pytest
import yaml
from dagster import DagsterInstance

from chaos.bad_inputs import NEW_TAG, catalogue, resolve
from orchestrator.layout import ENTRY_MANIFEST_PATH, REGISTRY_NAMES, registry_path
from orchestrator.local.load import load_sample
from orchestrator.local.sample import generate_sample
from orchestrator.logic.validation import bucket_path_problems, validate_metadata_bytes
from orchestrator.metadata_service.cli import main as metadata_service
from orchestrator.resources.deployments import local_resources
from tests.builders import code_location, make_data, to_yaml

GOOD = make_data("source-victim", tag="1.2.3")
OTHER = make_data("source-other", tag="0.4.0")
KINDS = {bad.kind: bad for bad in catalogue(GOOD, OTHER)}
# What each refusal must name: (issue 16 case, field or line quoted in the problem).
EXPECTED = {
    "alias-bomb": (2, "aliases expand to more than"),
    "deep-nesting": (3, "nested deeper than"),
    "binary-tag": (4, "!!binary is not plain data"),
    "set-tag": (4, "!!set is not plain data"),
    "python-tag": (4, "!!python/object/apply:os.getcwd is not plain data"),
    "nan-number": (6, "is NaN or infinite"),
    "infinite-number": (6, "is NaN or infinite"),
    "control-chars-in-repository": (8, "data.dockerRepository"),
    "path-traversal-repository": (8, "data.dockerRepository"),
    "tag-trailing-newline": (9, "data.dockerImageTag"),
    "javascript-url": (9, "data.documentationUrl"),
    "duplicate-yaml-key": (9, "duplicate key 'license'"),
    "over-one-mib": (1, "more than the 1,048,576 a metadata file may hold"),
}


def versioned_file(kind: str) -> bytes:
    files = resolve(KINDS[kind], GOOD["dockerRepository"])
    return next(data for path, data in files.items() if f"/{NEW_TAG}/" in path)


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_validation_refuses_naming_the_field_or_line(kind):
    result = validate_metadata_bytes(versioned_file(kind), "metadata.yaml")
    assert not result.ok
    text = result.describe()
    assert EXPECTED[kind][1] in text, text
    assert len(text) < 2000, "a problem quotes at most a short prefix of a value"


def test_an_alias_bomb_in_a_field_never_builds_its_message_from_the_expansion():
    result = validate_metadata_bytes(versioned_file("alias-bomb"), "metadata.yaml")
    assert [problem.field for problem in result.problems] == [result.problems[0].field]
    assert result.problems[0].field.startswith("line ")


@pytest.mark.parametrize(
    "path, change, field",
    [
        ("metadata/airbyte/source-other/latest/metadata.yaml", {}, "data.dockerRepository"),  # case 7
        ("metadata/airbyte/source-victim/1.2.4/metadata.yaml", {}, "data.dockerImageTag"),  # case 9: another version
        (
            "metadata/airbyte/source-victim/latest/metadata.yaml",
            {"dockerImageTag": "1.3.0-rc.1"},
            "data.dockerImageTag",
        ),
        ("metadata/airbyte/source-victim/release_candidate/metadata.yaml", {}, "data.dockerImageTag"),
    ],
    ids=["latest-of-another-repository", "versioned-folder-of-another-version", "rc-in-latest", "release-in-rc-folder"],
)
def test_a_file_must_sit_in_its_own_folder(path, change, field):
    problems = bucket_path_problems(path, {**GOOD, **change})
    assert [problem.field for problem in problems] == [field]


@pytest.mark.parametrize(
    "path",
    [
        "metadata/airbyte/source-victim/1.2.3/metadata.yaml",
        "metadata/airbyte/source-victim/latest/metadata.yaml",
    ],
)
def test_its_own_folders_are_fine(path):
    assert bucket_path_problems(path, GOOD) == []


@pytest.mark.parametrize("kind", sorted(kind for kind, bad in KINDS.items() if bad.upload_refuses))
def test_the_upload_command_refuses_with_exit_1_and_writes_nothing(kind, gcs_env, tmp_path, capsys):
    bucket = gcs_env["metadata"]
    bucket.write("metadata/airbyte/source-victim/1.2.3/metadata.yaml", to_yaml(GOOD))
    before = {blob.name: blob.generation for blob in bucket.list_blobs("")}
    local = tmp_path / "metadata.yaml"
    local.write_bytes(versioned_file(kind) if kind != "duplicate-definition-id" else to_yaml(GOOD))
    assert metadata_service(["upload", str(local), bucket.bucket_name]) == 1
    output = capsys.readouterr().out
    assert output.splitlines()[-1].startswith("upload refused:")
    assert "Traceback" not in output
    assert {blob.name: blob.generation for blob in bucket.list_blobs("")} == before


def test_a_run_over_every_hostile_file_publishes_the_others_and_keeps_last_good_entries(gcs_env, monkeypatch):
    """One connector of the sample per kind of bad file, each broken by a new version: the run
    succeeds, every registry is byte-identical to before, and each bad file is recorded invalid."""
    monkeypatch.setenv("METADATA_CDN_BASE_URL", "https://connectors.example.test")
    sample = generate_sample(connectors=40, versions=1, seed=23)
    load_sample(sample, gcs_env["metadata"], gcs_env["specs"])
    job = code_location().resolve_job_def("generate_registry")
    resources = local_resources(os.environ)
    assert job.execute_in_process(resources=resources, instance=DagsterInstance.ephemeral()).success
    before = {registry: gcs_env["metadata"].read(registry_path(registry))[0] for registry in REGISTRY_NAMES}

    kinds = [kind for kind in EXPECTED if kind != "over-one-mib"] + [
        "latest-claims-another-repository",
        "release-candidate-in-latest",
    ]
    repositories = [connector.docker_repository for connector in sample.connectors]
    bad_paths = []
    for index, kind in enumerate(kinds):
        victim = repositories[index]
        data = yaml.safe_load(gcs_env["metadata"].read(f"metadata/{victim}/latest/metadata.yaml")[0])["data"]
        other = yaml.safe_load(gcs_env["metadata"].read(f"metadata/{repositories[-1]}/latest/metadata.yaml")[0])["data"]
        bad = next(item for item in catalogue(data, other) if item.kind == kind)
        for path, payload in resolve(bad, victim).items():
            gcs_env["metadata"].write(path, payload)
            bad_paths.append(path)

    result = job.execute_in_process(resources=resources, instance=DagsterInstance.ephemeral(), raise_on_error=False)
    assert result.success, "one bad file never stops the others"
    after = {registry: gcs_env["metadata"].read(registry_path(registry))[0] for registry in REGISTRY_NAMES}
    assert after == before, "every connector keeps its last good entry"
    manifest = json.loads(gcs_env["metadata"].read(ENTRY_MANIFEST_PATH)[0])["files"]
    unreported = [path for path in bad_paths if manifest.get(path, {}).get("valid", True)]
    assert unreported == []


def _sources(gcs_env, registry: str = "oss") -> dict[str, tuple[str, str]]:
    document = json.loads(gcs_env["metadata"].read(registry_path(registry))[0])
    return {
        entry["dockerRepository"]: (entry["sourceDefinitionId"], entry["dockerImageTag"])
        for entry in document["sources"]
    }


def _evaluation(result, asset: str, check: str):
    return next(
        item
        for item in result.get_asset_check_evaluations()
        if item.asset_key.to_user_string() == asset and item.check_name == check
    )


def test_a_duplicate_definition_id_leaves_the_newer_claimant_at_its_previous_entry(gcs_env):
    """Issue 16, case 5: the connector whose metadata changed last keeps its previous entry, both are
    named, and the blocking check passes, so everything else publishes."""
    from tests.builders import put_connector

    job = code_location().resolve_job_def("generate_registry")
    resources = local_resources(os.environ)
    owner, thief = make_data("source-owner", tag="1.1.0"), make_data("source-thief", tag="0.4.0")
    put_connector(gcs_env, owner)
    put_connector(gcs_env, thief)
    put_connector(
        gcs_env,
        make_data(
            "source-bystander",
            tag="2.1.0",
            releases={"breakingChanges": {"2.0.0": {"message": "m", "upgradeDeadline": "2024-01-01"}}},
        ),
    )
    assert job.execute_in_process(resources=resources, instance=DagsterInstance.ephemeral()).success
    before = _sources(gcs_env)

    put_connector(gcs_env, {**thief, "dockerImageTag": "0.5.0", "definitionId": owner["definitionId"]})
    put_connector(
        gcs_env,
        {
            **make_data(
                "source-bystander",
                tag="2.1.1",
                releases={"breakingChanges": {"2.0.0": {"message": "m", "upgradeDeadline": "2024-01-01"}}},
            )
        },
    )
    result = job.execute_in_process(resources=resources, instance=DagsterInstance.ephemeral(), raise_on_error=False)
    assert result.success, "one connector's claim never stops the registry"
    after = _sources(gcs_env)
    assert after["airbyte/source-owner"] == before["airbyte/source-owner"]
    assert after["airbyte/source-thief"] == before["airbyte/source-thief"], "the claimant keeps its previous entry"
    assert after["airbyte/source-bystander"][1] == "2.1.1", "everything else publishes"
    for registry in REGISTRY_NAMES:
        asset = f"persisted_{registry}_registry"
        assert _evaluation(result, asset, "no_duplicate_definition_ids").passed
        claims = _evaluation(result, asset, "definition_ids_claimed_once")
        assert not claims.passed
        assert "airbyte/source-thief claims definition id" in claims.description
        assert "airbyte/source-owner" in claims.description and "kept its previous entry" in claims.description


def test_a_new_connector_claiming_a_published_id_is_left_out(gcs_env):
    from tests.builders import put_connector

    job = code_location().resolve_job_def("generate_registry")
    resources = local_resources(os.environ)
    owner = make_data("source-owner", tag="1.1.0")
    put_connector(gcs_env, owner)
    assert job.execute_in_process(resources=resources, instance=DagsterInstance.ephemeral()).success
    put_connector(gcs_env, {**make_data("source-newcomer", tag="0.1.0"), "definitionId": owner["definitionId"]})
    result = job.execute_in_process(resources=resources, instance=DagsterInstance.ephemeral(), raise_on_error=False)
    assert result.success
    assert set(_sources(gcs_env)) == {"airbyte/source-owner"}
    assert (
        "airbyte/source-newcomer left out"
        in _evaluation(result, "persisted_oss_registry", "definition_ids_claimed_once").description
    )
