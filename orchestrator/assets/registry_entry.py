"""Group `registry_entry`: each new or changed metadata file → its `oss.json` / `cloud.json` (SPEC §4, §4.1).

Only files the manifest has not seen at their current generation are processed; a bad file or a
missing spec is recorded and skipped, and the entry already published for that folder stays.
Release candidates are built first, so that the latest/ entry of their connector can carry them."""

import dataclasses
from concurrent.futures import ThreadPoolExecutor

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    MetadataValue,
    Output,
    TableColumn,
    TableRecord,
    TableSchema,
    asset,
    asset_check,
)

from orchestrator.heap import objects_held_before_frozen
from orchestrator.layout import (
    ENTRY_MANIFEST_PATH,
    ICON_GLOB,
    METADATA_FOLDER,
    REGISTRY_NAMES,
    SPEC_WATCH_PATH,
    entry_path,
    icon_path_beside,
    is_latest_metadata,
    is_release_candidate_metadata,
    is_versioned_metadata,
    release_candidate_metadata_beside,
    repository_folder_of,
)
from orchestrator.logic.failures import failed_entry_rows, first_few, markdown_rows
from orchestrator.logic.incremental import (
    expected_entry_generation,
    failed_outcome,
    invalid_file_record,
    kept_entry,
    next_manifest,
    plan_override_copies,
    stale_override_copies,
    unrecorded_registries,
)
from orchestrator.logic.serialization import to_json_bytes
from orchestrator.logic.spec_watch import spec_watch_changed, spec_watch_of
from orchestrator.logic.transform import (
    RegistryEntryError,
    ReleaseCandidate,
    SourceFile,
    metadata_to_registry_entry,
    override_copy_path,
)
from orchestrator.logic.yank import with_yank_markers, yanked_connectors, yanked_version_folders
from orchestrator.models.registry import RegistryFormat
from orchestrator.models.state import EntryManifest, ProcessedMetadataFile, RegistryEntryOutcome
from orchestrator.models.steps import MetadataDefinitions, MetadataEntries, MetadataFile, RegistryEntryResult
from orchestrator.resources.gcs import ConcurrentWriteError, GcsBucketManager, SpecCache
from orchestrator.resources.policy import RegistryFormatSettings
from orchestrator.resources.spec_lookup import CachedSpecLookup
from orchestrator.resources.state import read_entry_manifest, write_entry_manifest, write_spec_watch

# Below this many changed files one existence check per icon beats listing every icon.
ICON_LISTING_THRESHOLD = 50
# Above this many files to process, one listing of the cloud specs beats a failed read per cloud entry.
SPEC_LISTING_THRESHOLD = 500
# A check's table keeps at most this many rows (its counts are always exact).
TABLE_ROWS = 1000


@asset(
    kinds={"gcs"},
    description=(
        "The new or changed valid metadata files, each with the public URL of its icon when one sits beside it."
    ),
)
def metadata_entry(
    metadata_definitions: MetadataDefinitions, gcs_bucket_manager: GcsBucketManager
) -> Output[MetadataEntries]:
    valid = [item for item in metadata_definitions.changed if item.valid]
    if metadata_definitions.icons is not None:  # a full scan listed them with the metadata files
        icons = metadata_definitions.icons
    elif len(valid) > ICON_LISTING_THRESHOLD:
        icons = {blob.name for blob in gcs_bucket_manager.list_blobs(f"{METADATA_FOLDER}/", ICON_GLOB)}
    else:
        icons = {
            icon_path_beside(item.path)
            for item in valid
            if gcs_bucket_manager.generation_of(icon_path_beside(item.path))
        }
    valid = [
        dataclasses.replace(
            item,
            icon_url=gcs_bucket_manager.public_url(icon_path_beside(item.path))
            if icon_path_beside(item.path) in icons
            else None,
        )
        for item in valid
    ]
    entries = MetadataEntries(
        valid=valid,
        invalid=[item for item in metadata_definitions.changed if not item.valid],
        deleted=metadata_definitions.deleted,
        manifest_generation=metadata_definitions.manifest_generation,
        full_scan=metadata_definitions.full_scan,
        yank_changes=metadata_definitions.yank_changes,
        replaced_entries=metadata_definitions.replaced_entries,
    )
    return Output(
        entries,
        metadata={
            "metadata_entries": len(valid),
            "with_icon": sum(1 for item in valid if item.icon_url),
            "preview": MetadataValue.md(
                markdown_rows(
                    ["metadata file", "icon"],
                    [(item.path, "yes" if item.icon_url else "no") for item in valid],
                    15,
                    "new or changed valid metadata files",
                )
            ),
        },
    )


