"""The metadata sensor: requests `generate_registry` when metadata files are new, rewritten or
deleted, or when a spec their entries use or wait for arrives or changes. Its decision is
`evaluate_metadata_tick`, a plain function of the listing, the cursor, a run-status lookup and the
spec watch (README, "The metadata sensor", says how it decides and why)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import zlib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol, TypeVar

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

from orchestrator.heap import objects_held_before_frozen
from orchestrator.jobs import generate_registry
from orchestrator.layout import SPEC_WATCH_PATH
from orchestrator.logic.spec_watch import changed_specs, files_to_rebuild, watch_summary
from orchestrator.models.state import SpecWatch
from orchestrator.resources.gcs import BlobInfo, GcsBlobListing, GcsBucketManager, SpecCache
from orchestrator.resources.state import read_spec_watch

_Value = TypeVar("_Value")

SENSOR_NAME = "generate_registry_on_new_latest_metadata_file_blobs"
# The tag Dagster puts on every run a sensor requests with a run key.
RUN_KEY_TAG = "dagster/run_key"
CURSOR_VERSION = "v1"
RUN_KEY_PREFIX = "metadata"
NO_CHANGE = "no new or changed metadata files"
# Up to this many changed files the run is told which (it reads only those); beyond, it lists the bucket.
NAMED_FILES_LIMIT = 200
DEFAULT_INTERVAL_SECONDS = 30
# A change whose runs keep failing is requested again at most this far apart.
MAX_BACKOFF_SECONDS = 600

SUCCEEDED = {DagsterRunStatus.SUCCESS}
FAILED = {DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}

State = dict[str, int]
# name -> new generation, or None when the object was deleted
Changes = dict[str, int | None]
# spec path -> the generation now in the spec cache
SpecChanges = dict[str, int]
RunStatusLookup = Callable[[str], DagsterRunStatus | None]


def sensor_interval_seconds() -> int:
    """30 s unless ORCHESTRATOR_SENSOR_INTERVAL_SECONDS says otherwise (the end-to-end test uses less)."""
    raw = os.environ.get("ORCHESTRATOR_SENSOR_INTERVAL_SECONDS", "").strip()
    try:
        return max(1, int(raw)) if raw else DEFAULT_INTERVAL_SECONDS
    except ValueError:
        return DEFAULT_INTERVAL_SECONDS


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
    rebuild: tuple[str, ...] = ()  # unchanged metadata files to build again: a spec they use changed
    specs: SpecChanges = field(default_factory=dict)  # the spec changes behind `rebuild`: path -> generation
    failure: str | None = None  # the status the run ended with when it failed: waiting to retry
    ticks_waited: int = 0  # ticks since the failure was seen


@dataclass(frozen=True)
class MetadataCursor:
    """The truth of what the registries have caught up with: `acknowledged` is every metadata object
    (name -> generation) that a successful run has processed; `pending` is the run requested for the
    difference, not yet known to have succeeded. It advances only when that run succeeds.
    `watched_specs` is the spec watch's summary (spec path -> generation the entries were built
    from, 0: awaited) as of generation `watch_generation` of its file."""

    acknowledged: State
    pending: PendingRequest | None = None
    watched_specs: dict[str, int] = field(default_factory=dict)
    watch_generation: int = 0


def _group(state: Mapping[str, _Value]) -> dict[str, dict[str, _Value]]:
    """`metadata/airbyte/source-x/1.2.3/metadata.yaml` -> {"metadata/airbyte/source-x": {"1.2.3/metadata.yaml": g}}:
    the repeated folder is written once per connector. Names too short to split sit under "" whole."""
    grouped: dict[str, dict[str, _Value]] = {}
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
        pending = cursor.pending
        document["pending"] = {
            "run_key": pending.run_key,
            "attempt": pending.attempt,
            "changes": _group(pending.changes),
        }
        if pending.rebuild:
            document["pending"]["rebuild"] = list(pending.rebuild)
            document["pending"]["specs"] = dict(sorted(pending.specs.items()))
        if pending.failure:
            document["pending"]["failure"] = pending.failure
            document["pending"]["waited"] = pending.ticks_waited
    if cursor.watch_generation:
        document["watch"] = {"generation": cursor.watch_generation, "specs": _group(cursor.watched_specs)}
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
        pending = PendingRequest(
            run_key=raw_pending["run_key"],
            attempt=int(raw_pending["attempt"]),
            changes=changes,
            rebuild=tuple(raw_pending.get("rebuild", ())),
            specs={path: int(generation) for path, generation in raw_pending.get("specs", {}).items()},
            failure=raw_pending.get("failure"),
            ticks_waited=int(raw_pending.get("waited", 0)),
        )
    watch = document.get("watch") or {}
    return MetadataCursor(
        acknowledged=acknowledged,
        pending=pending,
        watched_specs={path: int(generation) for path, generation in _ungroup(watch.get("specs", {})).items()},
        watch_generation=int(watch.get("generation", 0)),
    )


# ---------------------------------------------------------------------------------------------
# Backoff


@dataclass(frozen=True)
class RetryDecision:
    retry_now: bool
    ticks_to_wait: int  # before the next attempt; 0 when it is now


def retry_decision(failed_attempts: int, ticks_waited: int, interval_seconds: int) -> RetryDecision:
    """When to request a change again whose run failed `failed_attempts` times in a row: after 1,
    2, 4 ... ticks counted from the tick that saw the failure, never more than MAX_BACKOFF_SECONDS."""
    cap = max(1, MAX_BACKOFF_SECONDS // max(1, interval_seconds))
    wait = min(2 ** max(0, failed_attempts - 1), cap)
    return RetryDecision(retry_now=ticks_waited >= wait, ticks_to_wait=max(0, wait - ticks_waited))


# ---------------------------------------------------------------------------------------------
# The spec cache, as the entries depend on it


class SpecWatchSource(Protocol):
    """What the tick asks of the bucket about specs (tests give their own)."""

    def watch_generation(self) -> int: ...

    def read_watch(self) -> tuple[SpecWatch, int]: ...

    def spec_generations(self, paths: Collection[str]) -> dict[str, int]: ...


@dataclass(frozen=True)
class BucketSpecWatch:
    """The spec watch file in the metadata bucket and the spec cache itself."""

    gcs_bucket_manager: GcsBucketManager
    spec_cache: SpecCache

    def watch_generation(self) -> int:
        return self.gcs_bucket_manager.generation_of(SPEC_WATCH_PATH)

    def read_watch(self) -> tuple[SpecWatch, int]:
        return read_spec_watch(self.gcs_bucket_manager)

    def spec_generations(self, paths: Collection[str]) -> dict[str, int]:
        return self.spec_cache.spec_generations(paths)


@dataclass(frozen=True)
class SpecCheck:
    watched: dict[str, int]  # the refreshed watch summary
    watch_generation: int
    rebuild: tuple[str, ...] = ()
    specs: SpecChanges = field(default_factory=dict)


def check_specs(cursor: MetadataCursor, source: SpecWatchSource | None) -> SpecCheck:
    """Refresh the watch when its file changed (one metadata request), then, when anything is
    watched, list the spec cache (one listing, or one per image when few are watched) and name
    the files to rebuild. Reads the watch's dependents only when a spec changed."""
    if source is None:
        return SpecCheck(cursor.watched_specs, cursor.watch_generation)
    watched, generation = cursor.watched_specs, cursor.watch_generation
    fresh: SpecWatch | None = None
    if source.watch_generation() != generation:
        fresh, generation = source.read_watch()
        watched = watch_summary(fresh)
    if not watched:
        return SpecCheck(watched, generation)
    cache = source.spec_generations(watched.keys())
    changed = changed_specs(watched, cache)
    if not changed:
        return SpecCheck(watched, generation)
    if fresh is None:
        fresh, generation = source.read_watch()
        watched = watch_summary(fresh)
        changed = changed_specs(watched, cache)
    return SpecCheck(watched, generation, tuple(files_to_rebuild(fresh, changed)), changed)


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


