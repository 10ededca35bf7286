"""Validating and uploading one connector version (SPEC §2, §3, §6).

An upload is planned first (validate, read what the bucket holds, decide what to write), then
carried out with generation preconditions on everything it read, so a concurrent upload of the same
connector makes this one stop instead of silently overwriting: `plan_upload` then `execute_plan`,
or `upload_metadata` for both. Nothing is written when validation fails.

Bucket layout written: `metadata/<repo>/<tag>/metadata.yaml` always, `metadata/<repo>/latest/
metadata.yaml` when the version is not a release candidate and not older than the current latest,
and `icon.svg` from the file's folder next to each metadata file written.
"""

from __future__ import annotations

import base64
import hashlib
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from orchestrator.logic.validation import MetadataValidationResult, ValidationProblem, load_yaml, validate_metadata_bytes
from orchestrator.logic.versions import SEMVER, is_release_candidate, parse_version
from orchestrator.resources.gcs import ConcurrentWriteError, GcsBucketManager
from orchestrator.settings import METADATA_FOLDER

METADATA_FILE_NAME = "metadata.yaml"
ICON_FILE_NAME = "icon.svg"
LATEST = "latest"
# Docker's repository grammar: lower-case path components separated by '/'. Anything else could
# not round-trip through the bucket path (`..`, spaces, upper case, an empty component).
DOCKER_REPOSITORY = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
DOCKER_HUB_TAG_URL = "https://hub.docker.com/v2/repositories/{repository}/tags/{tag}"


class UsageError(ValueError):
    """A command-line argument that cannot be used (missing file, bad bucket argument)."""


def md5_base64(data: bytes) -> str:
    """The MD5 as GCS reports it (`md5Hash`: base64 of the digest)."""
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


def metadata_folder(repository: str, tag_or_latest: str) -> str:
    return f"{METADATA_FOLDER}/{repository}/{tag_or_latest}"


# ---------------------------------------------------------------------------------------------
# Finding and validating files

def find_metadata_file(path: Path) -> Path:
    """`path` itself, or the metadata.yaml inside the folder `path`."""
    path = Path(path)
    candidate = path / METADATA_FILE_NAME if path.is_dir() else path
    if not candidate.is_file():
        raise UsageError(f"{candidate}: no such file" if not path.is_dir() else f"{path}: no {METADATA_FILE_NAME} in this folder")
    return candidate


def metadata_files_under(path: Path) -> list[Path]:
    """The file, the folder's own metadata.yaml, or (for a folder of connectors) every one below it."""
    path = Path(path)
    if path.is_file():
        return [path]
    if (path / METADATA_FILE_NAME).is_file():
        return [path / METADATA_FILE_NAME]
    found = sorted(path.rglob(METADATA_FILE_NAME)) if path.is_dir() else []
    if not found:
        raise UsageError(f"{path}: no {METADATA_FILE_NAME} found")
    return found


def validate_file(path: Path) -> MetadataValidationResult:
    return validate_metadata_bytes(Path(path).read_bytes(), str(path))


def parse_bucket_argument(argument: str) -> tuple[str, Optional[tuple[str, str]]]:
    """`name`, `gs://name`, or `gs://name/metadata/<repo>/<tag>[/metadata.yaml]` (a destination the
    caller expects) -> (bucket name, (repository, tag) or None)."""
    text = argument[len("gs://"):] if argument.startswith("gs://") else argument
    name, _, rest = text.partition("/")
    rest = rest.strip("/")
    if not name:
        raise UsageError(f"{argument!r}: no bucket name")
    if not rest:
        return name, None
    parts = rest.split("/")
    if parts[-1] == METADATA_FILE_NAME:
        parts = parts[:-1]
    if len(parts) < 3 or parts[0] != METADATA_FOLDER:
        raise UsageError(f"{argument!r}: a destination inside the bucket must look like gs://<bucket>/{METADATA_FOLDER}/<repository>/<tag>")
    return name, ("/".join(parts[1:-1]), parts[-1])


