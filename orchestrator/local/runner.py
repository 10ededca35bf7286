"""Running the code location locally: the `generate_registry` job against the embedded bucket, and
`dagster dev` supervised so that Ctrl-C / SIGTERM stops all of it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.layout import (
    ALL_METADATA_GLOB,
    METADATA_FOLDER,
    REGISTRY_MANIFEST_PATH,
    REGISTRY_NAMES,
    REPORT_HTML_PATH,
    REPORT_JSON_PATH,
    SECRETS_MASK_PATH,
    light_index_path,
    registry_path,
)
from orchestrator.resources.deployments import DEPLOYMENT_VARIABLE, Deployment
from orchestrator.resources.gcs import GcsBucketManager
from orchestrator.settings import PROJECT_ROOT

DEFAULT_DAGSTER_HOME = PROJECT_ROOT / ".dagster_home"
# What `dagster dev` and `dagster job execute` are pointed at.
CODE_LOCATION_MODULE = "orchestrator.definitions"


def prepare_dagster_home(project_root: Path = PROJECT_ROOT) -> Path:
    """DAGSTER_HOME (default `<project>/.dagster_home`), created, holding the project's dagster.yaml,
    and exported so that this process and its children share one persistent instance."""
    explicit = os.environ.get("DAGSTER_HOME")
    home = Path(explicit or project_root / ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    source = project_root / "dagster.yaml"
    target = home / "dagster.yaml"
    # The default home follows the project's file; a home the user chose keeps its own config.
    if (
        source.is_file()
        and source.resolve() != target.resolve()
        and (not target.exists() or (not explicit and target.read_bytes() != source.read_bytes()))
    ):
        shutil.copyfile(source, target)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


@dataclass(frozen=True)
class JobOutcome:
    job_name: str
    run_id: str
    success: bool
    failed_steps: tuple[str, ...] = ()


def execute_job(job_name: str = "generate_registry", log_level: str = "INFO") -> JobOutcome:
    """Run a job of the code location to completion in this process, recorded in DAGSTER_HOME.

    In-process (`execute_in_process` on the persistent instance) rather than a `dagster job execute`
    subprocess: the run is recorded exactly the same way and shows in `dagster dev`, but no step pays
    for a fresh interpreter importing dagster and the code location, a failure arrives here as a
    result we can report, and the local resources see this process's environment (emulator
    address, buckets). Like `dagster job execute`, it does not pass through the run queue."""
    from dagster import DagsterInstance

    from orchestrator.definitions import build_definitions
    from orchestrator.resources.deployments import local_resources

    prepare_dagster_home()
    job = build_definitions(local_resources(os.environ)).resolve_job_def(job_name)
    with DagsterInstance.get() as instance:
        # INFO keeps the assets' own messages on the console, not every step event.
        run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
        result = job.execute_in_process(run_config=run_config, instance=instance, raise_on_error=False)
        failed = tuple(event.step_key for event in result.all_events if event.is_step_failure and event.step_key)
        return JobOutcome(job_name=job_name, run_id=result.run_id, success=result.success, failed_steps=failed)


@dataclass(frozen=True)
class RegistryFile:
    registry: str
    path: str
    gs_url: str
    public_url: str
    sources: int
    destinations: int


@dataclass(frozen=True)
class BucketSummary:
    registries: tuple[RegistryFile, ...]
    other_files: tuple[tuple[str, str, str], ...]  # (path, gs url, public url) of the mask and reports
    metadata_files: int
    invalid_files: tuple[str, ...] = field(default_factory=tuple)  # one problem line each


def summarize_bucket(manager: GcsBucketManager) -> BucketSummary:
    """What the registry job left in the bucket: the registries with their counts, the secrets mask
    and reports, and which metadata files are invalid (as the run recorded them in its manifest)."""
    from orchestrator.resources.state import read_entry_manifest

    def gs(path: str) -> str:
        return f"gs://{manager.bucket_name}/{path}"

    registries = []
    for name in REGISTRY_NAMES:
        path = registry_path(name)
        found = manager.read(path)
        if found is None:
            continue
        registry = json.loads(found[0])
        registries.append(
            RegistryFile(
                name,
                path,
                gs(path),
                manager.public_url(path),
                len(registry.get("sources", [])),
                len(registry.get("destinations", [])),
            )
        )
    others = []
    published_beside = (*(light_index_path(name) for name in REGISTRY_NAMES), REGISTRY_MANIFEST_PATH)
    for path in (SECRETS_MASK_PATH, *published_beside, REPORT_HTML_PATH, REPORT_JSON_PATH):
        if manager.generation_of(path):
            others.append((path, gs(path), manager.public_url(path)))

    metadata_paths = [blob.name for blob in manager.list_blobs(f"{METADATA_FOLDER}/", ALL_METADATA_GLOB)]
    # The run already validated every file; reading its manifest avoids downloading the bucket again.
    manifest, _ = read_entry_manifest(manager)
    problems = [
        problem
        for path in metadata_paths
        if (record := manifest.files.get(path)) and not record.valid
        for problem in record.problems
    ]
    return BucketSummary(tuple(registries), tuple(others), len(metadata_paths), tuple(problems))


# ---------------------------------------------------------------------------------------------
# dagster dev


def dagster_dev_command(port: int, host: str, extra: Sequence[str] = ()) -> list[str]:
    # The venv's own interpreter: the same dagster and the same orchestrator package as this command.
    return [sys.executable, "-m", "dagster", "dev", "-m", CODE_LOCATION_MODULE, "-p", str(port), "-h", host, *extra]


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_process_group(process: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM the whole group (dagster dev, its webserver, daemon and code servers), SIGKILL what is
    left after `timeout`, and wait for the group to be empty."""
    group = process.pid  # started with start_new_session: it leads its own group
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if process.poll() is not None and not _group_alive(group):
                return
            time.sleep(0.1)
    process.wait(timeout=5)


def supervise_dagster_dev(
    port: int = 3000,
    host: str = "127.0.0.1",
    extra: Sequence[str] = (),
    on_exit: Callable[[], None] | None = None,
    shutdown_timeout: float = 30.0,
    echo: Callable[[str], None] = print,
) -> int:
    """Start `dagster dev -m orchestrator.definitions` in its own process group and wait. SIGINT/SIGTERM to this
    process stop the group (signalling only `dagster dev` itself proved unreliable: started in the
    background it ignored SIGTERM), then `on_exit` runs (stopping the emulator). Returns an exit code."""
    home = prepare_dagster_home()
    received: list[int] = []

    def request_stop(signum, _frame) -> None:
        received.append(signum)

    # Handlers first: a Ctrl-C arriving while dagster dev starts must not orphan its process group.
    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    process: subprocess.Popen | None = None
    try:
        process = subprocess.Popen(
            dagster_dev_command(port, host, extra),
            cwd=PROJECT_ROOT,
            env={**os.environ, "DAGSTER_HOME": str(home), DEPLOYMENT_VARIABLE: Deployment.local.value},
            start_new_session=True,
        )
        echo(f"dagster dev (pid {process.pid}) starting: UI at http://{host}:{port} - Ctrl-C stops it and the emulator")
        while process.poll() is None and not received:
            time.sleep(0.2)
    finally:
        if received:
            echo(f"received {signal.Signals(received[0]).name}: stopping dagster dev and its process group")
        if process is not None:
            stop_process_group(process, shutdown_timeout)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if on_exit is not None:
            on_exit()
    return 0 if received or process is None else (process.returncode or 0)
