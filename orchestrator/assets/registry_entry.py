"""Group `registry_entry`: each new or changed metadata file → its `oss.json` / `cloud.json` (SPEC §4).

Only files the manifest has not seen at their current generation are processed; a bad file or a
missing spec is recorded and skipped, and the entry already published for that folder stays."""

import dataclasses
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Optional

from dagster import AssetExecutionContext, MetadataValue, Output, asset

from orchestrator.assets.metadata import ENTRY_MANIFEST_PATH, ICON_LISTING_THRESHOLD, MetadataDefinitions, MetadataFile, read_entry_manifest
from orchestrator.logic.serialization import to_json_bytes
from orchestrator.logic.transform import RegistryEntryError, metadata_to_registry_entry
from orchestrator.models.registry import REGISTRY_NAMES
from orchestrator.models.state import EntryManifest, ProcessedMetadataFile, RegistryEntryOutcome
from orchestrator.resources import ConcurrentWriteError, GcsBucketManager, SpecCache
from orchestrator.settings import METADATA_FOLDER


def registry_entry_path(metadata_path: str, registry: str) -> str:
    return f"{metadata_path.rsplit('/', 1)[0]}/{registry}.json"


@dataclass
class RegistryEntryResult:
    """What this run wrote, deleted and failed, and what the registry step needs of the manifest as
    it now stands (not the manifest itself: its records are many and the registry step needs little)."""

    full_scan: bool = True  # the bucket was listed (else only files named by the sensor were looked at)
    written: dict[str, list[str]] = field(default_factory=lambda: {name: [] for name in REGISTRY_NAMES})
    deleted: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    # Per registry: path -> generation of every latest/ entry in the bucket, by the manifest.
    entry_generations: dict[str, dict[str, int]] = field(default_factory=lambda: {name: {} for name in REGISTRY_NAMES})
    # Per registry: connectors whose current latest/ metadata disables it (they may leave it).
    disabled_definition_ids: dict[str, set[str]] = field(default_factory=lambda: {name: set() for name in REGISTRY_NAMES})
    manifest_records: int = 0


@dataclass
class MetadataEntries:
    """What the entries step works on: the valid new or changed files (with icon URLs), the invalid
    ones, the deleted ones, and the generation of the manifest they were compared with. It is all
    the entries step loads, so the parsed metadata is held once in that step, not twice."""

    valid: list[MetadataFile]
    invalid: list[MetadataFile]
    deleted: list[str]
    manifest_generation: int  # the manifest these files were compared with
    full_scan: bool


@asset(description="The new or changed valid metadata files, each with the public URL of its icon when one sits beside it.")
def metadata_entry(
    context: AssetExecutionContext, metadata_definitions: MetadataDefinitions, gcs_bucket_manager: GcsBucketManager
) -> Output[MetadataEntries]:
    valid = [item for item in metadata_definitions.changed if item.valid]
    if len(valid) > ICON_LISTING_THRESHOLD:
        icons = {blob.name for blob in gcs_bucket_manager.list_blobs(f"{METADATA_FOLDER}/", f"{METADATA_FOLDER}/**/icon.svg")}
    else:
        icons = {f"{item.folder}/icon.svg" for item in valid if gcs_bucket_manager.generation_of(f"{item.folder}/icon.svg")}
    valid = [
        dataclasses.replace(item, icon_url=gcs_bucket_manager.public_url(f"{item.folder}/icon.svg") if f"{item.folder}/icon.svg" in icons else None)
        for item in valid
    ]
    entries = MetadataEntries(
        valid=valid,
        invalid=[item for item in metadata_definitions.changed if not item.valid],
        deleted=metadata_definitions.deleted,
        manifest_generation=metadata_definitions.manifest_generation,
        full_scan=metadata_definitions.full_scan,
    )
    return Output(
        entries,
        metadata={
            "metadata_entries": len(valid),
            "with_icon": sum(1 for item in valid if item.icon_url),
            "preview": MetadataValue.md(
                "\n".join(["| metadata file | icon |", "|---|---|"] + [f"| {item.path} | {bool(item.icon_url)} |" for item in valid[:20]])
            ),
        },
    )


