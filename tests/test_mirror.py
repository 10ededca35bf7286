"""`orchestrator-local mirror` between two real emulators: the source plays the production bucket
and its spec cache (anonymous, through `--source-endpoint`), the test session's emulator is the
local bucket. Registries built from the mirror equal those built on the source; a second mirror
copies nothing; an interrupted mirror, run again, completes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from dagster import DagsterInstance

from chaos.fault_proxy import FaultPlan, FaultProxy
from orchestrator.layout import REGISTRY_NAMES, SECRETS_MASK_PATH, registry_path
from orchestrator.local.cli import main
from orchestrator.local.emulator import EmulatorConfig, ensure_buckets, start_emulator, stop_emulator
from orchestrator.local.load import load_sample
from orchestrator.local.ports import free_port
from orchestrator.local.sample import generate_sample
from orchestrator.logic.mirror import ObjectDigest, is_build_output, plan_copies
from orchestrator.resources.deployments import local_resources
from orchestrator.resources.gcs import GcsBucketManager, GcsClient
from tests.builders import code_location

CDN = "https://connectors.example.test"  # registries then name no emulator port, so both sides compare
SOURCE_METADATA, SOURCE_SPECS = "source-metadata", "source-specs"
SCRIPT = Path(sys.executable).with_name("orchestrator-local")


def build_registries(environ: dict[str, str]) -> None:
    result = (
        code_location()
        .resolve_job_def("generate_registry")
        .execute_in_process(resources=local_resources(environ), instance=DagsterInstance.ephemeral())
    )
    assert result.success


def published(manager: GcsBucketManager) -> dict[str, bytes]:
    paths = [registry_path(name) for name in REGISTRY_NAMES] + [SECRETS_MASK_PATH]
    found = {path: manager.read(path) for path in paths}
    assert all(found.values()), f"missing: {[path for path, value in found.items() if value is None]}"
    return {path: value[0] for path, value in found.items() if value is not None}


def checksums(manager: GcsBucketManager, prefix: str) -> dict[str, str | None]:
    """MD5 of every object a mirror copies (the entries beside metadata files are the build's own)."""
    return {blob.name: blob.md5_hash for blob in manager.list_blobs(prefix) if not is_build_output(blob.name)}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A second emulator holding a sample bucket, its spec cache and the registries built there."""
    config = EmulatorConfig(state_dir=tmp_path_factory.mktemp("source_emulator"), port=free_port())
    start_emulator(config)
    try:
        ensure_buckets(config.url, [SOURCE_METADATA, SOURCE_SPECS])
        client = GcsClient(emulator_host=config.url)
        metadata = GcsBucketManager(gcp_gcs_client=client, bucket_name=SOURCE_METADATA, cdn_base_url=CDN)
        specs = GcsBucketManager(gcp_gcs_client=client, bucket_name=SOURCE_SPECS)
        load_sample(generate_sample(connectors=16, versions=3, seed=3), metadata, specs)
        build_registries(
            {
                "STORAGE_EMULATOR_HOST": config.url,
                "METADATA_BUCKET": SOURCE_METADATA,
                "SPEC_CACHE_BUCKET": SOURCE_SPECS,
                "METADATA_CDN_BASE_URL": CDN,
            }
        )
        yield SimpleNamespace(url=config.url, metadata=metadata, specs=specs, registries=published(metadata))
    finally:
        stop_emulator(config)


def without_source_file_info(files: dict[str, bytes]) -> dict[str, object]:
    """Registries as data with every `generated.source_file_info` (SPEC §4.1: where the metadata file
    was read, and when) removed, release candidates' embedded entries included."""

    def strip(value: object) -> object:
        if isinstance(value, dict):
            return {
                key: strip({k: v for k, v in item.items() if k != "source_file_info"} if key == "generated" else item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [strip(item) for item in value]
        return value

    return {path: strip(json.loads(raw)) if path.endswith(".json") else raw for path, raw in files.items()}


def mirror_arguments(gcs_emulator, source, *extra: str) -> list[str]:
    return [
        "--state-dir",
        str(gcs_emulator.config.state_dir),
        "mirror",
        SOURCE_METADATA,
        "--spec-bucket",
        SOURCE_SPECS,
        "--source-endpoint",
        source.url,
        "--no-progress",
        *extra,
    ]


def test_registries_built_from_a_mirror_equal_the_sources(gcs_env, gcs_emulator, source, monkeypatch, capsys):
    monkeypatch.setenv("METADATA_CDN_BASE_URL", CDN)
    local_metadata, local_specs = gcs_env["metadata"], gcs_env["specs"]
    expected_metadata = checksums(source.metadata, "metadata/")
    expected_specs = checksums(source.specs, "specs/")

    assert main(mirror_arguments(gcs_emulator, source)) == 0
    output = capsys.readouterr().out
    total = len(expected_metadata) + len(expected_specs)
    assert f"mirror done: {total} copied, 0 skipped (same checksum), 0 failed" in output
    assert checksums(local_metadata, "metadata/") == expected_metadata
    assert checksums(local_specs, "specs/") == expected_specs
    # Only metadata/ and the spec cache: the registries are this bucket's to build.
    assert local_metadata.list_blobs("registries/") == []
    copied = local_metadata.bucket.get_blob(next(name for name in expected_metadata if name.endswith(".yaml")))
    assert copied.cache_control == "no-cache" and copied.content_type == "text/yaml"

    build_registries(dict(os.environ))
    # The same bytes but for where each entry says its metadata file was read (bucket, update time).
    assert without_source_file_info(published(local_metadata)) == without_source_file_info(source.registries)
    assert (
        f'"metadata_bucket_name": "{local_metadata.bucket_name}"'.encode()
        in published(local_metadata)["registries/v0/oss_registry.json"]
    )

    generations = {blob.name: blob.generation for blob in local_metadata.list_blobs("metadata/")}
    assert main(mirror_arguments(gcs_emulator, source)) == 0
    output = capsys.readouterr().out
    assert f"mirror done: 0 copied, {total} skipped (same checksum), 0 failed" in output
    assert {blob.name: blob.generation for blob in local_metadata.list_blobs("metadata/")} == generations


def test_registries_and_prefix_options(gcs_env, gcs_emulator, source, capsys):
    connector = next(iter(checksums(source.metadata, "metadata/"))).split("/")[1:3]
    prefix = f"metadata/{'/'.join(connector)}/"
    arguments = mirror_arguments(gcs_emulator, source, "--prefix", prefix, "--registries")
    assert main(arguments) == 0, capsys.readouterr()
    local = gcs_env["metadata"]
    assert checksums(local, "metadata/") == checksums(source.metadata, prefix)
    assert checksums(local, "registries/") == checksums(source.metadata, "registries/")


def test_an_interrupted_mirror_completes_when_run_again(gcs_env, gcs_emulator, source, tmp_path, capsys):
    if not SCRIPT.exists():
        pytest.skip(f"console script not installed at {SCRIPT}")
    local_metadata, local_specs = gcs_env["metadata"], gcs_env["specs"]
    total = len(checksums(source.metadata, "metadata/")) + len(checksums(source.specs, "specs/"))

    def copied() -> int:
        return len(local_metadata.list_blobs("metadata/")) + len(local_specs.list_blobs("specs/"))

    log = tmp_path / "mirror.log"
    # One copy at a time, each download held 20 ms by the proxy, so there is a middle to interrupt;
    # progress is counted by the proxy, with no listing of the shared emulator in the loop.
    slow_downloads = FaultPlan(delay=[("GET", b"alt=media", 0.02)])
    with FaultProxy(source.url, slow_downloads) as proxy, log.open("wb") as output:
        process = subprocess.Popen(
            [str(SCRIPT), *mirror_arguments(gcs_emulator, SimpleNamespace(url=proxy.url), "--workers", "1")],
            env=dict(os.environ),
            stdout=output,
            stderr=subprocess.STDOUT,
            # Ctrl-C as in a terminal. A shell starts background jobs with SIGINT ignored (pytest run
            # with `&` from a script); the child would inherit that and never see KeyboardInterrupt.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        try:
            deadline = time.monotonic() + 120
            while proxy.counts.get("delayed", 0) < 5 and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=60) == 130, log.read_text()
        finally:
            if process.poll() is None:
                process.kill()
    done = copied()
    assert 5 <= done < total, f"the mirror was not interrupted half-way ({done} of {total})"
    text = log.read_text()
    assert "mirror interrupted:" in text and "run the same command again" in text, text

    assert main(mirror_arguments(gcs_emulator, source)) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith(f"mirror done: {total - done} copied, {done} skipped"), summary
    assert checksums(local_metadata, "metadata/") == checksums(source.metadata, "metadata/")
    assert checksums(local_specs, "specs/") == checksums(source.specs, "specs/")


def test_a_real_gcs_destination_must_be_named(gcs_env, gcs_emulator, source, monkeypatch, capsys):
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    monkeypatch.setenv("ORCHESTRATOR_DEPLOYMENT", "gcs")
    assert main(mirror_arguments(gcs_emulator, source)) == 1
    error = capsys.readouterr().err
    assert "the environment selects real GCS" in error and "pass --to and --spec-to" in error
    assert gcs_env["metadata"].list_blobs("") == []


def test_a_missing_source_bucket_is_named(gcs_env, gcs_emulator, source, capsys):
    arguments = mirror_arguments(gcs_emulator, source)
    arguments[arguments.index(SOURCE_METADATA)] = "no-such-bucket"
    arguments.remove("--spec-bucket")
    arguments.remove(SOURCE_SPECS)
    assert main(arguments) == 1
    assert f"gs://no-such-bucket: no such bucket at {source.url}" in capsys.readouterr().err


def test_plan_copies_compares_md5_then_crc32c():
    source = [
        ObjectDigest("a", 3, md5="m1"),
        ObjectDigest("b", 3, md5="m2"),
        ObjectDigest("c", 3, crc32c="c1"),  # a composite object: no MD5
        ObjectDigest("d", 3),
        ObjectDigest("e", 3, md5="m5"),
    ]
    destination = {
        "a": ObjectDigest("a", 3, md5="m1", crc32c="x"),
        "b": ObjectDigest("b", 3, md5="other"),
        "c": ObjectDigest("c", 3, md5="whatever", crc32c="c1"),
        "d": ObjectDigest("d", 3),
    }
    to_copy, identical = plan_copies(source, destination)
    assert [item.name for item in to_copy] == ["b", "d", "e"]
    assert [item.name for item in identical] == ["a", "c"]


def test_plan_copies_leaves_the_builds_own_entries_to_the_local_build():
    source = [
        ObjectDigest("metadata/airbyte/source-x/1.0.0/metadata.yaml", 3, md5="m"),
        ObjectDigest("metadata/airbyte/source-x/1.0.0/oss.json", 3, md5="o"),
        ObjectDigest("metadata/airbyte/source-x/latest/cloud.json", 3, md5="c"),
        ObjectDigest("specs/airbyte/source-x/1.0.0/spec.json", 3, md5="s"),
    ]
    to_copy, identical = plan_copies(source, {})
    assert [item.name for item in to_copy] == [
        "metadata/airbyte/source-x/1.0.0/metadata.yaml",
        "specs/airbyte/source-x/1.0.0/spec.json",
    ]
    assert identical == []
