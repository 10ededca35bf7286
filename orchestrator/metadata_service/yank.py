"""Yanking a published version (SPEC §6): `metadata/<repo>/<version>/.yanked` holds the reason. The
registries stop listing that version at their next build; nothing is deleted, so a consumer pinned
to the version still finds its entry. Unyanking removes the marker."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.layout import (
    DOCKER_REPOSITORY,
    LATEST_FOLDER,
    RELEASE_CANDIDATE_FOLDER,
    metadata_path,
    yank_marker_path,
)
from orchestrator.logic.validation import ValidationProblem
from orchestrator.logic.versions import SEMVER
from orchestrator.logic.yank import MAX_REASON_LENGTH
from orchestrator.resources.gcs import ConcurrentWriteError, GcsBucketManager

MARKER_CONTENT_TYPE = "text/plain; charset=utf-8"


@dataclass
class YankResult:
    marker: str  # the marker's bucket path
    problems: list[ValidationProblem] = field(default_factory=list)
    changed: bool = False  # the marker was written (yank) or removed (unyank)
    notes: list[str] = field(default_factory=list)
    conflict: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and self.conflict is None


def _version_problems(bucket: GcsBucketManager, repository: str, tag: str, verb: str) -> list[ValidationProblem]:
    problems = []
    if not DOCKER_REPOSITORY.match(repository):
        problems.append(
            ValidationProblem("arguments", "dockerRepository", f"{repository!r} is not a docker repository name")
        )
    if tag in (LATEST_FOLDER, RELEASE_CANDIDATE_FOLDER) or not SEMVER.match(tag):
        problems.append(
            ValidationProblem(
                "arguments", "version", f"{tag!r} is not a version tag: {verb} names a version, e.g. 1.2.3"
            )
        )
    if problems:
        return problems
    path = metadata_path(repository, tag)
    if bucket.describe(path) is None:
        problems.append(
            ValidationProblem(
                f"gs://{bucket.bucket_name}/{path}",
                "version",
                f"does not exist: {repository} has no published version {tag} to {verb}",
            )
        )
    return problems


def yank_version(bucket: GcsBucketManager, repository: str, tag: str, reason: str) -> YankResult:
    """Write the marker with `reason`; the same reason already there writes nothing."""
    result = YankResult(yank_marker_path(repository, tag))
    text = " ".join(reason.split())
    if not text:
        result.problems.append(ValidationProblem("arguments", "--reason", "a yank needs a reason"))
    elif len(text) > MAX_REASON_LENGTH:
        result.problems.append(
            ValidationProblem("arguments", "--reason", f"{len(text)} characters; at most {MAX_REASON_LENGTH}")
        )
    result.problems += _version_problems(bucket, repository, tag, "yank")
    if result.problems:
        return result
    payload = f"{text}\n".encode()
    stored = bucket.read(result.marker)
    if stored is not None and stored[0] == payload:
        result.notes.append(f"{repository} {tag} is already yanked with this reason")
        return result
    try:
        # Over the generation read (0: only while absent): a concurrent yank is not overwritten.
        bucket.write(
            result.marker,
            payload,
            if_generation_match=stored[1] if stored else 0,
            content_type=MARKER_CONTENT_TYPE,
        )
    except ConcurrentWriteError as error:
        result.conflict = f"{error}. Run the command again."
        return result
    result.changed = True
    result.notes.append(
        f"{repository} {tag} {'reason replaced' if stored else 'yanked'}: the registries stop listing it at their next "
        "build; its entries stay in the bucket"
    )
    return result


def unyank_version(bucket: GcsBucketManager, repository: str, tag: str) -> YankResult:
    """Remove the marker; a version that is not yanked is left as it is."""
    result = YankResult(yank_marker_path(repository, tag))
    marker = bucket.describe(result.marker)
    if marker is None:
        result.problems += _version_problems(bucket, repository, tag, "unyank")
        if not result.problems:
            result.notes.append(f"{repository} {tag} is not yanked")
        return result
    try:
        if marker.generation != bucket.generation_of(result.marker):
            raise ConcurrentWriteError(f"gs://{bucket.bucket_name}/{result.marker} changed while being removed")
        result.changed = bucket.delete(result.marker, if_generation_match=marker.generation)
    except ConcurrentWriteError as error:
        result.conflict = f"{error}. Run the command again."
        return result
    result.notes.append(f"{repository} {tag} unyanked: the registries may list it again at their next build")
    return result
