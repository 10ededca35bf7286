"""Group `metadata`: which metadata files exist, which changed since they were last processed,
and which are invalid (SPEC §3, §5)."""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    Config,
    MetadataValue,
    Output,
    TableColumn,
    TableRecord,
    TableSchema,
    asset,
    asset_check,
)
from pydantic import Field

from orchestrator.heap import objects_held_before_frozen
from orchestrator.layout import (
    ENTRY_GLOB,
    FULL_SCAN_GLOB,
    ICON_GLOB,
    METADATA_AND_YANK_MARKER_GLOB,
    METADATA_FOLDER,
    REGISTRY_NAMES,
    is_yank_marker,
)
from orchestrator.logic.failures import first_few, invalid_file_rows, markdown_rows
from orchestrator.logic.incremental import (
    entries_not_as_recorded,
    known_invalid_files,
    named_scan_candidates,
    plan_full_scan,
    plan_named_scan,
    release_candidate_companions,
    with_release_candidate_companions,
)
from orchestrator.logic.transform import is_enabled, overridden
from orchestrator.logic.validation import bucket_path_problems, validate_metadata_bytes
from orchestrator.logic.yank import markers_to_read, release_candidates_to_rebuild, with_rebuilt, yank_marker_changes
from orchestrator.models.steps import InvalidFileRow, MetadataDefinitions, MetadataFile
from orchestrator.resources.gcs import BlobInfo, GcsBlobListing, GcsBucketManager, glob_to_regex
from orchestrator.resources.state import read_entry_manifest


class MetadataScanConfig(Config):
    """Which metadata files to look at. By default (a run launched by hand) the whole bucket is
    listed. The metadata sensor, which has just listed it, names the files that changed instead,
    so that the run costs what changed, not the size of the bucket."""

    changed_files: list[str] | None = Field(
        default=None,
        description=(
            "Metadata files (and .yanked markers) new or rewritten since the last successful run; "
            "unset: list the bucket."
        ),
    )
    deleted_files: list[str] = Field(
        default_factory=list, description="Metadata files (and .yanked markers) gone since the last successful run."
    )
    rebuild_files: list[str] = Field(
        default_factory=list,
        description="Unchanged metadata files to build again: a spec their entries use or wait for arrived or changed.",
    )


def entry_images(data: dict) -> dict[str, tuple[str, str]]:
    """registry -> the image its entry names (after overrides), for each registry the file enables."""
    images = {}
    for registry in REGISTRY_NAMES:
        if is_enabled(data, registry):
            entry = overridden(data, registry)
            images[registry] = (str(entry.get("dockerRepository")), str(entry.get("dockerImageTag")))
    return images


def parse_metadata_file(
    path: str, generation: int, etag: str, stored: tuple[bytes, int] | None, updated: str = ""
) -> MetadataFile:
    if stored is None:  # deleted between the listing and the read
        return MetadataFile(path, generation, etag, problems=[f"{path}: (file): disappeared while being read"])
    raw, generation = stored
    try:
        result = validate_metadata_bytes(raw, path)
    except Exception as error:  # one file's failure never stops the others
        return MetadataFile(path, generation, etag, problems=[f"{path}: (file): could not be read ({error!r:.300})"])
    data = result.document["data"] if result.ok and result.document is not None else None
    problems = list(result.problems)
    if data is not None:
        # A file in a folder that is not its own would publish under another connector's name.
        problems += bucket_path_problems(path, data)
        data = None if problems else data
    return MetadataFile.parsed(
        path,
        generation,
        etag,
        data,
        [str(problem) for problem in problems],
        updated=updated,
        warnings=[str(warning) for warning in result.warnings],
        entry_images=entry_images(data) if data is not None else None,
    )


def list_for_full_scan(
    listing: GcsBlobListing, gcs_bucket_manager: GcsBucketManager
) -> tuple[list[BlobInfo], list[BlobInfo], set[str] | None]:
    """(metadata files and yank markers, entries, icons) of the metadata folder. One listing when the
    sensor's listing is the standard one over the same bucket; otherwise that listing and one of the
    entries (icons: None, for the entries step to find)."""
    standard = (
        listing.glob == METADATA_AND_YANK_MARKER_GLOB
        and listing.prefix == f"{METADATA_FOLDER}/"
        and listing.gcs_bucket_manager.bucket_name == gcs_bucket_manager.bucket_name
    )
    if not standard:
        return listing.list(), gcs_bucket_manager.list_blobs(f"{METADATA_FOLDER}/", ENTRY_GLOB), None
    scanned, entries, icons = glob_to_regex(listing.glob), glob_to_regex(ENTRY_GLOB), glob_to_regex(ICON_GLOB)
    everything = gcs_bucket_manager.list_blobs(f"{METADATA_FOLDER}/", FULL_SCAN_GLOB)
    return (
        [blob for blob in everything if scanned.match(blob.name)],
        [blob for blob in everything if entries.match(blob.name)],
        {blob.name for blob in everything if icons.match(blob.name)},
    )


