"""Benchmark of the registry build at production scale, on a private local GCS emulator.

    .venv/bin/python bench/run_bench.py [--sizes 1200,6000,12000] [--repeat 3] [--quick] [--profile]

Every measured scenario runs in its own child process (this script re-invoked with `--child`), so
that each one starts cold in Python terms and its peak memory can be read on its own: VmHWM (peak
resident set) from /proc/<pid>/status, reported by a Python child at its end and polled by the
parent for every process of the child's tree. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import platform
import pstats
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS_DIR = ROOT / "bench" / "results"
VERSIONS = 20
SEED = 7
SPEC_BUCKET = "bench-specs"
WRITE_FLOOR_BUCKET = "bench-write-floor"


# ---------------------------------------------------------------------------------------------
# Helpers shared by the parent and the children


def bucket_manager(emulator_url: str, bucket: str):
    from orchestrator.resources.gcs import GcsBucketManager, GcsClient

    return GcsBucketManager(gcp_gcs_client=GcsClient(emulator_host=emulator_url), bucket_name=bucket, cdn_base_url="")


def plain_storage_client(emulator_url: str):
    """A bare google-cloud-storage client on the emulator, as the floors use it (no project resource)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(
        project="bench", credentials=AnonymousCredentials(), client_options={"api_endpoint": emulator_url}
    )


def metadata_bucket_name(size: int) -> str:
    return f"bench-metadata-{size}"


def child_environment(emulator_url: str, size: int, dagster_home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ORCHESTRATOR_DEPLOYMENT="local",
        STORAGE_EMULATOR_HOST=emulator_url,
        METADATA_BUCKET=metadata_bucket_name(size),
        SPEC_CACHE_BUCKET=SPEC_BUCKET,
        METADATA_CDN_BASE_URL="",
        DAGSTER_HOME=str(dagster_home),
        PYTHONUNBUFFERED="1",
        # Compiled bytecode as an installed deployment has it, kept out of the venv: with
        # PYTHONDONTWRITEBYTECODE every child compiled Dagster from source (seconds per process).
        PYTHONPYCACHEPREFIX=str(dagster_home.parent / "pycache"),
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("GCS_CREDENTIALS", None)
    env.pop("DAGSTER_EXECUTOR", None)
    return env


def upload_new_version(metadata, specs, repository: str, serial: int) -> str:
    """What `metadata_service upload` does for a new patch release of `repository`: the spec-cache
    entries of the new image first, then metadata/<repo>/<new tag>/ and latest/. Returns the tag."""
    import yaml

    latest = f"metadata/{repository}/latest"
    raw, _ = metadata.read(f"{latest}/metadata.yaml")
    document = yaml.safe_load(raw)
    data = document["data"]
    old_tag = str(data["dockerImageTag"])
    major, minor, patch = (int(part) for part in old_tag.split("-")[0].split("."))
    new_tag = f"{major}.{minor}.{patch + 1000 + serial}"
    data["dockerImageTag"] = new_tag
    repositories = {repository}
    for override in (data.get("registryOverrides") or data.get("registries") or {}).values():
        if isinstance(override, dict) and override.get("dockerRepository"):
            repositories.add(override["dockerRepository"])
    for image in sorted(repositories):
        for blob in specs.list_blobs(f"specs/{image}/{old_tag}/"):
            spec, _ = specs.read(blob.name)
            specs.write(blob.name.replace(f"/{old_tag}/", f"/{new_tag}/"), spec)
    payload = yaml.safe_dump(document, sort_keys=False).encode("utf-8")
    icon = metadata.read(f"{latest}/icon.svg")
    for folder in (f"metadata/{repository}/{new_tag}", latest):
        if icon is not None and folder != latest:
            metadata.write(f"{folder}/icon.svg", icon[0])
        metadata.write(f"{folder}/metadata.yaml", payload)
    return new_tag


def proc_status_mb(pid: int | str, field: str) -> float | None:
    """A memory field of /proc/<pid>/status (VmHWM: peak resident set; VmRSS: current), in MiB;
    None when the process or the field is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return None


def peak_rss_self_mb() -> float:
    """VmHWM of this process (peak resident set), in MiB."""
    peak = proc_status_mb("self", "VmHWM")
    if peak is not None:
        return peak
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class ResidentSampler(threading.Thread):
    """Samples this process's resident set (VmRSS) every 20 ms, to tell which step holds the peak."""

    def __init__(self):
        super().__init__(daemon=True)
        self.samples: list[tuple[float, float]] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.02):
            rss = proc_status_mb("self", "VmRSS")
            if rss is None:
                return
            self.samples.append((time.time(), rss))

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def peak_between(self, start: float, end: float) -> float | None:
        inside = [rss for when, rss in self.samples if start <= when <= end]
        return round(max(inside), 1) if inside else None


# ---------------------------------------------------------------------------------------------
# Child scenarios (run in a fresh process each)


