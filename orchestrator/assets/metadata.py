"""Group `metadata`: which metadata files exist, which changed since they were last processed,
and which are invalid (SPEC §3, §5)."""

import json
import pickle
from dataclasses import dataclass, field
from typing import Optional

from dagster import AssetExecutionContext, Config, Failure, MetadataValue, Output, TableColumn, TableRecord, TableSchema, asset
from pydantic import Field, ValidationError

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
    """One metadata file as read in this run.

    A valid file's `data` mapping (exactly as written: the registry carries every field through) is
    kept pickled. Parsed, a document is ~9 KB of dicts; pickled, ~1.6 KB: at 12,000 files that is
    ~90 MB less in every step that holds them, a cheaper hand-over between steps, and the entries
    step unpickles each document only while it builds that file's entries."""

    path: str
    generation: int
    etag: str
    data_pickle: Optional[bytes] = None
    problems: list[str] = field(default_factory=list)
    icon_url: Optional[str] = None
    docker_image: tuple[str, str] = ("", "")  # (dockerRepository, dockerImageTag) of a valid file

    @classmethod
    def parsed(cls, path: str, generation: int, etag: str, data: Optional[dict], problems: list[str]) -> "MetadataFile":
        if data is None:
            return cls(path, generation, etag, problems=problems)
        image = (str(data.get("dockerRepository")), str(data.get("dockerImageTag")))
        return cls(path, generation, etag, pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL), problems, docker_image=image)

    def load_data(self) -> dict:
        if self.data_pickle is None:
            raise ValueError(f"{self.path} was not parsed: {'; '.join(self.problems)}")
        return pickle.loads(self.data_pickle)

    @property
    def folder(self) -> str:
        return self.path.rsplit("/", 1)[0]

    @property
    def valid(self) -> bool:
        return self.data_pickle is not None and not self.problems


@dataclass
class MetadataDefinitions:
    """The bucket's metadata files: those new or changed since they were processed are parsed.
    The manifest itself is not carried along (the entries step reads it again, checking its
    generation): passing 12,000 records from step to step cost more than reading them twice."""

    live_paths: set[str]  # every metadata file in the bucket, as far as this run knows
    manifest_generation: int
    changed: list[MetadataFile]
    deleted: list[str]
    known_invalid: dict[str, list[str]] = field(default_factory=dict)  # invalid files not read again in this run
    full_scan: bool = True  # False: only the files the sensor named were looked at

    @property
    def unchanged_count(self) -> int:
        return len(self.live_paths) - len(self.changed)

    def invalid_files(self) -> dict[str, list[str]]:
        """Every currently invalid file: those read now, and unchanged ones known from earlier runs."""
        invalid = {item.path: item.problems for item in self.changed if not item.valid}
        return dict(sorted({**self.known_invalid, **invalid}.items()))


class MetadataScanConfig(Config):
    """Which metadata files to look at. By default (a run launched by hand) the whole bucket is
    listed. The metadata sensor, which has just listed it, names the files that changed instead,
    so that the run costs what changed, not the size of the bucket."""

    changed_files: Optional[list[str]] = Field(
        default=None, description="Metadata files new or rewritten since the last successful run; unset: list the bucket."
    )
    deleted_files: list[str] = Field(default_factory=list, description="Metadata files gone since the last successful run.")


def read_entry_manifest(gcs_bucket_manager: GcsBucketManager) -> tuple[EntryManifest, int]:
    """The manifest and its generation (0: none yet). One of an older format counts as empty, so every
    entry is rebuilt once; the generation is kept for the conditional write that replaces it."""
    stored = gcs_bucket_manager.read(ENTRY_MANIFEST_PATH)
    if stored is None:
        return EntryManifest(), 0
    data, generation = stored
    try:
        document = json.loads(data)
        if not isinstance(document, dict) or document.get("version") != EntryManifest().version:
            return EntryManifest(), generation
        return EntryManifest.model_validate(document), generation
    except (json.JSONDecodeError, ValidationError) as error:
        raise Failure(
            f"gs://{gcs_bucket_manager.bucket_name}/{ENTRY_MANIFEST_PATH} is unreadable ({error}); delete it to rebuild every entry"
        ) from error