def _preview(changed: list[MetadataFile], rows: int = 15) -> str:
    if not changed:
        return "No new or changed metadata file."
    lines = [
        f"First {min(rows, len(changed))} of {len(changed)} new or changed files.",
        "",
        "| file | valid |",
        "|---|---|",
    ]
    return "\n".join(lines + [f"| {item.path} | {item.valid} |" for item in changed[:rows]])


@asset(
    kinds={"gcs", "yaml"},
    description=(
        "Every metadata file in the bucket; "
        "those new or changed since their entries were last built are read and validated."
    ),
)
@objects_held_before_frozen
def metadata_definitions(
    context: AssetExecutionContext,
    config: MetadataScanConfig,
    metadata_file_and_yank_marker_blobs: GcsBlobListing,
    gcs_bucket_manager: GcsBucketManager,
) -> Output[MetadataDefinitions]:
    manifest, manifest_generation = read_entry_manifest(gcs_bucket_manager)
    # Named files are enough only on top of a manifest: without one, everything must be built.
    full_scan = config.changed_files is None or manifest_generation == 0 or not manifest.files
    if full_scan:
        listed, listed_entries, icons = list_for_full_scan(metadata_file_and_yank_marker_blobs, gcs_bucket_manager)
        listing = {blob.name: blob for blob in listed if not is_yank_marker(blob.name)}
        markers, gone_markers = markers_to_read(
            {blob.name: blob.generation for blob in listed if is_yank_marker(blob.name)}, manifest.yank_markers
        )
        marker_reads = {**gcs_bucket_manager.read_many(markers), **dict.fromkeys(gone_markers)}
        yank_changes = yank_marker_changes(marker_reads, manifest.yank_markers)
        # The entries too: one another writer replaced is built again from its metadata.
        replaced = entries_not_as_recorded(manifest, {blob.name: blob.generation for blob in listed_entries})
        for path in replaced:
            context.log.warning(f"{path} is not the entry the manifest records: built again from its metadata")
        plan = with_release_candidate_companions(
            with_rebuilt(
                plan_full_scan(list(listing.values()), manifest, set(config.rebuild_files), replaced),
                release_candidates_to_rebuild(yank_changes, manifest),
            )
        )
        contents = gcs_bucket_manager.read_many(plan.to_read)
        changed = [
            parse_metadata_file(
                path, listing[path].generation, listing[path].etag, contents[path], updated=listing[path].updated
            )
            for path in plan.to_read
        ]
    else:
        replaced, icons = {}, None
        named = [*(config.changed_files or ()), *config.deleted_files]
        # A marker named as deleted may be back: each is read, and what it says now is recorded.
        marker_reads = gcs_bucket_manager.read_many(sorted({path for path in named if is_yank_marker(path)}))
        yank_changes = yank_marker_changes(marker_reads, manifest.yank_markers)
        rebuilt = release_candidates_to_rebuild(yank_changes, manifest)
        candidates = named_scan_candidates(
            [path for path in config.changed_files or () if not is_yank_marker(path)],
            [path for path in config.deleted_files if not is_yank_marker(path)],
            manifest,
            config.rebuild_files,
        )
        candidates = [*candidates, *rebuilt]
        # A release candidate's latest/ (and a latest/'s release candidate) are read too: they are rebuilt together.
        candidates = sorted({*candidates, *release_candidate_companions(candidates)})
        found: dict[str, tuple[bytes, BlobInfo] | None] = gcs_bucket_manager.read_many_blobs_with_time(candidates)
        plan = with_release_candidate_companions(
            with_rebuilt(
                plan_named_scan(
                    {path: None if item is None else item[1].generation for path, item in found.items()},
                    manifest,
                    set(config.rebuild_files),
                ),
                rebuilt,
            )
        )
        changed = []
        for path in plan.to_read:
            data, blob = found[path] or (b"", None)
            assert blob is not None  # plan_named_scan reads only files that exist
            changed.append(
                parse_metadata_file(path, blob.generation, blob.etag, (data, blob.generation), updated=blob.updated)
            )
    named_count = len(config.changed_files or ()) + len(config.rebuild_files)
    scope = "listed the bucket" if full_scan else f"read the {named_count} files the sensor named"
    context.log.info(
        f"{scope}: {len(plan.live_paths)} metadata files, {len(changed)} new or changed, {len(plan.deleted)} deleted"
    )
    known_invalid = known_invalid_files(manifest, plan.live_paths, {item.path for item in changed})
    for path, marker in yank_changes.items():
        context.log.info(f"{path}: {'yanked: ' + marker.reason if marker else 'removed (unyanked)'}")
    definitions = MetadataDefinitions(
        plan.live_paths,
        manifest_generation,
        changed,
        plan.deleted,
        known_invalid,
        full_scan=full_scan,
        yank_changes=yank_changes,
        replaced_entries=replaced,
        icons=icons,
    )
    invalid = [item for item in changed if not item.valid]
    for item in invalid:
        context.log.warning(f"skipping invalid metadata file: {'; '.join(item.problems)}")
    warned = definitions.warnings()
    for warnings in warned.values():
        context.log.warning(f"metadata file accepted with warnings: {'; '.join(warnings)}")
    return Output(
        definitions,
        metadata={
            "metadata_files": len(plan.live_paths),
            "full_scan": full_scan,
            "new_or_changed": len(changed),
            "unchanged_skipped": definitions.unchanged_count,
            "deleted": len(plan.deleted),
            "yank_markers_changed": len(yank_changes),
            "rebuilt_for_specs": len(config.rebuild_files),
            "invalid_in_this_run": len(invalid),
            "warnings_in_this_run": sum(len(warnings) for warnings in warned.values()),
            "warnings": MetadataValue.md(
                "\n".join(f"- {warning}" for warnings in warned.values() for warning in warnings) or "None."
            ),
            "preview": MetadataValue.md(_preview(changed)),
        },
    )


