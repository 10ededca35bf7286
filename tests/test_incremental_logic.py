"""The incremental build's decisions about release candidates and override-path copies (SPEC §4.1),
as the plain functions they are."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.logic.incremental import (
    ScanPlan,
    entries_not_as_recorded,
    expected_entry_generation,
    plan_full_scan,
    plan_override_copies,
    release_candidate_companions,
    stale_override_copies,
    with_release_candidate_companions,
)
from orchestrator.models.state import EntryManifest, ProcessedMetadataFile, RegistryEntryOutcome

LATEST = "metadata/airbyte/source-x/latest/metadata.yaml"
CANDIDATE = "metadata/airbyte/source-x/release_candidate/metadata.yaml"
VERSION = "metadata/airbyte/source-x/1.2.3/metadata.yaml"
OTHER_LATEST = "metadata/airbyte/source-y/latest/metadata.yaml"


@dataclass(frozen=True)
class Listed:
    name: str
    generation: int


def test_companions_both_directions_and_nothing_for_versions():
    assert release_candidate_companions([CANDIDATE]) == {LATEST}
    assert release_candidate_companions([LATEST]) == {CANDIDATE}
    assert release_candidate_companions([LATEST, CANDIDATE]) == set()
    assert release_candidate_companions([VERSION]) == set()
    assert release_candidate_companions(["metadata/airbyte/team/source-z/release_candidate/metadata.yaml"]) == {
        "metadata/airbyte/team/source-z/latest/metadata.yaml"
    }


def test_new_or_changed_release_candidate_rebuilds_its_latest():
    plan = ScanPlan(live_paths={LATEST, CANDIDATE, VERSION, OTHER_LATEST}, to_read=[CANDIDATE], deleted=[])
    assert with_release_candidate_companions(plan).to_read == [CANDIDATE, LATEST]


def test_deleted_release_candidate_rebuilds_its_latest():
    plan = ScanPlan(live_paths={LATEST, VERSION}, to_read=[], deleted=[CANDIDATE])
    rebuilt = with_release_candidate_companions(plan)
    assert rebuilt.to_read == [LATEST] and rebuilt.deleted == [CANDIDATE]


def test_changed_latest_judges_its_release_candidate_again():
    plan = ScanPlan(live_paths={LATEST, CANDIDATE, OTHER_LATEST}, to_read=[LATEST, OTHER_LATEST], deleted=[])
    assert with_release_candidate_companions(plan).to_read == [LATEST, OTHER_LATEST, CANDIDATE]


def test_companions_that_do_not_exist_are_not_read():
    plan = ScanPlan(live_paths={LATEST}, to_read=[LATEST], deleted=[])
    assert with_release_candidate_companions(plan) == plan
    gone = ScanPlan(live_paths=set(), to_read=[], deleted=[CANDIDATE, LATEST])
    assert with_release_candidate_companions(gone).to_read == []


COPY = "metadata/airbyte/source-x-strict-encrypt/1.2.3/cloud.json"


def manifest_with_copy(owner: str, copy_path: str = COPY, generation: int = 7) -> EntryManifest:
    outcome = RegistryEntryOutcome(status="written", generation=5, copy_path=copy_path, copy_generation=generation)
    return EntryManifest(
        files={owner: ProcessedMetadataFile(generation=1, etag="e", valid=True, registries={"cloud": outcome})}
    )


def test_a_free_copy_path_goes_to_the_first_claimant_by_path():
    other = "metadata/airbyte/source-x/1.2.9/metadata.yaml"
    wanted = {other: {"cloud": COPY}, VERSION: {"cloud": COPY}}
    granted = plan_override_copies(wanted, EntryManifest(), {VERSION, other}, [])
    assert granted == {VERSION: {"cloud": COPY}}


def test_the_owner_keeps_its_copy_path_while_it_is_live():
    newcomer = "metadata/airbyte/source-x/1.2.4/metadata.yaml"
    manifest = manifest_with_copy(owner=newcomer)
    # the owner is not rebuilt in this run: it still claims the path
    assert plan_override_copies({VERSION: {"cloud": COPY}}, manifest, {VERSION, newcomer}, []) == {}
    # rebuilt with it, the owner wins even though another file sorts first
    both = {VERSION: {"cloud": COPY}, newcomer: {"cloud": COPY}}
    assert plan_override_copies(both, manifest, {VERSION, newcomer}, []) == {newcomer: {"cloud": COPY}}
    # deleted, it frees the path
    assert plan_override_copies({VERSION: {"cloud": COPY}}, manifest, {VERSION}, [newcomer]) == {
        VERSION: {"cloud": COPY}
    }


def test_no_copy_where_a_metadata_file_has_its_own_entry():
    own = "metadata/airbyte/source-x-strict-encrypt/1.2.3/metadata.yaml"
    assert plan_override_copies({VERSION: {"cloud": COPY}}, EntryManifest(), {VERSION, own}, []) == {}


def test_stale_copies_when_the_file_goes_or_its_override_moves_but_not_when_kept():
    manifest = manifest_with_copy(owner=VERSION)
    assert stale_override_copies(manifest, {}, [VERSION], set()) == [(COPY, 7)]

    def record(**outcome) -> ProcessedMetadataFile:
        return ProcessedMetadataFile(
            generation=2, etag="e", valid=True, registries={"cloud": RegistryEntryOutcome(**outcome)}
        )

    moved = record(
        status="written", generation=9, copy_path="metadata/airbyte/other/1.2.3/cloud.json", copy_generation=10
    )
    assert stale_override_copies(manifest, {VERSION: moved}, [], {VERSION}) == [(COPY, 7)]
    assert stale_override_copies(manifest, {VERSION: record(status="disabled")}, [], {VERSION}) == [(COPY, 7)]
    rewritten = record(status="written", generation=9, copy_path=COPY, copy_generation=11)
    assert stale_override_copies(manifest, {VERSION: rewritten}, [], {VERSION}) == []
    failed_keeping = record(status="failed", generation=5, copy_path=COPY, copy_generation=7)
    assert stale_override_copies(manifest, {VERSION: failed_keeping}, [], {VERSION}) == []


def test_a_copy_whose_folder_now_has_a_metadata_file_is_never_stale():
    manifest = manifest_with_copy(owner=VERSION)
    own = "metadata/airbyte/source-x-strict-encrypt/1.2.3/metadata.yaml"
    assert stale_override_copies(manifest, {}, [VERSION], {own}) == []


def _record(**outcomes: RegistryEntryOutcome) -> ProcessedMetadataFile:
    return ProcessedMetadataFile(generation=10, etag="e", valid=True, registries=dict(outcomes))


def test_entries_not_as_recorded_are_the_replaced_and_the_gone():
    manifest = EntryManifest(
        files={
            LATEST: _record(
                oss=RegistryEntryOutcome(status="written", generation=5),
                cloud=RegistryEntryOutcome(status="written", generation=6),
            ),
            VERSION: _record(oss=RegistryEntryOutcome(status="disabled"), cloud=RegistryEntryOutcome(status="failed")),
            OTHER_LATEST: _record(oss=RegistryEntryOutcome(status="failed", generation=8)),
        }
    )
    listed = {
        "metadata/airbyte/source-x/latest/oss.json": 5,  # as recorded
        "metadata/airbyte/source-x/latest/cloud.json": 7,  # another writer replaced it
        "metadata/airbyte/source-x/1.2.3/oss.json": 3,  # disabled: not the manifest's to judge
    }
    assert entries_not_as_recorded(manifest, listed) == {
        "metadata/airbyte/source-x/latest/cloud.json": 7,
        "metadata/airbyte/source-y/latest/oss.json": 0,  # the kept entry went
    }
    replaced_plan = plan_full_scan(
        [Listed(LATEST, 10)],
        EntryManifest(files={LATEST: _record()}),
        (),
        {"metadata/airbyte/source-x/latest/cloud.json": 7},
    )
    assert replaced_plan.to_read == [LATEST], "an unchanged file whose entry was replaced is built again"


def test_an_entry_is_written_over_what_its_record_says_it_left():
    written = _record(oss=RegistryEntryOutcome(status="written", generation=5))
    assert expected_entry_generation(written, "oss") == 5
    assert expected_entry_generation(_record(oss=RegistryEntryOutcome(status="disabled")), "oss") == 0
    assert expected_entry_generation(_record(oss=RegistryEntryOutcome(status="failed")), "oss") == 0
    assert expected_entry_generation(_record(oss=RegistryEntryOutcome(status="failed", generation=4)), "oss") == 4
    assert expected_entry_generation(written, "cloud") is None, "no record: a first build"
    assert expected_entry_generation(None, "oss") is None
