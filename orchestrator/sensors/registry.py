"""The registry sensor: requests `generate_registry_reports` when a published registry changes.

It lists the registry files of `registries/v0/` (one listing call, no download) and compares the
generations of `oss_registry.json` and `cloud_registry.json` with those in the cursor. The run key is made of both
generations, so the same pair of registries never gets two report runs, whatever the cursor says.

A generate_registry run writes the two registries one after the other; while a registry-writing run
is queued or in progress (one instance call), the sensor waits, so that one report run covers both
files instead of one run per file.
"""

from __future__ import annotations

import json

from dagster import DagsterRunStatus, RunRequest, RunsFilter, SensorEvaluationContext, SensorResult, SkipReason, sensor

from orchestrator.jobs import REGISTRY_WRITER_TAG, generate_registry_reports
from orchestrator.layout import REGISTRY_FILES_GLOB, REGISTRY_FOLDER, REGISTRY_NAMES, registry_file_name, registry_path
from orchestrator.resources.gcs import GcsBucketManager
from orchestrator.sensors.metadata import sensor_default_status, sensor_interval_seconds

SENSOR_NAME = "generate_registry_reports_on_registry_updated"
REGISTRY_FILES = tuple(registry_file_name(name) for name in REGISTRY_NAMES)
# Every status of a run that has not finished yet.
UNFINISHED_STATUSES = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.SUSPENDED,
    DagsterRunStatus.CANCELING,
]


def registry_generations(bucket: GcsBucketManager) -> dict[str, int]:
    """Generation of each registry file that exists (absent files are left out)."""
    wanted = {registry_path(name): registry_file_name(name) for name in REGISTRY_NAMES}
    return {
        wanted[blob.name]: blob.generation
        # Narrowed on real GCS to the registry files (registries/v0/ also holds a document per connector).
        for blob in bucket.list_blobs(f"{REGISTRY_FOLDER}/", REGISTRY_FILES_GLOB)
        if blob.name in wanted
    }


def evaluate_registry_tick(generations: dict[str, int], cursor_str: str | None, writer_busy: bool = False):
    """(RunRequest or SkipReason, new cursor). The cursor is the generations last requested for."""
    seen = json.loads(cursor_str) if cursor_str else {}
    if not generations:
        return SkipReason("no registry published yet"), cursor_str or "{}"
    if generations == seen:
        return SkipReason("registries unchanged since the last report request"), cursor_str
    if writer_busy:
        return SkipReason(
            "a registry-writing run is queued or in progress; waiting for it to finish"
        ), cursor_str or "{}"
    run_key = "registry-reports-" + "-".join(
        f"{name.split('_')[0]}{generations.get(name, 0)}" for name in REGISTRY_FILES
    )
    changed = sorted(name for name in set(generations) | set(seen) if generations.get(name) != seen.get(name))
    request = RunRequest(
        run_key=run_key, tags={"orchestrator/sensor": SENSOR_NAME, "orchestrator/changed_registries": ",".join(changed)}
    )
    return request, json.dumps(generations, sort_keys=True)


@sensor(
    name=SENSOR_NAME,
    job=generate_registry_reports,
    minimum_interval_seconds=sensor_interval_seconds(),
    default_status=sensor_default_status(),
    description=(
        "Requests generate_registry_reports when registries/v0/oss_registry.json or cloud_registry.json "
        "gets a new generation."
    ),
)
def generate_registry_reports_on_registry_updated(
    context: SensorEvaluationContext, gcs_bucket_manager: GcsBucketManager
) -> SensorResult:
    generations = registry_generations(gcs_bucket_manager)
    busy = False
    if generations and generations != (json.loads(context.cursor) if context.cursor else {}):
        busy = bool(
            context.instance.get_runs(
                filters=RunsFilter(tags=REGISTRY_WRITER_TAG, statuses=UNFINISHED_STATUSES), limit=1
            )
        )
    outcome, cursor = evaluate_registry_tick(generations, context.cursor, busy)
    if isinstance(outcome, SkipReason):
        return SensorResult(skip_reason=outcome, cursor=cursor)
    return SensorResult(run_requests=[outcome], cursor=cursor)
