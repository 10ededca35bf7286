"""Reading and writing the incremental build's state files (`orchestrator_state/`) in the bucket:
the entry manifest, and per registry the inputs it was built from, its last diff and the documents
published beside it."""

from __future__ import annotations

import json

from dagster import Failure
from pydantic import ValidationError

from orchestrator.layout import (
    ENTRY_MANIFEST_PATH,
    SPEC_WATCH_PATH,
    registry_diff_path,
    registry_documents_state_path,
    registry_inputs_path,
)
from orchestrator.logic.serialization import from_json_bytes, from_own_json_bytes, to_json_bytes
from orchestrator.models.state import EntryManifest, RegistryDocumentsState, RegistryInputs, SpecWatch
from orchestrator.resources.gcs import GcsBucketManager

# The last manifest this process read from each bucket, with its generation. The entries step
# reads the manifest the definitions step has just read (10 MB at 12,600 records); run in one
# process (the in-process executor), a metadata request for the generation replaces the download.
# Safe to share: the steps derive new manifests (`model_copy`) and never change one read.
_manifests_read: dict[tuple[str | None, str], tuple[int, EntryManifest]] = {}


def read_entry_manifest(bucket: GcsBucketManager) -> tuple[EntryManifest, int]:
    """The manifest and its generation (0: none yet). One of an older format counts as empty, so every
    entry is rebuilt once; the generation is kept for the conditional write that replaces it."""
    where = (bucket.gcp_gcs_client.emulator_host, bucket.bucket_name)
    seen = _manifests_read.get(where)
    if seen is not None and bucket.generation_of(ENTRY_MANIFEST_PATH) == seen[0]:
        return seen[1], seen[0]
    stored = bucket.read(ENTRY_MANIFEST_PATH)
    if stored is None:
        return EntryManifest(), 0
    data, generation = stored
    try:
        # Validated from the bytes by pydantic's own parser: a third faster than parsing, then validating.
        manifest = EntryManifest.model_validate_json(data)
    except ValidationError as error:
        refused: Exception = error
    else:
        _manifests_read[where] = (generation, manifest)
        return manifest, generation
    try:
        document = from_json_bytes(data)
        if not isinstance(document, dict) or document.get("version") != EntryManifest().version:
            return EntryManifest(), generation
    except json.JSONDecodeError as error:
        refused = error
    raise Failure(
        f"gs://{bucket.bucket_name}/{ENTRY_MANIFEST_PATH} is unreadable ({refused}); delete it to rebuild every entry"
    ) from refused


def write_entry_manifest(bucket: GcsBucketManager, manifest: EntryManifest, if_generation_match: int) -> int:
    """Only over the generation read at the start of the run: a concurrent run is detected, not overwritten."""
    return bucket.write(
        # Unset fields are left out: they read back as their default (None), and most records have many.
        ENTRY_MANIFEST_PATH,
        to_json_bytes(manifest.model_dump(mode="json", exclude_none=True)),
        if_generation_match=if_generation_match,
    )


def read_json_document(
    bucket: GcsBucketManager, path: str, own_generation: int = 0
) -> tuple[bytes | None, dict | None, int]:
    """(raw bytes, parsed document, generation); (None, None, 0) when absent. Unparsable is a failure:
    a build must never start from a file it cannot read as if it were empty. `own_generation`: the
    generation at which this code wrote the file (`to_json_bytes`); read at that one, it is parsed
    as its own bytes."""
    stored = bucket.read(path)
    if stored is None:
        return None, None, 0
    raw, generation = stored
    try:
        parse = from_own_json_bytes if own_generation and generation == own_generation else from_json_bytes
        return raw, parse(raw), generation
    except json.JSONDecodeError as error:  # orjson's is one too
        raise Failure(
            f"gs://{bucket.bucket_name}/{path} is not valid JSON ({error}); refusing to build on it"
        ) from error


def read_registry_inputs(bucket: GcsBucketManager, registry: str) -> tuple[RegistryInputs, int]:
    _, document, generation = read_json_document(bucket, registry_inputs_path(registry))
    return (RegistryInputs.model_validate(document) if document else RegistryInputs()), generation


def write_registry_inputs(
    bucket: GcsBucketManager, registry: str, inputs: RegistryInputs, if_generation_match: int
) -> int:
    return bucket.write(
        registry_inputs_path(registry),
        to_json_bytes(inputs.model_dump(mode="json")),
        if_generation_match=if_generation_match,
    )


def write_registry_diff(bucket: GcsBucketManager, registry: str, diff: dict) -> int:
    return bucket.write(registry_diff_path(registry), to_json_bytes(diff))


def read_registry_diff(bucket: GcsBucketManager, registry: str) -> bytes | None:
    stored = bucket.read(registry_diff_path(registry))
    return stored[0] if stored else None


def read_documents_state(bucket: GcsBucketManager, registry: str) -> tuple[RegistryDocumentsState, int]:
    """The documents the last publish of `registry` recorded, and the state file's generation (0:
    none). One of another format counts as none: the documents are then compared with the bucket."""
    path = registry_documents_state_path(registry)
    _, document, generation = read_json_document(bucket, path)
    if not isinstance(document, dict) or document.get("version") != RegistryDocumentsState().version:
        return RegistryDocumentsState(), generation
    try:
        return RegistryDocumentsState.model_validate(document), generation
    except ValidationError as error:
        raise Failure(
            f"gs://{bucket.bucket_name}/{path} is unreadable ({error}); delete it to compare the "
            "documents with the bucket"
        ) from error


def write_documents_state(
    bucket: GcsBucketManager, registry: str, state: RegistryDocumentsState, if_generation_match: int
) -> int:
    return bucket.write(
        registry_documents_state_path(registry),
        to_json_bytes(state.model_dump(mode="json")),
        if_generation_match=if_generation_match,
    )


def read_spec_watch(bucket: GcsBucketManager) -> tuple[SpecWatch, int]:
    """The spec watch and its generation (0: none yet). Unreadable is a failure naming the file."""
    _, document, generation = read_json_document(bucket, SPEC_WATCH_PATH)
    if document is None:
        return SpecWatch(), generation
    try:
        return SpecWatch.model_validate(document), generation
    except ValidationError as error:
        raise Failure(
            f"gs://{bucket.bucket_name}/{SPEC_WATCH_PATH} is not a spec watch ({error}); "
            "delete it, the next registry_entry run writes it again"
        ) from error


def write_spec_watch(bucket: GcsBucketManager, watch: SpecWatch) -> int:
    return bucket.write(SPEC_WATCH_PATH, to_json_bytes(watch.model_dump(mode="json")))