PREVIEW_ROWS = 15


def invalid_problems_preview(rows: list[InvalidFileRow]) -> str:
    return markdown_rows(
        ["file", "field", "reason"],
        [(row.file, row.field, row.reason) for row in rows],
        PREVIEW_ROWS,
        "problems of invalid metadata files",
    )


# A check's or report's table keeps at most this many rows (its counts are always exact).
TABLE_ROWS = 1000
INVALID_FILE_COLUMNS = [TableColumn("file", "string"), TableColumn("field", "string"), TableColumn("reason", "string")]


@asset(
    description="Table of metadata files that failed validation, with every reason; they are skipped, never published.",
)
def valid_metadata_report(metadata_definitions: MetadataDefinitions) -> Output[dict[str, list[str]]]:
    invalid = metadata_definitions.invalid_files()
    rows = invalid_file_rows(invalid)
    return Output(
        invalid,
        metadata={
            "invalid_files": len(invalid),
            "valid_files": len(metadata_definitions.live_paths) - len(invalid),
            "invalid_table": MetadataValue.table(
                [TableRecord({"file": path, "reason": "; ".join(problems)}) for path, problems in invalid.items()],
                schema=TableSchema(columns=[TableColumn("file", "string"), TableColumn("reason", "string")]),
            ),
            "preview": MetadataValue.md(invalid_problems_preview(rows) if invalid else "Every metadata file is valid."),
        },
    )


@asset_check(
    asset=metadata_definitions,
    description=(
        "Every metadata file in the bucket is valid. Non-blocking: invalid files are skipped and the others "
        "publish, but the check stays red, listing file, field and reason, until each is fixed or removed."
    ),
)
def metadata_files_valid(
    context: AssetCheckExecutionContext, metadata_definitions: MetadataDefinitions
) -> AssetCheckResult:
    # The files read in this run over what the manifest knows of the others: the whole bucket.
    invalid = metadata_definitions.invalid_files()
    rows = invalid_file_rows(invalid)
    total = len(metadata_definitions.live_paths)
    if invalid:
        description = first_few(
            f"{len(invalid)} of {total} metadata files are invalid",
            [f"{row.file}: {row.field}: {row.reason}" for row in rows],
            "problems",
        )
    else:
        description = f"all {total} metadata files are valid"
    context.log.info(description)
    return AssetCheckResult(
        passed=not invalid,
        severity=AssetCheckSeverity.ERROR,
        description=description,
        metadata={
            "invalid_files": len(invalid),
            "problems": len(rows),
            "metadata_files": total,
            "invalid_file_table": MetadataValue.table(
                [
                    TableRecord({"file": row.file, "field": row.field, "reason": row.reason})
                    for row in rows[:TABLE_ROWS]
                ],
                schema=TableSchema(columns=INVALID_FILE_COLUMNS),
            ),
            "preview": MetadataValue.md(invalid_problems_preview(rows)),
        },
    )