def destination_problems(
    file_label: str, local_path: Path, repository: str, tag: str, expected: Optional[tuple[str, str]] = None
) -> list[ValidationProblem]:
    """The destination path must be the file's own: built from its repository and tag, it must
    parse back to exactly them; and a destination the caller named, or a bucket-style folder the
    file sits in (`.../metadata/<repo>/<tag>/metadata.yaml`), must agree with them."""
    problems = []
    if not DOCKER_REPOSITORY.match(repository):
        problems.append(ValidationProblem(file_label, "data.dockerRepository",
                                          f"{repository!r} is not a docker repository name, so {metadata_folder(repository, tag)}/ would not be its own folder"))
    if tag == LATEST or "/" in tag or not SEMVER.match(tag):
        problems.append(ValidationProblem(file_label, "data.dockerImageTag", f"{tag!r} cannot name a versioned folder"))
    if expected is not None:
        expected_repository, expected_tag = expected
        if expected_repository != repository:
            problems.append(ValidationProblem(file_label, "data.dockerRepository",
                                              f"the destination is {metadata_folder(*expected)}/ but the file's dockerRepository is {repository}"))
        if expected_tag != tag:
            problems.append(ValidationProblem(file_label, "data.dockerImageTag",
                                              f"the destination is {metadata_folder(*expected)}/ but the file's dockerImageTag is {tag}"))

    folder = Path(local_path).resolve().parent
    if folder.name == LATEST or SEMVER.match(folder.name):
        if folder.name not in (LATEST, tag):
            problems.append(ValidationProblem(file_label, "data.dockerImageTag",
                                              f"the file sits in a version folder {folder.name}/ but its dockerImageTag is {tag}"))
        ancestors = folder.parent.parts
        if METADATA_FOLDER in ancestors:
            local_repository = "/".join(ancestors[len(ancestors) - ancestors[::-1].index(METADATA_FOLDER):])
            if local_repository != repository:
                problems.append(ValidationProblem(file_label, "data.dockerRepository",
                                                  f"the file sits in {METADATA_FOLDER}/{local_repository}/ but its dockerRepository is {repository}"))
    return problems


def referenced_images(data: dict) -> list[tuple[str, str]]:
    """The file's own image and every image its registry overrides point at."""
    images = [(data["dockerRepository"], str(data["dockerImageTag"]))]
    overrides = data.get("registryOverrides") or data.get("registries") or {}
    for override in overrides.values():
        if isinstance(override, dict) and override.get("enabled"):
            image = (override.get("dockerRepository") or images[0][0], str(override.get("dockerImageTag") or images[0][1]))
            if image not in images:
                images.append(image)
    return images


def docker_hub_problems(file_label: str, images: list[tuple[str, str]], timeout: float = 10.0) -> list[ValidationProblem]:
    """HEAD on Docker Hub's tags API for each image: opt-in, since it needs the network."""
    problems = []
    for repository, tag in images:
        url = DOCKER_HUB_TAG_URL.format(repository=repository, tag=tag)
        request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "metadata_service"})
        try:
            with urllib.request.urlopen(request, timeout=timeout):
                continue
        except urllib.error.HTTPError as error:
            reason = "does not exist on Docker Hub" if error.code == 404 else f"could not be checked on Docker Hub (HTTP {error.code})"
        except (urllib.error.URLError, OSError) as error:
            reason = f"could not be checked on Docker Hub ({getattr(error, 'reason', error)})"
        problems.append(ValidationProblem(file_label, "data.dockerImageTag", f"image {repository}:{tag} {reason} ({url})"))
    return problems


# ---------------------------------------------------------------------------------------------
# Planning and writing

@dataclass(frozen=True)
class PlannedWrite:
    path: str
    data: bytes
    # generation read while planning (0: the object did not exist); the write happens only over it
    if_generation_match: int


@dataclass
class UploadPlan:
    metadata_file: Path
    bucket_name: str
    repository: str
    tag: str
    writes: list[PlannedWrite] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    latest_note: str = ""
    updates_latest: bool = False


@dataclass
class UploadResult:
    problems: list[ValidationProblem] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    conflict: Optional[str] = None
    plan: Optional[UploadPlan] = None

    @property
    def ok(self) -> bool:
        return not self.problems and self.conflict is None

    @property
    def changed(self) -> bool:
        return bool(self.written)


def _remote(bucket: GcsBucketManager, path: str) -> tuple[Optional[str], int]:
    """(md5, generation) of an object; (None, 0) when absent."""
    blob = bucket.bucket.get_blob(path)
    return (blob.md5_hash, int(blob.generation)) if blob is not None else (None, 0)