def change_digest(
    acknowledged: Mapping[str, int], changes: Mapping[str, int | None], specs: Mapping[str, int] | None = None
) -> str:
    """A hash of every (name, generation before, generation after), and of the spec changes behind a
    rebuild: generations never repeat for a name, so two different changes never share a digest."""
    hasher = hashlib.sha256()
    for name in sorted(changes):
        hasher.update(
            f"{name}\0{acknowledged.get(name, '')}\0{'' if changes[name] is None else changes[name]}\n".encode()
        )
    for path in sorted(specs or {}):
        hasher.update(f"spec\0{path}\0{(specs or {})[path]}\n".encode())
    return hasher.hexdigest()[:20]


def describe_changes(acknowledged: Mapping[str, int], changes: Mapping[str, int | None]) -> dict[str, int]:
    deleted = sum(1 for generation in changes.values() if generation is None)
    new = sum(1 for name, generation in changes.items() if generation is not None and name not in acknowledged)
    return {"new": new, "changed": len(changes) - new - deleted, "deleted": deleted}


def run_config_for(changes: Mapping[str, int | None], rebuild: Collection[str] = ()) -> dict:
    """Name the changed files to the run, so that it reads those instead of listing the bucket again.
    A large change (the first tick, a reset cursor, a bulk upload) leaves the run to list the bucket:
    a long list would only bloat the run's stored config. Files to rebuild (a spec changed) are
    always named: a listing alone would find them unchanged."""
    scan: dict = {}
    if len(changes) <= NAMED_FILES_LIMIT:
        scan["changed_files"] = sorted(name for name, generation in changes.items() if generation is not None)
        scan["deleted_files"] = sorted(name for name, generation in changes.items() if generation is None)
    if rebuild:
        scan["rebuild_files"] = sorted(rebuild)
    return {"ops": {"metadata_definitions": {"config": scan}}} if scan else {}


