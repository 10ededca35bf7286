"""Copying a real bucket (the production metadata bucket, its spec cache) into the local one, so a
development registry is built from real metadata plus one's own changes (SPEC §6).

Each part (a source bucket and a prefix, into a destination bucket) is listed on both sides; objects
whose checksum already matches are skipped, the rest are downloaded and written in parallel. An
object appears in GCS only once its upload completes, so an interrupted mirror leaves whole objects
only, and running it again copies just what is still missing."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from google.api_core import exceptions as gcs_errors

from orchestrator.logic.mirror import ObjectDigest, plan_copies

if TYPE_CHECKING:  # the command's parser reads this module's defaults without loading the client
    from google.cloud import storage

    from orchestrator.resources.gcs import GcsBucketManager

PRODUCTION_BUCKET = "prod-airbyte-cloud-connector-metadata-service"
GCS_ENDPOINT = "https://storage.googleapis.com"
# google-cloud-storage keeps 10 connections per host; more threads would only wait for one.
DEFAULT_WORKERS = 10
# Real GCS returns at most 1,000 objects a page whatever is asked.
_PAGE_SIZE = 1000
_LISTING_FIELDS = "items(name,size,md5Hash,crc32c,contentType),nextPageToken"
# How long a listing page keeps retrying (the client's default is 120 s): an unreachable source
# should be reported while the person is still watching.
LISTING_RETRY_SECONDS = 20.0


class MirrorError(RuntimeError):
    """The mirror cannot start or a listing failed; the message names the bucket and what to do."""


@dataclass(frozen=True)
class MirrorPart:
    """Everything under `prefix` in the source bucket, to the same names in `destination`."""

    source_bucket: str
    prefix: str
    destination: GcsBucketManager

    @property
    def label(self) -> str:
        return f"gs://{self.source_bucket}/{self.prefix}"


@dataclass
class MirrorReport:
    copied: int = 0
    skipped: int = 0
    bytes_copied: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    interrupted: bool = False

    def summary(self) -> str:
        state = "interrupted" if self.interrupted else ("finished with errors" if self.failures else "done")
        return (
            f"mirror {state}: {self.copied} copied, {self.skipped} skipped (same checksum), "
            f"{len(self.failures)} failed, {format_bytes(self.bytes_copied)} "
            f"in {self.seconds:.1f}s"
        )


class MirrorObserver(Protocol):
    def part_started(self, part: MirrorPart, to_copy: int, to_copy_bytes: int, skipped: int) -> None: ...

    def object_copied(self, part: MirrorPart, size: int) -> None: ...


def format_bytes(count: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000  # type: ignore[assignment]
    raise AssertionError("unreachable")


def source_client(endpoint: str = GCS_ENDPOINT, credentials_file: Path | None = None) -> storage.Client:
    """A client for the source: anonymous (a public bucket) unless a service-account key file is
    given. The endpoint is always explicit, so STORAGE_EMULATOR_HOST (the local destination) never
    redirects the source."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    if credentials_file is None:
        return storage.Client(
            project="connector-orchestrator",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": endpoint},
        )
    from google.oauth2 import service_account

    try:
        key = service_account.Credentials.from_service_account_file(str(credentials_file))
    except (OSError, ValueError) as error:
        raise MirrorError(f"{credentials_file}: not a readable service-account key file ({error})") from None
    return storage.Client(
        project=key.project_id or "connector-orchestrator", credentials=key, client_options={"api_endpoint": endpoint}
    )


def list_digests(client: storage.Client, bucket_name: str, prefix: str) -> list[ObjectDigest]:
    """Every object under `prefix` with its checksums. An unreadable bucket is an error, never empty."""
    from google.cloud.storage.retry import DEFAULT_RETRY

    try:
        iterator = client.list_blobs(
            bucket_name,
            prefix=prefix,
            fields=_LISTING_FIELDS,
            page_size=_PAGE_SIZE,
            retry=DEFAULT_RETRY.with_timeout(LISTING_RETRY_SECONDS),
        )
        return [
            ObjectDigest(
                name=item["name"],
                size=int(item.get("size") or 0),
                md5=item.get("md5Hash"),
                crc32c=item.get("crc32c"),
                content_type=item.get("contentType"),
            )
            for page in iterator.pages
            for item in page.raw_page.get("items", ())
        ]
    except gcs_errors.NotFound:
        raise MirrorError(f"gs://{bucket_name}: no such bucket at {client.api_endpoint}") from None
    except (gcs_errors.Forbidden, gcs_errors.Unauthorized) as error:
        raise MirrorError(
            f"gs://{bucket_name}: listing {prefix or 'the bucket'} was refused ({error.message}); "
            "for a private bucket pass --credentials with a service-account key file"
        ) from None
    except (OSError, gcs_errors.RetryError) as error:  # connection errors, raw or after the retries
        cause = getattr(error, "cause", None) or error
        raise MirrorError(f"gs://{bucket_name}: cannot reach {client.api_endpoint} ({type(cause).__name__})") from None


def _copy_one(source: storage.Client, part: MirrorPart, item: ObjectDigest) -> int:
    data = source.bucket(part.source_bucket).blob(item.name).download_as_bytes()
    part.destination.write(item.name, data, content_type=item.content_type or None)
    return len(data)


def mirror(
    parts: Sequence[MirrorPart],
    source: storage.Client,
    workers: int = DEFAULT_WORKERS,
    observer: MirrorObserver | None = None,
) -> MirrorReport:
    """Copy every part in order (the caller puts the spec cache first, so that a sensor watching
    the destination finds a version's spec by the time its metadata appears). Ctrl-C stops after
    the copies in flight and reports what was done; running again resumes."""
    report = MirrorReport()
    started = time.perf_counter()
    try:
        for part in parts:
            _mirror_part(part, source, max(1, workers), observer, report)
    except KeyboardInterrupt:
        report.interrupted = True
    report.seconds = time.perf_counter() - started
    return report


def _mirror_part(
    part: MirrorPart,
    source: storage.Client,
    workers: int,
    observer: MirrorObserver | None,
    report: MirrorReport,
) -> None:
    source_objects = list_digests(source, part.source_bucket, part.prefix)
    destination_client = part.destination.gcp_gcs_client.get_client()
    present = {item.name: item for item in list_digests(destination_client, part.destination.bucket_name, part.prefix)}
    to_copy, identical = plan_copies(source_objects, present)
    report.skipped += len(identical)
    if observer is not None:
        observer.part_started(part, len(to_copy), sum(item.size for item in to_copy), len(identical))
    if not to_copy:
        return
    remaining = iter(to_copy)
    pending: dict[Future, ObjectDigest] = {}

    def settle(future: Future) -> None:
        item = pending.pop(future)
        try:
            size = future.result()
        except Exception as error:  # one object's failure is reported; the others are still copied
            report.failures.append(f"{part.label}: {item.name}: {error}")
            return
        report.copied += 1
        report.bytes_copied += size
        if observer is not None:
            observer.object_copied(part, size)

    with ThreadPoolExecutor(max_workers=min(workers, len(to_copy))) as pool:
        # A bounded window of submissions: Ctrl-C then waits for a few copies in flight, not the whole list.
        for item in islice(remaining, workers * 2):
            pending[pool.submit(_copy_one, source, part, item)] = item
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    settle(future)
                    for following in islice(remaining, 1):
                        pending[pool.submit(_copy_one, source, part, following)] = following
        except KeyboardInterrupt:
            wait(pending)  # the copies in flight finish (or fail) and are counted
            for future in list(pending):
                settle(future)
            raise
