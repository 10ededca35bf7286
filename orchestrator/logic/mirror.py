"""Which objects a mirror copies: those whose destination copy is missing or has other content."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


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


def plan_copies(
    source: Iterable[ObjectDigest], destination: Mapping[str, ObjectDigest]
) -> tuple[list[ObjectDigest], list[ObjectDigest]]:
    """(objects to copy, objects already identical at the destination), each sorted by name."""
    to_copy: list[ObjectDigest] = []
    identical: list[ObjectDigest] = []
    for item in sorted(source, key=lambda digest: digest.name):
        present = destination.get(item.name)
        (identical if present is not None and same_content(item, present) else to_copy).append(item)
    return to_copy, identical
