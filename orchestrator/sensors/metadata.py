"""The metadata sensor: requests `generate_registry` when metadata files are new, rewritten or
deleted. Its decision is `evaluate_metadata_tick`, a plain function of the listing, the cursor and
a run-status lookup (README, "The metadata sensor", says how it decides and why)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from orchestrator.jobs import generate_registry
from orchestrator.resources.gcs import BlobInfo, GcsBlobListing

_Value = TypeVar("_Value")

SENSOR_NAME = "generate_registry_on_new_latest_metadata_file_blobs"
# The tag Dagster puts on every run a sensor requests with a run key.
RUN_KEY_TAG = "dagster/run_key"
CURSOR_VERSION = "v1"
RUN_KEY_PREFIX = "metadata"
NO_CHANGE = "no new or changed metadata files"
# Up to this many changed files the run is told which (it reads only those); beyond, it lists the bucket.
NAMED_FILES_LIMIT = 200

SUCCEEDED = {DagsterRunStatus.SUCCESS}
FAILED = {DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}

State = dict[str, int]
# name -> new generation, or None when the object was deleted
Changes = dict[str, int | None]
RunStatusLookup = Callable[[str], DagsterRunStatus | None]


def sensor_interval_seconds() -> int:
    """30 s unless ORCHESTRATOR_SENSOR_INTERVAL_SECONDS says otherwise (the end-to-end test uses less)."""
    raw = os.environ.get("ORCHESTRATOR_SENSOR_INTERVAL_SECONDS", "").strip()
    try:
        return max(1, int(raw)) if raw else 30
    except ValueError:
        return 30


def sensor_default_status() -> DefaultSensorStatus:
    """RUNNING: `dagster dev` (and a fresh deployment) keeps the registries current without anyone
    switching the sensors on in the UI - the whole point of the loop. ORCHESTRATOR_SENSORS_DEFAULT=stopped
    turns that off for an instance where someone wants to trigger runs by hand; a status set in the
    UI always wins over this default."""
    if os.environ.get("ORCHESTRATOR_SENSORS_DEFAULT", "").strip().lower() == "stopped":
        return DefaultSensorStatus.STOPPED
    return DefaultSensorStatus.RUNNING


# ---------------------------------------------------------------------------------------------
# Cursor


@dataclass(frozen=True)
class PendingRequest:
    run_key: str
    attempt: int
    changes: Changes  # against the acknowledged state; applied to it, it gives the target state


@dataclass(frozen=True)
class MetadataCursor:
    """The truth of what the registries have caught up with: `acknowledged` is every metadata object
    (name -> generation) that a successful run has processed; `pending` is the run requested for the
    difference, not yet known to have succeeded. It advances only when that run succeeds."""

    acknowledged: State
    pending: PendingRequest | None = None


def _group(state: Mapping[str, int | None]) -> dict[str, dict[str, int | None]]:
    """`metadata/airbyte/source-x/1.2.3/metadata.yaml` -> {"metadata/airbyte/source-x": {"1.2.3/metadata.yaml": g}}:
    the repeated folder is written once per connector. Names too short to split sit under "" whole."""
    grouped: dict[str, dict[str, int | None]] = {}
    for name in sorted(state):
        parts = name.rsplit("/", 2)
        if len(parts) == 3 and parts[0]:
            grouped.setdefault(parts[0], {})[f"{parts[1]}/{parts[2]}"] = state[name]
        else:
            grouped.setdefault("", {})[name] = state[name]
    return grouped


def _ungroup(grouped: Mapping[str, Mapping[str, _Value]]) -> dict[str, _Value]:
    return {
        (f"{folder}/{leaf}" if folder else leaf): value
        for folder, leaves in grouped.items()
        for leaf, value in leaves.items()
    }


def encode_cursor(cursor: MetadataCursor) -> str:
    document: dict = {"ack": _group(cursor.acknowledged)}
    if cursor.pending is not None:
        document["pending"] = {
            "run_key": cursor.pending.run_key,
            "attempt": cursor.pending.attempt,
            "changes": _group(cursor.pending.changes),
        }
    payload = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    return f"{CURSOR_VERSION}:{base64.b64encode(zlib.compress(payload, 6)).decode()}"


def decode_cursor(raw: str | None) -> MetadataCursor:
    """An empty cursor (first tick, or reset in the UI) is 'nothing acknowledged': everything listed
    is new. An unreadable one is an error rather than silently treated as empty."""
    if not raw:
        return MetadataCursor(acknowledged={})
    version, _, body = raw.partition(":")
    if version != CURSOR_VERSION:
        raise ValueError(
            f"metadata sensor cursor of unknown version {version!r}; reset the cursor in the UI to start over"
        )
    document = json.loads(zlib.decompress(base64.b64decode(body)))
    acknowledged = {name: int(generation) for name, generation in _ungroup(document.get("ack", {})).items()}
    pending = None
    if document.get("pending"):
        raw_pending = document["pending"]
        changes = {name: (None if gen is None else int(gen)) for name, gen in _ungroup(raw_pending["changes"]).items()}
        pending = PendingRequest(run_key=raw_pending["run_key"], attempt=int(raw_pending["attempt"]), changes=changes)
    return MetadataCursor(acknowledged=acknowledged, pending=pending)


# ---------------------------------------------------------------------------------------------
# The tick


def listing_state(listing: Iterable[BlobInfo | tuple[str, int]]) -> State:
    state: State = {}
    for item in listing:
        if isinstance(item, BlobInfo):
            state[item.name] = int(item.generation)
        else:
            name, generation = item
            state[name] = int(generation)
    return state


def diff_states(acknowledged: Mapping[str, int], current: Mapping[str, int]) -> Changes:
    changes: Changes = {
        name: generation for name, generation in current.items() if acknowledged.get(name) != generation
    }
    changes.update({name: None for name in acknowledged if name not in current})
    return changes


def apply_changes(acknowledged: Mapping[str, int], changes: Mapping[str, int | None]) -> State:
    state = dict(acknowledged)
    for name, generation in changes.items():
        if generation is None:
            state.pop(name, None)
        else:
            state[name] = generation
    return state


def change_digest(acknowledged: Mapping[str, int], changes: Mapping[str, int | None]) -> str:
    """A hash of every (name, generation before, generation after): generations never repeat for a
    name, so two different changes never share a digest."""
    hasher = hashlib.sha256()
    for name in sorted(changes):
        hasher.update(
            f"{name}\0{acknowledged.get(name, '')}\0{'' if changes[name] is None else changes[name]}\n".encode()
        )
    return hasher.hexdigest()[:20]


def describe_changes(acknowledged: Mapping[str, int], changes: Mapping[str, int | None]) -> dict[str, int]:
    deleted = sum(1 for generation in changes.values() if generation is None)
    new = sum(1 for name, generation in changes.items() if generation is not None and name not in acknowledged)
    return {"new": new, "changed": len(changes) - new - deleted, "deleted": deleted}


def run_config_for(changes: Mapping[str, int | None]) -> dict:
    """Name the changed files to the run, so that it reads those instead of listing the bucket again.
    A large change (the first tick, a reset cursor, a bulk upload) leaves the run to list the bucket:
    a long list would only bloat the run's stored config."""
    if len(changes) > NAMED_FILES_LIMIT:
        return {}
    scan = {
        "changed_files": sorted(name for name, generation in changes.items() if generation is not None),
        "deleted_files": sorted(name for name, generation in changes.items() if generation is None),
    }
    return {"ops": {"metadata_definitions": {"config": scan}}}


