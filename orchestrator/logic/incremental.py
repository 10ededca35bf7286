"""Which metadata files a run must process.

Design: a manifest object in the bucket (`orchestrator_state/registry_entry_manifest.json`) maps
each live metadata path to the generation last processed and its outcome. A run lists the bucket
(cheap: names and generations only), processes the files whose generation differs, and prunes
records of deleted files, so the manifest never holds more records than there are live files.
We chose this over one Dagster dynamic partition per file or per etag because partitions grow
with every upload (the reference system passed 10,000 for about 500 live files) and cost one
instance call per file to reconcile; the manifest is one read and one conditional write per run.
Generations, not etags, are the key: an identical re-upload keeps its etag but is a new write.
A run requested by the metadata sensor skips the listing: the sensor names the changed files
(see `orchestrator.assets.metadata.MetadataScanConfig`)."""

from __future__ import annotations

from typing import Protocol, Sequence

from orchestrator.models.state import EntryManifest


class ListedObject(Protocol):
    name: str
    generation: int


def metadata_files_to_process(listing: Sequence[ListedObject], manifest: EntryManifest) -> tuple[list, list[str]]:
    """(objects new, changed or due a retry; paths processed before that no longer exist)."""
    to_process = []
    for blob in listing:
        record = manifest.files.get(blob.name)
        if record is None or record.generation != blob.generation or record.needs_retry:
            to_process.append(blob)
    live = {blob.name for blob in listing}
    deleted = sorted(path for path in manifest.files if path not in live)
    return to_process, deleted
