"""Writing a generated sample into the buckets: parallel uploads that skip objects whose remote
copy already has the same MD5, so loading twice is fast and changes nothing. Specs go through the
spec-cache upload of `metadata_service upload-spec`, checked the same way."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from orchestrator.layout import SPEC_FOLDER, parse_spec_path
from orchestrator.local.sample import SampleBucket
from orchestrator.metadata_service.specs import upload_spec_bytes
from orchestrator.resources.gcs import BlobInfo, GcsBucketManager, md5_base64

# google-cloud-storage's HTTP session keeps 10 connections per host; more threads only queue.
DEFAULT_WORKERS = 10

Progress = Callable[[str, int, int], None]  # (bucket, files done, files to write)


@dataclass(frozen=True)
class LoadReport:
    bucket: str
    written: int
    unchanged: int


def changed_objects(manager: GcsBucketManager, objects: dict[str, bytes]) -> dict[str, bytes]:
    """The objects whose remote copy is missing or differs, from one listing per top folder."""
    prefixes = sorted({path.split("/", 1)[0] + "/" for path in objects})
    remote: dict[str, str | None] = {}
    for prefix in prefixes:
        remote.update({blob.name: blob.md5_hash for blob in manager.list_blobs(prefix)})
    return {path: data for path, data in objects.items() if remote.get(path) != md5_base64(data)}


def upload_objects(
    manager: GcsBucketManager,
    objects: dict[str, bytes],
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> LoadReport:
    """Write the changed objects of `objects` with a thread pool; report written/unchanged."""
    todo = changed_objects(manager, objects)
    _run_parallel(manager.bucket_name, manager.write, todo, workers, progress)
    return LoadReport(bucket=manager.bucket_name, written=len(todo), unchanged=len(objects) - len(todo))


def _run_parallel(
    bucket_name: str,
    write: Callable[[str, bytes], object],
    todo: dict[str, bytes],
    workers: int,
    progress: Progress | None,
) -> None:
    done = 0
    if progress:
        progress(bucket_name, 0, len(todo))
    if not todo:
        return
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(todo)))) as pool:
        futures = [pool.submit(write, path, data) for path, data in sorted(todo.items())]
        for future in as_completed(futures):
            future.result()  # an upload error stops the load with its own message
            done += 1
            if progress:
                progress(bucket_name, done, len(todo))


class SampleSpecError(ValueError):
    """The generated sample holds a file the spec cache would refuse."""


def upload_specs(
    manager: GcsBucketManager,
    specs: dict[str, bytes],
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> LoadReport:
    """Spec-cache objects (`specs/<repo>/<tag>/spec[.cloud].json`) through `upload_spec_bytes`,
    handing it what one listing says of each, so no spec costs an extra request."""
    remote: dict[str, BlobInfo] = {blob.name: blob for blob in manager.list_blobs(f"{SPEC_FOLDER}/")}
    todo = {
        path: data
        for path, data in specs.items()
        if remote.get(path) is None or remote[path].md5_hash != md5_base64(data)
    }

    def write(path: str, data: bytes) -> None:
        parsed = parse_spec_path(path)
        if parsed is None:
            raise SampleSpecError(f"{path}: not a spec-cache path")
        result = upload_spec_bytes(manager, data, path, *parsed, remote=remote.get(path))
        if not result.ok:
            raise SampleSpecError("; ".join(map(str, result.problems)) or f"{path}: {result.conflict}")

    _run_parallel(manager.bucket_name, write, todo, workers, progress)
    return LoadReport(bucket=manager.bucket_name, written=len(todo), unchanged=len(specs) - len(todo))


def load_sample(
    sample: SampleBucket,
    metadata: GcsBucketManager,
    specs: GcsBucketManager,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> list[LoadReport]:
    """Spec cache first: by the time a metadata file appears (and a sensor may react), its specs exist."""
    return [
        upload_specs(specs, sample.spec_objects, workers, progress),
        upload_objects(metadata, sample.metadata_objects, workers, progress),
    ]


def bucket_has_metadata(manager: GcsBucketManager) -> bool:
    client = manager.gcp_gcs_client.get_client()
    return any(True for _ in client.list_blobs(manager.bucket_name, prefix="metadata/", max_results=1))
