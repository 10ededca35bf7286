"""The incremental build's decisions, as plain functions of what was listed or read: which metadata
files to read, which entries stay when a build fails, what the manifest becomes, which published
entries a registry build can reuse. The assets read, call these, and write."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from orchestrator.layout import (
    METADATA_FILE_NAME,
    REGISTRY_NAMES,
    entry_path,
    folder_of,
    is_latest_metadata,
    is_release_candidate_metadata,
    latest_metadata_beside,
    release_candidate_metadata_beside,
)
from orchestrator.models.state import (
    EntryManifest,
    ProcessedMetadataFile,
    RegistryEntryOutcome,
    RegistryInput,
    RegistryInputs,
)


class ListedObject(Protocol):
    # Read-only: a listing's frozen BlobInfo satisfies it.
    @property
    def name(self) -> str: ...

    @property
    def generation(self) -> int: ...


@dataclass(frozen=True)
class ScanPlan:
    """Which metadata files a run works on."""

    live_paths: set[str]  # every metadata file in the bucket, as far as this run knows
    to_read: list[str]  # new, rewritten, or due a retry: read and validated in this run
    deleted: list[str]  # processed before, gone now: their entries go too


def _needs_processing(manifest: EntryManifest, path: str, generation: int) -> bool:
    record = manifest.files.get(path)
    return record is None or record.generation != generation or record.needs_retry


def entries_not_as_recorded(manifest: EntryManifest, entry_generations: Mapping[str, int]) -> dict[str, int]:
    """Entries in the bucket that are not the ones the manifest says their files left (another
    writer replaced them, or they went): entry path -> generation listed (0: gone). Their files are
    built again over exactly those, so the bucket converges on the metadata.
    `entry_generations`: entry path -> generation of every entry a listing found."""
    replaced = {}
    for path, record in manifest.files.items():
        for registry, outcome in record.registries.items():
            if outcome.status == "disabled" or outcome.generation is None:
                continue
            listed = entry_generations.get(entry_path(path, registry), 0)
            if listed != outcome.generation:
                replaced[entry_path(path, registry)] = listed
    return replaced


def plan_full_scan(
    listing: Sequence[ListedObject],
    manifest: EntryManifest,
    rebuild: Collection[str] = (),
    replaced_entries: Mapping[str, int] | None = None,
) -> ScanPlan:
    """From a listing of every metadata file. `rebuild`: files to build again even if unchanged (a
    spec they use or wait for changed). `replaced_entries` (of `entries_not_as_recorded`): the
    files beside them are built again too."""
    live = {blob.name for blob in listing}
    rebuild = set(rebuild) | {f"{folder_of(path)}/{METADATA_FILE_NAME}" for path in replaced_entries or {}}
    return ScanPlan(
        live_paths=live,
        to_read=[
            blob.name
            for blob in listing
            if blob.name in rebuild or _needs_processing(manifest, blob.name, blob.generation)
        ],
        deleted=sorted(path for path in manifest.files if path not in live),
    )


def expected_entry_generation(previous: ProcessedMetadataFile | None, registry: str) -> int | None:
    """The generation an entry is written over: the one its file's record says it left (0: the
    record says there is none). None when the manifest has no record of it (a first build)."""
    if previous is None or registry not in previous.registries:
        return None
    outcome = previous.registries[registry]
    return outcome.generation if outcome.status != "disabled" and outcome.generation is not None else 0


def named_scan_candidates(
    changed_files: Iterable[str], deleted_files: Iterable[str], manifest: EntryManifest, rebuild: Iterable[str] = ()
) -> list[str]:
    """The files to look at when the sensor named the change: those it named (deleted ones too: one
    re-created since the sensor listed it is a change), those to rebuild, and every file due a retry."""
    candidates = set(changed_files) | set(deleted_files) | set(rebuild)
    candidates |= {path for path, record in manifest.files.items() if record.needs_retry}
    return sorted(candidates)


def plan_named_scan(
    found: Mapping[str, int | None], manifest: EntryManifest, rebuild: Collection[str] = ()
) -> ScanPlan:
    """From the candidates as read: path -> generation, None when the object does not exist."""
    gone = {path for path, generation in found.items() if generation is None}
    return ScanPlan(
        live_paths=(set(manifest.files) | set(found)) - gone,
        to_read=[
            path
            for path, generation in found.items()
            if generation is not None and (path in rebuild or _needs_processing(manifest, path, generation))
        ],
        deleted=sorted(path for path in gone if path in manifest.files),
    )


def release_candidate_companions(paths: Iterable[str]) -> set[str]:
    """The files whose entries depend on these new, changed or deleted ones (SPEC §4.1): a connector's
    latest/ when its release_candidate/ is among them (the candidate joins or leaves the latest
    entry), and its release_candidate/ when its latest/ is (the candidate is judged against the new
    latest, and its entry is needed to build it). Whether they exist is not known here."""
    given = set(paths)
    companions = set()
    for path in given:
        if is_release_candidate_metadata(path):
            companions.add(latest_metadata_beside(path))
        elif is_latest_metadata(path):
            companions.add(release_candidate_metadata_beside(path))
    return companions - given


def with_release_candidate_companions(plan: ScanPlan) -> ScanPlan:
    """The plan with the live companions of what it reads or deletes read too (and rebuilt), so that
    a release candidate uploaded, changed or removed updates its latest/ entry in the same run."""
    extra = sorted(
        path
        for path in release_candidate_companions([*plan.to_read, *plan.deleted])
        if path in plan.live_paths and path not in plan.to_read
    )
    return dataclasses.replace(plan, to_read=[*plan.to_read, *extra]) if extra else plan


def known_invalid_files(manifest: EntryManifest, live_paths: set[str], read_now: set[str]) -> dict[str, list[str]]:
    """Invalid files not read again in this run, with the problems recorded when they were."""
    return {
        path: record.problems
        for path, record in manifest.files.items()
        if not record.valid and path in live_paths and path not in read_now
    }


@dataclass(frozen=True)
class KeptEntry:
    """What stays in the bucket for one registry when a file's new build of it fails.
    `known=False`: the manifest has no record, so the bucket must be asked."""

    known: bool
    generation: int | None = None

    copy_path: str | None = None  # the override-path copy the file owns, kept with the entry
    copy_generation: int | None = None


def kept_entry(previous: ProcessedMetadataFile | None, registry: str) -> KeptEntry:
    if previous is not None and registry in previous.registries:
        outcome = previous.registries[registry]
        return KeptEntry(
            True,
            None if outcome.status == "disabled" else outcome.generation,
            outcome.copy_path,
            outcome.copy_generation,
        )
    return KeptEntry(False)


def failed_outcome(error: str, kept_generation: int | None, kept: KeptEntry | None = None) -> RegistryEntryOutcome:
    return RegistryEntryOutcome(
        status="failed",
        error=error,
        generation=kept_generation,
        copy_path=kept.copy_path if kept else None,
        copy_generation=kept.copy_generation if kept else None,
    )


def invalid_file_record(
    path: str,
    generation: int,
    etag: str,
    problems: list[str],
    previous: ProcessedMetadataFile | None,
    bucket_entry_generations: Mapping[str, int],
) -> ProcessedMetadataFile:
    """An invalid file builds nothing; the entries of its last good version stay, and so do their
    records. `bucket_entry_generations`: registry -> live generation of entries the manifest had
    no record of (only those that exist)."""
    registries = dict(previous.registries) if previous is not None else {}
    for registry in REGISTRY_NAMES:
        if registry not in registries and bucket_entry_generations.get(registry):
            registries[registry] = failed_outcome(f"{path}: invalid metadata file", bucket_entry_generations[registry])
    return ProcessedMetadataFile(
        generation=generation,
        etag=etag,
        valid=False,
        problems=problems,
        # the entries kept are those of the last good version
        docker_image_tag=previous.docker_image_tag if previous is not None else None,
        registries=registries,
    )


def unrecorded_registries(previous: ProcessedMetadataFile | None) -> list[str]:
    """Registries whose entry beside an invalid file the manifest knows nothing of."""
    recorded = previous.registries if previous is not None else {}
    return [registry for registry in REGISTRY_NAMES if registry not in recorded]


def plan_override_copies(
    wanted: Mapping[str, Mapping[str, str]],
    manifest: EntryManifest,
    live_paths: set[str],
    deleted: Iterable[str],
) -> dict[str, dict[str, str]]:
    """Which override-path copies (SPEC §4.1) the files built in this run may write.
    `wanted`: metadata file -> registry -> the copy path its entry would be written to as well.

    A folder holding a metadata file of its own keeps its own entry: no copy goes there. A copy
    path belongs to the file that first wrote it (the manifest says which) for as long as that file
    is live and claims it; among files of this run claiming a free path, the first by path order
    gets it. Returns metadata file -> registry -> copy path granted."""
    gone = set(deleted)
    owners = {path: owner for path, owner in manifest.override_copy_owners().items() if owner not in gone}
    claims: dict[str, list[str]] = {}
    for metadata_file in sorted(wanted):
        for copy_path in wanted[metadata_file].values():
            claims.setdefault(copy_path, []).append(metadata_file)
    winners: dict[str, str] = {}
    for copy_path, claimants in claims.items():
        if f"{folder_of(copy_path)}/{METADATA_FILE_NAME}" in live_paths:
            continue
        owner = owners.get(copy_path)
        if owner is not None and owner not in wanted:
            continue  # its owner is not rebuilt in this run, so it still claims it
        winners[copy_path] = owner if owner in claimants else claimants[0]
    granted: dict[str, dict[str, str]] = {}
    for metadata_file, copies in wanted.items():
        for registry, copy_path in copies.items():
            if winners.get(copy_path) == metadata_file:
                granted.setdefault(metadata_file, {})[registry] = copy_path
    return granted


def stale_override_copies(
    manifest: EntryManifest,
    processed: Mapping[str, ProcessedMetadataFile],
    deleted: Iterable[str],
    live_paths: set[str],
) -> list[tuple[str, int]]:
    """Copies (path, generation written) that their file no longer claims: it is gone, its registry
    is now disabled, or its override points elsewhere. Not those in a folder that now holds a
    metadata file (the entry there is that file's own); the rest are deleted only at the generation
    the copy was written with, so an object someone else has written since is never removed."""
    stale: list[tuple[str, int]] = []
    for path in sorted({*processed, *deleted}):
        previous = manifest.files.get(path)
        if previous is None:
            continue
        record = processed.get(path)
        for registry, outcome in previous.registries.items():
            if not outcome.copy_path or outcome.copy_generation is None:
                continue
            now = record.registries.get(registry) if record is not None else None
            if f"{folder_of(outcome.copy_path)}/{METADATA_FILE_NAME}" in live_paths:
                continue
            if now is None or now.copy_path != outcome.copy_path:
                stale.append((outcome.copy_path, outcome.copy_generation))
    return stale


def next_manifest(
    manifest: EntryManifest, processed: Mapping[str, ProcessedMetadataFile], deleted: Iterable[str]
) -> EntryManifest:
    """The manifest after this run: processed files' records replaced, deleted files' records gone."""
    files = dict(manifest.files)
    files.update(processed)
    for path in deleted:
        files.pop(path, None)
    return manifest.model_copy(update={"files": dict(sorted(files.items()))})


@dataclass(frozen=True)
class StagingPlan:
    """Which `latest/` entries a registry build takes from the published registry, which it downloads."""

    reusable: dict[str, dict] = field(default_factory=dict)  # entry path -> entry as published
    to_download: list[str] = field(default_factory=list)


def plan_registry_staging(
    generations: Mapping[str, int],
    inputs: RegistryInputs,
    published_generation: int,
    published_entries: Mapping[tuple[str, str], dict],
) -> StagingPlan:
    """Entries unchanged since the published registry was built are taken from it. The recorded
    inputs are trusted only when they describe the registry that is published now (same generation).

    `generations`: entry path -> generation of every `latest/` entry; `published_entries`:
    (connector type, definition id) -> entry, of the published registry."""
    reusable: dict[str, dict] = {}
    if published_entries and inputs.registry_generation == published_generation:
        for path, generation in generations.items():
            known = inputs.entries.get(path)
            if (
                known
                and known.generation == generation
                and (known.connector_type, known.definition_id) in published_entries
            ):
                reusable[path] = published_entries[(known.connector_type, known.definition_id)]
    return StagingPlan(reusable=reusable, to_download=sorted(path for path in generations if path not in reusable))


def registry_inputs(
    entries_by_path: Mapping[str, dict],
    generations: Mapping[str, int],
    published_generation: int,
    identify: Mapping[str, tuple[str, str]],
    secret_names: Mapping[str, set[str]],
    schema_fingerprint: str,
) -> RegistryInputs:
    """What a registry is built from, recorded so the next build reuses what did not change.
    `identify`: entry path -> (connector type, definition id); `secret_names`: entry path -> the
    secret property names of its spec."""
    return RegistryInputs(
        registry_generation=published_generation,
        schema_fingerprint=schema_fingerprint,
        entries={
            path: RegistryInput(
                generation=generations[path],
                connector_type=identify[path][0],
                definition_id=identify[path][1],
                secret_names=sorted(secret_names[path]),
            )
            for path in sorted(entries_by_path)
        },
    )
