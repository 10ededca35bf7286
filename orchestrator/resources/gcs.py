"""GCS resources. One code path serves real GCS and the local emulator: only the client differs
(service-account credentials, or anonymous credentials against STORAGE_EMULATOR_HOST)."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import json
import re
from collections.abc import Collection, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC
from functools import lru_cache
from urllib.parse import quote

from dagster import ConfigurableResource
from google.api_core import exceptions as gcs_errors
from google.auth.credentials import AnonymousCredentials, Credentials
from google.auth.transport.requests import AuthorizedSession
from google.cloud import storage
from pydantic import PrivateAttr

from orchestrator.layout import CLOUD_SPEC_GLOB, SPEC_FOLDER, folder_of, spec_path
from orchestrator.logic.serialization import from_json_bytes

CACHE_CONTROL = "no-cache"
# At least every GcsBucketManager's max_workers: one kept connection per worker thread.
CONNECTIONS_PER_HOST = 64
CREDENTIALS_REFRESH_SECONDS = 300
LISTING_PAGE_SIZE = 100_000

CONTENT_TYPES = {
    ".json": "application/json",
    ".html": "text/html",
    ".md": "text/markdown",
    ".csv": "text/csv",
    ".yaml": "text/yaml",
    ".yml": "text/yaml",
    ".svg": "image/svg+xml",
}


def md5_base64(data: bytes) -> str:
    """The MD5 as GCS reports it (`md5Hash`: base64 of the digest)."""
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


def content_type_for(path: str) -> str:
    for suffix, content_type in CONTENT_TYPES.items():
        if path.endswith(suffix):
            return content_type
    return "application/octet-stream"


class ConcurrentWriteError(RuntimeError):
    """Another writer changed the object since this run read it; nothing was overwritten."""


@dataclass(frozen=True)
class BlobInfo:
    """What a listing tells about one object: enough to detect a change without downloading it."""

    name: str
    generation: int
    etag: str
    md5_hash: str | None
    size: int
    updated: str = ""  # the object's update time, ISO 8601 UTC ("" when not known)

    @property
    def folder(self) -> str:
        return self.name.rsplit("/", 1)[0]


_FRACTION = re.compile(r"\.(\d+)")


def iso_utc(value: str | datetime.datetime | None) -> str:
    """An update time as one ISO 8601 UTC text, whether GCS gave it as RFC 3339 text (a listing, up
    to nanoseconds) or as a datetime (an object's metadata): the same object always gives the same text."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        # Python reads at most microseconds; GCS may write nanoseconds.
        text = _FRACTION.sub(lambda match: "." + match.group(1)[:6].ljust(6, "0"), value.replace("Z", "+00:00"), 1)
        value = datetime.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value.astimezone(datetime.UTC).isoformat()


def glob_to_regex(pattern: str) -> re.Pattern:
    """`**` crosses folders, `*` stays inside one, `{a,b}` is either; the same semantics as GCS `match_glob`."""
    return re.compile(_glob_body(pattern) + r"\Z")


def _glob_body(pattern: str) -> str:
    regex = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            regex += "(?:.*/)?"
            index += 3
        elif pattern.startswith("**", index):
            regex += ".*"
            index += 2
        elif pattern[index] == "*":
            regex += "[^/]*"
            index += 1
        elif pattern[index] == "{" and "}" in pattern[index:]:
            end = pattern.index("}", index)
            alternatives = pattern[index + 1 : end].split(",")
            regex += "(?:" + "|".join(_glob_body(alternative) for alternative in alternatives) + ")"
            index = end + 1
        else:
            regex += re.escape(pattern[index])
            index += 1
    return regex


def _listing_items(
    client: storage.Client, bucket_name: str, prefix: str, glob: str | None, fields: str
) -> Iterator[dict]:
    """The raw JSON items of a listing whose names match `glob` (a Blob object per item would cost
    more than the request). Errors propagate."""
    matcher = glob_to_regex(glob) if glob else None
    iterator = client.list_blobs(
        bucket_name,
        prefix=prefix,
        match_glob=glob,  # narrows the listing on real GCS; the emulator ignores it
        fields=f"items({fields}),nextPageToken",
        # Real GCS caps a page at 1,000 objects whatever is asked. The emulator honours any
        # size and reads its whole bucket for every page, so one page is several times faster.
        page_size=LISTING_PAGE_SIZE,
    )
    for page in iterator.pages:
        for item in page.raw_page.get("items", ()):
            if matcher is None or matcher.match(item["name"]):
                yield item


def list_objects(client: storage.Client, bucket_name: str, prefix: str, glob: str | None = None) -> list[BlobInfo]:
    """Every object under `prefix` whose name matches `glob`, sorted by name. Errors propagate."""
    blobs = [
        BlobInfo(
            item["name"],
            int(item["generation"]),
            item.get("etag", ""),
            item.get("md5Hash"),
            int(item.get("size") or 0),
            iso_utc(item.get("updated")),
        )
        for item in _listing_items(client, bucket_name, prefix, glob, "name,generation,etag,md5Hash,size,updated")
    ]
    return sorted(blobs, key=lambda blob: blob.name)


def list_generations(client: storage.Client, bucket_name: str, prefix: str, glob: str | None = None) -> dict[str, int]:
    """name -> generation of every object under `prefix` whose name matches `glob`: what a change
    detector needs, without the rest of each object's description."""
    return {
        item["name"]: int(item["generation"])
        for item in _listing_items(client, bucket_name, prefix, glob, "name,generation")
    }


def pooled_session(credentials: Credentials) -> AuthorizedSession:
    """The client's HTTP session, keeping the connection of each of up to CONNECTIONS_PER_HOST
    worker threads. requests' default pool keeps 10 idle: at the end of every batch of reads or
    writes the other workers' connections were closed, a warning each, and the next batch opened
    (over TLS, negotiated) new ones."""
    from requests.adapters import HTTPAdapter

    session = AuthorizedSession(credentials, refresh_timeout=CREDENTIALS_REFRESH_SECONDS)
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=CONNECTIONS_PER_HOST)
    for prefix in ("https://", "http://"):
        session.mount(prefix, adapter)
    return session