@dataclasses.dataclass(frozen=True)
class EntryBuild:
    """What every entry of one run is built with: the format, and what the current format adds."""

    registry_format: RegistryFormat
    bucket_name: str
    # connector folder's release_candidate/ metadata file -> its candidate per registry, built first
    release_candidates: dict[str, dict[str, ReleaseCandidate]] = dataclasses.field(default_factory=dict)
    # metadata file -> registry -> the override-path copy it may write
    copies: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    # metadata/<repo>/<version> of each yanked version: a yanked release candidate joins no latest/ entry
    yanked: set[str] = dataclasses.field(default_factory=set)
    # entry path -> generation listed, where it is not the entry the manifest records: written over that one
    replaced_entries: dict[str, int] = dataclasses.field(default_factory=dict)


def _build_entries(
    item: MetadataFile,
    previous: ProcessedMetadataFile | None,
    spec_lookup: CachedSpecLookup,
    gcs_bucket_manager: GcsBucketManager,
    build: EntryBuild,
) -> tuple[ProcessedMetadataFile, dict[str, dict]]:
    """The file's record and the entries it wrote, by registry."""
    data = item.load_data()
    record = ProcessedMetadataFile(
        generation=item.generation,
        etag=item.etag,
        valid=True,
        definition_id=str(data.get("definitionId")),
        connector_type=str(data.get("connectorType")),
        docker_image_tag=item.docker_image[1],
    )
    source_file = SourceFile(build.bucket_name, item.path, item.etag, item.updated)
    candidates = (
        build.release_candidates.get(release_candidate_metadata_beside(item.path), {})
        if is_latest_metadata(item.path)
        else {}
    )
    copies = build.copies.get(item.path, {})
    entries: dict[str, dict] = {}
    for registry in REGISTRY_NAMES:
        path = entry_path(item.path, registry)
        # Which spec files this entry used or waited for: a later change of one rebuilds it.
        recording = spec_lookup.recording()
        try:
            entry = metadata_to_registry_entry(
                data,
                registry,
                item.icon_url,
                recording,
                registry_format=build.registry_format,
                source_file=source_file,
                release_candidate=candidates.get(registry),
            )
        except Exception as error:  # one file's failure never stops the others
            reason = error if isinstance(error, RegistryEntryError) else f"could not build the entry ({error!r:.300})"
            kept = kept_entry(previous, registry)
            # Asked of the bucket only on failures the manifest has no record of.
            generation = kept.generation if kept.known else (gcs_bucket_manager.generation_of(path) or None)
            failed = failed_outcome(f"{item.path}: {reason}", generation, kept)
            record.registries[registry] = failed.model_copy(update={"specs": recording.consulted})
            continue
        if entry is None:
            gcs_bucket_manager.delete(path)
            record.registries[registry] = RegistryEntryOutcome(status="disabled")
            continue
        payload = to_json_bytes(entry)
        try:
            # Only over the entry this file's record says it left: a run that read older metadata
            # never overwrites what a newer run wrote meanwhile.
            expected = build.replaced_entries.get(path, expected_entry_generation(previous, registry))
            written = gcs_bucket_manager.write(path, payload, if_generation_match=expected)
        except ConcurrentWriteError as error:
            # Recorded as failed at the entry now live: the next run builds it again over that one.
            live = gcs_bucket_manager.generation_of(path) or None
            failed = failed_outcome(f"{item.path}: {error}", live, kept_entry(previous, registry))
            record.registries[registry] = failed.model_copy(update={"specs": recording.consulted})
            continue
        outcome = RegistryEntryOutcome(status="written", generation=written, specs=recording.consulted)
        if registry in copies:
            outcome.copy_path = copies[registry]
            outcome.copy_generation = gcs_bucket_manager.write(copies[registry], payload)
        record.registries[registry] = outcome
        entries[registry] = entry
    return record, entries


