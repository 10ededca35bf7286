"""The metadata sensor's decisions as plain functions: the backoff of a change whose runs keep
failing, a new change requested at once, and the spec watch (which entries a spec change rebuilds)."""

from __future__ import annotations

from collections.abc import Collection

import pytest
from dagster import DagsterRunStatus, RunRequest, SkipReason

from orchestrator.logic.spec_watch import (
    MIXED_GENERATIONS,
    changed_specs,
    files_to_rebuild,
    spec_watch_changed,
    spec_watch_of,
    watch_summary,
)
from orchestrator.models.state import EntryManifest, ProcessedMetadataFile, RegistryEntryOutcome, SpecWatch
from orchestrator.sensors.metadata import (
    MAX_BACKOFF_SECONDS,
    NO_CHANGE,
    decode_cursor,
    encode_cursor,
    evaluate_metadata_tick,
    retry_decision,
)

FILE = "metadata/airbyte/source-x/1.0.0/metadata.yaml"
LISTING = [(FILE, 11), ("metadata/airbyte/source-x/latest/metadata.yaml", 12)]


def always(status):
    return lambda _key: status


@pytest.mark.parametrize(
    ("interval", "waits"),
    [
        (30, [1, 2, 4, 8, 16, 20, 20, 20]),  # 20 ticks of 30 s: the 10-minute cap
        (60, [1, 2, 4, 8, 10, 10]),
        (600, [1, 1, 1]),
        (1, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]),
    ],
)
def test_backoff_schedule_doubles_up_to_ten_minutes(interval, waits):
    for failed_attempts, wait in enumerate(waits, start=1):
        assert [retry_decision(failed_attempts, waited, interval).retry_now for waited in range(wait + 1)] == [
            False
        ] * wait + [True], f"after failed attempt {failed_attempts}"
        assert retry_decision(failed_attempts, 0, interval).ticks_to_wait == wait
        assert wait * interval <= max(MAX_BACKOFF_SECONDS, interval)


def test_a_change_whose_runs_keep_failing_is_requested_after_1_2_4_ticks():
    """Every run fails: the ticks at which the same change is requested again, and what the skips say."""
    cursor = None
    requested_at, attempts, skips = [], [], []
    for tick in range(40):
        outcome, cursor = evaluate_metadata_tick(LISTING, cursor, always(DagsterRunStatus.FAILURE))
        if isinstance(outcome, RunRequest):
            requested_at.append(tick)
            attempts.append(outcome.tags["orchestrator/attempt"])
        else:
            skips.append(outcome.skip_message or "")
    # A tick sees the failure, then waits 1, 2, 4, 8, 16 ticks before asking again.
    gaps = [later - earlier for earlier, later in zip(requested_at, requested_at[1:], strict=False)]
    assert gaps == [2, 3, 5, 9, 17]
    assert attempts == ["1", "2", "3", "4", "5", "6"]
    assert "ended FAILURE (attempt 1); the same change is requested again in 1 tick (about 30 s" in skips[0]
    assert "requested again in 2 ticks (about 60 s" in skips[1]
    assert "requested again in 1 tick (about 30 s" in skips[2]  # the second of those two ticks
    assert all("a new change is requested at once" in skip for skip in skips)


def test_a_new_change_while_backing_off_is_requested_at_once():
    cursor = None
    outcome, cursor = evaluate_metadata_tick(LISTING, cursor, always(DagsterRunStatus.FAILURE))
    for _ in range(3):  # attempts 1 and 2 fail; the sensor now waits 2 ticks
        outcome, cursor = evaluate_metadata_tick(LISTING, cursor, always(DagsterRunStatus.FAILURE))
        outcome, cursor = evaluate_metadata_tick(LISTING, cursor, always(DagsterRunStatus.FAILURE))
    pending = decode_cursor(cursor).pending
    assert pending is not None and pending.failure == "FAILURE"
    uploaded = [*LISTING, ("metadata/airbyte/source-y/1.0.0/metadata.yaml", 99)]
    lookups = []
    outcome, cursor = evaluate_metadata_tick(uploaded, cursor, lambda key: lookups.append(key))
    assert isinstance(outcome, RunRequest), "a new upload does not wait for the backoff"
    assert outcome.tags["orchestrator/attempt"] == "1"
    assert outcome.tags["orchestrator/changed_files"] == "3 new, 0 changed, 0 deleted"
    assert lookups == [], "a failure already seen is not looked up again"