def _run_request(
    acknowledged: State, changes: Changes, attempt: int, previous_key: str | None = None
) -> tuple[RunRequest, PendingRequest]:
    run_key = f"{RUN_KEY_PREFIX}-{change_digest(acknowledged, changes)}-{attempt}"
    counts = describe_changes(acknowledged, changes)
    tags = {
        "orchestrator/sensor": SENSOR_NAME,
        "orchestrator/attempt": str(attempt),
        "orchestrator/changed_files": f"{counts['new']} new, {counts['changed']} changed, {counts['deleted']} deleted",
    }
    if previous_key:
        tags["orchestrator/retry_of_run_key"] = previous_key
    return RunRequest(run_key=run_key, run_config=run_config_for(changes), tags=tags), PendingRequest(
        run_key=run_key, attempt=attempt, changes=changes
    )


def evaluate_metadata_tick(
    listing: Iterable[BlobInfo | tuple[str, int]],
    cursor_str: str | None,
    run_status_lookup: RunStatusLookup,
) -> tuple[RunRequest | SkipReason, str]:
    """One tick of the metadata sensor, without Dagster's context: the current listing, the cursor
    the previous tick left, and `run_status_lookup(run_key)` (the status of the run with that run key,
    None when there is none). Returns the run request or the skip reason, and the new cursor.
    `run_status_lookup` is called at most once."""
    cursor = decode_cursor(cursor_str)
    current = listing_state(listing)
    acknowledged = cursor.acknowledged
    pending = cursor.pending

    if pending is not None:
        status = run_status_lookup(pending.run_key)
        if status is None:
            # Reserved by the daemon but not (yet) created, or deleted from the instance: ask again
            # under the same key; the daemon skips a run key it has already launched.
            request, _ = _run_request(acknowledged, pending.changes, pending.attempt)
            request = request.with_replaced_attrs(run_key=pending.run_key)
            return request, cursor_str or encode_cursor(cursor)
        if status in SUCCEEDED:
            acknowledged = apply_changes(acknowledged, pending.changes)
        elif status in FAILED:
            changes = diff_states(acknowledged, current)
            if not changes:
                return SkipReason(
                    f"run {pending.run_key} ended {status.value}; "
                    "the bucket is back to the acknowledged state, nothing to redo"
                ), encode_cursor(MetadataCursor(acknowledged))
            request, new_pending = _run_request(
                acknowledged, changes, pending.attempt + 1, previous_key=pending.run_key
            )
            return request, encode_cursor(MetadataCursor(acknowledged, new_pending))
        else:
            return SkipReason(
                f"run {pending.run_key} for the last change is still {status.value}; waiting for it to finish"
            ), cursor_str or encode_cursor(cursor)

    changes = diff_states(acknowledged, current)
    if not changes:
        return SkipReason(NO_CHANGE), encode_cursor(MetadataCursor(acknowledged))
    request, new_pending = _run_request(acknowledged, changes, 1)
    return request, encode_cursor(MetadataCursor(acknowledged, new_pending))


