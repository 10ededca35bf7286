"""The rows the checks and the report show, from the manifest alone (pure functions)."""

from __future__ import annotations

from orchestrator.logic.failures import (
    failed_entry_rows,
    first_few,
    invalid_file_rows,
    invalid_files_of,
    markdown_rows,
    split_problem,
    stale_connectors,
)
from orchestrator.models.state import (
    EntryManifest,
    ProcessedMetadataFile,
    RegistryEntryOutcome,
    RegistryInput,
    RegistryInputs,
)

LATEST = "metadata/airbyte/source-a/latest/metadata.yaml"
VERSION = "metadata/airbyte/source-a/1.1.0/metadata.yaml"
BAD = "metadata/airbyte/source-b/latest/metadata.yaml"


def test_a_problem_splits_into_field_and_reason():
    assert split_problem(BAD, f"{BAD}: data.license: required field is missing") == (
        "data.license",
        "required field is missing",
    )
    assert split_problem(BAD, f"{BAD}: line 3, column 1: malformed YAML: found ':'") == (
        "line 3, column 1",
        "malformed YAML: found ':'",
    )
    assert split_problem(BAD, "something odd") == ("(document)", "something odd")


def manifest() -> EntryManifest:
    missing = "no spec in the spec cache for image airbyte/source-a:1.1.0 (oss registry)"
    return EntryManifest(
        files={
            LATEST: ProcessedMetadataFile(
                generation=5,
                etag="e",
                valid=True,
                definition_id="id-a",
                docker_image_tag="1.1.0",
                registries={
                    "oss": RegistryEntryOutcome(
                        status="failed",
                        error=f"{LATEST}: {missing}",
                        generation=3,
                        specs={"specs/airbyte/source-a/1.1.0/spec.json": 0},
                    ),
                    "cloud": RegistryEntryOutcome(status="written", generation=9),
                },
            ),
            VERSION: ProcessedMetadataFile(
                generation=4,
                etag="e",
                valid=True,
                registries={"oss": RegistryEntryOutcome(status="written", generation=8)},
            ),
            BAD: ProcessedMetadataFile(
                generation=2,
                etag="e",
                valid=False,
                problems=[f"{BAD}: data.license: required field is missing", f"{BAD}: data.tags: needs a tag"],
                registries={"oss": RegistryEntryOutcome(status="failed", error="invalid")},
            ),
        }
    )


def test_rows_of_the_manifest():
    state = manifest()
    assert [(row.file, row.field) for row in invalid_file_rows(invalid_files_of(state))] == [
        (BAD, "data.license"),
        (BAD, "data.tags"),
    ]
    (failed,) = failed_entry_rows(state)  # the invalid file's entries are not counted twice
    assert (failed.file, failed.registry) == (LATEST, "oss")
    assert failed.reason.startswith("no spec in the spec cache") and failed.awaited_specs == (
        "specs/airbyte/source-a/1.1.0/spec.json",
    )


def test_stale_connectors_are_latest_files_the_published_registry_does_not_show():
    state = manifest()
    published = {
        "oss": RegistryInputs(),
        "cloud": RegistryInputs(
            entries={
                "metadata/airbyte/source-a/latest/cloud.json": RegistryInput(
                    generation=9, definition_id="id-a", connector_type="source"
                )
            }
        ),
    }
    stale = stale_connectors(state, published)
    assert [(row.file, row.registry, row.metadata_version) for row in stale] == [(LATEST, "oss", "1.1.0")]
    assert stale[0].reason.startswith("its entry failed to build: no spec")
    # The cloud registry was last published from an older cloud.json: stale there too.
    published["cloud"] = RegistryInputs(
        entries={
            "metadata/airbyte/source-a/latest/cloud.json": RegistryInput(
                generation=7, definition_id="id-a", connector_type="source"
            )
        }
    )
    assert [row.registry for row in stale_connectors(state, published)] == ["cloud", "oss"]


def test_markdown_rows_say_how_many_there_are():
    rows = [(f"file-{index}", "reason") for index in range(20)]
    table = markdown_rows(["file", "reason"], rows, 15, "failed entries")
    assert table.splitlines()[0] == "First 15 of 20 failed entries."
    assert table.count("| file-") == 15
    assert markdown_rows(["file"], [], 15, "failed entries") == "No failed entries."


def test_a_check_description_names_the_first_three_and_counts_the_rest():
    assert first_few("2 bad", ["a", "b"], "problems") == "2 bad: a; b"
    assert first_few("5 bad", list("abcde"), "problems") == "5 bad: a; b; c; and 2 more problems (see the table)"
    assert first_few("4 failed", list("abcd"), "") == "4 failed: a; b; c; and 1 more (see the table)"
