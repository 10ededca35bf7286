"""What is published beside the registries (SPEC §8), on the emulator with the real job: the light
indexes and per-connector documents (derived from the audited registry, written only when they
change, removed with their connector), the digest manifest written last, its Ed25519 signature,
and `metadata_service verify` telling a complete set from a torn or tampered one."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from dagster import DagsterInstance

from chaos.fault_proxy import FaultPlan, FaultProxy
from orchestrator.layout import REGISTRY_MANIFEST_PATH, REGISTRY_MANIFEST_SIGNATURE_PATH
from orchestrator.logic.serialization import to_json_bytes
from orchestrator.metadata_service.cli import main as metadata_service
from orchestrator.resources.deployments import DeploymentError, local_resources
from tests.builders import code_location, make_data, put_connector
from tests.test_release_candidates import rollout_data, upload
from tests.test_sensor_driven_runs import metadata_value, sensor_run

CDN = "https://connectors.example.test"
DAGSTER = Path(sys.executable).with_name("dagster")


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


def build(resources, raise_on_error: bool = True):
    return (
        code_location()
        .resolve_job_def("generate_registry")
        .execute_in_process(resources=resources, instance=DagsterInstance.ephemeral(), raise_on_error=raise_on_error)
    )


def read_json(gcs_env, path: str):
    stored = gcs_env["metadata"].read(path)
    assert stored is not None, f"{path} was not written"
    return json.loads(stored[0])


def published_generations(gcs_env) -> dict[str, int]:
    return {blob.name: blob.generation for blob in gcs_env["metadata"].list_blobs("registries/v0/")}


def verify(capsys, gcs_env, *options: str) -> tuple[int, list[str]]:
    code = metadata_service(["verify", gcs_env["metadata"].bucket_name, *options])
    return code, capsys.readouterr().out.splitlines()


def without_specs(entry: dict) -> dict:
    light = copy.deepcopy(entry)
    del light["spec"]
    for candidate in light.get("releases", {}).get("releaseCandidates", {}).values():
        del candidate["spec"]
    return light


def test_light_index_is_the_registry_without_specs_and_each_connector_has_its_document(gcs_env, resources, tmp_path):
    upload(gcs_env, tmp_path, make_data("source-rollout", tag="1.2.3"))
    upload(gcs_env, tmp_path, rollout_data("1.3.0-rc.1"))
    put_connector(gcs_env, make_data("source-plain"))
    put_connector(gcs_env, make_data("destination-sink", connector_type="destination", tag="0.4.0"))
    assert build(resources).success

    for registry in ("oss", "cloud"):
        published = read_json(gcs_env, f"registries/v0/{registry}_registry.json")
        expected = {kind: [without_specs(entry) for entry in entries] for kind, entries in published.items()}
        raw_index = gcs_env["metadata"].read(f"registries/v0/{registry}_index.json")[0]
        assert json.loads(raw_index) == expected
        assert raw_index == to_json_bytes(expected), "the index is serialised like the registries"
        rollout = next(entry for entry in json.loads(raw_index)["sources"] if "releases" in entry)
        assert "spec" not in rollout["releases"]["releaseCandidates"]["1.3.0-rc.1"]
        assert len(raw_index) < len(gcs_env["metadata"].read(f"registries/v0/{registry}_registry.json")[0])

        entries = [*published["sources"], *published["destinations"]]
        documents = {
            blob.name: json.loads(gcs_env["metadata"].read(blob.name)[0])
            for blob in gcs_env["metadata"].list_blobs(f"registries/v0/connectors/{registry}/")
        }
        by_id = {entry.get("sourceDefinitionId") or entry["destinationDefinitionId"]: entry for entry in entries}
        assert documents == {f"registries/v0/connectors/{registry}/{key}.json": entry for key, entry in by_id.items()}
        blob = gcs_env["metadata"].bucket.get_blob(next(iter(documents)))
        assert blob.content_type == "application/json" and blob.cache_control == "no-cache"


def test_one_upload_rewrites_one_document_per_registry(gcs_env, resources, instance):
    for index in range(5):
        put_connector(gcs_env, make_data(f"source-s{index}"))
    _, first, cursor = sensor_run(resources, instance, None)
    assert first.success
    before = published_generations(gcs_env)
    assert len([name for name in before if "/connectors/" in name]) == 10

    put_connector(gcs_env, make_data("source-s3", tag="1.3.0"))
    _, second, cursor = sensor_run(resources, instance, cursor)
    assert second.success and metadata_value(second, "metadata_definitions", "full_scan") is False
    after = published_generations(gcs_env)
    assert set(after) == set(before)
    definition_id = make_data("source-s3")["definitionId"]
    assert sorted(name for name in after if after[name] != before[name]) == sorted(
        [
            "registries/v0/cloud_index.json",
            "registries/v0/cloud_registry.json",
            f"registries/v0/connectors/cloud/{definition_id}.json",
            f"registries/v0/connectors/oss/{definition_id}.json",
            "registries/v0/manifest.json",
            "registries/v0/oss_index.json",
            "registries/v0/oss_registry.json",
        ]
    )
    assert metadata_value(second, "persisted_oss_registry_documents", "written") == 2  # the index and one document
    assert read_json(gcs_env, f"registries/v0/connectors/oss/{definition_id}.json")["dockerImageTag"] == "1.3.0"


def test_a_connector_leaving_a_registry_takes_its_document_with_it(gcs_env, resources, capsys):
    put_connector(gcs_env, make_data("source-leaving"))
    put_connector(gcs_env, make_data("source-staying"))
    assert build(resources).success
    leaving = make_data("source-leaving")["definitionId"]
    assert gcs_env["metadata"].read(f"registries/v0/connectors/cloud/{leaving}.json") is not None

    overrides = {"oss": {"enabled": True}, "cloud": {"enabled": False}}
    put_connector(gcs_env, make_data("source-leaving", tag="1.3.0", registryOverrides=overrides))
    result = build(resources)
    assert result.success
    assert gcs_env["metadata"].read(f"registries/v0/connectors/cloud/{leaving}.json") is None
    assert read_json(gcs_env, f"registries/v0/connectors/oss/{leaving}.json")["dockerImageTag"] == "1.3.0"
    assert metadata_value(result, "persisted_cloud_registry_documents", "deleted") == 1
    manifest = read_json(gcs_env, REGISTRY_MANIFEST_PATH)
    assert f"registries/v0/connectors/cloud/{leaving}.json" not in manifest["objects"]
    assert verify(capsys, gcs_env)[0] == 0


def test_verify_passes_after_a_build_and_names_what_differs(gcs_env, resources, capsys):
    for index in range(3):
        put_connector(gcs_env, make_data(f"source-s{index}"))
    assert build(resources).success
    manifest = read_json(gcs_env, REGISTRY_MANIFEST_PATH)
    assert list(manifest) == ["objects", "version"]
    assert list(manifest["objects"]) == sorted(manifest["objects"])
    listed = {blob.name for blob in gcs_env["metadata"].list_blobs("registries/v0/")}
    assert set(manifest["objects"]) == listed - {REGISTRY_MANIFEST_PATH}, "every published object is listed"
    assert set(manifest["objects"]["registries/v0/oss_registry.json"]) == {"generation", "sha256", "size"}

    code, lines = verify(capsys, gcs_env)
    assert code == 0
    assert (
        lines[-1].startswith(f"verified {len(manifest['objects'])} object(s) against gs://")
        and "all match" in lines[-1]
    )

    # One byte of a published registry changes: verify fails, naming it.
    path = "registries/v0/oss_registry.json"
    raw = bytearray(gcs_env["metadata"].read(path)[0])
    raw[raw.index(b"1.2.3")] = ord("7")
    gcs_env["metadata"].write(path, bytes(raw))
    code, lines = verify(capsys, gcs_env)
    assert code == 1
    bucket = gcs_env["metadata"].bucket_name
    assert [line for line in lines if line.startswith(f"gs://{bucket}/")] == [
        f"gs://{bucket}/{path}: " + lines[0].split(": ", 1)[1]
    ]
    assert "sha256" in lines[0] and "differs from the manifest" in lines[0]
    assert lines[-1].startswith("verification failed: 1 difference(s)")

    # A document gone and an object the manifest does not list are differences too.
    document = next(name for name in manifest["objects"] if "/connectors/oss/" in name)
    gcs_env["metadata"].delete(document)
    gcs_env["metadata"].write("registries/v0/connectors/oss/stray.json", b"{}")
    code, lines = verify(capsys, gcs_env, "--json")
    output = json.loads("\n".join(lines))
    assert code == 1 and output["ok"] is False
    assert sorted(problem.split(": ")[0] for problem in output["problems"]) == sorted(
        f"gs://{bucket}/{name}" for name in (path, document, "registries/v0/connectors/oss/stray.json")
    )

    # The next build repairs the set: the registry and the document rewritten, the stray object
    # removed from the documents folder (the registry changed under it, so the folder is listed).
    assert build(resources).success
    assert gcs_env["metadata"].read("registries/v0/connectors/oss/stray.json") is None
    assert verify(capsys, gcs_env)[0] == 0
    # A run launched by hand compares the documents with the bucket even when the registry is intact.
    gcs_env["metadata"].delete(document)
    assert verify(capsys, gcs_env)[0] == 1
    assert build(resources).success
    assert verify(capsys, gcs_env)[0] == 0


def key_pair(tmp_path: Path, name: str) -> tuple[str, Path]:
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = tmp_path / f"{name}.pub.pem"
    public.write_bytes(
        private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private_pem, public


def test_a_signed_manifest_verifies_with_its_public_key_only(gcs_env, monkeypatch, tmp_path, capsys):
    private_pem, public = key_pair(tmp_path, "right")
    _, wrong = key_pair(tmp_path, "wrong")
    monkeypatch.setenv("REGISTRY_SIGNING_KEY", private_pem)
    resources = local_resources(os.environ)
    key_body = private_pem.splitlines()[1]
    assert key_body not in repr(resources["registry_signing"]), "the resource holds the variable, not the key"
    put_connector(gcs_env, make_data("source-s0"))
    result = build(resources)
    assert result.success
    assert metadata_value(result, "persisted_registry_manifest", "signed") is True
    messages = [event.message or "" for event in result.all_events]
    assert messages and not any(key_body in message for message in messages), "a key is never logged"
    assert gcs_env["metadata"].read(REGISTRY_MANIFEST_SIGNATURE_PATH) is not None

    code, lines = verify(capsys, gcs_env, "--public-key", str(public))
    assert code == 0 and lines[-1].endswith("all match, signature valid")
    code, lines = verify(capsys, gcs_env, "--public-key", str(wrong))
    assert code == 1
    assert lines[0].endswith(f"{REGISTRY_MANIFEST_SIGNATURE_PATH}: not a signature of this manifest by {wrong}")
    code, lines = verify(capsys, gcs_env)
    assert code == 0 and any("present, not checked" in line for line in lines)

    # Signing turned off: the signature of an earlier manifest does not stay behind.
    monkeypatch.delenv("REGISTRY_SIGNING_KEY")
    put_connector(gcs_env, make_data("source-s1"))
    assert build(local_resources(os.environ)).success
    assert gcs_env["metadata"].read(REGISTRY_MANIFEST_SIGNATURE_PATH) is None
    code, lines = verify(capsys, gcs_env, "--public-key", str(public))
    assert code == 1 and "missing" in lines[0]


def test_a_signing_key_that_cannot_sign_fails_at_load_without_showing_it():
    environ = {"ORCHESTRATOR_DEPLOYMENT": "local", "REGISTRY_SIGNING_KEY": "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n"}
    with pytest.raises(DeploymentError) as error:
        local_resources(environ)
    assert "REGISTRY_SIGNING_KEY" in str(error.value) and "c2VjcmV0" not in str(error.value)


def test_documents_that_would_collide_are_refused_and_the_manifest_stays(gcs_env, resources, capsys):
    put_connector(gcs_env, make_data("source-s0"))
    assert build(resources).success
    manifest = gcs_env["metadata"].read(REGISTRY_MANIFEST_PATH)
    # A destination with a source's definition id passes the registry's per-kind duplicate check,
    # but both cannot have one document.
    shared = make_data("source-s0")["definitionId"]
    put_connector(gcs_env, make_data("destination-twin", connector_type="destination", definitionId=shared))
    result = build(resources, raise_on_error=False)
    assert not result.success
    failure = result.failure_data_for_node("persisted_oss_registry_documents")
    assert "no_duplicate_definition_ids" in failure.error.message and shared in failure.error.message
    assert gcs_env["metadata"].read(REGISTRY_MANIFEST_PATH) == manifest
    code, lines = verify(capsys, gcs_env)
    assert code == 1 and any("oss_registry.json: sha256" in line for line in lines)


@pytest.mark.e2e
def test_a_build_killed_before_the_manifest_leaves_verify_failing_until_the_next_build(
    gcs_env, gcs_emulator, monkeypatch, tmp_path, capsys
):
    monkeypatch.setenv("METADATA_CDN_BASE_URL", CDN)  # the same entries through the proxy and without it
    resources = local_resources(os.environ)
    for index in range(3):
        put_connector(gcs_env, make_data(f"source-s{index}"))
    assert build(resources).success
    assert verify(capsys, gcs_env)[0] == 0
    put_connector(gcs_env, make_data("source-s1", tag="1.3.0"))

    # The manifest's upload is held at the proxy; the build is killed while it waits.
    plan = FaultPlan(delay=[("POST", b'"registries/v0/manifest.json"', 600.0)])
    with FaultProxy(gcs_emulator.url, plan) as proxy:
        environment = {**os.environ, "STORAGE_EMULATOR_HOST": proxy.url}
        for name in ("DAGSTER_HOME", "DAGSTER_EXECUTOR"):
            environment.pop(name, None)
        with (tmp_path / "run.log").open("wb") as log:
            process = subprocess.Popen(
                [str(DAGSTER), "job", "execute", "-m", "orchestrator.definitions", "-j", "generate_registry"],
                env=environment,
                cwd=tmp_path,  # a killed `dagster job execute` leaves its temporary instance folder behind
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            deadline = time.monotonic() + 240
            while not proxy.counts.get("delayed") and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            held = bool(proxy.counts.get("delayed"))
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        assert held, (tmp_path / "run.log").read_text()[-3000:]

    assert read_json(gcs_env, "registries/v0/oss_registry.json")["sources"][1]["dockerImageTag"] == "1.3.0"
    code, lines = verify(capsys, gcs_env)
    assert code == 1
    bucket = gcs_env["metadata"].bucket_name
    assert {line.split(": ")[0] for line in lines[:-1] if not line.startswith("note:")} >= {
        f"gs://{bucket}/registries/v0/oss_registry.json",
        f"gs://{bucket}/registries/v0/cloud_registry.json",
    }
    assert verify(capsys, gcs_env)[0] == 1, "still failing: nothing repairs the set but a build"

    result = build(resources)
    assert result.success
    assert verify(capsys, gcs_env)[0] == 0
    # What the killed build did publish is kept: only the manifest was missing.
    assert metadata_value(result, "persisted_oss_registry", "published") == "unchanged (same bytes)"
    assert metadata_value(result, "persisted_oss_registry_documents", "written") == 0
    assert metadata_value(result, "persisted_registry_manifest", "published") is True


def test_documents_are_validated_when_they_are_to_be_written():
    from orchestrator.logic.distribution import distribution_checks

    broken = {"sourceDefinitionId": "2a7f8d4e-0000-4000-8000-000000000001"}  # no name, no image: not an entry
    documents = {"registries/v0/connectors/oss/2a7f8d4e.json": (broken, to_json_bytes(broken))}
    index = to_json_bytes({"destinations": [], "sources": []})

    def schema_check(to_write):
        checks = distribution_checks("registries/v0/oss_index.json", index, documents, [], 1, to_write=to_write)
        return next(check for check in checks if check.name == "schema_valid")

    assert not schema_check(None).passed
    assert not schema_check(list(documents)).passed
    assert "2a7f8d4e.json" in schema_check(list(documents)).description
    # Unchanged since it was published (and so audited when it was written): not validated again.
    assert schema_check([]).passed