def instance_run_status_lookup(instance) -> RunStatusLookup:
    """The status of the newest run carrying the run key tag: one run-storage query."""

    def lookup(run_key: str) -> DagsterRunStatus | None:
        runs = instance.get_runs(filters=RunsFilter(tags={RUN_KEY_TAG: run_key}), limit=1)
        return runs[0].status if runs else None

    return lookup


@sensor(
    name=SENSOR_NAME,
    job=generate_registry,
    minimum_interval_seconds=sensor_interval_seconds(),
    default_status=sensor_default_status(),
    description=(
        "Lists metadata/**/metadata.yaml and the .yanked markers (names and generations, no download) and "
        "requests generate_registry when files are new, rewritten or deleted. The cursor advances only when the "
        "run succeeds; a failed run's change is requested again."
    ),
)
def generate_registry_on_new_latest_metadata_file_blobs(
    context: SensorEvaluationContext, metadata_file_and_yank_marker_blobs: GcsBlobListing
) -> SensorResult:
    # Yank markers are watched like metadata files: a yank or unyank changes what the registries list.
    listing = metadata_file_and_yank_marker_blobs.list()
    outcome, cursor = evaluate_metadata_tick(listing, context.cursor, instance_run_status_lookup(context.instance))
    if isinstance(outcome, SkipReason):
        return SensorResult(skip_reason=outcome, cursor=cursor)
    context.log.info(
        f"{len(listing)} metadata files and yank markers listed; "
        f"requesting {outcome.run_key} ({outcome.tags.get('orchestrator/changed_files', 'retry')})"
    )
    return SensorResult(run_requests=[outcome], cursor=cursor)
