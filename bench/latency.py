"""Upload -> registry latency under a real `dagster dev` (daemon, webserver, code server), at the
sensor interval a deployment runs with (30 s by default).

    poetry run python bench/latency.py [--uploads 20] [--interval 30] [--connectors 40 --versions 3]

Starts its own emulator (temporary state directory, a free port) and its own `dagster dev` in its
own process group (temporary DAGSTER_HOME), loads a sample bucket, waits for the sensor's first
publish, then uploads one new version at a time, each after a random pause within one interval
(spec first, then the versioned and `latest/` metadata, as `metadata_service upload` writes them)
and measures the seconds until that version is in the published oss_registry.json. Prints p50,
p95 and max; writes bench/results/latency-*.json. Nothing here is asserted: this is a
measurement (see bench/README.md). Takes about
uploads x (interval + run time), about 20 minutes for 20 uploads at 30 s.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for folder in (ROOT, ROOT / "bench"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from run_bench import RESULTS_DIR, log, machine_info, upload_new_version  # noqa: E402

METADATA_BUCKET = "latency-metadata"
SPEC_BUCKET = "latency-specs"
OSS_REGISTRY = "registries/v0/oss_registry.json"


def published_tags(metadata) -> dict[str, str]:
    stored = metadata.read(OSS_REGISTRY)
    if stored is None:
        return {}
    registry = json.loads(stored[0])
    return {
        entry["dockerRepository"]: str(entry["dockerImageTag"])
        for entry in registry["sources"] + registry["destinations"]
    }


def wait_until(predicate, bound: float, what: str, dagster: subprocess.Popen, log_file: Path) -> float:
    started = time.monotonic()
    while time.monotonic() - started < bound:
        if predicate():
            return time.monotonic() - started
        if dagster.poll() is not None:
            raise RuntimeError(f"dagster dev exited ({dagster.returncode}) waiting for {what}:\n{tail(log_file)}")
        time.sleep(0.25)
    raise RuntimeError(f"{what} did not happen within {bound:.0f} s:\n{tail(log_file)}")


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def run_phases(instance, uploaded_at: float, published_at: float) -> dict[str, float]:
    """Where the time went, from the newest generate_registry run the sensor requested: upload ->
    run requested (the wait for the next tick), requested -> started (run queue, launch of the run
    worker), started -> registry seen published (the run up to its publish)."""
    from dagster import RunsFilter

    records = instance.get_run_records(filters=RunsFilter(job_name="generate_registry"), limit=1)
    if not records or records[0].start_time is None:
        return {}
    record = records[0]
    created = record.create_timestamp.timestamp()
    return {
        "to_request": round(created - uploaded_at, 2),
        "to_start": round(record.start_time - created, 2),
        "run": round(published_at - record.start_time, 2),
    }


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def parse_options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--interval", type=int, default=30, help="the metadata sensor's interval, seconds")
    parser.add_argument("--connectors", type=int, default=40)
    parser.add_argument("--versions", type=int, default=3)
    parser.add_argument("--bound", type=float, default=300.0, help="seconds to wait for one upload to publish")
    parser.add_argument("--seed", type=int, default=7, help="of the random pause before each upload")
    return parser.parse_args(argv)


def _stop_on_sigterm(signum, frame) -> None:
    raise SystemExit(f"terminated by signal {signum}")  # so that `finally` stops dagster dev and the emulator


def main(argv: list[str]) -> int:
    options = parse_options(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    from dagster import DagsterInstance

    from orchestrator.local.emulator import EmulatorConfig, ensure_buckets, start_emulator, stop_emulator
    from orchestrator.local.load import load_sample
    from orchestrator.local.ports import free_port
    from orchestrator.local.runner import dagster_dev_command, stop_process_group
    from orchestrator.local.sample import generate_sample
    from orchestrator.resources.gcs import GcsBucketManager, GcsClient

    work = Path(tempfile.mkdtemp(prefix="orchestrator-latency-"))
    emulator = EmulatorConfig(state_dir=work / "emulator", port=free_port())
    home = work / "dagster_home"
    home.mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    log_file = work / "dagster_dev.log"
    dagster: subprocess.Popen | None = None
    latencies: list[dict] = []
    started_at = datetime.now(UTC)
    try:
        start_emulator(emulator)
        ensure_buckets(emulator.url, [METADATA_BUCKET, SPEC_BUCKET])
        client = GcsClient(emulator_host=emulator.url)
        metadata = GcsBucketManager(gcp_gcs_client=client, bucket_name=METADATA_BUCKET, cdn_base_url="")
        specs = GcsBucketManager(gcp_gcs_client=client, bucket_name=SPEC_BUCKET, cdn_base_url="")
        sample = generate_sample(connectors=options.connectors, versions=options.versions)
        load_sample(sample, metadata, specs)
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "ORCHESTRATOR_DEPLOYMENT": "local",
            "STORAGE_EMULATOR_HOST": emulator.url,
            "METADATA_BUCKET": METADATA_BUCKET,
            "SPEC_CACHE_BUCKET": SPEC_BUCKET,
            "METADATA_CDN_BASE_URL": "",
            "ORCHESTRATOR_SENSOR_INTERVAL_SECONDS": str(options.interval),
            "ORCHESTRATOR_SENSORS_DEFAULT": "running",
        }
        for name in ("GCS_CREDENTIALS", "ORCHESTRATOR_ALERT_WEBHOOK_URL", "SLACK_TOKEN"):
            env.pop(name, None)
        with log_file.open("wb") as output:
            dagster = subprocess.Popen(
                dagster_dev_command(free_port(), "127.0.0.1"),
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as a whole
            )
        log(f"dagster dev (pid {dagster.pid}) started; waiting for the sensor's first publish")
        first = wait_until(lambda: bool(published_tags(metadata)), 600, "the first publish", dagster, log_file)
        log(f"first registries published {first:.1f} s after dagster dev started")
        instance = DagsterInstance.from_config(str(home))  # the same SQLite storage, read alongside

        candidates = [
            connector.docker_repository
            for connector in sample.connectors
            if not any("-rc." in version for version in connector.versions)
        ]
        # Each upload waits a random share of the interval first: right after a publish it would
        # always land at the same point between two ticks, and measure that one point.
        pause = random.Random(options.seed)
        for serial in range(1, options.uploads + 1):
            repository = candidates[serial % len(candidates)]
            time.sleep(pause.uniform(0, options.interval))
            tag = upload_new_version(metadata, specs, repository, serial)
            uploaded, uploaded_at = time.monotonic(), time.time()
            wait_until(
                lambda repository=repository, tag=tag: published_tags(metadata).get(repository) == tag,
                options.bound,
                f"{repository}:{tag} in {OSS_REGISTRY}",
                dagster,
                log_file,
            )
            seconds = time.monotonic() - uploaded
            phases = run_phases(instance, uploaded_at, time.time())
            latencies.append({"repository": repository, "tag": tag, "seconds": round(seconds, 2), **phases})
            log(
                f"upload {serial}/{options.uploads}: {repository}:{tag} published after {seconds:.1f} s "
                f"(until the run was requested {phases.get('to_request', '?')} s, queued and launched "
                f"{phases.get('to_start', '?')} s, ran {phases.get('run', '?')} s)"
            )
    finally:
        if dagster is not None:
            stop_process_group(dagster, timeout=30.0)
        stop_emulator(emulator)
        shutil.rmtree(work, ignore_errors=True)

    values = [item["seconds"] for item in latencies]
    phases = {
        phase: round(statistics.median(item[phase] for item in latencies if phase in item), 1)
        for phase in ("to_request", "to_start", "run")
        if any(phase in item for item in latencies)
    }
    summary = {
        "uploads": len(values),
        "median_phases_seconds": phases,
        "interval_seconds": options.interval,
        "p50_seconds": round(statistics.median(values), 1),
        "p95_seconds": round(percentile(values, 0.95), 1),
        "max_seconds": round(max(values), 1),
        "min_seconds": round(min(values), 1),
    }
    print(
        f"upload -> published oss_registry.json over {summary['uploads']} uploads at a {options.interval} s "
        f"sensor interval: p50 {summary['p50_seconds']} s, p95 {summary['p95_seconds']} s, "
        f"max {summary['max_seconds']} s (min {summary['min_seconds']} s); medians: until the run is requested "
        f"{phases.get('to_request')} s, queue and launch {phases.get('to_start')} s, run {phases.get('run')} s"
    )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"latency-{started_at.strftime('%Y%m%dT%H%M%SZ')}.json"
    report = {"started_at": started_at.isoformat(), "machine": machine_info(), "summary": summary, "uploads": latencies}
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results: {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
