"""The sensors against the real emulator, evaluated with Dagster's sensor context builder, and the
tick logic alone (`evaluate_metadata_tick`). Runs the sensor looks up are real runs recorded in an
ephemeral instance under the run key the sensor requested."""

from __future__ import annotations

import gc
import json
import sys
from types import FrameType

import pytest
from dagster import (
    DagsterEvent,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    RunRequest,
    SkipReason,
    job,
    op,
)

from orchestrator.sensors.metadata import (
    NO_CHANGE,
    RUN_KEY_TAG,
    decode_cursor,
    encode_cursor,
    evaluate_metadata_tick,
)
from orchestrator.sensors.metadata import (
    generate_registry_on_new_latest_metadata_file_blobs as metadata_sensor,
)
from orchestrator.sensors.registry import generate_registry_reports_on_registry_updated as registry_sensor
from tests.builders import code_location, make_data, put_connector, tick, to_yaml


@op
def _succeeds():
    return None


@op
def _fails():
    raise RuntimeError("simulated failure of the registry run")


@job
def _succeeding_job():
    _succeeds()


@job
def _failing_job():
    _fails()


def record_run(instance, run_key, success=True):
    """A real run in the instance carrying the run key tag, as the daemon would have launched it."""
    target = _succeeding_job if success else _failing_job
    result = target.execute_in_process(instance=instance, tags={RUN_KEY_TAG: run_key}, raise_on_error=False)
    assert result.success is success
    return result.run_id


def unfinished_run(instance, run_key, status=DagsterRunStatus.STARTED, **tags):
    """A run the daemon launched that has not finished yet (started, or not started)."""
    return instance.create_run_for_job(_succeeding_job, status=status, tags={RUN_KEY_TAG: run_key, **tags})


def finish(instance, run, event_type=DagsterEventType.RUN_SUCCESS):
    instance.run_storage.handle_run_event(
        run.run_id, DagsterEvent(event_type_value=event_type.value, job_name=run.job_name)
    )
    assert instance.get_run_by_id(run.run_id).is_finished


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


def acknowledged_after_success(resources, instance, cursor):
    """Tick -> one request -> its run succeeds -> the next tick must skip: returns that cursor."""
    requests, _, cursor = tick(metadata_sensor, resources, instance, cursor)
    assert len(requests) == 1
    record_run(instance, requests[0].run_key)
    requests, skip, cursor = tick(metadata_sensor, resources, instance, cursor)
    assert requests == [] and skip == NO_CHANGE
    return cursor


def pending_changes(cursor: str | None) -> dict[str, int | None]:
    """The changes named by the cursor's pending request, which it must have."""
    pending = decode_cursor(cursor).pending
    assert pending is not None
    return pending.changes


# ---------------------------------------------------------------------------------------------
# Metadata sensor, against the emulator


def test_sensors_are_in_the_code_location():
    names = {sensor.name for sensor in code_location().sensors}
    assert names == {
        "generate_registry_on_new_latest_metadata_file_blobs",
        "generate_registry_reports_on_registry_updated",
        "alert_on_run_failure",
        "alert_on_failed_checks",
    }
    assert len(code_location().sensors) == 4
    repository = code_location().get_repository_def()
    assert (
        repository.get_sensor_def("generate_registry_on_new_latest_metadata_file_blobs").job_name == "generate_registry"
    )
    assert (
        repository.get_sensor_def("generate_registry_reports_on_registry_updated").job_name
        == "generate_registry_reports"
    )


def test_empty_bucket_skips_with_a_reason(gcs_env, resources, instance):
    requests, skip, _ = tick(metadata_sensor, resources, instance)
    assert requests == [] and skip == NO_CHANGE