def _run_request(
    acknowledged: State,
    changes: Changes,
    attempt: int,
    previous_key: str | None = None,
    rebuild: Collection[str] = (),
    specs: SpecChanges | None = None,
) -> tuple[RunRequest, PendingRequest]:
    specs = dict(specs or {})
    run_key = f"{RUN_KEY_PREFIX}-{change_digest(acknowledged, changes, specs)}-{attempt}"
    counts = describe_changes(acknowledged, changes)
    tags = {
        "orchestrator/sensor": SENSOR_NAME,
        "orchestrator/attempt": str(attempt),
        "orchestrator/changed_files": f"{counts['new']} new, {counts['changed']} changed, {counts['deleted']} deleted",
    }
    if rebuild:
        tags["orchestrator/rebuilt_for_specs"] = f"{len(rebuild)} files, {len(specs)} specs arrived or changed"
    if previous_key:
        tags["orchestrator/retry_of_run_key"] = previous_key
    request = RunRequest(run_key=run_key, run_config=run_config_for(changes, rebuild), tags=tags)
    return request, PendingRequest(
        run_key=run_key, attempt=attempt, changes=changes, rebuild=tuple(sorted(rebuild)), specs=specs
    )


def _no_change_message(watched: Mapping[str, int]) -> str:
    if not watched:
        return NO_CHANGE
    return f"{NO_CHANGE}; none of the {len(watched)} spec files the entries use or wait for arrived or changed"


