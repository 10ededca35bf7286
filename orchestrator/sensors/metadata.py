"""The metadata sensor: requests `generate_registry` when metadata files are new, rewritten or deleted.

How it decides (the logic is `evaluate_metadata_tick`, a plain function of the listing, the cursor
and a run-status lookup, so that tests and the benchmark can call it without Dagster's daemon):

* It LISTS `metadata/**/metadata.yaml` (every version, not only `latest/`: generate_registry builds
  the per-version entries too) and never downloads a file. What it compares is each object's
  generation: a rewrite always gets a new generation, even with identical bytes (an etag/MD5 would
  not change then), and comparing every object, not a "last seen" key ordered by update time,
  means a rewrite of the most recent key is seen like any other.
* The cursor holds two things:
    - `ack`: the state (name -> generation) that a SUCCESSFUL run has processed;
    - `pending`: the run requested for a change (run key, attempt, the change itself), not yet known
      to have succeeded.
  The acknowledged state advances only when the requested run has succeeded, so a failed run never
  loses a change (the trap of advancing the cursor when the run is requested).
* Each tick, with ONE instance call whatever the number of files:
    - pending run succeeded: acknowledge its target state, then look for further changes;
    - pending run failed or was canceled: request the change again (current listing against the
      acknowledged state) with the next attempt number, hence a new run key, on this tick;
    - pending run queued or running: skip and say so (the run reads the bucket when it runs; what
      changed meanwhile is requested after it finishes);
    - pending run not found (the daemon reserves the run with the cursor and may submit it just
      after): request it again with the SAME run key - Dagster never launches a run key twice for a
      sensor, so this can only fill a gap, never duplicate a run.
* Deleted files are changes like the others: a name in the acknowledged state that the listing no
  longer holds makes the sensor request a run, and generate_registry removes their entries (and the
  registries drop them). The run key covers (name, old generation, new generation) of every changed
  object - deletions included, with the generation that disappeared - so no two different changes
  ever share a run key, even a file deleted, re-created and deleted again.
* The run is told what changed (`changed_files` / `deleted_files` in the config of
  `metadata_definitions`, up to NAMED_FILES_LIMIT files), so it reads those files instead of listing
  the bucket a second time, and publishes from the entry manifest without listing the entries:
  after one upload, a run costs one upload. Larger changes leave the run to list the bucket.
* Encoding: sorted names grouped by folder, JSON, zlib, base64 (`v1:` prefix). At 12,000 files the
  cursor is a few hundred KB at most (the generations, 16-digit timestamps, are what does not compress).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import zlib
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Optional, Union

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
from dagster._core.storage.tags import RUN_KEY_TAG

from orchestrator.jobs import generate_registry
from orchestrator.resources.gcs import BlobInfo, GcsBlobListing

SENSOR_NAME = "generate_registry_on_new_latest_metadata_file_blobs"
CURSOR_VERSION = "v1"
RUN_KEY_PREFIX = "metadata"
NO_CHANGE = "no new or changed metadata files"
# Up to this many changed files the run is told which (it reads only those); beyond, it lists the bucket.
NAMED_FILES_LIMIT = 200

SUCCEEDED = {DagsterRunStatus.SUCCESS}
FAILED = {DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}

State = dict[str, int]
# name -> new generation, or None when the object was deleted
Changes = dict[str, Optional[int]]
RunStatusLookup = Callable[[str], Optional[DagsterRunStatus]]


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
    acknowledged: State
    pending: Optional[PendingRequest] = None


def _group(state: Mapping[str, Optional[int]]) -> dict[str, dict[str, Optional[int]]]:
    """`metadata/airbyte/source-x/1.2.3/metadata.yaml` -> {"metadata/airbyte/source-x": {"1.2.3/metadata.yaml": g}}:
    the repeated folder is written once per connector. Names too short to split sit under "" whole."""
    grouped: dict[str, dict[str, Optional[int]]] = {}
    for name in sorted(state):
        parts = name.rsplit("/", 2)
        if len(parts) == 3 and parts[0]:
            grouped.setdefault(parts[0], {})[f"{parts[1]}/{parts[2]}"] = state[name]
        else:
            grouped.setdefault("", {})[name] = state[name]
    return grouped


def _ungroup(grouped: Mapping[str, Mapping[str, Optional[int]]]) -> dict[str, Optional[int]]:
    return {(f"{folder}/{leaf}" if folder else leaf): value for folder, leaves in grouped.items() for leaf, value in leaves.items()}


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


def decode_cursor(raw: Optional[str]) -> MetadataCursor:
    """An empty cursor (first tick, or reset in the UI) is 'nothing acknowledged': everything listed
    is new. An unreadable one is an error rather than silently treated as empty."""
    if not raw:
        return MetadataCursor(acknowledged={})
    version, _, body = raw.partition(":")
    if version != CURSOR_VERSION:
        raise ValueError(f"metadata sensor cursor of unknown version {version!r}; reset the cursor in the UI to start over")
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


def listing_state(listing: Iterable[Union[BlobInfo, tuple[str, int]]]) -> State:
    state: State = {}
    for item in listing:
        if isinstance(item, BlobInfo):
            state[item.name] = int(item.generation)
        else:
            name, generation = item
            state[name] = int(generation)
    return state


def diff_states(acknowledged: Mapping[str, int], current: Mapping[str, int]) -> Changes:
    changes: Changes = {name: generation for name, generation in current.items() if acknowledged.get(name) != generation}
    changes.update({name: None for name in acknowledged if name not in current})
    return changes


def apply_changes(acknowledged: Mapping[str, int], changes: Mapping[str, Optional[int]]) -> State:
    state = dict(acknowledged)
    for name, generation in changes.items():
        if generation is None:
            state.pop(name, None)
        else:
            state[name] = generation
    return state


def change_digest(acknowledged: Mapping[str, int], changes: Mapping[str, Optional[int]]) -> str:
    """A hash of every (name, generation before, generation after): generations never repeat for a
    name, so two different changes never share a digest."""
    hasher = hashlib.sha256()
    for name in sorted(changes):
        hasher.update(f"{name}\0{acknowledged.get(name, '')}\0{'' if changes[name] is None else changes[name]}\n".encode())
    return hasher.hexdigest()[:20]


def describe_changes(acknowledged: Mapping[str, int], changes: Mapping[str, Optional[int]]) -> dict[str, int]:
    deleted = sum(1 for generation in changes.values() if generation is None)
    new = sum(1 for name, generation in changes.items() if generation is not None and name not in acknowledged)
    return {"new": new, "changed": len(changes) - new - deleted, "deleted": deleted}


def run_config_for(changes: Changes) -> dict:
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


def _run_request(acknowledged: State, changes: Changes, attempt: int, previous_key: Optional[str] = None) -> tuple[RunRequest, PendingRequest]:
    run_key = f"{RUN_KEY_PREFIX}-{change_digest(acknowledged, changes)}-{attempt}"
    counts = describe_changes(acknowledged, changes)
    tags = {
        "orchestrator/sensor": SENSOR_NAME,
        "orchestrator/attempt": str(attempt),
        "orchestrator/changed_files": f"{counts['new']} new, {counts['changed']} changed, {counts['deleted']} deleted",
    }
    if previous_key:
        tags["orchestrator/retry_of_run_key"] = previous_key
    return RunRequest(run_key=run_key, run_config=run_config_for(changes), tags=tags), PendingRequest(run_key=run_key, attempt=attempt, changes=changes)


def evaluate_metadata_tick(
    listing: Iterable[Union[BlobInfo, tuple[str, int]]],
    cursor_str: Optional[str],
    run_status_lookup: RunStatusLookup,
) -> tuple[Union[RunRequest, SkipReason], str]:
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
                return SkipReason(f"run {pending.run_key} ended {status.value}; the bucket is back to the acknowledged state, nothing to redo"), encode_cursor(MetadataCursor(acknowledged))
            request, new_pending = _run_request(acknowledged, changes, pending.attempt + 1, previous_key=pending.run_key)
            return request, encode_cursor(MetadataCursor(acknowledged, new_pending))
        else:
            return SkipReason(f"run {pending.run_key} for the last change is still {status.value}; waiting for it to finish"), cursor_str or encode_cursor(cursor)

    changes = diff_states(acknowledged, current)
    if not changes:
        return SkipReason(NO_CHANGE), encode_cursor(MetadataCursor(acknowledged))
    request, new_pending = _run_request(acknowledged, changes, 1)
    return request, encode_cursor(MetadataCursor(acknowledged, new_pending))


def instance_run_status_lookup(instance) -> RunStatusLookup:
    """The status of the newest run carrying the run key tag: one run-storage query."""

    def lookup(run_key: str) -> Optional[DagsterRunStatus]:
        runs = instance.get_runs(filters=RunsFilter(tags={RUN_KEY_TAG: run_key}), limit=1)
        return runs[0].status if runs else None

    return lookup


@sensor(
    name=SENSOR_NAME,
    job=generate_registry,
    minimum_interval_seconds=sensor_interval_seconds(),
    default_status=sensor_default_status(),
    description=(
        "Lists metadata/**/metadata.yaml (names and generations, no download) and requests generate_registry "
        "when files are new, rewritten or deleted. The cursor advances only when the run succeeds; a failed "
        "run's change is requested again."
    ),
)
def generate_registry_on_new_latest_metadata_file_blobs(
    context: SensorEvaluationContext, all_metadata_file_blobs: GcsBlobListing
) -> SensorResult:
    listing = all_metadata_file_blobs.list()
    outcome, cursor = evaluate_metadata_tick(listing, context.cursor, instance_run_status_lookup(context.instance))
    if isinstance(outcome, SkipReason):
        return SensorResult(skip_reason=outcome, cursor=cursor)
    context.log.info(f"{len(listing)} metadata files listed; requesting {outcome.run_key} ({outcome.tags.get('orchestrator/changed_files', 'retry')})")
    return SensorResult(run_requests=[outcome], cursor=cursor)