def test_a_tick_lists_the_bucket_with_what_the_process_held_before_it_out_of_the_collectors_sight(
    gcs_env, resources, instance
):
    """The collections a tick's listing triggers walk only what the tick allocated, never what the
    code server held before it (Dagster, the code location): those objects are frozen for the tick.
    At 12,000 files each full collection that walked them took 0.12-0.27 s, several per tick."""
    for index in range(20):
        put_connector(gcs_env, make_data(f"source-held-{index}"))
    frozen_at_collections: list[int] = []

    def record(phase: str, info: dict) -> None:
        if phase != "start":
            return
        frame: FrameType | None = sys._getframe(1)
        while frame is not None and frame.f_code.co_name != "_listing_items":
            frame = frame.f_back
        if frame is not None:
            frozen_at_collections.append(gc.get_freeze_count())

    thresholds = gc.get_threshold()
    gc.callbacks.append(record)
    gc.set_threshold(50, 1, 1)  # a collection every few dozen allocations
    try:
        requests, _, _ = tick(metadata_sensor, resources, instance)
    finally:
        gc.set_threshold(*thresholds)
        gc.callbacks.remove(record)
    assert len(requests) == 1
    assert frozen_at_collections, "the listing triggered no collection: the test proves nothing"
    assert min(frozen_at_collections) > 10_000
    assert gc.get_freeze_count() == 0


def test_the_ticks_listing_names_what_the_full_listing_names_with_the_same_generations(gcs_env, resources):
    put_connector(gcs_env, make_data("source-alpha"))
    put_connector(gcs_env, make_data("source-beta", tag="2.0.0"))
    bucket = gcs_env["metadata"]
    bucket.write("metadata/airbyte/source-beta/2.0.0/.yanked", b"broken release\n")
    bucket.write("metadata/airbyte/source-beta/2.0.0/icon.svg", b"<svg/>")
    bucket.write("metadata/airbyte/source-beta/2.0.0/notes.yaml", b"not a metadata file")
    listing = resources["metadata_file_and_yank_marker_blobs"]

    generations = listing.generations()

    assert generations == {blob.name: blob.generation for blob in listing.list()}
    assert "metadata/airbyte/source-beta/2.0.0/.yanked" in generations
    assert {name.rsplit("/", 1)[1] for name in generations} == {"metadata.yaml", ".yanked"}
    assert len(generations) == 5  # two connectors' versioned and latest/ files, one marker


def test_new_file_requests_one_run_and_same_state_asks_nothing_new(gcs_env, resources, instance):
    put_connector(gcs_env, make_data("source-alpha"))
    requests, skip, cursor = tick(metadata_sensor, resources, instance)
    assert skip is None and len(requests) == 1
    first_key = requests[0].run_key
    assert requests[0].tags["orchestrator/changed_files"] == "2 new, 0 changed, 0 deleted"  # the version and latest/

    # Run not finished yet: the same state asks for nothing.
    run = unfinished_run(instance, first_key, status=DagsterRunStatus.NOT_STARTED)
    requests, skip, cursor_queued = tick(metadata_sensor, resources, instance, cursor)
    assert requests == [] and "still NOT_STARTED" in skip and first_key in skip
    assert cursor_queued == cursor

    finish(instance, run)
    requests, skip, cursor = tick(metadata_sensor, resources, instance, cursor_queued)
    assert requests == [] and skip == NO_CHANGE
    requests, skip, _ = tick(metadata_sensor, resources, instance, cursor)
    assert requests == [] and skip == NO_CHANGE


def test_overwrite_with_identical_bytes_is_a_change(gcs_env, resources, instance):
    data = make_data("source-alpha")
    put_connector(gcs_env, data)
    cursor = acknowledged_after_success(resources, instance, None)

    gcs_env["metadata"].write(
        "metadata/airbyte/source-alpha/1.2.3/metadata.yaml", to_yaml(data)
    )  # same bytes, new generation
    requests, skip, cursor = tick(metadata_sensor, resources, instance, cursor)
    assert skip is None and len(requests) == 1
    assert requests[0].tags["orchestrator/changed_files"] == "0 new, 1 changed, 0 deleted"


def test_rewrite_of_the_most_recent_key_is_not_missed(gcs_env, resources, instance):
    """The trap of a single 'last seen' key ordered by update time: rewriting that very key."""
    put_connector(gcs_env, make_data("source-alpha"))
    put_connector(gcs_env, make_data("source-beta", tag="2.0.0"))
    cursor = acknowledged_after_success(resources, instance, None)

    listing = gcs_env["metadata"].list_blobs("metadata/", "metadata/**/metadata.yaml")
    newest = max(listing, key=lambda blob: blob.generation)
    data = gcs_env["metadata"].read(newest.name)[0]
    gcs_env["metadata"].write(newest.name, data)
    requests, skip, cursor = tick(metadata_sensor, resources, instance, cursor)
    assert skip is None and len(requests) == 1
    assert pending_changes(cursor) == {newest.name: gcs_env["metadata"].generation_of(newest.name)}

    # and again: the key the cursor now points at, rewritten once more after the run succeeded
    record_run(instance, requests[0].run_key)
    gcs_env["metadata"].write(newest.name, data)
    requests, skip, _ = tick(metadata_sensor, resources, instance, cursor)
    assert skip is None and len(requests) == 1


