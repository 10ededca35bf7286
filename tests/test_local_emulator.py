"""The embedded local bucket: emulator lifecycle, sample loading, `orchestrator-local` commands.

Every emulator here gets a temporary state directory and a free port (never 9023, which a
developer's own `orchestrator-local start` may be using)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from orchestrator.local import emulator
from orchestrator.local.cli import main
from orchestrator.local.emulator import (
    EmulatorConfig,
    EmulatorError,
    emulator_pids,
    ensure_buckets,
    start_emulator,
    stop_emulator,
)
from orchestrator.local.load import bucket_has_metadata, load_sample, md5_base64, upload_objects
from orchestrator.local.ports import free_port
from orchestrator.local.sample import generate_sample
from orchestrator.resources.gcs import GcsBucketManager, GcsClient


def process_alive(pid: int) -> bool:
    return emulator._pid_alive(pid)


@pytest.fixture
def config(tmp_path):
    config = EmulatorConfig(state_dir=tmp_path / "local_bucket", host="127.0.0.1", port=free_port())
    assert config.port != 9023
    yield config
    stop_emulator(config)  # whatever a test left running


def manager(config: EmulatorConfig, bucket: str) -> GcsBucketManager:
    return GcsBucketManager(gcp_gcs_client=GcsClient(emulator_host=config.url), bucket_name=bucket)


def test_start_is_idempotent_and_stop_ends_the_process(config):
    status = start_emulator(config)
    assert status.started and status.running
    assert status.pid is not None
    assert emulator.is_answering(config.url)
    assert config.pid_file.read_text().strip() == str(status.pid)
    assert config.log_file.exists() and config.data_dir.is_dir()
    assert os.getpgid(status.pid) == status.pid  # its own process group, apart from ours

    again = start_emulator(config)
    assert not again.started and again.pid == status.pid
    assert emulator_pids(config) == [status.pid]

    assert stop_emulator(config) == [status.pid]
    assert not process_alive(status.pid)
    assert not emulator.is_answering(config.url)
    assert not config.pid_file.exists()
    assert stop_emulator(config) == []  # stopping twice is fine


def test_data_survives_a_restart(config):
    start_emulator(config)
    ensure_buckets(config.url, ["survivor"])
    manager(config, "survivor").write("metadata/airbyte/source-a/1.0.0/metadata.yaml", b"kept")
    first_pid = emulator_pids(config)[0]
    stop_emulator(config)
    status = start_emulator(config)
    assert status.started and status.pid != first_pid
    kept = manager(config, "survivor").read("metadata/airbyte/source-a/1.0.0/metadata.yaml")
    assert kept is not None
    assert kept[0] == b"kept"
    assert ensure_buckets(config.url, ["survivor"]) == []  # already there after the restart


def test_stale_pid_file_is_replaced(config):
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    config.state_dir.mkdir(parents=True)
    config.pid_file.write_text(f"{finished.pid}\n")
    status = start_emulator(config)
    assert status.started and status.pid != finished.pid
    assert config.pid_file.read_text().strip() == str(status.pid)


def test_pid_file_naming_an_unrelated_process_is_never_signalled(config):
    config.state_dir.mkdir(parents=True)
    config.pid_file.write_text(f"{os.getpid()}\n")  # this very test process
    status = start_emulator(config)
    assert status.started and status.pid != os.getpid()
    assert status.pid is not None
    config.pid_file.write_text(f"{os.getpid()}\n")
    assert stop_emulator(config) == [status.pid]  # found by its data directory, not by the bad pid file
    assert not process_alive(status.pid)


def test_one_emulator_per_data_directory(config):
    status = start_emulator(config)
    assert status.pid is not None
    config.pid_file.unlink()  # a lost pid file must not lead to a second server
    again = start_emulator(config)
    assert not again.started and again.pid == status.pid
    assert emulator_pids(config) == [status.pid]

    moved = EmulatorConfig(state_dir=config.state_dir, host=config.host, port=free_port())
    replaced = start_emulator(moved)  # same data, another port: the old server goes
    assert replaced.started and not process_alive(status.pid)
    assert emulator_pids(moved) == [replaced.pid]
    assert emulator.is_answering(moved.url) and not emulator.is_answering(config.url)


def test_concurrent_starts_make_one_process(config):
    results, errors = [], []

    def start() -> None:
        try:
            results.append(start_emulator(config))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len({status.pid for status in results}) == 1
    assert sum(status.started for status in results) == 1
    assert len(emulator_pids(config)) == 1


def test_port_taken_by_another_server_is_refused(gcs_emulator, tmp_path):
    occupied = EmulatorConfig(state_dir=tmp_path / "other", host="127.0.0.1", port=int(gcs_emulator.port))
    with pytest.raises(EmulatorError, match="another process"):
        start_emulator(occupied)
    assert emulator_pids(occupied) == []


def test_load_sample_writes_everything_then_nothing(gcs_env):
    sample = generate_sample(connectors=6, versions=2, seed=21)
    metadata, specs = gcs_env["metadata"], gcs_env["specs"]
    progress = []
    reports = load_sample(
        sample, metadata, specs, workers=8, progress=lambda bucket, done, total: progress.append((bucket, done, total))
    )
    assert [r.written for r in reports] == [len(sample.spec_objects), len(sample.metadata_objects)]
    assert progress[-1] == (metadata.bucket_name, len(sample.metadata_objects), len(sample.metadata_objects))
    remote = {blob.name: blob for blob in metadata.list_blobs("")}
    assert set(remote) == set(sample.metadata_objects)
    assert all(remote[path].md5_hash == md5_base64(data) for path, data in sample.metadata_objects.items())
    assert {blob.name for blob in specs.list_blobs("")} == set(sample.spec_objects)
    assert metadata.bucket.get_blob(next(iter(sample.metadata_files()))).content_type == "text/yaml"

    generations = {name: blob.generation for name, blob in remote.items()}
    again = load_sample(sample, metadata, specs)
    assert [r.written for r in again] == [0, 0]
    assert [r.unchanged for r in again] == [len(sample.spec_objects), len(sample.metadata_objects)]
    assert {blob.name: blob.generation for blob in metadata.list_blobs("")} == generations

    # one changed object is the only one written
    path = next(iter(sample.metadata_files()))
    changed = dict(sample.metadata_objects)
    changed[path] = changed[path] + b"# edited\n"
    report = upload_objects(metadata, changed)
    assert (report.written, report.unchanged) == (1, len(changed) - 1)
    assert metadata.read(path)[0].endswith(b"# edited\n")
    assert bucket_has_metadata(metadata)


@pytest.fixture
def cli_env(config, monkeypatch, tmp_path):
    """The environment the console command reads, pointing at this test's emulator and buckets."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", config.url)
    monkeypatch.setenv("METADATA_BUCKET", "local-metadata")
    monkeypatch.setenv("SPEC_CACHE_BUCKET", "local-specs")
    monkeypatch.setenv("METADATA_CDN_BASE_URL", "")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.delenv("GCS_CREDENTIALS", raising=False)
    return ["--state-dir", str(config.state_dir)]