@lru_cache(maxsize=8)
def _build_client(gcs_credentials: str | None, emulator_host: str | None, project: str) -> storage.Client:
    credentials: Credentials
    client_options = None
    if emulator_host:
        # Real credentials against the emulator make the client hang fetching a token.
        credentials, client_options = AnonymousCredentials(), {"api_endpoint": emulator_host}
    elif gcs_credentials:
        from google.oauth2 import service_account

        info = json.loads(gcs_credentials)
        # Scoped here: the session is built from these very credentials, before the client would scope them.
        credentials = service_account.Credentials.from_service_account_info(info, scopes=storage.Client.SCOPE)
        project = info.get("project_id", project)
    else:
        import google.auth

        credentials, _ = google.auth.default(scopes=storage.Client.SCOPE)
    return storage.Client(
        project=project, credentials=credentials, client_options=client_options, _http=pooled_session(credentials)
    )


class GcsClient(ConfigurableResource):
    """`gcp_gcs_client`: a google.cloud.storage.Client from GCS_CREDENTIALS or for STORAGE_EMULATOR_HOST."""

    gcs_credentials: str | None = None
    emulator_host: str | None = None
    project: str = "connector-orchestrator"

    def get_client(self) -> storage.Client:
        return _build_client(self.gcs_credentials or None, self.emulator_host or None, self.project)

    def public_url(self, bucket_name: str, path: str) -> str:
        if self.emulator_host:
            # The emulator serves path-style URLs only for its configured public host; this form always works.
            return (
                f"{self.emulator_host.rstrip('/')}/download/storage/v1/b/{bucket_name}/o/"
                f"{quote(path, safe='')}?alt=media"
            )
        return f"https://storage.googleapis.com/{bucket_name}/{quote(path)}"