def _build_valid_files(
    valid: list[MetadataFile],
    manifest: EntryManifest,
    gcs_bucket_manager: GcsBucketManager,
    spec_cache: SpecCache,
    build: EntryBuild,
) -> dict[str, ProcessedMetadataFile]:
    cloud_specs = spec_cache.cloud_spec_paths() if len(valid) > SPEC_LISTING_THRESHOLD else None

    def build_all(items: list[MetadataFile]) -> dict[str, tuple[ProcessedMetadataFile, dict[str, dict]]]:
        # Files of the same image (a version and its latest/ copy) are built together, with a spec
        # cache of their own: each spec is read once and freed as soon as they are done, so memory
        # stays flat however many files a run processes.
        groups: dict[tuple[str, str], list[MetadataFile]] = {}
        for item in items:
            groups.setdefault(item.docker_image, []).append(item)

        def build_group(group: list[MetadataFile]) -> list[tuple[ProcessedMetadataFile, dict[str, dict]]]:
            spec_lookup = CachedSpecLookup(spec_cache, cloud_specs)
            built = []
            for item in group:
                record, entries = _build_entries(
                    item, manifest.files.get(item.path), spec_lookup, gcs_bucket_manager, build
                )
                # Only a release candidate's entries are needed later (its latest/ entry carries
                # them); the others, specs and all, are let go as soon as they are written.
                built.append((record, entries if is_release_candidate_metadata(item.path) else {}))
            return built

        outcomes: dict[str, tuple[ProcessedMetadataFile, dict[str, dict]]] = {}
        if groups:
            with ThreadPoolExecutor(max_workers=min(gcs_bucket_manager.max_workers, len(groups))) as pool:
                for group, results in zip(groups.values(), pool.map(build_group, groups.values()), strict=True):
                    outcomes.update((item.path, result) for item, result in zip(group, results, strict=True))
        return outcomes

    # Release candidates first: the latest/ entries of their connectors carry their entries.
    candidates = [item for item in valid if is_release_candidate_metadata(item.path)]
    built = build_all(candidates)
    for item in candidates:
        if f"{repository_folder_of(item.path)}/{item.docker_image[1]}" in build.yanked:
            continue
        build.release_candidates[item.path] = {
            registry: ReleaseCandidate(item.docker_image[1], entry) for registry, entry in built[item.path][1].items()
        }
    built.update(build_all([item for item in valid if not is_release_candidate_metadata(item.path)]))
    return {path: record for path, (record, _) in built.items()}


def _wanted_override_copies(valid: list[MetadataFile], registry_format: RegistryFormat) -> dict[str, dict[str, str]]:
    """Metadata file -> registry -> the override-path copy its entry would also be written to."""
    if registry_format is not RegistryFormat.current:
        return {}
    wanted: dict[str, dict[str, str]] = {}
    for item in valid:
        if not is_versioned_metadata(item.path):
            continue
        for registry, (repository, tag) in item.entry_images.items():
            copy_path = override_copy_path(repository, tag, *item.docker_image, registry)
            if copy_path is not None:
                wanted.setdefault(item.path, {})[registry] = copy_path
    return wanted