def scenario_floor(args: dict) -> dict:
    """Plain google-cloud-storage + a thread pool: list, download and parse every metadata file and
    every spec the entries need. No Dagster, no writes. The least any implementation must do."""
    import google.cloud.storage  # noqa: F401  imported before the clock, as the floor always was
    import yaml

    Loader: type[yaml.CSafeLoader] | type[yaml.SafeLoader]
    try:
        from yaml import CSafeLoader as Loader
    except ImportError:  # pragma: no cover
        from yaml import SafeLoader as Loader

    workers = args.get("workers", 16)
    started = time.perf_counter()
    client = plain_storage_client(args["emulator_url"])
    metadata_bucket = client.bucket(args["metadata_bucket"])
    spec_bucket = client.bucket(args["spec_bucket"])
    names = [
        blob.name
        for blob in client.list_blobs(args["metadata_bucket"], prefix="metadata/")
        if blob.name.endswith("/metadata.yaml")
    ]
    spec_names = {blob.name for blob in client.list_blobs(args["spec_bucket"], prefix="specs/")}
    listed = time.perf_counter()

    def fetch_metadata(name: str) -> dict:
        return yaml.load(metadata_bucket.blob(name).download_as_bytes(), Loader=Loader)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        documents = list(pool.map(fetch_metadata, names))
    needed: set[str] = set()
    for document in documents:
        data = document["data"]
        overrides = data.get("registryOverrides") or data.get("registries") or {}
        for registry in ("oss", "cloud"):
            override = overrides.get(registry) or {}
            if override.get("enabled") is not True:
                continue
            repository = override.get("dockerRepository") or data["dockerRepository"]
            tag = str(override.get("dockerImageTag") or data["dockerImageTag"])
            cloud_path = f"specs/{repository}/{tag}/spec.cloud.json"
            needed.add(
                cloud_path
                if registry == "cloud" and cloud_path in spec_names
                else f"specs/{repository}/{tag}/spec.json"
            )
    downloaded = time.perf_counter()

    def fetch_spec(name: str) -> int:
        return len(json.loads(spec_bucket.blob(name).download_as_bytes()))  # parsed, then let go

    with ThreadPoolExecutor(max_workers=workers) as pool:
        specs = list(pool.map(fetch_spec, sorted(needed)))
    finished = time.perf_counter()
    return {
        "seconds": finished - started,
        "listing_seconds": listed - started,
        "metadata_seconds": downloaded - listed,
        "spec_seconds": finished - downloaded,
        "metadata_files": len(names),
        "specs": len(specs),
        "workers": workers,
    }


def scenario_entry_write_floor(args: dict) -> dict:
    """What the cold build writes beyond the floor, alone: as many objects as it wrote entries
    (`oss.json`/`cloud.json`), each of an entry's size, with plain google-cloud-storage calls and the
    floor's thread pool. Into a bucket of their own (`bench-write-floor`), so that no listing of the
    metadata bucket grows; the sizes are listed and the bytes made before the clock starts."""
    client = plain_storage_client(args["emulator_url"])
    entries = [
        (blob.name, blob.size)
        for blob in client.list_blobs(args["metadata_bucket"], prefix="metadata/")
        if blob.name.endswith(("/oss.json", "/cloud.json"))
    ]
    sample = client.bucket(args["metadata_bucket"]).blob(entries[0][0]).download_as_bytes()
    longest = max(size for _, size in entries)
    filler = sample * (longest // len(sample) + 1)
    target = client.bucket(WRITE_FLOOR_BUCKET)

    def write(item: tuple[str, int]) -> int:
        path, size = item
        target.blob(path).upload_from_string(filler[:size], content_type="application/json")
        return size

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.get("workers", 16)) as pool:
        written = sum(pool.map(write, entries))
    return {"seconds": time.perf_counter() - started, "writes": len(entries), "written_bytes": written}


def generate_registry_job():
    """The job as a run worker loads it (`build_reconstructable_job` calls this by name)."""
    from orchestrator.definitions import defs

    return defs().resolve_job_def("generate_registry")


def dagster_floor_job():
    """`generate_registry`'s asset graph with nothing to do: every asset and check of the code
    location twinned (same keys, dependencies, groups, checks and their blocking), each reporting
    its materialisation or a passed check and nothing else, in the same job, executor and instance
    as the real run. Its run time is Dagster's own work on the graph: events, step planning, the
    run's storage, with no output to store."""
    from dagster import (
        AssetCheckResult,
        AssetsDefinition,
        Definitions,
        MaterializeResult,
        multi_asset,
        multi_asset_check,
    )

    from orchestrator.definitions import defs
    from orchestrator.jobs import generate_registry

    real = defs()

    def passed(checks: list) -> Iterator[AssetCheckResult]:
        for check in checks:
            yield AssetCheckResult(asset_key=check.asset_key, check_name=check.name, passed=True)

    def twin_assets(assets_def: AssetsDefinition) -> AssetsDefinition:
        specs, checks = list(assets_def.specs), list(assets_def.check_specs)

        @multi_asset(specs=specs, check_specs=checks, name=assets_def.node_def.name)
        def twin():
            for spec in specs:
                yield MaterializeResult(asset_key=spec.key)
            yield from passed(checks)

        return twin

    def twin_checks(checks_def: AssetsDefinition) -> AssetsDefinition:
        checks = list(checks_def.check_specs)

        @multi_asset_check(specs=checks, name=checks_def.node_def.name)
        def twin():
            yield from passed(checks)

        return twin

    assets = [
        twin_assets(item) for item in real.assets or () if isinstance(item, AssetsDefinition) and item.is_executable
    ]
    checks = [twin_checks(item) for item in real.asset_checks or ()]
    twin_defs = Definitions(assets=assets, asset_checks=checks, jobs=[generate_registry], executor=real.executor)
    return twin_defs.resolve_job_def("generate_registry")