def test_a_change_that_succeeds_on_retry_is_acknowledged():
    outcome, cursor = evaluate_metadata_tick(LISTING, None, always(DagsterRunStatus.FAILURE))
    outcome, cursor = evaluate_metadata_tick(LISTING, cursor, always(DagsterRunStatus.FAILURE))
    assert isinstance(outcome, SkipReason)
    outcome, cursor = evaluate_metadata_tick(LISTING, cursor, always(DagsterRunStatus.FAILURE))
    assert isinstance(outcome, RunRequest) and outcome.tags["orchestrator/retry_of_run_key"].endswith("-1")
    outcome, cursor = evaluate_metadata_tick(LISTING, cursor, always(DagsterRunStatus.SUCCESS))
    assert isinstance(outcome, SkipReason) and outcome.skip_message == NO_CHANGE
    assert decode_cursor(cursor).acknowledged == dict(LISTING)


def test_cursor_round_trips_with_a_failed_pending_request_and_a_watch():
    outcome, cursor = evaluate_metadata_tick(LISTING, None, always(DagsterRunStatus.FAILURE))
    outcome, cursor = evaluate_metadata_tick(LISTING, cursor, always(DagsterRunStatus.FAILURE))
    decoded = decode_cursor(cursor)
    assert decoded.pending is not None and decoded.pending.ticks_waited == 1
    assert encode_cursor(decoded) == cursor


# ---------------------------------------------------------------------------------------------
# The spec watch


SPEC = "specs/airbyte/source-x/1.0.0/spec.json"
CLOUD_SPEC = "specs/airbyte/source-x/1.0.0/spec.cloud.json"
LATEST = "metadata/airbyte/source-x/latest/metadata.yaml"


def record(valid=True, **registries: dict[str, int]) -> ProcessedMetadataFile:
    return ProcessedMetadataFile(
        generation=1,
        etag="e",
        valid=valid,
        registries={
            name: RegistryEntryOutcome(status="written" if all(specs.values()) else "failed", specs=specs)
            for name, specs in registries.items()
        },
    )


def test_spec_watch_of_the_manifest():
    manifest = EntryManifest(
        files={
            FILE: record(oss={SPEC: 5}, cloud={CLOUD_SPEC: 0, SPEC: 5}),
            LATEST: record(oss={SPEC: 7}, cloud={CLOUD_SPEC: 0, SPEC: 7}),
            "metadata/airbyte/source-bad/1.0.0/metadata.yaml": record(valid=False, oss={"specs/bad/spec.json": 1}),
        }
    )
    watch = spec_watch_of(manifest)
    assert watch.specs == {CLOUD_SPEC: {FILE: 0, LATEST: 0}, SPEC: {FILE: 5, LATEST: 7}}, "invalid files build nothing"
    summary = watch_summary(watch)
    assert summary == {CLOUD_SPEC: 0, SPEC: MIXED_GENERATIONS}

    # spec.json is at 7 in the cache: only the file built from 5 is rebuilt.
    assert changed_specs(summary, {SPEC: 7}) == {SPEC: 7}
    assert files_to_rebuild(watch, {SPEC: 7}) == [FILE]
    # spec.cloud.json arrives: both cloud entries should use it.
    assert changed_specs(summary, {SPEC: 7, CLOUD_SPEC: 9}) == {SPEC: 7, CLOUD_SPEC: 9}
    assert files_to_rebuild(watch, {CLOUD_SPEC: 9}) == [FILE, LATEST]
    # A spec leaving the cache rebuilds nothing.
    assert changed_specs({SPEC: 5}, {}) == {}
    assert changed_specs({SPEC: 5}, {SPEC: 5}) == {}


def test_the_watch_changes_exactly_when_a_touched_record_changes_what_it_watches():
    import random

    rng = random.Random(3)
    specs = [SPEC, CLOUD_SPEC, "specs/airbyte/source-y/2.0.0/spec.json"]
    files = [
        FILE,
        LATEST,
        "metadata/airbyte/source-y/2.0.0/metadata.yaml",
        "metadata/airbyte/source-y/latest/metadata.yaml",
    ]

    def random_record() -> ProcessedMetadataFile:
        registries = {
            name: {spec: rng.choice([0, 5, 7]) for spec in rng.sample(specs, rng.randint(0, 2))}
            for name in rng.sample(["oss", "cloud"], rng.randint(0, 2))
        }
        return record(valid=rng.random() > 0.2, **registries)

    outcomes = set()
    for _ in range(400):
        before = EntryManifest(files={path: random_record() for path in files if rng.random() > 0.2})
        touched = set(rng.sample(files, rng.randint(0, len(files))))
        after_files = dict(before.files)
        for path in touched:
            if rng.random() < 0.3:
                after_files.pop(path, None)
            elif rng.random() < 0.5 and path in before.files:
                after_files[path] = before.files[path].model_copy()  # rebuilt, same specs
            else:
                after_files[path] = random_record()
        after = EntryManifest(files=after_files)
        changed = spec_watch_of(before) != spec_watch_of(after)
        assert spec_watch_changed(before, after, touched) == changed
        outcomes.add(changed)
    assert outcomes == {True, False}