def _latest_decision(bucket: GcsBucketManager, repository: str, tag: str) -> tuple[bool, str, Optional[tuple[bytes, int]]]:
    """Whether this version becomes latest/, why (or why not), and the latest/ metadata as read
    (bytes, generation): the write over it is conditional on exactly that generation."""
    if is_release_candidate(tag):
        return False, f"{tag} is a release candidate: uploaded to its versioned folder only, latest/ unchanged", None
    found = bucket.read(f"{metadata_folder(repository, LATEST)}/{METADATA_FILE_NAME}")
    if found is None:
        return True, f"{tag} is the first version published: it becomes latest/", None
    try:
        current_tag = str(load_yaml(found[0])["data"]["dockerImageTag"])
        current = parse_version(current_tag)
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as error:
        return True, f"the current latest/ cannot be read ({error}): {tag} replaces it", found
    if parse_version(tag) < current:
        return False, f"{tag} is older than the current latest {current_tag}: latest/ unchanged", found
    return True, f"{tag} is not older than the current latest {current_tag}: it becomes latest/", found


def plan_upload(metadata_file: Path, bucket: GcsBucketManager, raw: bytes, data: dict) -> UploadPlan:
    """Decide the writes of a validated file: each target whose remote MD5 differs, with the
    generation read as its precondition (for latest/metadata.yaml, the one the decision was made on)."""
    repository, tag = data["dockerRepository"], str(data["dockerImageTag"])
    plan = UploadPlan(metadata_file=metadata_file, bucket_name=bucket.bucket_name, repository=repository, tag=tag)
    plan.updates_latest, plan.latest_note, latest_read = _latest_decision(bucket, repository, tag)
    folders = [tag] + ([LATEST] if plan.updates_latest else [])
    icon_file = metadata_file.parent / ICON_FILE_NAME
    icon = icon_file.read_bytes() if icon_file.is_file() else None
    for folder in folders:
        # The icon goes first so that whoever reacts to the new metadata file already finds it.
        contents = ([(ICON_FILE_NAME, icon)] if icon is not None else []) + [(METADATA_FILE_NAME, raw)]
        for name, content in contents:
            path = f"{metadata_folder(repository, folder)}/{name}"
            if folder == LATEST and name == METADATA_FILE_NAME:
                md5, generation = (md5_base64(latest_read[0]), latest_read[1]) if latest_read else (None, 0)
            else:
                md5, generation = _remote(bucket, path)
            if md5 == md5_base64(content):
                plan.unchanged.append(path)
            else:
                plan.writes.append(PlannedWrite(path, content, generation))
    return plan


def execute_plan(plan: UploadPlan, bucket: GcsBucketManager) -> UploadResult:
    """Carry out the writes in order; the first precondition failure stops the upload."""
    result = UploadResult(unchanged=list(plan.unchanged), notes=[plan.latest_note], plan=plan)
    for write in plan.writes:
        try:
            bucket.write(write.path, write.data, if_generation_match=write.if_generation_match)
        except ConcurrentWriteError as error:
            result.conflict = f"{error}. Already written: {', '.join(result.written) or 'nothing'}. Run the upload again to retry."
            return result
        result.written.append(write.path)
    return result


def upload_metadata(
    metadata_path: Path,
    bucket: GcsBucketManager,
    expected_destination: Optional[tuple[str, str]] = None,
    check_docker_hub: bool = False,
) -> UploadResult:
    """Validate, then write what differs. On any problem, nothing is written."""
    metadata_file = find_metadata_file(metadata_path)
    raw = metadata_file.read_bytes()
    label = str(metadata_file)
    validation = validate_metadata_bytes(raw, label)
    if not validation.ok:
        return UploadResult(problems=list(validation.problems))
    data = validation.document["data"]
    problems = destination_problems(label, metadata_file, data["dockerRepository"], str(data["dockerImageTag"]), expected_destination)
    if not problems and check_docker_hub:
        problems = docker_hub_problems(label, referenced_images(data))
    if problems:
        return UploadResult(problems=problems)
    return execute_plan(plan_upload(metadata_file, bucket, raw, data), bucket)