def _written_urls(result: RegistryEntryResult, gcs_bucket_manager: GcsBucketManager, rows: int = 15) -> str:
    written = [path for paths in result.written.values() for path in paths]
    if not written:
        if result.failed:
            return f"No entry written: {len(result.failed)} entries of this run failed (see failures)."
        return "Nothing written: no metadata file changed."
    lines = [f"First {min(rows, len(written))} of {len(written)} entries written.", ""]
    return "\n".join(lines + [f"- [{path}]({gcs_bucket_manager.public_url(path)})" for path in written[:rows]])


@asset(
    kinds={"gcs", "json"},
    description=(
        "Writes oss.json / cloud.json beside each new or changed metadata file, "
        "deletes them where a registry is disabled."
    ),
)
@objects_held_before_frozen
def registry_entry(
    context: AssetExecutionContext,
    metadata_entry: MetadataEntries,
    gcs_bucket_manager: GcsBucketManager,
    spec_cache: SpecCache,
    registry_format_settings: RegistryFormatSettings,
) -> Output[RegistryEntryResult]:
    manifest, manifest_generation = read_entry_manifest(gcs_bucket_manager)
    if manifest_generation != metadata_entry.manifest_generation:
        raise ConcurrentWriteError(
            f"gs://{gcs_bucket_manager.bucket_name}/{ENTRY_MANIFEST_PATH} changed since this run compared "
            f"the metadata files with it (generation {metadata_entry.manifest_generation}, now {manifest_generation}): "
            "another run got there first; nothing was written"
        )
    processed: dict[str, ProcessedMetadataFile] = {}
    for item in metadata_entry.invalid:
        previous = manifest.files.get(item.path)
        live = {
            registry: gcs_bucket_manager.generation_of(entry_path(item.path, registry))
            for registry in unrecorded_registries(previous)
        }
        processed[item.path] = invalid_file_record(item.path, item.generation, item.etag, item.problems, previous, live)
    registry_format = registry_format_settings.registry_format
    live_paths = (set(manifest.files) | {item.path for item in metadata_entry.valid} | set(processed)) - set(
        metadata_entry.deleted
    )
    build = EntryBuild(
        registry_format=registry_format,
        bucket_name=gcs_bucket_manager.bucket_name,
        replaced_entries=metadata_entry.replaced_entries,
        yanked=yanked_version_folders(with_yank_markers(manifest, metadata_entry.yank_changes)),
        copies=plan_override_copies(
            _wanted_override_copies(metadata_entry.valid, registry_format), manifest, live_paths, metadata_entry.deleted
        ),
    )
    built = _build_valid_files(metadata_entry.valid, manifest, gcs_bucket_manager, spec_cache, build)
    processed.update(built)

    result = RegistryEntryResult(full_scan=metadata_entry.full_scan)
    for item in metadata_entry.valid:
        for registry, outcome in built[item.path].registries.items():
            if outcome.status == "written":
                result.written[registry].append(entry_path(item.path, registry))
            elif outcome.status == "failed":
                result.failed[f"{item.path} ({registry})"] = outcome.error or "failed"
                context.log.error(outcome.error)

    # A metadata file that is gone takes its entries with it.
    for path in metadata_entry.deleted:
        for registry in REGISTRY_NAMES:
            if gcs_bucket_manager.delete(entry_path(path, registry)):
                result.deleted.append(entry_path(path, registry))
    # ...and its override-path copies, as does one whose override moved; only at the generation it wrote
    # (checked first as well: the emulator ignores a delete's generation precondition).
    for copy_path, generation in stale_override_copies(manifest, processed, metadata_entry.deleted, live_paths):
        try:
            if gcs_bucket_manager.generation_of(copy_path) != generation:
                raise ConcurrentWriteError(copy_path)
            if gcs_bucket_manager.delete(copy_path, if_generation_match=generation):
                result.override_copies_deleted.append(copy_path)
        except ConcurrentWriteError:
            context.log.info(f"{copy_path} was rewritten since this file's copy was made; left in place")
    result.override_copies_written = sorted(
        outcome.copy_path
        for record in built.values()
        for outcome in record.registries.values()
        if outcome.status == "written" and outcome.copy_path
    )

    new_manifest = with_yank_markers(
        next_manifest(manifest, processed, metadata_entry.deleted), metadata_entry.yank_changes
    )
    if new_manifest != manifest:
        write_entry_manifest(gcs_bucket_manager, new_manifest, if_generation_match=manifest_generation)
    # Written after the manifest it is derived from, and again whenever it is missing.
    touched = {*processed, *metadata_entry.deleted}
    if spec_watch_changed(manifest, new_manifest, touched) or not gcs_bucket_manager.generation_of(SPEC_WATCH_PATH):
        write_spec_watch(gcs_bucket_manager, spec_watch_of(new_manifest))
    for registry in REGISTRY_NAMES:
        result.entry_generations[registry] = new_manifest.published_entry_generations(registry)
        result.disabled_definition_ids[registry] = new_manifest.disabled_definition_ids(registry)
    result.manifest_records = len(new_manifest.files)
    result.yanked_connectors = yanked_connectors(new_manifest)
    result.failed_entries = failed_entry_rows(new_manifest)

    return Output(
        result,
        metadata={
            "processed_metadata_files": len(metadata_entry.valid),
            "oss_entries_written": len(result.written["oss"]),
            "cloud_entries_written": len(result.written["cloud"]),
            "entries_deleted": len(result.deleted),
            "registry_format": registry_format.value,
            "override_copies_written": len(result.override_copies_written),
            "override_copies_deleted": len(result.override_copies_deleted),
            "failed": len(result.failed),
            "failed_in_bucket": len(result.failed_entries),
            "manifest_records": result.manifest_records,
            "connectors_with_yanked_versions": len(result.yanked_connectors),
            "written_urls": MetadataValue.md(_written_urls(result, gcs_bucket_manager)),
            "failures": MetadataValue.md(
                markdown_rows(["entry", "reason"], list(result.failed.items()), 15, "entries that failed in this run")
            ),
            "entries_written_total": sum(len(paths) for paths in result.written.values()),
        },
    )