def test_cli_start_load_sample_stop(config, cli_env, capsys):
    assert main([*cli_env, "start"]) == 0
    output = capsys.readouterr().out
    assert "started (pid" in output and "created bucket(s): local-metadata, local-specs" in output
    assert main([*cli_env, "status"]) == 0

    args = ["load-sample", "--connectors", "5", "--versions", "2", "--seed", "4", "--spec-size", "realistic"]
    assert main([*cli_env, *args]) == 0
    output = capsys.readouterr().out
    sample = generate_sample(connectors=5, versions=2, seed=4, spec_size="realistic")
    assert "already running" in output and "5 connectors x 2 versions" in output
    assert f"{sample.file_count} files written, 0 unchanged" in output
    remote = {blob.name: blob.md5_hash for blob in manager(config, "local-metadata").list_blobs("")}
    assert remote == {path: md5_base64(data) for path, data in sample.metadata_objects.items()}

    assert main([*cli_env, *args]) == 0
    assert f"0 files written, {sample.file_count} unchanged" in capsys.readouterr().out

    pid = emulator_pids(config)[0]
    assert main([*cli_env, "stop"]) == 0
    assert f"emulator stopped (pid {pid})" in capsys.readouterr().out
    assert not process_alive(pid)
    assert main([*cli_env, "status"]) == 3


