"""The registry's pure logic alone: building, the safety checks and the diff (no Dagster, no GCS)."""

from __future__ import annotations

import copy
from collections.abc import Iterable

from orchestrator.logic.registry import (
    SAFETY_CHECKS,
    StagedFacts,
    build_registry,
    diff_registries,
    entries_to_check,
    entry_schema_problems,
    publish_safety_checks,
    registry_connectors,
    schema_problems,
)
from orchestrator.logic.serialization import to_json_bytes
from orchestrator.logic.transform import metadata_to_registry_entry
from tests.builders import make_data, make_spec


def entry(name: str, tag: str = "1.0.0", connector_type: str = "source", **fields) -> dict:
    built = metadata_to_registry_entry(
        make_data(name, connector_type=connector_type, tag=tag, **fields), "oss", None, lambda *_: make_spec()
    )
    assert built is not None
    return built


def registry_of(*entries: dict) -> dict:
    return build_registry({f"metadata/{item['dockerRepository']}/latest/oss.json": item for item in entries})


def facts(
    registry: dict, previous: dict | None = None, disabled: Iterable[str] = frozenset(), share: float = 0.05
) -> StagedFacts:
    return StagedFacts(
        "oss",
        to_json_bytes(registry),
        registry_connectors(registry),
        registry_connectors(previous),
        set(disabled),
        share,
    )


def test_build_registry_orders_each_kind_by_path():
    registry = registry_of(entry("source-b"), entry("destination-z", connector_type="destination"), entry("source-a"))
    assert [item["dockerRepository"] for item in registry["sources"]] == ["airbyte/source-a", "airbyte/source-b"]
    assert [item["dockerRepository"] for item in registry["destinations"]] == ["airbyte/destination-z"]
    assert list(registry) == ["destinations", "sources"]


def test_all_checks_pass_on_a_sound_registry():
    previous = registry_of(entry("source-a"), entry("source-b"))
    current = registry_of(entry("source-a", tag="1.1.0"), entry("source-b"), entry("source-c"))
    results = publish_safety_checks(facts(current, previous))
    assert [check.name for check in results] == list(SAFETY_CHECKS)
    assert all(check.passed for check in results), results


def test_schema_check_names_the_field():
    broken = entry("source-a")
    broken["dockerImageTag"] = 7  # the schema wants a string
    check = SAFETY_CHECKS["schema_valid"](facts(registry_of(broken)))
    assert not check.passed and "dockerImageTag" in check.description


def test_schema_check_audits_the_published_bytes_not_a_copy():
    staged = facts(registry_of(entry("source-a")))
    tampered = StagedFacts(
        "oss",
        staged.payload.replace(b'"dockerImageTag": "1.0.0"', b'"dockerImageTag": 100'),
        staged.connectors,
        [],
        set(),
        0.05,
    )
    assert SAFETY_CHECKS["schema_valid"](staged).passed
    check = SAFETY_CHECKS["schema_valid"](tampered)
    assert not check.passed and "dockerImageTag" in check.description


def test_checking_entries_alone_names_what_the_whole_registry_check_names():
    good, broken = entry("source-a"), entry("source-b")
    broken["dockerImageTag"] = 7
    destination = entry("destination-c", connector_type="destination")
    destination["name"] = None
    registry = registry_of(good, broken, destination)
    whole = schema_problems(to_json_bytes(registry))
    assert len(whole) == 2 and any(problem.startswith("sources.1.dockerImageTag") for problem in whole)
    assert entry_schema_problems(entries_to_check(registry, [])) == whole
    # Entries checked before are skipped by identity, not by equal content.
    assert entry_schema_problems(entries_to_check(registry, [broken, destination])) == []
    assert entry_schema_problems(entries_to_check(registry, [copy.deepcopy(broken), destination])) == whole[1:]


def test_duplicate_definition_ids_are_named():
    first = entry("source-a")
    twin = copy.deepcopy(entry("source-b"))
    twin["sourceDefinitionId"] = first["sourceDefinitionId"]
    check = SAFETY_CHECKS["no_duplicate_definition_ids"](facts(registry_of(first, twin)))
    assert not check.passed
    assert first["sourceDefinitionId"] in check.description and "airbyte/source-b" in check.description


