"""A real client reads our registries: PyAirbyte (PyPI `airbyte`), in an isolated environment of
its own, pointed with AIRBYTE_LOCAL_REGISTRY at the registries a test build just published, with
every socket connection refused (tests/clients/pyairbyte_probe.py) so it can never download anything.

The environment is created once under .cache/pyairbyte/ (git-ignored) with `python -m venv` and pip's
default index, and reused while its requirement is unchanged; PyAirbyte never enters the project's
own dependencies. The test skips only when the package index cannot be reached."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterInstance
from filelock import FileLock

from orchestrator.layout import registry_path
from orchestrator.local.load import load_sample
from orchestrator.local.sample import generate_sample
from orchestrator.resources.deployments import local_resources
from tests.builders import code_location

pytestmark = pytest.mark.pyairbyte

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ENVIRONMENT = PROJECT_ROOT / ".cache" / "pyairbyte"
# PyAirbyte 0.71 is the release the issue measured; its registry reading is what is tested here.
REQUIREMENT = "airbyte>=0.71,<0.72"
PROBE = Path(__file__).parent / "clients" / "pyairbyte_probe.py"
INSTALL_TIMEOUT_SECONDS = 900


def _pip(*arguments: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ENVIRONMENT / "bin" / "python"), "-m", "pip", *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )


def pyairbyte_python() -> Path:
    """The interpreter of the PyAirbyte environment, created when missing or made for another requirement."""
    marker = ENVIRONMENT / ".requirement"
    ENVIRONMENT.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(ENVIRONMENT.parent / "pyairbyte.lock")):
        if marker.is_file() and marker.read_text() == REQUIREMENT:
            return ENVIRONMENT / "bin" / "python"
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(ENVIRONMENT)], check=True, timeout=300)
        installed = _pip("install", "--quiet", REQUIREMENT, timeout=INSTALL_TIMEOUT_SECONDS)
        if installed.returncode != 0:
            # Only an index that cannot be reached is a reason to skip; anything else is a failure.
            probe = _pip("index", "versions", "airbyte", timeout=120)
            if probe.returncode != 0:
                pytest.skip(
                    f"the package index cannot be reached to install {REQUIREMENT}: {probe.stderr.strip()[-500:]}"
                )
            pytest.fail(f"pip could not install {REQUIREMENT}:\n{installed.stderr[-3000:]}")
        marker.write_text(REQUIREMENT)
    return ENVIRONMENT / "bin" / "python"


def what_pyairbyte_understands(python: Path, registry_file: Path, tmp_path: Path) -> dict:
    output = tmp_path / f"{registry_file.stem}_understood.json"
    completed = subprocess.run(
        [str(python), str(PROBE), str(output)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "AIRBYTE_LOCAL_REGISTRY": str(registry_file), "DO_NOT_TRACK": "1"},
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    return json.loads(output.read_text())


def first_language_tag(entry: dict) -> str | None:
    for tag in entry.get("tags") or []:
        if tag.startswith("language:"):
            return tag.split(":", 1)[1]
    return None


def what_the_entry_says(entry: dict) -> dict:
    """Name, latest version, PyPI package and language, as the entry states them (its `language`,
    or where an entry has none, its language tag)."""
    pypi = (entry.get("remoteRegistries") or {}).get("pypi") or {}
    return {
        "name": entry["dockerRepository"].removeprefix("airbyte/"),
        "display_name": entry["name"],
        "latest_available_version": entry["dockerImageTag"],
        "pypi_package_name": pypi.get("packageName") if pypi.get("enabled") else None,
        "language": entry.get("language") or first_language_tag(entry),
    }


def build_and_download_registries(gcs_env, monkeypatch, tmp_path: Path, registry_format: str, era: str) -> dict:
    monkeypatch.setenv("REGISTRY_FORMAT", registry_format)
    load_sample(generate_sample(connectors=40, versions=3, seed=7, era=era), gcs_env["metadata"], gcs_env["specs"])
    result = (
        code_location()
        .resolve_job_def("generate_registry")
        .execute_in_process(resources=local_resources(os.environ), instance=DagsterInstance.ephemeral())
    )
    assert result.success
    files = {}
    for registry in ("oss", "cloud"):
        stored = gcs_env["metadata"].read(registry_path(registry))
        assert stored is not None
        files[registry] = tmp_path / f"{registry}_registry.json"
        files[registry].write_bytes(stored[0])
    return files


def compare(registry: dict, understood: dict) -> tuple[dict[str, dict], dict[str, str]]:
    """(what each entry says, by PyAirbyte name; entries PyAirbyte got wrong -> what differs)."""
    expected = {}
    for entry in [*registry["sources"], *registry["destinations"]]:
        says = what_the_entry_says(entry)
        expected[says["name"]] = says
    wrong = {}
    for name, says in expected.items():
        got = understood["connectors"].get(name)
        if got is None:
            wrong[name] = "not listed"
            continue
        differing = {key: (value, got[key]) for key, value in says.items() if got[key] != value}
        if differing:
            wrong[name] = ", ".join(
                f"{key}: entry says {want!r}, PyAirbyte {have!r}" for key, (want, have) in differing.items()
            )
    return expected, wrong


def test_pyairbyte_understands_every_connector_of_both_registries(gcs_env, monkeypatch, tmp_path):
    python = pyairbyte_python()
    files = build_and_download_registries(gcs_env, monkeypatch, tmp_path, "2025", era="2025")
    languages_seen: set[str] = set()
    for registry_name, registry_file in files.items():
        registry = json.loads(registry_file.read_bytes())
        understood = what_pyairbyte_understands(python, registry_file, tmp_path)
        expected, wrong = compare(registry, understood)
        assert not wrong, f"{registry_name}: PyAirbyte misreads {len(wrong)} of {len(expected)}: {wrong}"
        assert sorted(understood["listed_any"]) == sorted(expected), f"{registry_name}: listing differs"
        installable = sorted(name for name, says in expected.items() if says["language"] in ("python", "manifest-only"))
        assert understood["listed_default"] == (sorted(expected) if understood["docker_installed"] else installable)
        for name, says in expected.items():
            if says["language"] == "java":
                assert "java" in understood["connectors"][name]["install_types"], name
            if says["pypi_package_name"]:
                assert "python" in understood["connectors"][name]["install_types"], name
        languages_seen |= {says["language"] for says in expected.values()}
        print(
            f"PyAirbyte {understood['pyairbyte_version']}: {registry_name} {len(expected) - len(wrong)}/{len(expected)}"
        )
    assert {"java", "python", "manifest-only"} <= languages_seen


def test_seed_format_leaves_pyairbyte_without_the_language_of_java_connectors(gcs_env, monkeypatch, tmp_path):
    """Why §4.1 writes `language`: without it PyAirbyte reads a Java connector's language from
    nowhere (it knows only the python and manifest-only tags)."""
    python = pyairbyte_python()
    files = build_and_download_registries(gcs_env, monkeypatch, tmp_path, "2023", era="2023")
    for registry_name, registry_file in files.items():
        registry = json.loads(registry_file.read_bytes())
        expected, wrong = compare(registry, what_pyairbyte_understands(python, registry_file, tmp_path))
        java = {name for name, says in expected.items() if says["language"] == "java"}
        assert java and set(wrong) == java, registry_name
        print(f"seed format, {registry_name}: {len(expected) - len(wrong)}/{len(expected)} understood")