def evaluate_metadata_tick(
    listing: Iterable[BlobInfo | tuple[str, int]],
    cursor_str: str | None,
    run_status_lookup: RunStatusLookup,
    spec_source: SpecWatchSource | None = None,
    interval_seconds: int = DEFAULT_INTERVAL_SECONDS,
) -> tuple[RunRequest | SkipReason, str]:
    """One tick of the metadata sensor, without Dagster's context: the current listing, the cursor
    the previous tick left, `run_status_lookup(run_key)` (the status of the run with that run key,
    None when there is none) and where the spec watch and the spec cache are read (None: specs
    are not watched). Returns the run request or the skip reason, and the new cursor.
    `run_status_lookup` is called at most once."""
    cursor = decode_cursor(cursor_str)
    current = listing_state(listing)
    acknowledged = cursor.acknowledged
    pending = cursor.pending

    if pending is not None and pending.failure is None:
        status = run_status_lookup(pending.run_key)
        if status is None:
            # Reserved by the daemon but not (yet) created, or deleted from the instance: ask again
            # under the same key; the daemon skips a run key it has already launched.
            request, _ = _run_request(
                acknowledged, pending.changes, pending.attempt, rebuild=pending.rebuild, specs=pending.specs
            )
            request = request.with_replaced_attrs(run_key=pending.run_key)
            return request, cursor_str or encode_cursor(cursor)
        if status in SUCCEEDED:
            acknowledged = apply_changes(acknowledged, pending.changes)
            pending = None
        elif status in FAILED:
            pending = replace(pending, failure=status.value, ticks_waited=0)
        else:
            return SkipReason(
                f"run {pending.run_key} for the last change is still {status.value}; waiting for it to finish"
            ), cursor_str or encode_cursor(cursor)

    # No run in flight: what the bucket and the spec cache hold now, against what was processed.
    specs = check_specs(cursor, spec_source)

    def next_cursor(new_pending: PendingRequest | None) -> str:
        if (
            cursor_str
            and new_pending is None
            and cursor.pending is None
            and acknowledged is cursor.acknowledged
            and specs.watch_generation == cursor.watch_generation
            and specs.watched == cursor.watched_specs
        ):
            return cursor_str  # a tick that saw nothing new leaves the cursor as it was: no re-encoding
        return encode_cursor(MetadataCursor(acknowledged, new_pending, specs.watched, specs.watch_generation))

    changes = diff_states(acknowledged, current)
    if pending is not None:  # its run failed
        rebuild = sorted(set(specs.rebuild) | set(pending.rebuild))
        spec_changes = {**pending.specs, **specs.specs}
        if not changes and not rebuild:
            return SkipReason(
                f"run {pending.run_key} ended {pending.failure}; "
                "the bucket is back to the acknowledged state, nothing to redo"
            ), next_cursor(None)
        if changes == pending.changes and set(specs.rebuild) <= set(pending.rebuild):
            decision = retry_decision(pending.attempt, pending.ticks_waited, interval_seconds)
            if not decision.retry_now:
                ticks = decision.ticks_to_wait
                when = f"{ticks} tick{'s' if ticks != 1 else ''} (about {ticks * interval_seconds} s"
                return SkipReason(
                    f"run {pending.run_key} ended {pending.failure} (attempt {pending.attempt}); the same change "
                    f"is requested again in {when}; retries back off up to {MAX_BACKOFF_SECONDS // 60} min); "
                    "a new change is requested at once"
                ), next_cursor(replace(pending, ticks_waited=pending.ticks_waited + 1))
            request, new_pending = _run_request(
                acknowledged, changes, pending.attempt + 1, pending.run_key, rebuild, spec_changes
            )
            return request, next_cursor(new_pending)
        # Something new arrived while the failed change waited: requested at once, with the old one.
        request, new_pending = _run_request(acknowledged, changes, 1, pending.run_key, rebuild, spec_changes)
        return request, next_cursor(new_pending)

    if not changes and not specs.rebuild:
        return SkipReason(_no_change_message(specs.watched)), next_cursor(None)
    request, new_pending = _run_request(acknowledged, changes, 1, rebuild=specs.rebuild, specs=specs.specs)
    return request, next_cursor(new_pending)


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
        "requests generate_registry when files are new, rewritten or deleted, or when a spec the entries use or "
        "wait for arrives or changes in the spec cache (those entries are rebuilt). The cursor advances only when "
        "the run succeeds; a failed run's change is requested again after 1, 2, 4 ... ticks (at most 10 minutes)."
    ),
)
# A tick reads listings of ~50,000 objects into a code server that holds the code location: every
# full collection they triggered walked the whole server (0.12-0.27 s each, several per tick).
@objects_held_before_frozen
def generate_registry_on_new_latest_metadata_file_blobs(
    context: SensorEvaluationContext,
    metadata_file_and_yank_marker_blobs: GcsBlobListing,
    gcs_bucket_manager: GcsBucketManager,
    spec_cache: SpecCache,
) -> SensorResult:
    # Yank markers are watched like metadata files: a yank or unyank changes what the registries list.
    listing = metadata_file_and_yank_marker_blobs.generations()
    outcome, cursor = evaluate_metadata_tick(
        listing.items(),
        context.cursor,
        instance_run_status_lookup(context.instance),
        BucketSpecWatch(gcs_bucket_manager, spec_cache),
        sensor_interval_seconds(),
    )
    if isinstance(outcome, SkipReason):
        return SensorResult(skip_reason=outcome, cursor=cursor)
    rebuilt = outcome.tags.get("orchestrator/rebuilt_for_specs")
    context.log.info(
        f"{len(listing)} metadata files and yank markers listed; "
        f"requesting {outcome.run_key} ({outcome.tags.get('orchestrator/changed_files', 'retry')}"
        + (f"; rebuilding {rebuilt}" if rebuilt else "")
        + ")"
    )
    return SensorResult(run_requests=[outcome], cursor=cursor)