def test_empty_registry_fails_not_empty():
    check = SAFETY_CHECKS["not_empty"](facts({"destinations": [], "sources": []}))
    assert not check.passed and "would be empty" in check.description


def test_loss_is_allowed_only_when_explained_or_within_the_share():
    previous = registry_of(*(entry(f"source-s{index}") for index in range(10)))
    leaving = entry("source-s3")
    current = registry_of(*(entry(f"source-s{index}") for index in range(10) if index != 3))

    unexplained = SAFETY_CHECKS["no_unexplained_loss"](facts(current, previous))
    assert not unexplained.passed, "1 of 10 (10%) is above the default 5%"
    assert "Source S3 (airbyte/source-s3" in unexplained.description and "1 of 10" in unexplained.description

    explained = SAFETY_CHECKS["no_unexplained_loss"](facts(current, previous, disabled={leaving["sourceDefinitionId"]}))
    assert explained.passed and "disabled by their metadata: Source S3" in explained.description

    tolerated = SAFETY_CHECKS["no_unexplained_loss"](facts(current, previous, share=0.10))
    assert tolerated.passed and "airbyte/source-s3" in tolerated.description, "an allowed loss is still named"


def test_first_publication_has_nothing_to_lose():
    check = SAFETY_CHECKS["no_unexplained_loss"](facts(registry_of(entry("source-a"))))
    assert check.passed


def test_diff_lists_added_removed_and_version_changes():
    previous = registry_of(entry("source-a"), entry("source-b"), entry("destination-c", connector_type="destination"))
    current = registry_of(
        entry("source-a", tag="1.1.0"), entry("destination-c", connector_type="destination"), entry("source-d")
    )
    diff = diff_registries(registry_connectors(previous), registry_connectors(current), "oss")
    assert diff["registry"] == "oss"
    assert [item["dockerRepository"] for item in diff["added"]] == ["airbyte/source-d"]
    assert [item["dockerRepository"] for item in diff["removed"]] == ["airbyte/source-b"]
    assert [(item["dockerRepository"], item["from"], item["to"]) for item in diff["changed"]] == [
        ("airbyte/source-a", "1.0.0", "1.1.0")
    ]
    assert "dockerImageTag" not in diff["changed"][0]


def test_diff_against_nothing_adds_everything():
    current = registry_of(entry("source-a"), entry("source-b"))
    diff = diff_registries([], registry_connectors(current), "cloud")
    assert [item["dockerRepository"] for item in diff["added"]] == ["airbyte/source-a", "airbyte/source-b"]
    assert diff["removed"] == [] and diff["changed"] == []


def test_a_duplicate_claim_goes_to_the_older_entry_and_the_claimant_keeps_its_previous_one():
    from orchestrator.logic.registry import resolve_duplicate_definition_ids

    def entry(repository: str, definition_id: str, tag: str = "1.0.0") -> dict:
        return {"dockerRepository": repository, "sourceDefinitionId": definition_id, "dockerImageTag": tag}

    owner, thief, newcomer = (
        "metadata/a/owner/latest/oss.json",
        "metadata/a/thief/latest/oss.json",
        "metadata/a/new/latest/oss.json",
    )
    entries = {
        owner: entry("a/owner", "id-1"),
        thief: entry("a/thief", "id-1", "2.0.0"),
        newcomer: entry("a/new", "id-1"),
    }
    changed_at = {owner: 1, thief: 5, newcomer: 9}
    previous = {thief: entry("a/thief", "id-2", "1.9.0")}
    resolved, resolutions = resolve_duplicate_definition_ids(entries, changed_at, previous)
    assert resolved == {owner: entries[owner], thief: previous[thief]}
    assert [(item.offender, item.kept, item.outcome) for item in resolutions] == [
        ("a/thief", "a/owner", "kept its previous entry"),
        ("a/new", "a/owner", "left out"),
    ]
    assert resolve_duplicate_definition_ids({owner: entries[owner]}, changed_at, previous) == (
        {owner: entries[owner]},
        [],
    )