# Above this many files to process, one listing of the cloud specs beats a failed read per cloud entry.
SPEC_LISTING_THRESHOLD = 500


class _CachedSpecLookup:
    """Specs are shared by several entries (oss and cloud, a version and its latest/ copy): each spec
    file is read once per lookup object, by one thread while the others wait for it. With `cloud_specs` (every
    spec.cloud.json that exists), a cloud spec that is not there is not asked for."""

    def __init__(self, spec_cache: SpecCache, cloud_specs: Optional[set[str]] = None):
        self._spec_cache = spec_cache
        self._cloud_specs = cloud_specs
        self._reads: dict[str, Future] = {}
        self._lock = threading.Lock()

    def _read(self, path: str) -> Optional[dict]:
        with self._lock:
            future = self._reads.get(path)
            owner = future is None
            if owner:
                future = self._reads[path] = Future()
        if owner:
            try:
                future.set_result(self._spec_cache.read_spec(path))
            except BaseException as error:  # every waiter sees the failure
                future.set_exception(error)
        return future.result()

    def __call__(self, repository: str, tag: str, registry: str) -> Optional[dict]:
        for path, cloud in self._spec_cache.candidate_paths(repository, tag, registry):
            if cloud and self._cloud_specs is not None and path not in self._cloud_specs:
                continue
            spec = self._read(path)
            if spec is not None:
                return spec
        return None


def _kept_entry_generation(path: str, previous: Optional[ProcessedMetadataFile], registry: str, gcs_bucket_manager: GcsBucketManager) -> Optional[int]:
    """The generation of the entry that stays in place when this build of it fails: the last good
    one the manifest knows, else whatever the bucket holds (one request, on failures only)."""
    if previous is not None and registry in previous.registries:
        outcome = previous.registries[registry]
        return None if outcome.status == "disabled" else outcome.generation
    return gcs_bucket_manager.generation_of(path) or None


def _build_entries(
    item: MetadataFile, previous: Optional[ProcessedMetadataFile], spec_lookup: _CachedSpecLookup, gcs_bucket_manager: GcsBucketManager
) -> ProcessedMetadataFile:
    data = item.load_data()
    record = ProcessedMetadataFile(
        generation=item.generation,
        etag=item.etag,
        valid=True,
        definition_id=str(data.get("definitionId")),
        connector_type=str(data.get("connectorType")),
    )
    for registry in REGISTRY_NAMES:
        path = registry_entry_path(item.path, registry)
        try:
            entry = metadata_to_registry_entry(data, registry, item.icon_url, spec_lookup)
        except RegistryEntryError as error:
            record.registries[registry] = RegistryEntryOutcome(
                status="failed", error=f"{item.path}: {error}", generation=_kept_entry_generation(path, previous, registry, gcs_bucket_manager)
            )
            continue
        if entry is None:
            gcs_bucket_manager.delete(path)
            record.registries[registry] = RegistryEntryOutcome(status="disabled")
        else:
            record.registries[registry] = RegistryEntryOutcome(status="written", generation=gcs_bucket_manager.write(path, to_json_bytes(entry)))
    return record


def _invalid_file_record(item: MetadataFile, previous: Optional[ProcessedMetadataFile], gcs_bucket_manager: GcsBucketManager) -> ProcessedMetadataFile:
    """An invalid file builds nothing; the entries of its last good version stay, and so do their records."""
    registries = dict(previous.registries) if previous is not None else {}
    for registry in set(REGISTRY_NAMES) - set(registries):
        kept = gcs_bucket_manager.generation_of(registry_entry_path(item.path, registry))
        if kept:
            registries[registry] = RegistryEntryOutcome(status="failed", error=f"{item.path}: invalid metadata file", generation=kept)
    return ProcessedMetadataFile(generation=item.generation, etag=item.etag, valid=False, problems=item.problems, registries=registries)


