"""`metadata_service upload-spec` against the real emulator (SPEC §6), and the sample loader that
writes its specs through the same function."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from orchestrator.local.load import SampleSpecError, load_sample
from orchestrator.local.sample import generate_sample
from orchestrator.metadata_service.cli import main
from orchestrator.resources.gcs import md5_base64

REPOSITORY, TAG = "airbyte/source-spec-test", "1.2.0"
SPEC = {
    "documentationUrl": "https://docs.example.test/source-spec-test",
    "connectionSpecification": {
        "type": "object",
        "required": ["api_key"],
        "properties": {"api_key": {"type": "string", "airbyte_secret": True}},
    },
}


def write_json(path: Path, document) -> Path:
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def upload_spec(path: Path, capsys, *extra: str, repository: str = REPOSITORY, tag: str = TAG) -> tuple[int, str]:
    code = main(["upload-spec", str(path), repository, tag, os.environ["SPEC_CACHE_BUCKET"], *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def spec_objects(gcs_env) -> dict[str, int]:
    return {blob.name: blob.generation for blob in gcs_env["specs"].list_blobs("")}


def test_upload_spec_writes_the_cache_path_then_skips_an_identical_file(gcs_env, tmp_path, capsys):
    spec = write_json(tmp_path / "spec.json", SPEC)
    code, output = upload_spec(spec, capsys)
    assert code == 0, output
    path = f"specs/{REPOSITORY}/{TAG}/spec.json"
    assert output.endswith(
        f"uploaded gs://{os.environ['SPEC_CACHE_BUCKET']}/{path} on the local emulator at {gcs_env['emulator_url']}\n"
    )
    blob = gcs_env["specs"].bucket.get_blob(path)
    assert blob.download_as_bytes() == spec.read_bytes()
    assert blob.content_type == "application/json" and blob.cache_control == "no-cache"
    before = spec_objects(gcs_env)
    assert before == {path: blob.generation}

    code, output = upload_spec(spec, capsys)
    assert code == 0 and "nothing to upload" in output and "already holds this spec (same MD5)" in output
    assert spec_objects(gcs_env) == before, "an identical spec is not written again"


def test_cloud_spec_goes_to_spec_cloud_json(gcs_env, tmp_path, capsys):
    cloud = write_json(tmp_path / "cloud.json", {**SPEC, "documentationUrl": "https://docs.example.test/cloud"})
    assert upload_spec(cloud, capsys, "--cloud")[0] == 0
    assert set(spec_objects(gcs_env)) == {f"specs/{REPOSITORY}/{TAG}/spec.cloud.json"}


def test_a_changed_spec_is_written_again(gcs_env, tmp_path, capsys):
    spec = write_json(tmp_path / "spec.json", SPEC)
    assert upload_spec(spec, capsys)[0] == 0
    changed = write_json(tmp_path / "spec.json", {**SPEC, "documentationUrl": "https://docs.example.test/v2"})
    code, output = upload_spec(changed, capsys)
    assert code == 0 and "uploaded gs://" in output
    stored = gcs_env["specs"].bucket.get_blob(f"specs/{REPOSITORY}/{TAG}/spec.json")
    assert stored.md5_hash == md5_base64(changed.read_bytes())


@pytest.mark.parametrize(
    "content, field, reason",
    [
        (json.dumps({"documentationUrl": "https://x.test"}), "connectionSpecification", "this is not a connector spec"),
        (json.dumps({"connectionSpecification": "form"}), "connectionSpecification", "Input should be an object"),
        (json.dumps([SPEC]), "(document)", "a connector spec is a JSON object"),
        ('{"connectionSpecification": {', "(document)", "not valid JSON"),
    ],
    ids=["no-connection-specification", "not-an-object-inside", "a-list", "broken-json"],
)
def test_a_file_that_is_not_a_spec_is_refused_and_nothing_is_written(gcs_env, tmp_path, capsys, content, field, reason):
    path = tmp_path / "spec.json"
    path.write_text(content)
    code, output = upload_spec(path, capsys)
    assert code == 1
    lines = output.splitlines()
    assert lines[0].startswith(f"{path}: {field}: ") and reason in lines[0], output
    assert lines[-1].startswith("upload-spec refused: 1 problem(s); nothing was written to gs://")
    assert spec_objects(gcs_env) == {}


def test_repository_and_tag_arguments_are_checked(gcs_env, tmp_path, capsys):
    spec = write_json(tmp_path / "spec.json", SPEC)
    code, output = upload_spec(spec, capsys, repository="Airbyte/Source X", tag="latest")
    assert code == 1
    assert "arguments: dockerRepository: 'Airbyte/Source X' is not a docker repository name" in output
    assert "arguments: dockerImageTag: 'latest' is not a version tag" in output
    assert spec_objects(gcs_env) == {}


def test_json_output_carries_the_same_outcome(gcs_env, tmp_path, capsys):
    spec = write_json(tmp_path / "spec.json", SPEC)
    code, output = upload_spec(spec, capsys, "--json")
    document = json.loads(output)
    assert code == 0 and document["ok"] is True and document["written"] is True
    assert document["path"] == f"specs/{REPOSITORY}/{TAG}/spec.json" and document["problems"] == []
    assert document["summary"].startswith("uploaded gs://")

    broken = write_json(tmp_path / "broken.json", {"title": "no spec"})
    code, output = upload_spec(broken, capsys, "--json")
    document = json.loads(output)
    assert code == 1 and document["ok"] is False and document["written"] is False
    assert document["problems"] == [
        {
            "file": str(broken),
            "field": "connectionSpecification",
            "message": "required field is missing: this is not a connector spec",
        }
    ]


def test_missing_file_is_a_usage_error(gcs_env, tmp_path, capsys):
    code, output = upload_spec(tmp_path / "absent.json", capsys)
    assert code == 2 and f"{tmp_path / 'absent.json'}: no such file" in output


def test_the_sample_loader_writes_specs_through_the_same_check(gcs_env):
    sample = generate_sample(connectors=3, versions=1, seed=2)
    first_spec = sorted(sample.spec_objects)[0]
    sample.spec_objects[first_spec] = json.dumps({"documentationUrl": "https://x.test"}).encode()
    with pytest.raises(SampleSpecError, match=f"{first_spec}: connectionSpecification"):
        load_sample(sample, gcs_env["metadata"], gcs_env["specs"], workers=1)
    assert first_spec not in spec_objects(gcs_env)