def test_deleted_file_requests_a_run(gcs_env, resources, instance):
    put_connector(gcs_env, make_data("source-alpha"))
    put_connector(gcs_env, make_data("source-beta"))
    cursor = acknowledged_after_success(resources, instance, None)

    gone = "metadata/airbyte/source-beta/1.2.3/metadata.yaml"
    assert gcs_env["metadata"].delete(gone)
    requests, skip, cursor = tick(metadata_sensor, resources, instance, cursor)
    assert skip is None and len(requests) == 1
    assert requests[0].tags["orchestrator/changed_files"] == "0 new, 0 changed, 1 deleted"
    assert pending_changes(cursor) == {gone: None}

    record_run(instance, requests[0].run_key)
    requests, skip, cursor = tick(metadata_sensor, resources, instance, cursor)
    assert requests == [] and skip == NO_CHANGE
    assert gone not in decode_cursor(cursor).acknowledged


def test_failed_real_run_is_requested_again_then_acknowledged(gcs_env, resources, instance, monkeypatch):
    put_connector(gcs_env, make_data("source-alpha"))
    requests, _, cursor = tick(metadata_sensor, resources, instance)
    first = requests[0]

    # The real generate_registry job, pointed at a bucket that does not exist: a genuine failed run.
    real_bucket = gcs_env["metadata"].bucket_name
    monkeypatch.setenv("METADATA_BUCKET", f"{real_bucket}-missing")
    failed = (
        code_location()
        .resolve_job_def("generate_registry")
        .execute_in_process(instance=instance, tags={RUN_KEY_TAG: first.run_key}, raise_on_error=False)
    )
    monkeypatch.setenv("METADATA_BUCKET", real_bucket)
    assert not failed.success
    assert instance.get_run_by_id(failed.run_id).status == DagsterRunStatus.FAILURE

    # The first retry waits one tick, and says so.
    requests, skip, cursor = tick(metadata_sensor, resources, instance, cursor)
    assert requests == [] and f"run {first.run_key} ended FAILURE (attempt 1)" in skip
    assert "requested again in 1 tick" in skip
    requests, skip, cursor = tick(metadata_sensor, resources, instance, cursor)
    assert skip is None and len(requests) == 1
    retry = requests[0]
    assert retry.run_key != first.run_key
    assert retry.run_key.rsplit("-", 1)[0] == first.run_key.rsplit("-", 1)[0], "the same change, a new attempt"
    assert retry.tags["orchestrator/attempt"] == "2" and retry.tags["orchestrator/retry_of_run_key"] == first.run_key
    assert decode_cursor(cursor).acknowledged == {}, "nothing is acknowledged while no run has succeeded"

    # The real job succeeds this time; the change is acknowledged and the next tick skips.
    succeeded = (
        code_location()
        .resolve_job_def("generate_registry")
        .execute_in_process(instance=instance, tags={RUN_KEY_TAG: retry.run_key}, raise_on_error=False)
    )
    assert succeeded.success
    requests, skip, cursor = tick(metadata_sensor, resources, instance, cursor)
    assert requests == [] and skip.startswith(NO_CHANGE)
    assert set(decode_cursor(cursor).acknowledged) == {
        "metadata/airbyte/source-alpha/1.2.3/metadata.yaml",
        "metadata/airbyte/source-alpha/latest/metadata.yaml",
    }


def test_change_during_a_run_is_requested_after_it(gcs_env, resources, instance):
    put_connector(gcs_env, make_data("source-alpha"))
    requests, _, cursor = tick(metadata_sensor, resources, instance)
    run = unfinished_run(instance, requests[0].run_key)
    put_connector(gcs_env, make_data("source-beta"))
    requests, skip, cursor = tick(metadata_sensor, resources, instance, cursor)
    assert requests == [] and "still STARTED" in skip

    finish(instance, run)
    requests, skip, cursor = tick(metadata_sensor, resources, instance, cursor)
    assert skip is None and len(requests) == 1
    assert requests[0].tags["orchestrator/changed_files"] == "2 new, 0 changed, 0 deleted"


