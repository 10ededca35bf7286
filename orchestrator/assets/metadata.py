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

from orchestrator.logic.failures import invalid_file_rows, markdown_rows
from orchestrator.logic.incremental import known_invalid_files, named_scan_candidates, plan_full_scan, plan_named_scan
from orchestrator.logic.validation import validate_metadata_bytes
from orchestrator.models.steps import MetadataDefinitions, MetadataFile
from orchestrator.resources.gcs import BlobInfo, GcsBlobListing, GcsBucketManager
from orchestrator.resources.state import read_entry_manifest


class MetadataScanConfig(Config):
    """Which metadata files to look at. By default (a run launched by hand) the whole bucket is
    listed. The metadata sensor, which has just listed it, names the files that changed instead,
    so that the run costs what changed, not the size of the bucket."""

    changed_files: list[str] | None = Field(
        default=None,
        description="Metadata files new or rewritten since the last successful run; unset: list the bucket.",
    )
    deleted_files: list[str] = Field(
        default_factory=list, description="Metadata files gone since the last successful run."
    )
    rebuild_files: list[str] = Field(
        default_factory=list,
        description="Unchanged metadata files to build again: a spec their entries use or wait for arrived or changed.",
    )


def parse_metadata_file(path: str, generation: int, etag: str, stored: tuple[bytes, int] | None) -> MetadataFile:
    if stored is None:  # deleted between the listing and the read
        return MetadataFile(path, generation, etag, problems=[f"{path}: (file): disappeared while being read"])
    raw, generation = stored
    result = validate_metadata_bytes(raw, path)
    data = result.document["data"] if result.ok and result.document is not None else None
    return MetadataFile.parsed(path, generation, etag, data, [str(problem) for problem in result.problems])


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
def metadata_definitions(
    context: AssetExecutionContext,
    config: MetadataScanConfig,
    all_metadata_file_blobs: GcsBlobListing,
    gcs_bucket_manager: GcsBucketManager,
) -> Output[MetadataDefinitions]:
    manifest, manifest_generation = read_entry_manifest(gcs_bucket_manager)
    # Named files are enough only on top of a manifest: without one, everything must be built.
    full_scan = config.changed_files is None or manifest_generation == 0 or not manifest.files
    if full_scan:
        listing = {blob.name: blob for blob in all_metadata_file_blobs.list()}
        plan = plan_full_scan(list(listing.values()), manifest, set(config.rebuild_files))
        contents = gcs_bucket_manager.read_many(plan.to_read)
        changed = [
            parse_metadata_file(path, listing[path].generation, listing[path].etag, contents[path])
            for path in plan.to_read
        ]
    else:
        candidates = named_scan_candidates(
            config.changed_files or (), config.deleted_files, manifest, config.rebuild_files
        )
        found: dict[str, tuple[bytes, BlobInfo] | None] = gcs_bucket_manager.read_many_blobs(candidates)
        plan = plan_named_scan(
            {path: None if item is None else item[1].generation for path, item in found.items()},
            manifest,
            set(config.rebuild_files),
        )
        changed = []
        for path in plan.to_read:
            data, blob = found[path] or (b"", None)
            assert blob is not None  # plan_named_scan reads only files that exist
            changed.append(parse_metadata_file(path, blob.generation, blob.etag, (data, blob.generation)))
    named = len(config.changed_files or ()) + len(config.rebuild_files)
    scope = "listed the bucket" if full_scan else f"read the {named} files the sensor named"
    context.log.info(
        f"{scope}: {len(plan.live_paths)} metadata files, {len(changed)} new or changed, {len(plan.deleted)} deleted"
    )
    known_invalid = known_invalid_files(manifest, plan.live_paths, {item.path for item in changed})
    definitions = MetadataDefinitions(
        plan.live_paths, manifest_generation, changed, plan.deleted, known_invalid, full_scan=full_scan
    )
    invalid = [item for item in changed if not item.valid]
    for item in invalid:
        context.log.warning(f"skipping invalid metadata file: {'; '.join(item.problems)}")
    return Output(
        definitions,
        metadata={
            "metadata_files": len(plan.live_paths),
            "full_scan": full_scan,
            "new_or_changed": len(changed),
            "unchanged_skipped": definitions.unchanged_count,
            "deleted": len(plan.deleted),
            "rebuilt_for_specs": len(config.rebuild_files),
            "invalid_in_this_run": len(invalid),
            "preview": MetadataValue.md(_preview(changed)),
        },
    )


PREVIEW_ROWS = 15
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
            "preview": MetadataValue.md(
                markdown_rows(
                    ["file", "field", "reason"],
                    [(row.file, row.field, row.reason) for row in rows],
                    PREVIEW_ROWS,
                    "problems of invalid metadata files",
                )
                if invalid
                else "Every metadata file is valid."
            ),
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
        description = f"{len(invalid)} of {total} metadata files are invalid: " + "; ".join(
            f"{row.file}: {row.field}: {row.reason}" for row in rows[:3]
        )
        if len(rows) > 3:
            description += f"; and {len(rows) - 3} more problems (see the table)"
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
            "preview": MetadataValue.md(
                markdown_rows(
                    ["file", "field", "reason"],
                    [(row.file, row.field, row.reason) for row in rows],
                    PREVIEW_ROWS,
                    "problems of invalid metadata files",
                )
            ),
        },
    )