def _run_generate_registry(profile_path: str | None, request=None, job_name: str = "generate_registry_job") -> dict:
    """`generate_registry` in this process as a run worker executes a run (`execute_job`; not
    `execute_in_process`, which keeps every step's output in memory to the end of the run for
    `output_for_node`); with `request` (a sensor's RunRequest), with its config and tags."""
    imported = time.perf_counter()
    from dagster import DagsterInstance, build_reconstructable_job, execute_job

    job = build_reconstructable_job("bench.run_bench", job_name)
    job.get_definition()  # the definitions are loaded before the clock starts, as in a run worker
    import_seconds = time.perf_counter() - imported
    profiler = cProfile.Profile() if profile_path else None
    run_config = request.run_config if request is not None else None
    tags = request.tags if request is not None else None
    with DagsterInstance.ephemeral() as instance:  # created before the clock starts: not the job's time
        sampler = ResidentSampler()
        sampler.start()
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        result = execute_job(job, instance, run_config=run_config, tags=tags, raise_on_error=False)
        seconds = time.perf_counter() - started
        if profiler:
            profiler.disable()
            assert profile_path  # a profiler exists only when a path was given
            profiler.dump_stats(profile_path)
        sampler.stop()
        steps, step_peak_rss_mb, step_started = {}, {}, {}
        for record in instance.all_logs(result.run_id):
            event = record.dagster_event
            if event is None or not event.step_key:
                continue
            if event.event_type_value == "STEP_START":
                step_started[event.step_key] = record.timestamp
            if event.event_type_value == "STEP_SUCCESS":
                steps[event.step_key] = round(event.step_success_data.duration_ms / 1000, 3)
            if event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in step_started:
                step_peak_rss_mb[event.step_key] = sampler.peak_between(step_started[event.step_key], record.timestamp)
        failed = [event.message for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
    return {
        "seconds": seconds,
        "import_seconds": import_seconds,
        "success": result.success,
        "steps": steps,
        "step_peak_rss_mb": step_peak_rss_mb,
        "failures": failed[:3],
    }


def scenario_build(args: dict) -> dict:
    return _run_generate_registry(args.get("profile"))


def scenario_dagster_floor(args: dict) -> dict:
    return _run_generate_registry(None, job_name="dagster_floor_job")


def sensor_resources(resources: dict) -> dict:
    """The resources the daemon builds for the metadata sensor's tick: only those it asks for (the
    daemon never builds a code location's other resources for a sensor; building all 15 added
    0.15-0.25 s to every tick measured here)."""
    from orchestrator.sensors import metadata as sensor_module

    required = sensor_module.generate_registry_on_new_latest_metadata_file_blobs.required_resource_keys
    return {key: value for key, value in resources.items() if key in required}


def primed_cursor(resources: dict, instance, defn) -> str:
    """The metadata sensor's cursor as it stands once the run for the current bucket has succeeded:
    every file acknowledged, the spec watch the run wrote already read."""
    from dagster import build_sensor_context

    from orchestrator.logic.spec_watch import watch_summary
    from orchestrator.resources.state import read_spec_watch
    from orchestrator.sensors import metadata as sensor_module

    with build_sensor_context(resources=resources, instance=instance, definitions=defn) as context:
        listing = context.resources.metadata_file_and_yank_marker_blobs.list()
        watch, watch_generation = read_spec_watch(context.resources.gcs_bucket_manager)
    return sensor_module.encode_cursor(
        sensor_module.MetadataCursor(sensor_module.listing_state(listing), None, watch_summary(watch), watch_generation)
    )


def rewrite_one_used_spec(metadata, specs, repository: str) -> str:
    """A new generation of the spec the latest/ version of `repository` was built from (same bytes:
    a re-upload), as when a spec is corrected in the cache. Returns its path."""
    import yaml

    raw, _ = metadata.read(f"metadata/{repository}/latest/metadata.yaml")
    tag = str(yaml.safe_load(raw)["data"]["dockerImageTag"])
    path = f"specs/{repository}/{tag}/spec.json"
    spec, _ = specs.read(path)
    specs.write(path, spec)
    return path


def plain_listing_seconds(emulator_url: str, bucket: str, prefix: str) -> tuple[float, int]:
    """One plain HTTP GET of a listing, its JSON parsed: the floor of a listing request. Measured
    in the tick's process with what it holds frozen, as the tick runs: otherwise every full
    collection the parsed reply triggers walks Dagster's and the code location's objects, a cost of
    this process and not of the request."""
    import requests

    from orchestrator.heap import objects_held_before_frozen

    params: dict[str, str | int] = {"prefix": prefix, "maxResults": 100_000, "fields": "items(name,generation)"}

    @objects_held_before_frozen
    def listed() -> tuple[float, int]:
        started = time.perf_counter()
        response = requests.get(f"{emulator_url}/storage/v1/b/{bucket}/o", params=params, timeout=120)
        response.raise_for_status()
        items = response.json().get("items", [])
        return time.perf_counter() - started, len(items)

    return listed()


def scenario_sensor_run(args: dict) -> dict:
    """What production does after one upload: the sensor, its cursor as after the last successful
    run, sees the upload and requests a run naming the changed files; that run is timed."""
    from dagster import DagsterInstance, build_sensor_context

    from orchestrator.definitions import defs
    from orchestrator.resources.deployments import local_resources
    from orchestrator.sensors import metadata as sensor_module

    defn = defs()
    resources = sensor_resources(local_resources(os.environ))
    with DagsterInstance.ephemeral() as instance:
        primed = primed_cursor(resources, instance, defn)
        metadata, specs = (
            bucket_manager(args["emulator_url"], args["metadata_bucket"]),
            bucket_manager(args["emulator_url"], args["spec_bucket"]),
        )
        upload_new_version(metadata, specs, args["repository"], args["serial"])
        with build_sensor_context(cursor=primed, resources=resources, instance=instance, definitions=defn) as context:
            ticked = sensor_module.generate_registry_on_new_latest_metadata_file_blobs.evaluate_tick(context)
    run_requests = ticked.run_requests or []
    if len(run_requests) != 1:
        raise RuntimeError(f"the sensor did not request one run after the upload: {ticked.skip_message}")
    request = run_requests[0]
    named = request.run_config.get("ops", {}).get("metadata_definitions", {}).get("config", {}).get("changed_files")
    return {**_run_generate_registry(args.get("profile"), request), "named_files": named}


def scenario_sensor(args: dict) -> dict:
    """One tick of the metadata sensor with a primed cursor: with no change, then with one upload,
    then with one spec rewritten in the cache (the entries built from it are rebuilt). Each tick
    lists the metadata files, asks for the spec watch's generation and lists the spec cache."""
    from dagster import DagsterInstance, build_sensor_context

    from orchestrator.definitions import defs
    from orchestrator.heap import objects_held_before_frozen
    from orchestrator.resources.deployments import local_resources
    from orchestrator.sensors import metadata as sensor_module

    defn = defs()
    resources = sensor_resources(local_resources(os.environ))
    metadata = bucket_manager(args["emulator_url"], args["metadata_bucket"])
    specs = bucket_manager(args["emulator_url"], args["spec_bucket"])
    sensor_def = sensor_module.generate_registry_on_new_latest_metadata_file_blobs

    with DagsterInstance.ephemeral() as instance:

        def tick(cursor: str | None):
            with build_sensor_context(
                cursor=cursor, resources=resources, instance=instance, definitions=defn
            ) as context:
                started = time.perf_counter()
                data = sensor_def.evaluate_tick(context)
                return time.perf_counter() - started, data

        first_seconds, _ = tick(None)  # empty cursor: everything is new
        primed = primed_cursor(resources, instance, defn)
        no_change_seconds, unchanged = tick(primed)
        upload_new_version(metadata, specs, args["repository"], args["serial"])
        one_change_seconds, changed = tick(unchanged.cursor or primed)

        # The spec-watching part alone, on the primed cursor: its share of a no-change tick.
        with build_sensor_context(resources=resources, instance=instance, definitions=defn) as context:
            source = sensor_module.BucketSpecWatch(context.resources.gcs_bucket_manager, context.resources.spec_cache)
            check_specs = objects_held_before_frozen(sensor_module.check_specs)  # as within the tick
            started = time.perf_counter()
            watched = check_specs(sensor_module.decode_cursor(primed), source)
            spec_part_seconds = time.perf_counter() - started
        # A spec re-uploaded: the tick after the last run succeeded requests the rebuild.
        after_upload = primed_cursor(resources, instance, defn)
        rewritten = rewrite_one_used_spec(metadata, specs, args["other_repository"])
        spec_change_seconds, respecced = tick(after_upload)
        rebuild = [
            request.run_config.get("ops", {}).get("metadata_definitions", {}).get("config", {}).get("rebuild_files")
            for request in respecced.run_requests or []
        ]
    listing_floor_seconds, listed = plain_listing_seconds(args["emulator_url"], args["metadata_bucket"], "metadata/")
    spec_floor_seconds, spec_objects = plain_listing_seconds(args["emulator_url"], args["spec_bucket"], "specs/")
    return {
        "listing_floor_seconds": listing_floor_seconds,
        "listing_floor_objects": listed,
        "spec_listing_floor_seconds": spec_floor_seconds,
        "spec_listing_floor_objects": spec_objects,
        "first_tick_seconds": first_seconds,
        "cursor_bytes": len(primed),
        "watched_specs": len(watched.watched),
        "no_change_seconds": no_change_seconds,
        "spec_part_seconds": spec_part_seconds,
        "one_change_seconds": one_change_seconds,
        "spec_change_seconds": spec_change_seconds,
        "spec_rewritten": rewritten,
        "rebuild_files": rebuild,
        "runs_requested_no_change": len(unchanged.run_requests or []),
        "runs_requested_one_change": len(changed.run_requests or []),
        "runs_requested_spec_change": len(respecced.run_requests or []),
    }


def scenario_incremental_floor(args: dict) -> dict:
    """The least the incremental run must do after one upload, with plain google-cloud-storage
    calls and no Dagster: read the changed metadata files (the versioned one and `latest/`) and
    their specs, write their entries (oss and cloud of each), write both registries at their
    current size (their exact published bytes) and the entry manifest. The bytes to write are read
    before the clock starts; the writes go to `bench-floor/`, so nothing published changes."""
    import yaml

    from orchestrator.layout import ENTRY_MANIFEST_PATH, registry_path

    client = plain_storage_client(args["emulator_url"])
    bucket = client.bucket(args["metadata_bucket"])
    spec_bucket = client.bucket(args["spec_bucket"])
    metadata, specs = (
        bucket_manager(args["emulator_url"], args["metadata_bucket"]),
        bucket_manager(args["emulator_url"], args["spec_bucket"]),
    )
    tag = upload_new_version(metadata, specs, args["repository"], args["serial"])
    changed = [f"metadata/{args['repository']}/{folder}/metadata.yaml" for folder in (tag, "latest")]
    entries = {
        f"metadata/{args['repository']}/latest/{name}.json": bucket.blob(
            f"metadata/{args['repository']}/latest/{name}.json"
        ).download_as_bytes()
        for name in ("oss", "cloud")
    }
    published = {path: bucket.blob(path).download_as_bytes() for path in (registry_path("oss"), registry_path("cloud"))}
    manifest = bucket.blob(ENTRY_MANIFEST_PATH).download_as_bytes()
    writes: list[tuple[str, bytes]] = [(folder_entry, data) for folder_entry, data in entries.items()]
    writes = [(path.replace("/latest/", f"/{folder}/"), data) for folder in (tag, "latest") for path, data in writes]
    writes += [*published.items(), (ENTRY_MANIFEST_PATH, manifest)]

    def read_metadata(path: str) -> dict:
        return yaml.load(bucket.blob(path).download_as_bytes(), Loader=yaml.CSafeLoader)

    def read_spec(path: str) -> int:
        return len(json.loads(spec_bucket.blob(path).download_as_bytes()))

    def write(item: tuple[str, bytes]) -> int:
        path, data = item
        bucket.blob(f"bench-floor/{path}").upload_from_string(data, content_type="application/json")
        return len(data)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        documents = list(pool.map(read_metadata, changed))
        spec_paths = {
            f"specs/{document['data']['dockerRepository']}/{document['data']['dockerImageTag']}/spec.json"
            for document in documents
        }
        list(pool.map(read_spec, sorted(spec_paths)))
        read = time.perf_counter()
        written = sum(pool.map(write, writes))
    finished = time.perf_counter()
    return {
        "seconds": finished - started,
        "read_seconds": read - started,
        "write_seconds": finished - read,
        "written_bytes": written,
        "writes": len(writes),
    }


SCENARIOS = {
    "floor": scenario_floor,
    "entry_write_floor": scenario_entry_write_floor,
    "dagster_floor": scenario_dagster_floor,
    "build": scenario_build,
    "sensor_run": scenario_sensor_run,
    "incremental_floor": scenario_incremental_floor,
    "sensor": scenario_sensor,
}


def child_main(spec: str) -> None:
    args = json.loads(spec)
    result = SCENARIOS[args["scenario"]](args)
    result["child_vmhwm_mb"] = peak_rss_self_mb()
    print("BENCH-RESULT " + json.dumps(result), flush=True)


# ---------------------------------------------------------------------------------------------
# Parent: set-up, measurement loop, report


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _process_tree(pid: int) -> list[int]:
    pids, index = [pid], 0
    while index < len(pids):
        for children in Path(f"/proc/{pids[index]}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                pids.extend(int(child) for child in children.read_text().split())
        index += 1
    return pids


class TreePeakMonitor(threading.Thread):
    """Polls VmHWM (a high-water mark, so a late sample still sees an earlier peak) of every process
    in the child's tree; the figure is the largest single process, not a sum."""

    def __init__(self, pid: int, interval: float = 0.05):
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak_mb = pid, interval, 0.0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for pid in _process_tree(self.pid):
                self.peak_mb = max(self.peak_mb, proc_status_mb(pid, "VmHWM") or 0.0)
            self.done.wait(self.interval)


def run_child(command: list[str], env: dict, timeout: float = 3600) -> tuple[dict, float, float]:
    """(result printed by the child or {}, wall seconds, peak RSS MiB of the child's process tree).

    Not ru_maxrss from wait4(): a child forked from this (large) process starts with this process's
    high-water mark, which exec() carries over. VmHWM is per address space: a Python child reports
    its own at its very end (exact); the tree is also polled while it runs (covers non-Python children)."""
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
        monitor = TreePeakMonitor(process.pid)
        monitor.start()
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        try:
            process.wait()
        except BaseException:
            process.kill()
            process.wait()
            raise
        finally:
            timer.cancel()
            monitor.done.set()
            monitor.join()
        wall = time.perf_counter() - started
        output.seek(0)
        text = output.read().decode(errors="replace")
    result: dict = {}
    for line in text.splitlines():
        if line.startswith("BENCH-RESULT "):
            result = json.loads(line[len("BENCH-RESULT ") :])
    if process.returncode != 0 or (command[-2] == "--child" and not result):
        tail = "\n".join(text.splitlines()[-25:])
        raise RuntimeError(f"{' '.join(command[:6])}... exited {process.returncode}:\n{tail}")
    return result, wall, max(monitor.peak_mb, result.get("child_vmhwm_mb", 0.0))


def run_scenario(args: dict, env: dict) -> tuple[dict, float, float]:
    return run_child([sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(args)], env)


def published_sizes(metadata) -> dict[str, int]:
    """Bytes of each registry and its light index, and of all the per-connector documents, as published."""
    sizes: dict[str, int] = {}
    for blob in metadata.list_blobs("registries/v0/"):
        if "/connectors/" in blob.name:
            kind = "connector_documents_" + blob.name.split("/")[3]
            sizes[kind] = sizes.get(kind, 0) + blob.size
            sizes[kind + "_count"] = sizes.get(kind + "_count", 0) + 1
        else:
            sizes[blob.name.removeprefix("registries/v0/")] = blob.size
    return dict(sorted(sizes.items()))


def reset_to_cold(metadata) -> int:
    """Remove what a build wrote: state, registries, and every oss.json / cloud.json entry."""
    paths = [blob.name for blob in metadata.list_blobs("orchestrator_state/")]
    paths += [blob.name for blob in metadata.list_blobs("registries/")]
    paths += [
        blob.name for blob in metadata.list_blobs("metadata/") if blob.name.endswith(("/oss.json", "/cloud.json"))
    ]
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(metadata.delete, paths))
    return len(paths)


class Progress:
    def __init__(self, label: str):
        self.label = label
        self.last = 0.0

    def __call__(self, bucket: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - self.last > 3:
            self.last = now
            log(f"  uploading {self.label} to {bucket}: {done}/{total} ({100 * done / max(total, 1):.0f}%)")


def machine_info() -> dict:
    info: dict[str, Any] = {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
        info["cpu_model"] = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        info["memory_gib"] = round(
            int(next(line.split()[1] for line in meminfo if line.startswith("MemTotal"))) / 1024**2, 1
        )
    except (OSError, StopIteration):
        pass
    for package in ("dagster", "google-cloud-storage", "pyyaml", "pydantic"):
        try:
            from importlib.metadata import version

            info[package] = version(package)
        except Exception:  # noqa: BLE001 - informative only
            pass
    with contextlib.suppress(OSError):
        info["git_commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    return info


def median(values: list[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def write_profile_summary(profile: Path) -> None:
    """The profile's top functions, by cumulative and by own time, beside it as `.txt`."""
    stream = io.StringIO()
    stats = pstats.Stats(str(profile), stream=stream)
    stats.sort_stats("cumulative").print_stats(60)
    stats.sort_stats("tottime").print_stats(40)
    profile.with_suffix(".txt").write_text(stream.getvalue())


def measure_size(size: int, sample, options, emulator_url: str, work_dir: Path) -> dict:
    from orchestrator.local.load import upload_objects

    connectors = size // VERSIONS
    chosen = sample.connectors[:connectors]
    prefixes = tuple(f"metadata/{connector.docker_repository}/" for connector in chosen)
    objects = {path: data for path, data in sample.metadata_objects.items() if path.startswith(prefixes)}
    metadata = bucket_manager(emulator_url, metadata_bucket_name(size))
    specs = bucket_manager(emulator_url, SPEC_BUCKET)
    metadata.ensure_bucket()
    started = time.perf_counter()
    upload_objects(metadata, objects, workers=options.upload_workers, progress=Progress(f"{size} metadata files"))
    log(
        f"size {size}: {connectors} connectors, {len(objects)} objects uploaded in {time.perf_counter() - started:.1f}s"
    )

    dagster_home = work_dir / f"dagster_home_{size}"
    dagster_home.mkdir(exist_ok=True)
    env = child_environment(emulator_url, size, dagster_home)
    common = {"emulator_url": emulator_url, "metadata_bucket": metadata_bucket_name(size), "spec_bucket": SPEC_BUCKET}
    figures: dict[str, Any] = {"size": size, "connectors": connectors, "metadata_objects": len(objects), "runs": {}}
    runs = figures["runs"]

    def record(name: str, result: dict, wall: float, peak: float) -> None:
        runs.setdefault(name, []).append({**result, "wall_seconds": wall, "peak_rss_mb": peak})
        shown = result.get("seconds", result.get("no_change_seconds"))
        log(f"  {name}: {shown if shown is None else round(shown, 2)}s (process {wall:.1f}s, peak RSS {peak:.0f} MiB)")

    for _ in range(options.repeat):
        record("floor", *run_scenario({**common, "scenario": "floor", "workers": options.floor_workers}, env))

    for _ in range(options.repeat):
        reset_to_cold(metadata)
        result = run_scenario({**common, "scenario": "build"}, env)
        if not result[0].get("success"):
            raise RuntimeError(f"cold build failed: {result[0].get('failures')}")
        record("cold_in_process", *result)

    figures["published_sizes"] = published_sizes(metadata)
    log(f"  published: {figures['published_sizes']}")
    # The entries the cold build wrote, written again alone: what its writes cost beyond the floor.
    bucket_manager(emulator_url, WRITE_FLOOR_BUCKET).ensure_bucket()
    for _ in range(options.repeat):
        scenario = {**common, "scenario": "entry_write_floor", "workers": options.floor_workers}
        record("entry_write_floor", *run_scenario(scenario, env))

    if options.profile and size == max(options.size_list):
        # An extra, unrecorded cold build under cProfile (the profiler slows it down).
        reset_to_cold(metadata)
        profile = RESULTS_DIR / f"profile-cold-{size}.pstats"
        profiled, wall, peak = run_scenario({**common, "scenario": "build", "profile": str(profile)}, env)
        write_profile_summary(profile)
        log(f"  profiled cold build: {profiled['seconds']:.1f}s under cProfile; {profile.relative_to(ROOT)} (+ .txt)")

    if not options.skip_cli:
        reset_to_cold(metadata)
        command = [
            str(Path(sys.executable).parent / "dagster"),
            "job",
            "execute",
            "-m",
            "orchestrator.definitions",
            "-j",
            "generate_registry",
        ]
        _, wall, peak = run_child(command, env)
        record("cold_cli", {"seconds": wall}, wall, peak)
    else:
        reset_to_cold(metadata)
        run_scenario({**common, "scenario": "build"}, env)  # the incremental runs need a built bucket

    # One connector in the middle of the bucket gets a new patch release before each run.
    candidates = [connector for connector in chosen if not any("-rc." in version for version in connector.versions)]
    repository = candidates[len(candidates) // 2].docker_repository
    serial = 0
    for _ in range(options.repeat):
        serial += 1
        result = run_scenario({**common, "scenario": "sensor_run", "repository": repository, "serial": serial}, env)
        if not result[0].get("success"):
            raise RuntimeError(f"incremental build (sensor-requested) failed: {result[0].get('failures')}")
        record("incremental", *result)
    if options.profile and size == max(options.size_list):
        serial += 1
        profile = RESULTS_DIR / f"profile-incremental-{size}.pstats"
        scenario = {"scenario": "sensor_run", "repository": repository, "serial": serial, "profile": str(profile)}
        profiled, _, _ = run_scenario({**common, **scenario}, env)
        write_profile_summary(profile)
        log(f"  profiled incremental run: {profiled['seconds']:.1f}s under cProfile; {profile.relative_to(ROOT)}")
    # Its floor, in the same conditions: the same kind of upload, then only the reads and writes it needs.
    for _ in range(options.repeat):
        serial += 1
        scenario = {"scenario": "incremental_floor", "repository": repository, "serial": serial}
        record("incremental_floor", *run_scenario({**common, **scenario}, env))
    # Dagster's own work on the same graph with nothing to do (no bucket), the other part of the incremental run.
    for _ in range(options.repeat):
        record("dagster_floor", *run_scenario({**common, "scenario": "dagster_floor"}, env))
    # The same change, but the run launched by hand: it lists the bucket to find what changed.
    for _ in range(options.repeat):
        serial += 1
        upload_new_version(metadata, specs, repository, serial)
        result = run_scenario({**common, "scenario": "build"}, env)
        if not result[0].get("success"):
            raise RuntimeError(f"incremental build (listing) failed: {result[0].get('failures')}")
        record("incremental_listing", *result)

    # The sensor ticks against the built bucket; its one-change tick uploads one more version, its
    # spec-change tick re-uploads the spec of another connector.
    other = candidates[len(candidates) // 3].docker_repository
    for _ in range(options.repeat):
        serial += 1
        scenario = {"scenario": "sensor", "repository": repository, "other_repository": other, "serial": serial}
        record("sensor_tick", *run_scenario({**common, **scenario}, env))
    figures["summary"] = summarise(runs)
    return figures


def summarise(runs: dict) -> dict:
    def pick(name: str, key: str = "seconds") -> float | None:
        return median([run.get(key) for run in runs.get(name, [])])

    floor = pick("floor")
    summary: dict[str, Any] = {
        "floor_s": floor,
        "cold_in_process_s": pick("cold_in_process"),
        "cold_cli_s": pick("cold_cli"),
        "incremental_s": pick("incremental"),
        "incremental_listing_s": pick("incremental_listing"),
        "incremental_floor_s": pick("incremental_floor"),
        "entry_writes_s": pick("entry_write_floor"),
        "dagster_floor_s": pick("dagster_floor"),
        "sensor_no_change_s": pick("sensor_tick", "no_change_seconds"),
        "sensor_one_change_s": pick("sensor_tick", "one_change_seconds"),
        "sensor_spec_change_s": pick("sensor_tick", "spec_change_seconds"),
        "sensor_spec_part_s": pick("sensor_tick", "spec_part_seconds"),
        "listing_floor_s": pick("sensor_tick", "listing_floor_seconds"),
        "spec_listing_floor_s": pick("sensor_tick", "spec_listing_floor_seconds"),
        "peak_rss_mb": {name: max(run["peak_rss_mb"] for run in items) for name, items in runs.items()},
    }
    for key in ("cold_in_process_s", "cold_cli_s", "incremental_s", "incremental_listing_s"):
        if floor and summary[key] is not None:
            summary[key.replace("_s", "_over_floor")] = summary[key] / floor
    # The cold build against the floor plus its own entry writes done alone: what is left above both.
    if floor and summary["entry_writes_s"] and summary["cold_in_process_s"] is not None:
        summary["cold_over_floor_and_writes"] = summary["cold_in_process_s"] / (floor + summary["entry_writes_s"])
    if summary["incremental_floor_s"] and summary["incremental_s"] is not None:
        summary["incremental_over_own_floor"] = summary["incremental_s"] / summary["incremental_floor_s"]
        if summary["dagster_floor_s"]:
            both = summary["incremental_floor_s"] + summary["dagster_floor_s"]
            summary["incremental_over_floor_and_dagster"] = summary["incremental_s"] / both
    # A tick's floor is its two listings, the metadata files' and the spec cache's.
    tick_floor = (summary["listing_floor_s"] or 0) + (summary["spec_listing_floor_s"] or 0)
    if tick_floor and summary["sensor_no_change_s"] is not None:
        summary["sensor_no_change_over_listings"] = summary["sensor_no_change_s"] / tick_floor
    return summary


def print_table(results: list[dict]) -> None:
    columns = [
        ("files", lambda r: f"{r['size']}"),
        ("floor s", lambda s: fmt(s["floor_s"])),
        ("cold s", lambda s: fmt(s["cold_in_process_s"])),
        ("cold/floor", lambda s: fmt(s.get("cold_in_process_over_floor"), "x")),
        ("entry writes s", lambda s: fmt(s.get("entry_writes_s"))),
        ("cold/(floor+writes)", lambda s: fmt(s.get("cold_over_floor_and_writes"), "x")),
        ("cli s", lambda s: fmt(s["cold_cli_s"])),
        ("cli/floor", lambda s: fmt(s.get("cold_cli_over_floor"), "x")),
        ("incr s", lambda s: fmt(s["incremental_s"])),
        ("incr floor s", lambda s: fmt(s.get("incremental_floor_s"))),
        ("incr/floor", lambda s: fmt(s.get("incremental_over_own_floor"), "x")),
        ("dagster floor s", lambda s: fmt(s.get("dagster_floor_s"))),
        ("incr/(floor+dagster)", lambda s: fmt(s.get("incremental_over_floor_and_dagster"), "x")),
        ("incr listing s", lambda s: fmt(s["incremental_listing_s"])),
        ("tick s", lambda s: fmt(s["sensor_no_change_s"])),
        ("tick+1 s", lambda s: fmt(s["sensor_one_change_s"])),
        ("tick+spec s", lambda s: fmt(s.get("sensor_spec_change_s"))),
        ("spec part s", lambda s: fmt(s.get("sensor_spec_part_s"))),
        ("listing s", lambda s: fmt(s.get("listing_floor_s"))),
        ("spec listing s", lambda s: fmt(s.get("spec_listing_floor_s"))),
        ("tick/listings", lambda s: fmt(s.get("sensor_no_change_over_listings"), "x")),
        (
            "peak MiB cold/cli/incr/incr listing/tick/floor",
            lambda s: "/".join(
                fmt(s["peak_rss_mb"].get(name), digits=0)
                for name in (
                    "cold_in_process",
                    "cold_cli",
                    "incremental",
                    "incremental_listing",
                    "sensor_tick",
                    "floor",
                )
            ),
        ),
    ]
    rows = [
        [render(result if name == "files" else result["summary"]) for name, render in columns] for result in results
    ]
    widths = [max(len(name), *(len(row[i]) for row in rows)) for i, (name, _) in enumerate(columns)]
    print("  ".join(name.rjust(width) for (name, _), width in zip(columns, widths, strict=False)))
    for row in rows:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=False)))


def markdown_table(results: list[dict]) -> str:
    """The figures as the markdown table bench/README.md keeps (each ratio beside its figure)."""

    def with_ratio(value: float | None, ratio: float | None) -> str:
        return fmt(value) if ratio is None else f"{fmt(value)} ({ratio:.2f}×)"

    lines = [
        "| files | floor s | cold s (×floor) | entry writes s (cold ×(floor+writes)) "
        "| `dagster job execute` s (×floor) | incr s (×own floor) | incr floor s | Dagster floor s (incr ×(both)) "
        "| incr listing s | tick s (×listings) | listings s | peak MiB cold / CLI / incr / incr listing / tick |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        s = result["summary"]
        listings = (s.get("listing_floor_s") or 0) + (s.get("spec_listing_floor_s") or 0)
        peaks = " / ".join(
            fmt(s["peak_rss_mb"].get(name), digits=0)
            for name in ("cold_in_process", "cold_cli", "incremental", "incremental_listing", "sensor_tick")
        )
        lines.append(
            f"| {result['size']:,} | {fmt(s['floor_s'])} "
            f"| {with_ratio(s['cold_in_process_s'], s.get('cold_in_process_over_floor'))} "
            f"| {with_ratio(s.get('entry_writes_s'), s.get('cold_over_floor_and_writes'))} "
            f"| {with_ratio(s['cold_cli_s'], s.get('cold_cli_over_floor'))} "
            f"| {with_ratio(s['incremental_s'], s.get('incremental_over_own_floor'))} "
            f"| {fmt(s.get('incremental_floor_s'))} "
            f"| {with_ratio(s.get('dagster_floor_s'), s.get('incremental_over_floor_and_dagster'))} "
            f"| {fmt(s['incremental_listing_s'])} "
            f"| {with_ratio(s['sensor_no_change_s'], s.get('sensor_no_change_over_listings'))} "
            f"| {fmt(listings or None)} | {peaks} |"
        )
    return "\n".join(lines)


# Issue 13's targets: (summary key, the largest ratio or figure allowed, sizes it applies to or None for all).
TARGETS = (
    ("cold_in_process_over_floor", 1.5, (6000, 12000), "cold build <= 1.5x floor"),
    ("cold_cli_over_floor", 2.0, (1200,), "`dagster job execute` <= 2x floor"),
    ("incremental_over_own_floor", 1.5, None, "incremental <= 1.5x its own floor"),
    ("sensor_no_change_over_listings", 1.1, None, "tick <= 1.1x its listings"),
)
PEAK_LIMIT_MB, PEAK_LIMIT_SIZE = 512, 12000


def print_targets(results: list[dict]) -> None:
    """One line per target: the measured ratio at each size it applies to, and whether it is met."""
    for key, limit, sizes, label in TARGETS:
        cells = []
        for result in results:
            value = result["summary"].get(key)
            if value is None or (sizes is not None and result["size"] not in sizes):
                continue
            cells.append(f"{result['size']}: {value:.2f}x {'met' if value <= limit else 'MISSED'}")
        if cells:
            print(f"target {label}: {'; '.join(cells)}")
    for result in results:
        if result["size"] != PEAK_LIMIT_SIZE:
            continue
        peaks = result["summary"]["peak_rss_mb"]
        over = {name: round(peak) for name, peak in peaks.items() if peak > PEAK_LIMIT_MB}
        verdict = f"MISSED by {over}" if over else "met"
        print(
            f"target peak <= {PEAK_LIMIT_MB} MiB at {PEAK_LIMIT_SIZE} files: "
            f"largest {max(peaks.values()):.0f} MiB, {verdict}"
        )


def fmt(value: float | None, suffix: str = "", digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}{suffix}"


def parse_options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--sizes", default="1200,6000,12000", help="metadata files per size (connectors x 20 versions), comma-separated"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the median is reported")
    parser.add_argument("--quick", action="store_true", help="smoke run: 200 files (10 connectors), one run each")
    parser.add_argument("--skip-cli", action="store_true", help="leave out the `dagster job execute` run")
    parser.add_argument("--profile", action="store_true", help="cProfile the first cold build at the largest size")
    parser.add_argument("--upload-workers", type=int, default=16)
    parser.add_argument("--floor-workers", type=int, default=16)
    parser.add_argument("--keep", action="store_true", help="keep the emulator's temporary directory")
    options = parser.parse_args(argv)
    if options.quick:
        options.sizes, options.repeat = "200", 1
    options.size_list = sorted({int(item) for item in options.sizes.split(",") if item.strip()})
    if any(size % VERSIONS or size <= 0 for size in options.size_list):
        parser.error(f"sizes must be positive multiples of {VERSIONS}")
    return options


def _stop_on_sigterm(signum, frame) -> None:
    raise SystemExit(f"terminated by signal {signum}")  # so that `finally` stops the emulator


def main(argv: list[str]) -> int:
    options = parse_options(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    from orchestrator.local.emulator import EmulatorConfig, ensure_buckets, start_emulator, stop_emulator
    from orchestrator.local.load import upload_objects
    from orchestrator.local.sample import generate_sample

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    work_dir = Path(tempfile.mkdtemp(prefix="orchestrator-bench-"))
    from orchestrator.local.ports import free_port

    config = EmulatorConfig(state_dir=work_dir / "emulator", port=free_port())
    started_at = datetime.now(UTC)
    results: list[dict] = []
    try:
        status = start_emulator(config)
        log(f"emulator {status.message}")
        largest = max(options.size_list) // VERSIONS
        started = time.perf_counter()
        sample = generate_sample(largest, VERSIONS, SEED, spec_size="realistic")
        spec_bytes = sum(len(data) for data in sample.spec_objects.values())
        log(
            f"generated {largest} connectors x {VERSIONS} versions in {time.perf_counter() - started:.1f}s: "
            f"{len(sample.metadata_files())} metadata files, {len(sample.spec_objects)} specs "
            f"({spec_bytes / 1e6:.0f} MB)"
        )
        ensure_buckets(config.url, [SPEC_BUCKET])
        started = time.perf_counter()
        upload_objects(
            bucket_manager(config.url, SPEC_BUCKET),
            sample.spec_objects,
            workers=options.upload_workers,
            progress=Progress("specs"),
        )
        log(f"spec cache uploaded in {time.perf_counter() - started:.1f}s")
        for size in options.size_list:
            results.append(measure_size(size, sample, options, config.url, work_dir))
    finally:
        stop_emulator(config)
        if not options.keep:
            shutil.rmtree(work_dir, ignore_errors=True)
        log("emulator stopped" + (f"; files kept in {work_dir}" if options.keep else ""))

    print_table(results)
    print_targets(results)
    print()
    print(markdown_table(results))
    report = {
        "started_at": started_at.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "machine": machine_info(),
        "options": {
            "sizes": options.size_list,
            "repeat": options.repeat,
            "quick": options.quick,
            "versions_per_connector": VERSIONS,
            "seed": SEED,
            "spec_size": "realistic",
            "floor_workers": options.floor_workers,
        },
        "results": results,
    }
    path = RESULTS_DIR / f"bench-{started_at.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results: {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child_main(sys.argv[2])
    else:
        sys.exit(main(sys.argv[1:]))