class FakeSpecs:
    """The spec watch file and the spec cache as the tick sees them, with the calls counted."""

    def __init__(self, watch: SpecWatch, cache: dict[str, int], generation: int = 1):
        self.watch, self.cache, self.generation = watch, cache, generation
        self.calls: list[str] = []

    def watch_generation(self) -> int:
        self.calls.append("watch_generation")
        return self.generation

    def read_watch(self) -> tuple[SpecWatch, int]:
        self.calls.append("read_watch")
        return self.watch, self.generation

    def spec_generations(self, paths: Collection[str]) -> dict[str, int]:
        self.calls.append("spec_generations")
        return {path: generation for path, generation in self.cache.items() if path in paths}


def test_tick_watches_specs_cheaply_and_requests_the_rebuild_at_once():
    watch = SpecWatch(specs={SPEC: {FILE: 0, LATEST: 0}})
    specs = FakeSpecs(watch, cache={})
    ok = always(DagsterRunStatus.SUCCESS)
    outcome, cursor = evaluate_metadata_tick(LISTING, None, ok, specs)
    outcome, cursor = evaluate_metadata_tick(LISTING, cursor, ok, specs)  # the run succeeded
    assert isinstance(outcome, SkipReason) and (outcome.skip_message or "").startswith(NO_CHANGE)
    specs.calls.clear()
    outcome, cursor = evaluate_metadata_tick(LISTING, cursor, ok, specs)
    assert isinstance(outcome, SkipReason)
    assert specs.calls == ["watch_generation", "spec_generations"], "the watch is read only when it changed"

    specs.cache[SPEC] = 42  # the spec arrives
    specs.calls.clear()
    outcome, cursor = evaluate_metadata_tick(LISTING, cursor, ok, specs)
    assert isinstance(outcome, RunRequest)
    assert outcome.run_config["ops"]["metadata_definitions"]["config"]["rebuild_files"] == [FILE, LATEST]
    assert specs.calls == ["watch_generation", "spec_generations", "read_watch"]

    # The run rebuilt them: the watch file now says 42, and nothing more is requested.
    specs.watch, specs.generation = SpecWatch(specs={SPEC: {FILE: 42, LATEST: 42}}), 2
    outcome, cursor = evaluate_metadata_tick(LISTING, cursor, ok, specs)
    assert isinstance(outcome, SkipReason) and (outcome.skip_message or "").startswith(NO_CHANGE)
    assert decode_cursor(cursor).watched_specs == {SPEC: 42}


def test_the_same_files_rebuilt_for_a_second_spec_change_get_a_new_run_key():
    ok = always(DagsterRunStatus.SUCCESS)
    specs = FakeSpecs(SpecWatch(specs={SPEC: {FILE: 5}}), cache={SPEC: 6})
    outcome, cursor = evaluate_metadata_tick(LISTING, None, ok, specs)
    outcome, cursor = evaluate_metadata_tick(LISTING, cursor, ok, specs)
    assert isinstance(outcome, RunRequest)
    first_key = outcome.run_key
    specs.watch, specs.generation, specs.cache = SpecWatch(specs={SPEC: {FILE: 6}}), 2, {SPEC: 7}
    outcome, cursor = evaluate_metadata_tick(LISTING, cursor, ok, specs)
    assert isinstance(outcome, RunRequest) and outcome.run_key != first_key


def test_a_failed_rebuild_is_retried_even_when_the_watch_no_longer_shows_it():
    """The entries step succeeded (the watch is up to date) but publishing failed: the rebuild's
    files are carried into the retry, or the registry would never show them."""
    failing = always(DagsterRunStatus.FAILURE)
    specs = FakeSpecs(SpecWatch(specs={SPEC: {FILE: 5}}), cache={SPEC: 6})
    ok = always(DagsterRunStatus.SUCCESS)
    outcome, cursor = evaluate_metadata_tick(LISTING, None, ok, specs)
    outcome, cursor = evaluate_metadata_tick(LISTING, cursor, ok, specs)
    assert isinstance(outcome, RunRequest)
    specs.watch, specs.generation = SpecWatch(specs={SPEC: {FILE: 6}}), 2
    outcome, cursor = evaluate_metadata_tick(LISTING, cursor, failing, specs)
    assert isinstance(outcome, SkipReason) and "ended FAILURE" in (outcome.skip_message or "")
    outcome, cursor = evaluate_metadata_tick(LISTING, cursor, failing, specs)
    assert isinstance(outcome, RunRequest)
    assert outcome.run_config["ops"]["metadata_definitions"]["config"]["rebuild_files"] == [FILE]
    assert outcome.tags["orchestrator/attempt"] == "2"