def test_cli_refuses_to_run_locally_when_the_environment_selects_real_gcs(config, cli_env, monkeypatch, capsys):
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    monkeypatch.setenv("GCS_CREDENTIALS", '{"type": "service_account"}')
    for command in (["load-sample"], ["run"], ["dev"]):
        assert main([*cli_env, *command]) == 1
        assert "would use real GCS" in capsys.readouterr().err
    assert emulator_pids(config) == []


@pytest.mark.e2e
def test_cli_run_loads_the_sample_and_publishes_registries(config, cli_env, capsys, tmp_path):
    args = [*cli_env, "run", "--connectors", "8", "--versions", "2", "--seed", "5"]
    assert main(args) == 0
    output = capsys.readouterr().out
    assert "has no metadata yet: loading the sample" in output
    assert "succeeded" in output
    assert (tmp_path / "dagster_home").is_dir()  # the persistent instance the run was recorded in

    sample = generate_sample(connectors=8, versions=2, seed=5)
    bucket = manager(config, "local-metadata")
    for registry in ("oss", "cloud"):
        path = f"registries/v0/{registry}_registry.json"
        assert f"gs://local-metadata/{path}" in output
        stored = bucket.read(path)
        assert stored is not None
        published = json.loads(stored[0])
        enabled = [c for c in sample.connectors if (c.oss_enabled if registry == "oss" else c.cloud_enabled)]
        sources = sum(c.connector_type == "source" for c in enabled)
        destinations = len(enabled) - sources
        assert (len(published["sources"]), len(published["destinations"])) == (sources, destinations)
        assert f"({sources} sources, {destinations} destinations)" in output
    assert "invalid: 0" in output

    # A second run reuses the bucket as it is.
    assert main(args) == 0
    assert "already holds metadata: using it as it is" in capsys.readouterr().out


@pytest.mark.e2e
def test_cli_dev_stops_dagster_and_the_emulator_on_sigterm(config, tmp_path):
    script = Path(sys.executable).with_name("orchestrator-local")
    if not script.exists():
        pytest.skip(f"console script not installed at {script}")
    ui_port = free_port()
    env = {
        **os.environ,
        "STORAGE_EMULATOR_HOST": config.url,
        "METADATA_BUCKET": "dev-metadata",
        "SPEC_CACHE_BUCKET": "dev-specs",
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    # The child writes to its own copy of the descriptor: the parent's handle can close once it has started.
    with open(tmp_path / "dev.log", "wb") as log:
        dev = subprocess.Popen(
            [str(script), "--state-dir", str(config.state_dir), "dev", "--port", str(ui_port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    dagster_group: list[int] = []
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/server_info", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
            assert dev.poll() is None, (tmp_path / "dev.log").read_text()
        else:
            pytest.fail(f"dagster dev did not answer: {(tmp_path / 'dev.log').read_text()}")
        emulator_pid = emulator_pids(config)[0]
        # The command announces the pid of `dagster dev`, which leads its own process group
        # (reading `ps` output instead broke on a clone whose long venv path got the line truncated).
        announced = re.findall(r"dagster dev \(pid (\d+)\) starting", (tmp_path / "dev.log").read_text())
        assert len(announced) == 1, (tmp_path / "dev.log").read_text()
        dagster_group[:] = [int(announced[0])]
        assert os.getpgid(dagster_group[0]) == dagster_group[0]

        dev.send_signal(signal.SIGTERM)
        assert dev.wait(timeout=90) == 0
        with pytest.raises(ProcessLookupError):
            os.killpg(dagster_group[0], 0)  # nothing of dagster dev's group is left
        assert not process_alive(emulator_pid)
        output = (tmp_path / "dev.log").read_text()
        assert "has no metadata yet: loading the sample" in output
        assert "emulator stopped" in output
    finally:
        if dev.poll() is None:
            dev.kill()
            dev.wait()
        for group in dagster_group:  # only on failure: the command should have stopped it
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
