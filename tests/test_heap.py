"""Steps run with the objects held before them out of the cyclic collector's sight, and give them back."""

from __future__ import annotations

import gc

import pytest

from orchestrator.heap import objects_held_before_frozen


def test_a_step_sees_what_existed_before_it_frozen_and_leaves_nothing_frozen():
    held_before = [object() for _ in range(100)]
    seen: list[int] = []

    @objects_held_before_frozen
    def step(value: int) -> int:
        seen.append(gc.get_freeze_count())
        return value * 2

    assert gc.get_freeze_count() == 0
    assert step(21) == 42
    assert seen[0] >= len(held_before)
    assert gc.get_freeze_count() == 0


def test_a_generator_step_stays_frozen_while_it_runs_not_only_while_it_is_created():
    seen: list[int] = []

    @objects_held_before_frozen
    def step():
        seen.append(gc.get_freeze_count())
        yield "first"
        seen.append(gc.get_freeze_count())
        yield "second"

    events = step()
    assert gc.get_freeze_count() == 0  # nothing runs until the first event is asked for
    assert list(events) == ["first", "second"]
    assert all(count > 0 for count in seen) and len(seen) == 2
    assert gc.get_freeze_count() == 0


def test_a_failing_step_gives_the_objects_back_and_keeps_its_error():
    @objects_held_before_frozen
    def step():
        raise ValueError("bad input")

    @objects_held_before_frozen
    def generator_step():
        yield 1
        raise ValueError("bad event")

    with pytest.raises(ValueError, match="bad input"):
        step()
    assert gc.get_freeze_count() == 0
    with pytest.raises(ValueError, match="bad event"):
        list(generator_step())
    assert gc.get_freeze_count() == 0


def test_the_assets_keep_their_dagster_signature():
    from orchestrator.assets.metadata import metadata_definitions
    from orchestrator.assets.registry_entry import registry_entry

    assert {"gcs_bucket_manager"} <= metadata_definitions.required_resource_keys
    assert {"gcs_bucket_manager", "spec_cache"} <= registry_entry.required_resource_keys
