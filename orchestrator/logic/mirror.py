"""Which objects a mirror copies: those whose destination copy is missing or has other content."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from orchestrator.layout import METADATA_FOLDER, REGISTRY_NAMES, entry_file_name

_ENTRY_FILE_NAMES = frozenset(entry_file_name(registry) for registry in REGISTRY_NAMES)


@dataclass(frozen=True)
class ObjectDigest:
    """What a listing says of one object: enough to tell identical content without downloading it."""

    name: str
    size: int
    md5: str | None = None
    crc32c: str | None = None
    content_type: str | None = None


def same_content(source: ObjectDigest, destination: ObjectDigest) -> bool:
    """MD5 when both sides have one (composite objects have none), else CRC32C and size; with
    neither, the copy is made."""
    if source.md5 and destination.md5:
        return source.md5 == destination.md5
    if source.crc32c and destination.crc32c:
        return source.crc32c == destination.crc32c and source.size == destination.size
    return False


def is_build_output(name: str) -> bool:
    """An entry (`oss.json`, `cloud.json`) beside a metadata file: the local build writes its own, so
    copying the source's would only be overwritten, and copied again by the next mirror."""
    return name.startswith(f"{METADATA_FOLDER}/") and name.rsplit("/", 1)[-1] in _ENTRY_FILE_NAMES


def plan_copies(
    source: Iterable[ObjectDigest], destination: Mapping[str, ObjectDigest]
) -> tuple[list[ObjectDigest], list[ObjectDigest]]:
    """(objects to copy, objects already identical at the destination), each sorted by name; the
    build's own outputs are neither."""
    to_copy: list[ObjectDigest] = []
    identical: list[ObjectDigest] = []
    for item in sorted(source, key=lambda digest: digest.name):
        if is_build_output(item.name):
            continue
        present = destination.get(item.name)
        (identical if present is not None and same_content(item, present) else to_copy).append(item)
    return to_copy, identical
