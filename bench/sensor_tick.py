"""Micro-measure of one metadata-sensor tick at N metadata files (default 12,000).

Starts its own emulator (temporary state dir, free port), writes N small metadata.yaml objects
(names like the real layout: metadata/airbyte/<connector>/<version>/metadata.yaml), then times:
the listing, `evaluate_metadata_tick` on a first tick (no cursor: everything new), a steady-state
tick (nothing changed) and a tick after one rewrite, plus the cursor size. Not a test; prints numbers.

    .venv/bin/python bench/sensor_tick.py [--files 12000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dagster import DagsterRunStatus  # noqa: E402

from orchestrator.local.emulator import EmulatorConfig, start_emulator, stop_emulator  # noqa: E402
from orchestrator.resources.gcs import GcsBlobListing, GcsBucketManager, GcsClient  # noqa: E402
from orchestrator.sensors.metadata import evaluate_metadata_tick  # noqa: E402

VERSIONS_PER_CONNECTOR = 8  # 7 versions + latest/


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def timed(function, repeat: int):
    durations, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        durations.append(time.perf_counter() - started)
    return result, durations


def show(label: str, durations: list[float]) -> None:
    print(f"{label:<44} median {statistics.median(durations) * 1000:8.1f} ms   max {max(durations) * 1000:8.1f} ms   (n={len(durations)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=12_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sensor-bench-") as state_dir:
        config = EmulatorConfig(state_dir=Path(state_dir), port=free_port())
        start_emulator(config)
        try:
            client = GcsClient(emulator_host=config.url)
            bucket = GcsBucketManager(gcp_gcs_client=client, bucket_name="sensor-bench")
            bucket.ensure_bucket()
            names = []
            for index in range(-(-args.files // VERSIONS_PER_CONNECTOR)):
                for version in [f"{major}.{minor}.0" for major, minor in ((0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1))] + ["latest"]:
                    names.append(f"metadata/airbyte/source-bench-{index:05d}/{version}/metadata.yaml")
            names = names[: args.files]
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=32) as pool:
                list(pool.map(lambda name: bucket.write(name, b"metadataSpecVersion: '1.0'\n"), names))
            print(f"wrote {len(names)} objects in {time.perf_counter() - started:.1f}s to {config.url}")

            listing_resource = GcsBlobListing(gcs_bucket_manager=bucket, prefix="metadata/", glob="metadata/**/metadata.yaml")
            listing, list_times = timed(listing_resource.list, args.repeat)
            assert len(listing) == len(names)
            show(f"listing ({len(listing)} blobs)", list_times)

            succeeded = lambda _key: DagsterRunStatus.SUCCESS  # noqa: E731
            (first, cursor), first_times = timed(lambda: evaluate_metadata_tick(listing, None, succeeded), args.repeat)
            show("evaluate: first tick (all new)", first_times)
            print(f"cursor with the first request pending: {len(cursor):,} characters")
            (_, steady_cursor), _ = timed(lambda: evaluate_metadata_tick(listing, cursor, succeeded), 1)
            (steady, _), steady_times = timed(lambda: evaluate_metadata_tick(listing, steady_cursor, succeeded), args.repeat)
            show("evaluate: steady tick (no change)", steady_times)
            print(f"steady-state cursor: {len(steady_cursor):,} characters; outcome: {getattr(steady, 'skip_message', steady)}")

            bucket.write(names[-1], b"metadataSpecVersion: '1.0'\n")
            full_tick = lambda: evaluate_metadata_tick(listing_resource.list(), steady_cursor, succeeded)  # noqa: E731
            (changed, _), full_times = timed(full_tick, args.repeat)
            show("full tick: listing + evaluate (one rewrite)", full_times)
            print(f"outcome: run_key={changed.run_key} tags={changed.tags.get('orchestrator/changed_files')}")
        finally:
            stop_emulator(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