class GcsBucketManager(ConfigurableResource):
    """`gcs_bucket_manager`: reads, conditional writes and listings in one bucket."""

    gcp_gcs_client: GcsClient
    bucket_name: str
    cdn_base_url: str | None = None
    max_workers: int = 32

    _bucket: storage.Bucket | None = PrivateAttr(default=None)

    @property
    def bucket(self) -> storage.Bucket:
        if self._bucket is None:
            self._bucket = self.gcp_gcs_client.get_client().bucket(self.bucket_name)
        return self._bucket

    def public_url(self, path: str) -> str:
        if self.cdn_base_url:
            return f"{self.cdn_base_url.rstrip('/')}/{quote(path)}"
        return self.gcp_gcs_client.public_url(self.bucket_name, path)

    def list_blobs(self, prefix: str, glob: str | None = None) -> list[BlobInfo]:
        """Every object under `prefix` whose name matches `glob`, sorted by name.

        A listing error propagates: an unreadable bucket must never look like an empty one."""
        return list_objects(self.gcp_gcs_client.get_client(), self.bucket_name, prefix, glob)

    def list_generations(self, prefix: str, glob: str | None = None) -> dict[str, int]:
        """name -> generation of every object under `prefix` matching `glob`. Errors propagate."""
        return list_generations(self.gcp_gcs_client.get_client(), self.bucket_name, prefix, glob)

    def read_blob(self, path: str) -> tuple[bytes, BlobInfo] | None:
        """The object's bytes and what a listing would say of it, or None when it does not exist."""
        blob = self.bucket.blob(path)
        try:
            data = blob.download_as_bytes()
        except gcs_errors.NotFound:
            return None
        # The download's response headers carry generation and etag: no second request. The header
        # quotes the etag, a listing does not.
        return data, BlobInfo(path, int(blob.generation), (blob.etag or "").strip('"'), blob.md5_hash, len(data))

    def read_blob_with_time(self, path: str, attempts: int = 3) -> tuple[bytes, BlobInfo] | None:
        """Like `read_blob`, with the object's update time, which a download does not report: one
        metadata request more, repeated if the object was replaced in between."""
        stored = None
        for _ in range(attempts):
            described = self.bucket.get_blob(path)
            if described is None:
                return None
            stored = self.read_blob(path)
            if stored is None:
                return None
            data, info = stored
            if info.generation == int(described.generation):
                return data, dataclasses.replace(info, updated=iso_utc(described.updated))
        raise ConcurrentWriteError(f"gs://{self.bucket_name}/{path} kept changing while it was being read")

    def read(self, path: str) -> tuple[bytes, int] | None:
        """The object's bytes and generation, or None when it does not exist."""
        stored = self.read_blob(path)
        return None if stored is None else (stored[0], stored[1].generation)

    def read_many(self, paths: Iterable[str]) -> dict[str, tuple[bytes, int] | None]:
        return self._in_parallel(self.read, paths)

    def read_many_blobs(self, paths: Iterable[str]) -> dict[str, tuple[bytes, BlobInfo] | None]:
        return self._in_parallel(self.read_blob, paths)

    def read_many_blobs_with_time(self, paths: Iterable[str]) -> dict[str, tuple[bytes, BlobInfo] | None]:
        return self._in_parallel(self.read_blob_with_time, paths)

    def _in_parallel(self, read_one, paths: Iterable[str]) -> dict:
        paths = list(paths)
        if len(paths) <= 1:
            return {path: read_one(path) for path in paths}
        with ThreadPoolExecutor(max_workers=min(self.max_workers, len(paths))) as pool:
            return dict(zip(paths, pool.map(read_one, paths), strict=False))

    def describe(self, path: str) -> BlobInfo | None:
        """What a listing would say of one object (no download), None when it does not exist."""
        blob = self.bucket.get_blob(path)
        if blob is None:
            return None
        return BlobInfo(
            path,
            int(blob.generation),
            (blob.etag or "").strip('"'),
            blob.md5_hash,
            int(blob.size or 0),
            iso_utc(blob.updated),
        )

    def updated_times(self, paths: Iterable[str]) -> dict[str, str]:
        """When each object was last written (UTC, ISO 8601, to the second), for those that exist."""

        def updated(path: str) -> str | None:
            blob = self.bucket.get_blob(path)
            if blob is None or blob.updated is None:
                return None
            return blob.updated.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

        found = self._in_parallel(updated, paths)
        return {path: when for path, when in found.items() if when}

    def generation_of(self, path: str) -> int:
        """The live generation, 0 when the object does not exist (GCS's 'must not exist' precondition)."""
        blob = self.bucket.get_blob(path)
        return int(blob.generation) if blob is not None else 0

    def write(
        self, path: str, data: bytes, if_generation_match: int | None = None, content_type: str | None = None
    ) -> int:
        """Write with a content type and `Cache-Control: no-cache`; with `if_generation_match`, only
        over the generation this run read (0: only when absent). Returns the new generation."""
        blob = self.bucket.blob(path)
        blob.cache_control = CACHE_CONTROL
        try:
            blob.upload_from_string(
                data, content_type=content_type or content_type_for(path), if_generation_match=if_generation_match
            )
        except gcs_errors.PreconditionFailed as error:
            # A write whose reply was lost is retried by the client and then meets its own new
            # generation: the object already holds exactly these bytes, so the write succeeded.
            live = self.bucket.get_blob(path)
            if live is not None and live.md5_hash == md5_base64(data):
                return int(live.generation)
            raise ConcurrentWriteError(
                f"gs://{self.bucket_name}/{path} changed since this run read it "
                f"(expected generation {if_generation_match}); "
                "another writer got there first, so nothing was overwritten"
            ) from error
        return int(blob.generation)

    def delete(self, path: str, if_generation_match: int | None = None) -> bool:
        try:
            self.bucket.blob(path).delete(if_generation_match=if_generation_match)
        except gcs_errors.NotFound:
            return False
        except gcs_errors.PreconditionFailed as error:
            raise ConcurrentWriteError(f"gs://{self.bucket_name}/{path} changed before it could be deleted") from error
        return True

    def ensure_bucket(self) -> None:
        client = self.gcp_gcs_client.get_client()
        if client.lookup_bucket(self.bucket_name) is None:
            client.create_bucket(self.bucket_name)