@asset(description="Writes oss.json / cloud.json beside each new or changed metadata file, deletes them where a registry is disabled.")
def registry_entry(
    context: AssetExecutionContext,
    metadata_entry: MetadataEntries,
    gcs_bucket_manager: GcsBucketManager,
    spec_cache: SpecCache,
) -> Output[RegistryEntryResult]:
    manifest, manifest_generation = read_entry_manifest(gcs_bucket_manager)
    if manifest_generation != metadata_entry.manifest_generation:
        raise ConcurrentWriteError(
            f"gs://{gcs_bucket_manager.bucket_name}/{ENTRY_MANIFEST_PATH} changed since this run compared the metadata files with it "
            f"(generation {metadata_entry.manifest_generation}, now {manifest_generation}): another run got there first; nothing was written"
        )
    previous_records = manifest.files
    files = dict(previous_records)
    for item in metadata_entry.invalid:
        files[item.path] = _invalid_file_record(item, previous_records.get(item.path), gcs_bucket_manager)

    cloud_specs = spec_cache.cloud_spec_paths() if len(metadata_entry.valid) > SPEC_LISTING_THRESHOLD else None
    # Files of the same image (a version and its latest/ copy) are built together, with a spec cache
    # of their own: each spec is read once and freed as soon as they are done, so memory stays flat
    # however many files a run processes.
    groups: dict[tuple[str, str], list[MetadataFile]] = {}
    for item in metadata_entry.valid:
        groups.setdefault(item.docker_image, []).append(item)

    def build_group(items: list[MetadataFile]) -> list[ProcessedMetadataFile]:
        spec_lookup = _CachedSpecLookup(spec_cache, cloud_specs)
        return [_build_entries(item, previous_records.get(item.path), spec_lookup, gcs_bucket_manager) for item in items]

    built: dict[str, ProcessedMetadataFile] = {}
    if groups:
        with ThreadPoolExecutor(max_workers=min(gcs_bucket_manager.max_workers, len(groups))) as pool:
            for items, group_records in zip(groups.values(), pool.map(build_group, groups.values())):
                built.update((item.path, record) for item, record in zip(items, group_records))
    result = RegistryEntryResult(full_scan=metadata_entry.full_scan)
    for item in metadata_entry.valid:
        record = files[item.path] = built[item.path]
        for registry, outcome in record.registries.items():
            if outcome.status == "written":
                result.written[registry].append(registry_entry_path(item.path, registry))
            elif outcome.status == "failed":
                result.failed[f"{item.path} ({registry})"] = outcome.error or "failed"
                context.log.error(outcome.error)

    # A metadata file that is gone takes its entries with it.
    for path in metadata_entry.deleted:
        files.pop(path, None)
        for registry in REGISTRY_NAMES:
            if gcs_bucket_manager.delete(registry_entry_path(path, registry)):
                result.deleted.append(registry_entry_path(path, registry))

    new_manifest = EntryManifest(files=dict(sorted(files.items())))
    if new_manifest != manifest:
        # Conditional on the generation read at the start: a concurrent run is detected, not overwritten.
        gcs_bucket_manager.write(ENTRY_MANIFEST_PATH, to_json_bytes(new_manifest.model_dump(mode="json")), if_generation_match=manifest_generation)
    for registry in REGISTRY_NAMES:
        result.entry_generations[registry] = new_manifest.published_entry_generations(registry)
        result.disabled_definition_ids[registry] = new_manifest.disabled_definition_ids(registry)
    result.manifest_records = len(new_manifest.files)

    written_count = sum(len(paths) for paths in result.written.values())
    return Output(
        result,
        metadata={
            "processed_metadata_files": len(metadata_entry.valid),
            "oss_entries_written": len(result.written["oss"]),
            "cloud_entries_written": len(result.written["cloud"]),
            "entries_deleted": len(result.deleted),
            "failed": len(result.failed),
            "manifest_records": result.manifest_records,
            "written_urls": MetadataValue.md(
                "\n".join(f"- [{path}]({gcs_bucket_manager.public_url(path)})" for paths in result.written.values() for path in paths[:25])
                or "Nothing written: no metadata file changed."
            ),
            "failures": MetadataValue.md("\n".join(f"- {key}: {error}" for key, error in result.failed.items()) or "None."),
            "entries_written_total": written_count,
        },
    )