# ---------------------------------------------------------------------------------------------
# The tick logic alone


def test_pure_tick_function_and_cursor_size():
    listing = [
        (f"metadata/airbyte/source-c{index:05d}/{version}/metadata.yaml", 1_700_000_000_000_000 + index * 1000 + minor)
        for index in range(1500)
        for minor, version in enumerate(["0.1.0", "0.2.0", "1.0.0", "1.1.0", "1.2.0", "2.0.0", "2.1.0", "latest"])
    ]
    assert len(listing) == 12_000
    lookups = []

    def lookup(run_key):
        lookups.append(run_key)
        return DagsterRunStatus.SUCCESS

    outcome, cursor = evaluate_metadata_tick(listing, None, lookup)
    assert isinstance(outcome, RunRequest) and lookups == []
    assert len(cursor) < 400_000
    outcome, cursor = evaluate_metadata_tick(listing, cursor, lookup)
    assert isinstance(outcome, SkipReason) and outcome.skip_message == NO_CHANGE and lookups == [lookups[0]]
    assert decode_cursor(cursor).acknowledged == dict(listing)
    assert encode_cursor(decode_cursor(cursor)) == cursor

    # A missing run (reserved by the daemon, not created yet): the same run key again, never a new one.
    changed = listing[:-1] + [(listing[-1][0], listing[-1][1] + 7)]
    first, cursor = evaluate_metadata_tick(changed, cursor, lookup)
    again, cursor_again = evaluate_metadata_tick(changed, cursor, lambda _key: None)
    assert isinstance(first, RunRequest) and isinstance(again, RunRequest)
    assert again.run_key == first.run_key and cursor_again == cursor


def test_deleted_then_recreated_then_deleted_gets_distinct_run_keys():
    ok = lambda _key: DagsterRunStatus.SUCCESS  # noqa: E731
    name = "metadata/airbyte/source-x/1.0.0/metadata.yaml"
    keys = []
    cursor = None
    for listing in ([(name, 1)], [], [(name, 2)], []):
        outcome, cursor = evaluate_metadata_tick(listing, cursor, ok)
        assert isinstance(outcome, RunRequest)
        keys.append(outcome.run_key)
    assert len(set(keys)) == 4


def test_unknown_cursor_version_is_an_error():
    with pytest.raises(ValueError, match="unknown version"):
        decode_cursor("v0:abc")


# ---------------------------------------------------------------------------------------------
# Registry sensor


def test_registry_sensor_requests_reports_once_per_registry_change(gcs_env, resources, instance):
    requests, skip, cursor = tick(registry_sensor, resources, instance)
    assert requests == [] and skip == "no registry published yet"

    metadata = gcs_env["metadata"]
    metadata.write("registries/v0/oss_registry.json", json.dumps({"sources": [], "destinations": []}).encode())
    metadata.write("registries/v0/cloud_registry.json", json.dumps({"sources": [], "destinations": []}).encode())
    requests, skip, cursor = tick(registry_sensor, resources, instance, cursor)
    assert skip is None and len(requests) == 1
    oss_generation = metadata.generation_of("registries/v0/oss_registry.json")
    assert str(oss_generation) in requests[0].run_key

    requests, skip, cursor = tick(registry_sensor, resources, instance, cursor)
    assert requests == [] and "unchanged" in skip

    metadata.write("registries/v0/cloud_registry.json", json.dumps({"sources": [], "destinations": []}).encode())
    requests, skip, cursor = tick(registry_sensor, resources, instance, cursor)
    assert len(requests) == 1 and requests[0].tags["orchestrator/changed_registries"] == "cloud_registry.json"
    requests, skip, _ = tick(registry_sensor, resources, instance, cursor)
    assert requests == []


def test_registry_sensor_waits_for_a_registry_writer_run(gcs_env, resources, instance):
    gcs_env["metadata"].write("registries/v0/oss_registry.json", b"{}")
    run = unfinished_run(instance, "metadata-busy-1", **{"orchestrator/concurrency": "registry_writer"})
    requests, skip, cursor = tick(registry_sensor, resources, instance)
    assert requests == [] and "in progress" in skip

    finish(instance, run)
    requests, skip, _ = tick(registry_sensor, resources, instance, cursor)
    assert len(requests) == 1