FAILED_ENTRY_COLUMNS = [
    TableColumn("file", "string"),
    TableColumn("registry", "string"),
    TableColumn("reason", "string"),
    TableColumn("awaited_specs", "string"),
]


@asset_check(
    asset=registry_entry,
    description=(
        "Every entry of a valid metadata file was built. Non-blocking: a missing spec or a schema error fails that "
        "entry only (its last good entry stays); the check stays red, naming file, registry and reason, until the "
        "entry builds (a spec arriving in the cache rebuilds it on the sensor's next tick)."
    ),
)
def registry_entries_built(
    context: AssetCheckExecutionContext, registry_entry: RegistryEntryResult
) -> AssetCheckResult:
    # Computed from the manifest the entries step wrote: every failed entry in the bucket.
    rows = registry_entry.failed_entries
    waiting = [row for row in rows if row.awaited_specs]
    if rows:
        description = first_few(
            f"{len(rows)} entries failed to build", [f"{row.file} ({row.registry}): {row.reason}" for row in rows], ""
        )
    else:
        description = "every entry of every valid metadata file is built"
    context.log.info(description)
    return AssetCheckResult(
        passed=not rows,
        severity=AssetCheckSeverity.ERROR,
        description=description,
        metadata={
            "failed_entries": len(rows),
            "waiting_for_a_spec": len(waiting),
            "failed_files": len({row.file for row in rows}),
            "failed_entry_table": MetadataValue.table(
                [
                    TableRecord(
                        {
                            "file": row.file,
                            "registry": row.registry,
                            "reason": row.reason,
                            "awaited_specs": " or ".join(row.awaited_specs),
                        }
                    )
                    for row in rows[:TABLE_ROWS]
                ],
                schema=TableSchema(columns=FAILED_ENTRY_COLUMNS),
            ),
            "preview": MetadataValue.md(
                markdown_rows(
                    ["file", "registry", "reason"],
                    [(row.file, row.registry, row.reason) for row in rows],
                    15,
                    "failed entries",
                )
            ),
        },
    )
