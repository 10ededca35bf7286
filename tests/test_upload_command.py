"""`metadata_service validate|upload` end to end against the real emulator (SPEC §3, §6)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orchestrator.metadata_service.cli import main
from orchestrator.metadata_service.upload import execute_plan, md5_base64, plan_upload

REPOSITORY = "airbyte/source-upload-test"
ICON = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><rect width="8" height="8"/></svg>\n'


def metadata_bytes(tag: str, repository: str = REPOSITORY, drop: tuple = (), **data_changes) -> bytes:
    data = {
        "name": "Upload Test",
        "definitionId": "0f3c7a52-2b1e-4c7e-9d3a-6a1f2b3c4d5e",
        "connectorType": "source",
        "connectorSubtype": "api",
        "dockerRepository": repository,
        "dockerImageTag": tag,
        "documentationUrl": "https://docs.airbyte.com/integrations/sources/upload-test",
        "githubIssueLabel": "source-upload-test",
        "license": "MIT",
        "releaseStage": "alpha",
        "supportLevel": "community",
        "tags": ["language:python", "cdk:python"],
        "registryOverrides": {"oss": {"enabled": True}, "cloud": {"enabled": True}},
    }
    data.update(data_changes)
    for key in drop:
        data.pop(key)
    return yaml.safe_dump({"metadataSpecVersion": "1.0", "data": data}, sort_keys=False).encode()


def write_connector(folder: Path, raw: bytes, icon: bytes | None = ICON) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metadata.yaml").write_bytes(raw)
    if icon is not None:
        (folder / "icon.svg").write_bytes(icon)
    return folder / "metadata.yaml"


def remote(gcs_env, path: str) -> bytes | None:
    found = gcs_env["metadata"].read(path)
    return None if found is None else found[0]


def all_objects(gcs_env) -> dict[str, int]:
    return {blob.name: blob.generation for blob in gcs_env["metadata"].list_blobs("")}


def upload(gcs_env, path: Path, capsys, *extra: str) -> tuple[int, str]:
    code = main(["upload", str(path), os.environ["METADATA_BUCKET"], *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_upload_writes_versioned_and_latest_copies_with_icon(gcs_env, tmp_path, capsys):
    raw = metadata_bytes("0.2.0")
    code, output = upload(gcs_env, write_connector(tmp_path / "source-upload-test", raw), capsys)
    assert code == 0, output
    base = f"metadata/{REPOSITORY}"
    assert remote(gcs_env, f"{base}/0.2.0/metadata.yaml") == raw
    assert remote(gcs_env, f"{base}/latest/metadata.yaml") == raw
    assert remote(gcs_env, f"{base}/0.2.0/icon.svg") == ICON
    assert remote(gcs_env, f"{base}/latest/icon.svg") == ICON
    assert set(all_objects(gcs_env)) == {
        f"{base}/{folder}/{name}" for folder in ("0.2.0", "latest") for name in ("metadata.yaml", "icon.svg")
    }
    blob = gcs_env["metadata"].bucket.get_blob(f"{base}/latest/metadata.yaml")
    assert blob.content_type == "text/yaml" and blob.cache_control == "no-cache"
    assert blob.md5_hash == md5_base64(raw)
    assert f"uploaded gs://{os.environ['METADATA_BUCKET']}/{base}/latest/metadata.yaml" in output


def test_connector_without_icon_uploads_metadata_only(gcs_env, tmp_path, capsys):
    code, output = upload(gcs_env, write_connector(tmp_path / "c", metadata_bytes("0.2.0"), icon=None), capsys)
    assert code == 0, output
    assert sorted(all_objects(gcs_env)) == [
        f"metadata/{REPOSITORY}/0.2.0/metadata.yaml",
        f"metadata/{REPOSITORY}/latest/metadata.yaml",
    ]


def test_newer_version_replaces_latest_and_older_one_does_not(gcs_env, tmp_path, capsys):
    base = f"metadata/{REPOSITORY}"
    v030 = metadata_bytes("0.3.0")
    assert upload(gcs_env, write_connector(tmp_path / "a", v030), capsys)[0] == 0
    v025 = metadata_bytes("0.2.5")
    code, output = upload(gcs_env, write_connector(tmp_path / "b", v025, icon=b"<svg>old</svg>"), capsys)
    assert code == 0, output
    assert remote(gcs_env, f"{base}/0.2.5/metadata.yaml") == v025
    assert remote(gcs_env, f"{base}/0.2.5/icon.svg") == b"<svg>old</svg>"
    assert remote(gcs_env, f"{base}/latest/metadata.yaml") == v030
    assert remote(gcs_env, f"{base}/latest/icon.svg") == ICON  # the older version's icon stays out of latest/
    assert "older than the current latest 0.3.0" in output

    v0310 = metadata_bytes("0.3.10")  # numeric, not string, ordering: 0.3.10 > 0.3.9 > 0.3.0
    assert upload(gcs_env, write_connector(tmp_path / "c", v0310), capsys)[0] == 0
    assert remote(gcs_env, f"{base}/latest/metadata.yaml") == v0310
    assert upload(gcs_env, write_connector(tmp_path / "d", metadata_bytes("0.3.9")), capsys)[0] == 0
    assert remote(gcs_env, f"{base}/latest/metadata.yaml") == v0310


def test_same_version_with_new_content_updates_latest(gcs_env, tmp_path, capsys):
    assert upload(gcs_env, write_connector(tmp_path / "a", metadata_bytes("0.3.0")), capsys)[0] == 0
    fixed = metadata_bytes("0.3.0", name="Upload Test (fixed)")
    code, output = upload(gcs_env, write_connector(tmp_path / "b", fixed), capsys)
    assert code == 0, output
    assert remote(gcs_env, f"metadata/{REPOSITORY}/latest/metadata.yaml") == fixed
    assert remote(gcs_env, f"metadata/{REPOSITORY}/0.3.0/metadata.yaml") == fixed
    assert "unchanged" in output and "icon.svg" in output  # the icon itself was identical


ROLLOUT = {"rolloutConfiguration": {"enableProgressiveRollout": True}}


def test_release_candidate_never_becomes_latest(gcs_env, tmp_path, capsys):
    base = f"metadata/{REPOSITORY}"
    rc_first = metadata_bytes("0.3.0-rc.1", releases=ROLLOUT)
    code, output = upload(gcs_env, write_connector(tmp_path / "rc", rc_first), capsys)
    assert code == 0, output
    assert remote(gcs_env, f"{base}/0.3.0-rc.1/metadata.yaml") == rc_first
    assert remote(gcs_env, f"{base}/latest/metadata.yaml") is None  # not even as the first version
    assert "release candidate" in output

    stable = metadata_bytes("0.3.0")
    assert upload(gcs_env, write_connector(tmp_path / "stable", stable), capsys)[0] == 0
    assert remote(gcs_env, f"{base}/latest/metadata.yaml") == stable
    newer_rc = metadata_bytes(
        "0.4.0-rc.2",
        releases=ROLLOUT,
        registryOverrides={
            "oss": {"enabled": True, "dockerImageTag": "0.3.0"},
            "cloud": {"enabled": True, "dockerImageTag": "0.3.0"},
        },
    )
    assert upload(gcs_env, write_connector(tmp_path / "rc2", newer_rc), capsys)[0] == 0
    assert remote(gcs_env, f"{base}/0.4.0-rc.2/metadata.yaml") == newer_rc
    assert remote(gcs_env, f"{base}/latest/metadata.yaml") == stable


def test_unchanged_upload_writes_nothing_and_says_so(gcs_env, tmp_path, capsys):
    path = write_connector(tmp_path / "a", metadata_bytes("0.2.0"))
    assert upload(gcs_env, path, capsys)[0] == 0
    before = all_objects(gcs_env)
    code, output = upload(gcs_env, path, capsys)
    assert code == 0
    assert "nothing to upload" in output
    assert "uploaded" not in output
    assert all_objects(gcs_env) == before  # same generations: not rewritten


BAD_FILES = {
    "malformed_yaml": (b"data:\n  name: [unclosed\n  dockerImageTag: 0.1.0\n", "malformed YAML"),
    "missing_field": (metadata_bytes("0.2.0", drop=("license",)), "data.license"),
    "unknown_field": (metadata_bytes("0.2.0", _ab_internal={"sl": 1}), "_ab_internal"),
    "major_without_breaking_change": (metadata_bytes("1.0.0"), "data.releases.breakingChanges"),
    "tag_not_semver": (metadata_bytes("latest"), "data.dockerImageTag"),
    "repository_not_a_path": (metadata_bytes("0.2.0", repository="airbyte/../registries"), "data.dockerRepository"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_are_refused_and_nothing_is_written(gcs_env, tmp_path, capsys, case):
    raw, field = BAD_FILES[case]
    path = write_connector(tmp_path / "connector", raw)
    code, output = upload(gcs_env, path, capsys)
    assert code == 1, output
    assert f"{path}: " in output and field in output  # names the file and the field
    assert "nothing was written" in output
    assert all_objects(gcs_env) == {}


def test_every_problem_is_reported_at_once(gcs_env, tmp_path, capsys):
    raw = metadata_bytes("2.0.0", drop=("license", "githubIssueLabel"), tags=["python"])
    path = write_connector(tmp_path / "connector", raw)
    code, output = upload(gcs_env, path, capsys)
    assert code == 1
    for field in ("data.license", "data.githubIssueLabel", "data.tags", "data.releases.breakingChanges"):
        assert f"{path}: {field}" in output, field
    assert all_objects(gcs_env) == {}


def test_file_in_a_version_folder_of_another_tag_is_refused(gcs_env, tmp_path, capsys):
    path = write_connector(tmp_path / "metadata" / "airbyte" / "source-upload-test" / "0.2.1", metadata_bytes("0.2.0"))
    code, output = upload(gcs_env, path, capsys)
    assert code == 1
    assert f"{path}: data.dockerImageTag" in output and "0.2.1" in output
    other_repository = write_connector(
        tmp_path / "metadata" / "airbyte" / "source-other" / "0.2.0", metadata_bytes("0.2.0")
    )
    code, output = upload(gcs_env, other_repository, capsys)
    assert code == 1
    assert f"{other_repository}: data.dockerRepository" in output
    assert all_objects(gcs_env) == {}
    # the same layout with the file's own repository and tag is fine
    own = write_connector(tmp_path / "metadata" / "airbyte" / "source-upload-test" / "0.2.0", metadata_bytes("0.2.0"))
    assert upload(gcs_env, own, capsys)[0] == 0


def test_destination_named_in_the_bucket_argument_must_be_the_files_own(gcs_env, tmp_path, capsys):
    path = write_connector(tmp_path / "connector", metadata_bytes("0.2.0"))
    bucket = os.environ["METADATA_BUCKET"]
    code = main(["upload", str(path), f"gs://{bucket}/metadata/airbyte/source-upload-test/0.2.1"])
    output = capsys.readouterr().out
    assert code == 1 and f"{path}: data.dockerImageTag" in output
    code = main(["upload", str(path), f"gs://{bucket}/metadata/airbyte/source-elsewhere/0.2.0"])
    output = capsys.readouterr().out
    assert code == 1 and f"{path}: data.dockerRepository" in output
    assert all_objects(gcs_env) == {}
    assert main(["upload", str(path), f"gs://{bucket}/metadata/{REPOSITORY}/0.2.0"]) == 0
    assert remote(gcs_env, f"metadata/{REPOSITORY}/0.2.0/metadata.yaml") is not None


def test_concurrent_change_of_latest_is_detected(gcs_env, tmp_path):
    bucket = gcs_env["metadata"]
    latest = f"metadata/{REPOSITORY}/latest/metadata.yaml"
    first = write_connector(tmp_path / "a", metadata_bytes("0.2.0"))
    raw = first.read_bytes()
    plan = plan_upload(first, bucket, raw, yaml.safe_load(raw)["data"])
    assert plan.updates_latest
    # Another upload publishes latest/ between this one's read and its write.
    theirs = metadata_bytes("0.9.0")
    bucket.write(latest, theirs)
    result = execute_plan(plan, bucket)
    assert not result.ok and result.conflict and latest in result.conflict
    assert remote(gcs_env, latest) == theirs  # never overwritten by the older plan


def test_missing_file_is_a_usage_error(gcs_env, tmp_path, capsys):
    assert main(["upload", str(tmp_path / "nope" / "metadata.yaml"), os.environ["METADATA_BUCKET"]]) == 2
    assert "no such file" in capsys.readouterr().err


def test_validate_command(tmp_path, capsys):
    good = write_connector(tmp_path / "connectors" / "source-good", metadata_bytes("0.2.0"))
    assert main(["validate", str(good)]) == 0
    assert main(["validate", str(good.parent)]) == 0
    assert f"valid: {good}" in capsys.readouterr().out
    bad = write_connector(tmp_path / "connectors" / "source-bad", metadata_bytes("0.2.0", drop=("name",)))
    assert main(["validate", str(bad.parent)]) == 1
    assert f"{bad}: data.name: required field is missing" in capsys.readouterr().out
    assert main(["validate", str(tmp_path / "connectors")]) == 1  # a folder of connectors: each file checked
    output = capsys.readouterr().out
    assert f"valid: {good}" in output and f"{bad}: data.name" in output


def test_validate_real_connector_files(shared_data, capsys):
    for folder in sorted((shared_data / "connectors").iterdir()):
        code = main(["validate", str(folder)])
        output = capsys.readouterr().out
        if folder.name == "destination-duckdb":
            assert code == 1 and "_ab_internal" in output
        else:
            assert code == 0, output


def test_real_release_candidate_file_uploads_without_becoming_latest(gcs_env, shared_data, tmp_path, capsys):
    source = shared_data / "connectors" / "source-postgres" / "metadata.yaml"
    path = write_connector(tmp_path / "source-postgres", source.read_bytes(), icon=None)
    code, output = upload(gcs_env, path, capsys)
    assert code == 0, output
    assert sorted(all_objects(gcs_env)) == [
        "metadata/airbyte/source-postgres/3.7.2-rc.1/metadata.yaml",
        "metadata/airbyte/source-postgres/release_candidate/metadata.yaml",
    ]


def test_installed_console_script(gcs_env, tmp_path):
    script = Path(sys.executable).with_name("metadata_service")
    if not script.exists():
        pytest.skip(f"console script not installed at {script}")
    path = write_connector(tmp_path / "connector", metadata_bytes("0.2.0"))
    env = {**os.environ}
    command = [str(script), "upload", str(path), os.environ["METADATA_BUCKET"]]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stdout + first.stderr
    assert remote(gcs_env, f"metadata/{REPOSITORY}/latest/metadata.yaml") == path.read_bytes()
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "nothing to upload" in again.stdout
    broken = write_connector(tmp_path / "broken", b"data: [", icon=None)
    refused = subprocess.run(
        [str(script), "upload", str(broken), os.environ["METADATA_BUCKET"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 1 and f"{broken}:" in refused.stdout


# -------------------------------------------------------------------------------------------------
# Today's files (SPEC §3.1), the upload-only rules (§3.2), release_candidate/ (§4.1)

FIXTURES = Path(__file__).parent / "fixtures" / "metadata_2025"


@pytest.mark.parametrize("name", ["destination-customer-io.yaml", "source-pypi-empty-breaking-changes.yaml"])
def test_todays_files_validate_and_upload(gcs_env, tmp_path, capsys, name):
    raw = (FIXTURES / name).read_bytes()
    assert b"\nmetadataSpecVersion: 1.0\n" in raw
    path = write_connector(tmp_path / "connector", raw)
    assert main(["validate", str(path)]) == 0
    code, output = upload(gcs_env, path, capsys)
    assert code == 0, output
    repository = yaml.safe_load(raw)["data"]["dockerRepository"]
    assert remote(gcs_env, f"metadata/{repository}/latest/metadata.yaml") == raw, "uploaded exactly as written"


def test_scoped_impact_null_is_refused_naming_the_field(gcs_env, tmp_path, capsys):
    change = {"message": "m", "upgradeDeadline": "2025-01-01", "scopedImpact": None}
    path = write_connector(tmp_path / "c", metadata_bytes("2.0.0", releases={"breakingChanges": {"2.0.0": change}}))
    code, output = upload(gcs_env, path, capsys)
    assert code == 1 and f"{path}: data.releases.breakingChanges.2.0.0.scopedImpact: " in output
    assert all_objects(gcs_env) == {}


UPLOAD_ONLY_REFUSALS = {
    "rc_of_a_major_version": (metadata_bytes("3.0.0-rc.1", releases=ROLLOUT), "data.dockerImageTag"),
    "rc_without_rollout_choice": (
        metadata_bytes("0.3.0-rc.1"),
        "data.releases.rolloutConfiguration.enableProgressiveRollout",
    ),
    "pypi_on_a_java_connector": (
        metadata_bytes(
            "0.3.0",
            tags=["language:java"],
            remoteRegistries={"pypi": {"enabled": True, "packageName": "airbyte-source-upload-test"}},
        ),
        "data.remoteRegistries.pypi.enabled",
    ),
}


@pytest.mark.parametrize("case", sorted(UPLOAD_ONLY_REFUSALS))
def test_upload_only_rules_refuse_with_the_field_named_and_nothing_written(gcs_env, tmp_path, capsys, case):
    raw, field = UPLOAD_ONLY_REFUSALS[case]
    path = write_connector(tmp_path / "connector", raw)
    code, output = upload(gcs_env, path, capsys)
    assert code == 1, output
    assert f"{path}: {field}: " in output and "nothing was written" in output
    assert all_objects(gcs_env) == {}
    assert main(["validate", str(path)]) == 1, "validate applies the upload rules too"
    assert f"{path}: {field}: " in capsys.readouterr().out


def test_release_candidate_goes_to_release_candidate_folder_unless_an_newer_one_is_there(gcs_env, tmp_path, capsys):
    base = f"metadata/{REPOSITORY}"
    rc2 = metadata_bytes("0.4.0-rc.2", releases=ROLLOUT)
    code, output = upload(gcs_env, write_connector(tmp_path / "rc2", rc2), capsys)
    assert code == 0, output
    assert remote(gcs_env, f"{base}/release_candidate/metadata.yaml") == rc2
    assert remote(gcs_env, f"{base}/release_candidate/icon.svg") == ICON
    assert remote(gcs_env, f"{base}/latest/metadata.yaml") is None
    rc1 = metadata_bytes("0.4.0-rc.1", releases=ROLLOUT)
    code, output = upload(gcs_env, write_connector(tmp_path / "rc1", rc1), capsys)
    assert code == 0 and "older than the current release candidate 0.4.0-rc.2" in output
    assert remote(gcs_env, f"{base}/0.4.0-rc.1/metadata.yaml") == rc1
    assert remote(gcs_env, f"{base}/release_candidate/metadata.yaml") == rc2


def test_prerelease_upload_writes_only_the_development_build_folder(gcs_env, tmp_path, capsys):
    # A release candidate of a major version with no rollout choice: the rc rules are skipped.
    raw = metadata_bytes(
        "3.0.0", releases={"breakingChanges": {"3.0.0": {"message": "m", "upgradeDeadline": "2025-01-01"}}}
    )
    path = write_connector(tmp_path / "connector", raw)
    code, output = upload(gcs_env, path, capsys, "--prerelease", "3.0.0-dev.abc1234")
    assert code == 0, output
    assert sorted(all_objects(gcs_env)) == [
        f"metadata/{REPOSITORY}/3.0.0-dev.abc1234/icon.svg",
        f"metadata/{REPOSITORY}/3.0.0-dev.abc1234/metadata.yaml",
    ]
    uploaded = yaml.safe_load(remote(gcs_env, f"metadata/{REPOSITORY}/3.0.0-dev.abc1234/metadata.yaml") or b"")
    assert uploaded["data"]["dockerImageTag"] == "3.0.0-dev.abc1234"
    code, output = upload(gcs_env, path, capsys, "--prerelease", "3.0.1")
    assert code == 1 and "--prerelease" in output and "pre-release" in output


def test_warnings_are_shown_and_do_not_refuse(gcs_env, tmp_path, capsys):
    newer = {"breakingChanges": {"1.0.0": {"message": "m", "upgradeDeadline": "2025-01-01"}}}
    path = write_connector(tmp_path / "connector", metadata_bytes("0.3.0", releases=newer))
    assert main(["validate", str(path)]) == 0
    expected = (
        f"warning: {path}: data.releases.breakingChanges.1.0.0: "
        "breaking change 1.0.0 is newer than dockerImageTag 0.3.0"
    )
    assert expected in capsys.readouterr().out
    code, output = upload(gcs_env, path, capsys)
    assert code == 0 and expected in output