def _parse(blob: BlobInfo, stored: Optional[tuple[bytes, int]]) -> MetadataFile:
    if stored is None:  # deleted between the listing and the read
        return MetadataFile(blob.name, blob.generation, blob.etag, problems=[f"{blob.name}: (file): disappeared while being read"])
    raw, generation = stored
    result = validate_metadata_bytes(raw, blob.name)
    data = result.document["data"] if result.ok else None
    return MetadataFile.parsed(blob.name, generation, blob.etag, data, [str(problem) for problem in result.problems])


def _scan_bucket(listing: list[BlobInfo], manifest: EntryManifest, gcs_bucket_manager: GcsBucketManager) -> tuple[set[str], list[MetadataFile], list[str]]:
    to_process, deleted = metadata_files_to_process(listing, manifest)
    contents = gcs_bucket_manager.read_many(blob.name for blob in to_process)
    return {blob.name for blob in listing}, [_parse(blob, contents[blob.name]) for blob in to_process], deleted


def _scan_named_files(config: MetadataScanConfig, manifest: EntryManifest, gcs_bucket_manager: GcsBucketManager) -> tuple[set[str], list[MetadataFile], list[str]]:
    """Read only the named files (and those due a retry); compare generations as a listing would."""
    # Deleted files are read too (a 404 each): one re-created since the sensor listed it is a change.
    candidates = set(config.changed_files or ()) | set(config.deleted_files)
    candidates |= {path for path, record in manifest.files.items() if record.needs_retry}
    stored = gcs_bucket_manager.read_many_blobs(sorted(candidates))
    changed = []
    for path, found in stored.items():
        if found is None:
            continue
        data, blob = found
        record = manifest.files.get(path)
        if record is None or record.generation != blob.generation or record.needs_retry:
            changed.append(_parse(blob, (data, blob.generation)))
    gone = {path for path, found in stored.items() if found is None}
    deleted = sorted(path for path in gone if path in manifest.files)
    live_paths = (set(manifest.files) - gone) | (candidates - gone)
    return live_paths, changed, deleted


@asset(description="Every metadata file in the bucket; those new or changed since their entries were last built are read and validated.")
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
        live_paths, changed, deleted = _scan_bucket(all_metadata_file_blobs.list(), manifest, gcs_bucket_manager)
    else:
        live_paths, changed, deleted = _scan_named_files(config, manifest, gcs_bucket_manager)
    scope = "listed the bucket" if full_scan else f"read the {len(config.changed_files or ())} files the sensor named"
    context.log.info(f"{scope}: {len(live_paths)} metadata files, {len(changed)} new or changed, {len(deleted)} deleted")
    changed_paths = {item.path for item in changed}
    known_invalid = {
        path: record.problems
        for path, record in manifest.files.items()
        if not record.valid and path in live_paths and path not in changed_paths
    }
    definitions = MetadataDefinitions(live_paths, manifest_generation, changed, deleted, known_invalid, full_scan=full_scan)
    invalid = [item for item in changed if not item.valid]
    for item in invalid:
        context.log.warning(f"skipping invalid metadata file: {'; '.join(item.problems)}")
    return Output(
        definitions,
        metadata={
            "metadata_files": len(live_paths),
            "full_scan": full_scan,
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
            "valid_files": len(metadata_definitions.live_paths) - len(invalid),
            "invalid_table": MetadataValue.table(
                records, schema=TableSchema(columns=[TableColumn("file", "string"), TableColumn("reason", "string")])
            ),
            "preview": MetadataValue.md(markdown if invalid else "Every metadata file is valid."),
        },
    )
