"""Group `metadata`: which metadata files exist, which changed since they were last processed,
and which are invalid (SPEC §3, §5)."""

from dataclasses import dataclass, field
from typing import Optional

from dagster import AssetExecutionContext, MetadataValue, Output, TableColumn, TableRecord, TableSchema, asset

from orchestrator.logic.incremental import metadata_files_to_process
from orchestrator.logic.validation import validate_metadata_bytes
from orchestrator.models.state import EntryManifest
from orchestrator.resources import BlobInfo, GcsBlobListing, GcsBucketManager
from orchestrator.settings import STATE_FOLDER

ENTRY_MANIFEST_PATH = f"{STATE_FOLDER}/registry_entry_manifest.json"
# Below this many changed files one existence check per icon beats listing every icon.
ICON_LISTING_THRESHOLD = 50


@dataclass
class MetadataFile:
    """One metadata file as read in this run."""

    path: str
    generation: int
    etag: str
    data: Optional[dict] = None
    problems: list[str] = field(default_factory=list)
    icon_url: Optional[str] = None

    @property
    def folder(self) -> str:
        return self.path.rsplit("/", 1)[0]

    @property
    def valid(self) -> bool:
        return self.data is not None and not self.problems


@dataclass
class MetadataDefinitions:
    """The bucket's metadata files: those new or changed since they were processed are parsed."""

    listing: list[BlobInfo]
    manifest: EntryManifest
    manifest_generation: int
    changed: list[MetadataFile]
    deleted: list[str]

    @property
    def unchanged_count(self) -> int:
        return len(self.listing) - len(self.changed)

    def invalid_files(self) -> dict[str, list[str]]:
        """Every currently invalid file: those read now, and unchanged ones known from earlier runs."""
        changed_paths = {item.path for item in self.changed}
        invalid = {item.path: item.problems for item in self.changed if not item.valid}
        live = {blob.name for blob in self.listing}
        for path, record in self.manifest.files.items():
            if path in live and path not in changed_paths and not record.valid:
                invalid[path] = record.problems
        return dict(sorted(invalid.items()))


def read_entry_manifest(gcs_bucket_manager: GcsBucketManager) -> tuple[EntryManifest, int]:
    stored = gcs_bucket_manager.read(ENTRY_MANIFEST_PATH)
    if stored is None:
        return EntryManifest(), 0
    data, generation = stored
    return EntryManifest.model_validate_json(data), generation


def _parse(blob: BlobInfo, stored: Optional[tuple[bytes, int]]) -> MetadataFile:
    if stored is None:  # deleted between the listing and the read
        return MetadataFile(blob.name, blob.generation, blob.etag, problems=[f"{blob.name}: (file): disappeared while being read"])
    raw, generation = stored
    result = validate_metadata_bytes(raw, blob.name)
    # Keep the mapping exactly as written: the registry carries every field through unchanged.
    data = result.document["data"] if result.ok else None
    return MetadataFile(blob.name, generation, blob.etag, data=data, problems=[str(problem) for problem in result.problems])


@asset(description="Every metadata file in the bucket; those new or changed since their entries were last built are read and validated.")
def metadata_definitions(
    context: AssetExecutionContext,
    all_metadata_file_blobs: GcsBlobListing,
    gcs_bucket_manager: GcsBucketManager,
) -> Output[MetadataDefinitions]:
    listing = all_metadata_file_blobs.list()
    manifest, manifest_generation = read_entry_manifest(gcs_bucket_manager)
    to_process, deleted = metadata_files_to_process(listing, manifest)
    context.log.info(f"{len(listing)} metadata files, {len(to_process)} new or changed, {len(deleted)} deleted")
    contents = gcs_bucket_manager.read_many(blob.name for blob in to_process)
    changed = [_parse(blob, contents[blob.name]) for blob in to_process]
    definitions = MetadataDefinitions(listing, manifest, manifest_generation, changed, deleted)
    invalid = [item for item in changed if not item.valid]
    for item in invalid:
        context.log.warning(f"skipping invalid metadata file: {'; '.join(item.problems)}")
    return Output(
        definitions,
        metadata={
            "metadata_files": len(listing),
            "new_or_changed": len(changed),
            "unchanged_skipped": definitions.unchanged_count,
            "deleted": len(deleted),
            "invalid_in_this_run": len(invalid),
            "preview": MetadataValue.md(
                "\n".join(["| new or changed file | valid |", "|---|---|"] + [f"| {item.path} | {item.valid} |" for item in changed[:20]])
            ),
        },
    )


@asset(description="Table of metadata files that failed validation, with every reason; they are skipped, never published.")
def valid_metadata_report(context: AssetExecutionContext, metadata_definitions: MetadataDefinitions) -> Output[dict[str, list[str]]]:
    invalid = metadata_definitions.invalid_files()
    records = [TableRecord({"file": path, "reason": "; ".join(problems)}) for path, problems in invalid.items()]
    markdown = "\n".join(
        ["| file | reason |", "|---|---|"] + [f"| {path} | {'<br>'.join(problems).replace('|', '/')} |" for path, problems in invalid.items()]
    )
    return Output(
        invalid,
        metadata={
            "invalid_files": len(invalid),
            "valid_files": len(metadata_definitions.listing) - len(invalid),
            "invalid_table": MetadataValue.table(
                records, schema=TableSchema(columns=[TableColumn("file", "string"), TableColumn("reason", "string")])
            ),
            "preview": MetadataValue.md(markdown if invalid else "Every metadata file is valid."),
        },
    )
