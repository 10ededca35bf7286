"""Uploading one connector version (SPEC §2, §3, §6).

An upload is planned first (validate, read what the bucket holds, decide what to write), then
carried out with generation preconditions on everything it read, so a concurrent upload of the same
connector makes this one stop instead of silently overwriting: `plan_upload` then `execute_plan`,
or `upload_metadata` for both. Nothing is written when validation fails.

Bucket layout written: `metadata/<repo>/<tag>/metadata.yaml` always, `metadata/<repo>/latest/
metadata.yaml` when the version is not a release candidate and not older than the current latest,
`metadata/<repo>/release_candidate/metadata.yaml` when it is a release candidate not older than the
current one (SPEC §4.1), and `icon.svg` from the file's folder next to each metadata file written.
A development build (`prerelease`) goes to its versioned folder only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from orchestrator.layout import (
    ICON_FILE_NAME,
    LATEST_FOLDER,
    METADATA_FILE_NAME,
    RELEASE_CANDIDATE_FOLDER,
    metadata_folder,
)
from orchestrator.logic.validation import ValidationProblem, load_yaml
from orchestrator.logic.versions import is_release_candidate, parse_version
from orchestrator.metadata_service.files import (
    destination_problems,
    docker_hub_problems,
    find_metadata_file,
    referenced_images,
    validate_for_upload,
)
from orchestrator.resources.gcs import ConcurrentWriteError, GcsBucketManager, md5_base64

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
    release_candidate_note: str = ""
    updates_release_candidate: bool = False


@dataclass
class UploadResult:
    problems: list[ValidationProblem] = field(default_factory=list)
    warnings: list[ValidationProblem] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    conflict: str | None = None
    plan: UploadPlan | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and self.conflict is None

    @property
    def changed(self) -> bool:
        return bool(self.written)


def _remote(bucket: GcsBucketManager, path: str) -> tuple[str | None, int]:
    """(md5, generation) of an object; (None, 0) when absent."""
    blob = bucket.bucket.get_blob(path)
    return (blob.md5_hash, int(blob.generation)) if blob is not None else (None, 0)


# folder -> (what a first upload there is, what the copy there is called)
_FOLDER_WORDS = {
    LATEST_FOLDER: ("version", "latest"),
    RELEASE_CANDIDATE_FOLDER: ("release candidate", "release candidate"),
}


def _replaces_folder(
    bucket: GcsBucketManager, repository: str, tag: str, folder: str
) -> tuple[bool, str, tuple[bytes, int] | None]:
    """Whether this version replaces the copy in `folder` (latest/ or release_candidate/), why (or
    why not), and that copy as read (bytes, generation): the write over it is conditional on exactly
    that generation."""
    first, called = _FOLDER_WORDS[folder]
    found = bucket.read(f"{metadata_folder(repository, folder)}/{METADATA_FILE_NAME}")
    if found is None:
        return True, f"{tag} is the first {first} published: it becomes {folder}/", None
    try:
        current_tag = str(load_yaml(found[0])["data"]["dockerImageTag"])
        current = parse_version(current_tag)
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as error:
        return True, f"the current {folder}/ cannot be read ({error}): {tag} replaces it", found
    if parse_version(tag) < current:
        return False, f"{tag} is older than the current {called} {current_tag}: {folder}/ unchanged", found
    return True, f"{tag} is not older than the current {called} {current_tag}: it becomes {folder}/", found


def _latest_decision(bucket: GcsBucketManager, repository: str, tag: str) -> tuple[bool, str, tuple[bytes, int] | None]:
    if is_release_candidate(tag):
        return False, f"{tag} is a release candidate: latest/ unchanged", None
    return _replaces_folder(bucket, repository, tag, LATEST_FOLDER)


def _release_candidate_decision(
    bucket: GcsBucketManager, repository: str, tag: str
) -> tuple[bool, str, tuple[bytes, int] | None]:
    if not is_release_candidate(tag):
        return False, "", None
    return _replaces_folder(bucket, repository, tag, RELEASE_CANDIDATE_FOLDER)


def plan_upload(
    metadata_file: Path, bucket: GcsBucketManager, raw: bytes, data: dict, prerelease: bool = False
) -> UploadPlan:
    """Decide the writes of a validated file: each target whose remote MD5 differs, with the
    generation read as its precondition (for the metadata.yaml of latest/ and release_candidate/,
    the one the decision was made on). A development build (`prerelease`) writes its own folder only."""
    repository, tag = data["dockerRepository"], str(data["dockerImageTag"])
    plan = UploadPlan(metadata_file=metadata_file, bucket_name=bucket.bucket_name, repository=repository, tag=tag)
    reads: dict[str, tuple[bytes, int] | None] = {}
    if prerelease:
        plan.latest_note = f"{tag} is a development build: uploaded to its versioned folder only"
    else:
        plan.updates_latest, plan.latest_note, reads[LATEST_FOLDER] = _latest_decision(bucket, repository, tag)
        plan.updates_release_candidate, plan.release_candidate_note, reads[RELEASE_CANDIDATE_FOLDER] = (
            _release_candidate_decision(bucket, repository, tag)
        )
    folders = (
        [tag]
        + ([LATEST_FOLDER] if plan.updates_latest else [])
        + ([RELEASE_CANDIDATE_FOLDER] if plan.updates_release_candidate else [])
    )
    icon_file = metadata_file.parent / ICON_FILE_NAME
    icon = icon_file.read_bytes() if icon_file.is_file() else None
    for folder in folders:
        # The icon goes first so that whoever reacts to the new metadata file already finds it.
        contents = ([(ICON_FILE_NAME, icon)] if icon is not None else []) + [(METADATA_FILE_NAME, raw)]
        for name, content in contents:
            path = f"{metadata_folder(repository, folder)}/{name}"
            if folder in reads and name == METADATA_FILE_NAME:
                read = reads[folder]
                md5, generation = (md5_base64(read[0]), read[1]) if read else (None, 0)
            else:
                md5, generation = _remote(bucket, path)
            if md5 == md5_base64(content):
                plan.unchanged.append(path)
            else:
                plan.writes.append(PlannedWrite(path, content, generation))
    return plan


def execute_plan(plan: UploadPlan, bucket: GcsBucketManager) -> UploadResult:
    """Carry out the writes in order; the first precondition failure stops the upload."""
    notes = [note for note in (plan.latest_note, plan.release_candidate_note) if note]
    result = UploadResult(unchanged=list(plan.unchanged), notes=notes, plan=plan)
    for write in plan.writes:
        try:
            bucket.write(write.path, write.data, if_generation_match=write.if_generation_match)
        except ConcurrentWriteError as error:
            result.conflict = (
                f"{error}. Already written: {', '.join(result.written) or 'nothing'}. Run the upload again to retry."
            )
            return result
        result.written.append(write.path)
    return result


def upload_metadata(
    metadata_path: Path,
    bucket: GcsBucketManager,
    expected_destination: tuple[str, str] | None = None,
    check_docker_hub: bool = False,
    prerelease: str | None = None,
) -> UploadResult:
    """Validate (with the upload-only rules), then write what differs. On any problem, nothing is
    written. `prerelease`: upload the file as that development build, to its versioned folder only."""
    metadata_file = find_metadata_file(metadata_path)
    label = str(metadata_file)
    validation, raw = validate_for_upload(metadata_file, prerelease)
    if not validation.ok:
        return UploadResult(problems=list(validation.problems), warnings=list(validation.warnings))
    document = validation.document
    assert document is not None  # a valid file was parsed into a mapping
    data = document["data"]
    problems = destination_problems(
        label, metadata_file, data["dockerRepository"], str(data["dockerImageTag"]), expected_destination
    )
    if not problems and check_docker_hub:
        problems = docker_hub_problems(label, referenced_images(data))
    if problems:
        return UploadResult(problems=problems, warnings=list(validation.warnings))
    result = execute_plan(plan_upload(metadata_file, bucket, raw, data, prerelease=prerelease is not None), bucket)
    result.warnings = list(validation.warnings)
    return result
