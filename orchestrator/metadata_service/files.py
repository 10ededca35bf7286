"""The local side of the upload command: finding metadata files, validating them, and checking
that the destination in the bucket is the file's own (SPEC §3, §6). No GCS client here, so that
`metadata_service validate` starts fast."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import yaml

from orchestrator.layout import (
    DOCKER_REPOSITORY,
    LATEST_FOLDER,
    METADATA_FILE_NAME,
    METADATA_FOLDER,
    metadata_folder,
    registry_overrides,
)
from orchestrator.logic.validation import (
    MetadataValidationResult,
    ValidationProblem,
    load_yaml,
    upload_rule_problems,
    validate_metadata_bytes,
)
from orchestrator.logic.versions import SEMVER

DOCKER_HUB_TAG_URL = "https://hub.docker.com/v2/repositories/{repository}/tags/{tag}"


class UsageError(ValueError):
    """A command-line argument that cannot be used (missing file, bad bucket argument)."""


# ---------------------------------------------------------------------------------------------
# Finding and validating files


def find_metadata_file(path: Path) -> Path:
    """`path` itself, or the metadata.yaml inside the folder `path`."""
    path = Path(path)
    candidate = path / METADATA_FILE_NAME if path.is_dir() else path
    if not candidate.is_file():
        raise UsageError(
            f"{candidate}: no such file" if not path.is_dir() else f"{path}: no {METADATA_FILE_NAME} in this folder"
        )
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


def with_prerelease_tag(raw: bytes, tag: str) -> bytes:
    """The file as a development build `tag`: its dockerImageTag, and every override's, become `tag`.
    Unreadable files are returned as they are, for validation to report."""
    try:
        document = load_yaml(raw)
    except yaml.YAMLError:
        return raw
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict):
        return raw
    data["dockerImageTag"] = tag
    for override in registry_overrides(data).values():
        if isinstance(override, dict) and "dockerImageTag" in override:
            override["dockerImageTag"] = tag
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True).encode("utf-8")


def prerelease_tag_problems(file_label: str, tag: str) -> list[ValidationProblem]:
    if SEMVER.match(tag) and "-" in tag:
        return []
    return [
        ValidationProblem(file_label, "--prerelease", f"{tag!r} is not a pre-release version such as 1.2.3-dev.abc1234")
    ]


def validate_for_upload(path: Path, prerelease: str | None = None) -> tuple[MetadataValidationResult, bytes]:
    """The file as it would be uploaded (a development build when `prerelease` is given), validated
    by the rules of the bucket and those of the upload command (SPEC §3.2)."""
    raw = Path(path).read_bytes()
    label = str(path)
    if prerelease is not None:
        problems = prerelease_tag_problems(label, prerelease)
        if problems:
            return MetadataValidationResult(file=label, problems=problems), raw
        raw = with_prerelease_tag(raw, prerelease)
    result = validate_metadata_bytes(raw, label)
    if result.document is not None and isinstance(result.document.get("data"), dict):
        result.problems.extend(upload_rule_problems(label, result.document["data"], prerelease))
    if result.problems:
        result.metadata = None
    return result, raw


def parse_bucket_argument(argument: str) -> tuple[str, tuple[str, str] | None]:
    """`name`, `gs://name`, or `gs://name/metadata/<repo>/<tag>[/metadata.yaml]` (a destination the
    caller expects) -> (bucket name, (repository, tag) or None)."""
    text = argument[len("gs://") :] if argument.startswith("gs://") else argument
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
        raise UsageError(
            f"{argument!r}: a destination inside the bucket must look like gs://<bucket>/{METADATA_FOLDER}/<repository>/<tag>"
        )
    return name, ("/".join(parts[1:-1]), parts[-1])


def destination_problems(
    file_label: str, local_path: Path, repository: str, tag: str, expected: tuple[str, str] | None = None
) -> list[ValidationProblem]:
    """The destination path must be the file's own: built from its repository and tag, it must
    parse back to exactly them; and a destination the caller named, or a bucket-style folder the
    file sits in (`.../metadata/<repo>/<tag>/metadata.yaml`), must agree with them."""
    problems = []
    if not DOCKER_REPOSITORY.match(repository):
        problems.append(
            ValidationProblem(
                file_label,
                "data.dockerRepository",
                f"{repository!r} is not a docker repository name, "
                f"so {metadata_folder(repository, tag)}/ would not be its own folder",
            )
        )
    if tag == LATEST_FOLDER or "/" in tag or not SEMVER.match(tag):
        problems.append(ValidationProblem(file_label, "data.dockerImageTag", f"{tag!r} cannot name a versioned folder"))
    if expected is not None:
        expected_repository, expected_tag = expected
        if expected_repository != repository:
            problems.append(
                ValidationProblem(
                    file_label,
                    "data.dockerRepository",
                    f"the destination is {metadata_folder(*expected)}/ but the file's dockerRepository is {repository}",
                )
            )
        if expected_tag != tag:
            problems.append(
                ValidationProblem(
                    file_label,
                    "data.dockerImageTag",
                    f"the destination is {metadata_folder(*expected)}/ but the file's dockerImageTag is {tag}",
                )
            )

    folder = Path(local_path).resolve().parent
    if folder.name == LATEST_FOLDER or SEMVER.match(folder.name):
        if folder.name not in (LATEST_FOLDER, tag):
            problems.append(
                ValidationProblem(
                    file_label,
                    "data.dockerImageTag",
                    f"the file sits in a version folder {folder.name}/ but its dockerImageTag is {tag}",
                )
            )
        ancestors = folder.parent.parts
        if METADATA_FOLDER in ancestors:
            local_repository = "/".join(ancestors[len(ancestors) - ancestors[::-1].index(METADATA_FOLDER) :])
            if local_repository != repository:
                problems.append(
                    ValidationProblem(
                        file_label,
                        "data.dockerRepository",
                        f"the file sits in {METADATA_FOLDER}/{local_repository}/ "
                        f"but its dockerRepository is {repository}",
                    )
                )
    return problems


def referenced_images(data: dict) -> list[tuple[str, str]]:
    """The file's own image and every image its registry overrides point at."""
    images = [(data["dockerRepository"], str(data["dockerImageTag"]))]
    for override in registry_overrides(data).values():
        if isinstance(override, dict) and override.get("enabled"):
            image = (
                override.get("dockerRepository") or images[0][0],
                str(override.get("dockerImageTag") or images[0][1]),
            )
            if image not in images:
                images.append(image)
    return images


def docker_hub_problems(
    file_label: str, images: list[tuple[str, str]], timeout: float = 10.0
) -> list[ValidationProblem]:
    """HEAD on Docker Hub's tags API for each image: opt-in, since it needs the network."""
    problems = []
    for repository, tag in images:
        url = DOCKER_HUB_TAG_URL.format(repository=repository, tag=tag)
        request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "metadata_service"})
        try:
            with urllib.request.urlopen(request, timeout=timeout):
                continue
        except urllib.error.HTTPError as error:
            reason = (
                "does not exist on Docker Hub"
                if error.code == 404
                else f"could not be checked on Docker Hub (HTTP {error.code})"
            )
        except (urllib.error.URLError, OSError) as error:
            reason = f"could not be checked on Docker Hub ({getattr(error, 'reason', error)})"
        problems.append(
            ValidationProblem(file_label, "data.dockerImageTag", f"image {repository}:{tag} {reason} ({url})")
        )
    return problems