class GcsFileManager(ConfigurableResource):
    """A folder of the bucket (`registry_directory_manager`, ...): writes files and returns their public URL."""

    gcs_bucket_manager: GcsBucketManager
    prefix: str = ""

    def path_of(self, key: str) -> str:
        return f"{self.prefix.strip('/')}/{key}" if self.prefix.strip("/") else key

    def read(self, key: str) -> tuple[bytes, int] | None:
        return self.gcs_bucket_manager.read(self.path_of(key))

    def write(self, key: str, data: bytes | str, if_generation_match: int | None = None) -> str:
        payload = data.encode("utf-8") if isinstance(data, str) else data
        self.gcs_bucket_manager.write(self.path_of(key), payload, if_generation_match=if_generation_match)
        return self.public_url(key)

    def public_url(self, key: str) -> str:
        return self.gcs_bucket_manager.public_url(self.path_of(key))


class GcsBlobListing(ConfigurableResource):
    """A named listing (`latest_metadata_file_blobs`, ...): objects under a prefix matching a glob."""

    gcs_bucket_manager: GcsBucketManager
    prefix: str
    glob: str

    def list(self) -> list[BlobInfo]:
        return self.gcs_bucket_manager.list_blobs(self.prefix, self.glob)

    def generations(self) -> dict[str, int]:
        """name -> generation of the listed objects (a change detector's listing)."""
        return self.gcs_bucket_manager.list_generations(self.prefix, self.glob)


class SpecCache(ConfigurableResource):
    """`spec_cache`: connection specs at specs/<dockerRepository>/<dockerImageTag>/spec[.cloud].json."""

    gcp_gcs_client: GcsClient
    bucket_name: str

    def candidate_paths(self, docker_repository: str, docker_image_tag: str, registry: str) -> list[tuple[str, bool]]:
        """(path, is the cloud spec) in the order they are looked up: for cloud, spec.cloud.json first."""
        candidates = [True, False] if registry == "cloud" else [False]
        return [(spec_path(docker_repository, docker_image_tag, cloud), cloud) for cloud in candidates]

    def read_spec(self, path: str) -> dict | None:
        """The parsed spec at `path`, None when there is none."""
        stored = self.read_spec_blob(path)
        return None if stored is None else stored[0]

    def read_spec_blob(self, path: str) -> tuple[dict, int] | None:
        """The parsed spec at `path` and the generation read, None when there is none."""
        blob = self.gcp_gcs_client.get_client().bucket(self.bucket_name).blob(path)
        try:
            data = blob.download_as_bytes()
        except gcs_errors.NotFound:
            return None
        return from_json_bytes(data), int(blob.generation)

    def spec_generations(self, paths: Collection[str], folder_listing_limit: int = 10) -> dict[str, int]:
        """Generation of each of `paths` that is in the cache. Few folders: one listing per folder (the
        images asked about); more: one listing of the whole cache, whatever the number of paths."""
        wanted = set(paths)
        folders = sorted({folder_of(path) for path in wanted})
        client = self.gcp_gcs_client.get_client()
        listed: dict[str, int] = {}
        if len(folders) <= folder_listing_limit:
            for folder in folders:
                listed.update(list_generations(client, self.bucket_name, f"{folder}/"))
        else:
            listed = list_generations(client, self.bucket_name, f"{SPEC_FOLDER}/")
        return {name: generation for name, generation in listed.items() if name in wanted}

    def cloud_spec_paths(self) -> set[str]:
        """Every spec.cloud.json in the cache, from one listing (narrowed to those files on real GCS)."""
        return {
            blob.name
            for blob in list_objects(
                self.gcp_gcs_client.get_client(), self.bucket_name, f"{SPEC_FOLDER}/", CLOUD_SPEC_GLOB
            )
        }
