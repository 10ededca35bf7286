"""Choosing ports: EMULATOR_PORT / STORAGE_EMULATOR_HOST for the emulator, UI_PORT for the Dagster UI.
A port already taken makes `orchestrator-local start` / `dev` stop at once, naming the port and the
variable, with nothing left running. The commands run as the installed console script, against a
real listening socket."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from orchestrator.local.emulator import EmulatorConfig, emulator_pids
from orchestrator.local.ports import PortError, free_port, port_is_taken, ui_port
from orchestrator.settings import emulator_address_variable, emulator_host

SCRIPT = Path(sys.executable).with_name("orchestrator-local")
# The bound for a refused start; a command that hangs fails here instead of blocking the suite.
REFUSAL_BOUND_SECONDS = 10


@contextmanager
def listener() -> Iterator[int]:
    """A plain TCP server on a free loopback port (not a GCS emulator): the port is simply taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", free_port()))
        server.listen()
        yield int(server.getsockname()[1])


def command_environment(tmp_path: Path, **variables: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("STORAGE_EMULATOR_HOST", "GCS_CREDENTIALS")}
    env.update(
        ORCHESTRATOR_DEPLOYMENT="local",
        METADATA_BUCKET="ports-metadata",
        SPEC_CACHE_BUCKET="ports-specs",
        DAGSTER_HOME=str(tmp_path / "dagster_home"),
        EMULATOR_PORT=str(free_port()),
        UI_PORT=str(free_port()),
    )
    env.update(variables)
    return env


def run_local(tmp_path: Path, env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess:
    if not SCRIPT.exists():
        pytest.skip(f"console script not installed at {SCRIPT}")
    return subprocess.run(
        [str(SCRIPT), "--state-dir", str(tmp_path / "state"), *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=REFUSAL_BOUND_SECONDS,
    )


def processes_mentioning(text: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(text in part for part in process.info.get("cmdline") or []):
            found.append(process)
    return found


def test_port_is_taken_only_while_something_listens():
    with listener() as port:
        assert port_is_taken("127.0.0.1", port)
    assert not port_is_taken("127.0.0.1", port)


def test_emulator_address_comes_from_emulator_port_unless_the_host_variable_is_set():
    assert emulator_host({"EMULATOR_PORT": "9124"}) == "http://127.0.0.1:9124"
    assert emulator_address_variable({"EMULATOR_PORT": "9124"}) == "EMULATOR_PORT"
    both = {"EMULATOR_PORT": "9124", "STORAGE_EMULATOR_HOST": "http://127.0.0.1:9200"}
    assert emulator_host(both) == "http://127.0.0.1:9200"
    assert emulator_address_variable(both) == "STORAGE_EMULATOR_HOST"
    assert emulator_host({}) == "http://127.0.0.1:9023"


def test_ui_port_comes_from_ui_port_and_a_bad_value_is_named():
    assert ui_port({}) == 3000
    assert ui_port({"UI_PORT": "3115"}) == 3115
    with pytest.raises(PortError, match="UI_PORT='web' is not a port number"):
        ui_port({"UI_PORT": "web"})


@pytest.mark.parametrize("variable", ["EMULATOR_PORT", "STORAGE_EMULATOR_HOST"])
def test_start_on_a_taken_emulator_port_fails_naming_port_and_variable(tmp_path, variable):
    with listener() as port:
        value = str(port) if variable == "EMULATOR_PORT" else f"http://127.0.0.1:{port}"
        env = command_environment(tmp_path, **{variable: value})
        result = run_local(tmp_path, env, "start")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"port {port} on 127.0.0.1, needed for the GCS emulator, is already in use" in result.stderr
    assert f"choose another port with {variable}" in result.stderr
    config = EmulatorConfig(state_dir=tmp_path / "state", port=port)
    assert emulator_pids(config) == [], "no emulator may be left behind"
    assert processes_mentioning(str(tmp_path / "state")) == []


def test_dev_on_a_taken_ui_port_starts_nothing(tmp_path):
    with listener() as port:
        env = command_environment(tmp_path, UI_PORT=str(port))
        result = run_local(tmp_path, env, "dev", "--no-sample")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"port {port} on 127.0.0.1, needed for the Dagster UI, is already in use" in result.stderr
    assert "choose another port with UI_PORT" in result.stderr
    assert not (tmp_path / "state" / "emulator.pid").exists(), "the emulator must not have been started"
    assert processes_mentioning(str(tmp_path / "state")) == []
    assert [p for p in processes_mentioning("dagster") if str(port) in p.info["cmdline"]] == []


def test_dev_on_a_taken_emulator_port_starts_no_dagster(tmp_path):
    ui = free_port()
    with listener() as port:
        env = command_environment(tmp_path, EMULATOR_PORT=str(port), UI_PORT=str(ui))
        result = run_local(tmp_path, env, "dev", "--no-sample")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"port {port} on 127.0.0.1, needed for the GCS emulator" in result.stderr
    assert "choose another port with EMULATOR_PORT" in result.stderr
    assert processes_mentioning(str(tmp_path / "state")) == []
    assert [p for p in processes_mentioning("dagster") if str(ui) in p.info["cmdline"]] == []
