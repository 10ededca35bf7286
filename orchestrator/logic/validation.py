"""Validation of a metadata file (SPEC §3, §3.1) and the rules applied at upload only (§3.2). Every
problem is returned, not just the first, and each one names the file and the field. A warning names
them too but does not refuse the file."""

from __future__ import annotations

import reprlib
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from orchestrator.layout import (
    DOCKER_REPOSITORY,
    LATEST_FOLDER,
    METADATA_FILE_NAME,
    METADATA_FOLDER,
    RELEASE_CANDIDATE_FOLDER,
    registry_overrides,
)
from orchestrator.logic.versions import PLAIN_VERSION, SEMVER, is_release_candidate, parse_version
from orchestrator.logic.yaml_loading import YamlRefused, load_bounded_yaml
from orchestrator.models.metadata import ConnectorMetadataDefinitionV0

# The connector builder's own image: its major versions carry no breaking-change entry (§3.1).
DECLARATIVE_MANIFEST_DEFINITION_ID = "64a2f99c-542f-4af8-9a6f-355f1217b436"
PYPI_LANGUAGES = ("language:python", "language:low-code")

# A value quoted in a problem is cut short: the message must never cost more than the file.
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxdict = 4
_SHORT.maxlevel = 2


@dataclass(frozen=True)
class ValidationProblem:
    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}"


@dataclass
class MetadataValidationResult:
    file: str
    metadata: ConnectorMetadataDefinitionV0 | None = None
    # The document as parsed from YAML, with only the values §3.1 reads differently replaced (numbers
    # read as text, `[]` read as `{}`): what the registry entries are built from.
    document: dict | None = None
    problems: list[ValidationProblem] = field(default_factory=list)
    warnings: list[ValidationProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.metadata is not None

    def describe(self) -> str:
        return "; ".join(str(problem) for problem in self.problems)


def load_yaml(raw: bytes) -> Any:
    """Plain data within bounds (size, depth, aliases, tags, finite numbers, unique keys):
    `YamlRefused` or `yaml.YAMLError` otherwise."""
    return load_bounded_yaml(raw)


def short_repr(value: Any) -> str:
    return _SHORT.repr(value)


def _field_path(location: tuple) -> str:
    return ".".join(str(part) for part in location) or "(document)"


def _pydantic_problems(file: str, error: ValidationError) -> list[ValidationProblem]:
    problems = []
    for detail in error.errors():
        location = detail["loc"]
        if detail["type"] == "extra_forbidden":
            message = f"unknown field '{location[-1]}' (not allowed by the metadata schema)"
        elif detail["type"] == "missing":
            message = "required field is missing"
        else:
            message = f"{detail['msg']} (got {short_repr(detail.get('input'))})"
        problems.append(ValidationProblem(file, _field_path(location), message))
    return problems


def document_as_read(written: Any, parsed: Any) -> Any:
    """`written` (as YAML parsed it) with the values the model read differently put in their place:
    a number read as text, `[]` read as an empty mapping. Everything else stays exactly as written
    (URLs unnormalised, dates as dates, keys in their order)."""
    if isinstance(parsed, BaseModel):
        if isinstance(written, list) and not written:
            return {}
        if not isinstance(written, dict):
            return written
        fields = type(parsed).model_fields
        return {
            key: document_as_read(value, getattr(parsed, key)) if key in fields else value
            for key, value in written.items()
        }
    if isinstance(parsed, dict):
        if isinstance(written, list) and not written:
            return {}
        if isinstance(written, dict) and len(written) == len(parsed):
            return {
                key: document_as_read(value, parsed_value)
                for (key, value), parsed_value in zip(written.items(), parsed.values(), strict=True)
            }
        return written
    if isinstance(parsed, list) and isinstance(written, list) and len(written) == len(parsed):
        return [document_as_read(value, parsed_value) for value, parsed_value in zip(written, parsed, strict=True)]
    if isinstance(parsed, str) and isinstance(written, (int, float)) and not isinstance(written, bool):
        return parsed
    return written


def _breaking_changes(data: dict) -> dict:
    releases = data.get("releases")
    changes = releases.get("breakingChanges") if isinstance(releases, dict) else None
    return changes if isinstance(changes, dict) else {}


def _rule_problems(file: str, data: dict) -> tuple[list[ValidationProblem], list[ValidationProblem]]:
    """The rules that the schema alone cannot express: (problems, warnings)."""
    problems: list[ValidationProblem] = []
    warnings: list[ValidationProblem] = []
    tags = data.get("tags") or []
    if isinstance(tags, list):
        for index, tag in enumerate(tags):
            if not isinstance(tag, str) or ":" not in tag or tag.startswith(":") or tag.endswith(":"):
                problems.append(
                    ValidationProblem(file, f"data.tags.{index}", f"tag {tag!r} is not of the form key:value")
                )
        if not any(
            isinstance(tag, str) and tag.startswith("language:") and len(tag) > len("language:") for tag in tags
        ):
            problems.append(ValidationProblem(file, "data.tags", "needs at least one language:<lang> tag"))

    problems.extend(_image_name_problems(file, data))
    version = None
    image_tag = data.get("dockerImageTag")
    if image_tag is not None:
        try:
            version = parse_version(str(image_tag))
        except ValueError as error:
            problems.append(ValidationProblem(file, "data.dockerImageTag", str(error)))

    breaking_changes = _breaking_changes(data)
    for key in breaking_changes:
        where = f"data.releases.breakingChanges.{key}"
        if not PLAIN_VERSION.match(str(key)):
            problems.append(ValidationProblem(file, where, f"breaking change version {key!r} is not of the form x.y.z"))
        elif version is not None and parse_version(str(key)) > version and not _prerelease_of(str(image_tag), str(key)):
            warnings.append(
                ValidationProblem(file, where, f"breaking change {key} is newer than dockerImageTag {image_tag}")
            )

    if (
        version is not None
        and version.is_major_release
        and str(image_tag) not in {str(key) for key in breaking_changes}
        and str(data.get("definitionId")) != DECLARATIVE_MANIFEST_DEFINITION_ID
    ):
        problems.append(
            ValidationProblem(
                file,
                "data.releases.breakingChanges",
                f"major version {image_tag} needs a breaking change entry for {image_tag}",
            )
        )
    return problems, warnings


def _image_name_problems(file: str, data: dict) -> list[ValidationProblem]:
    """Repositories must be docker repository names (lower-case path components: no empty, `.` or
    `..` segment, no whitespace or control character) and override tags versions: they become bucket
    paths (`metadata/<repository>/<tag>/`), which must stay inside their own folder."""
    problems = []
    repository = data.get("dockerRepository")
    if isinstance(repository, str) and not DOCKER_REPOSITORY.match(repository):
        problems.append(
            ValidationProblem(
                file, "data.dockerRepository", f"{short_repr(repository)} is not a docker repository name"
            )
        )
    for registry, override in registry_overrides(data).items():
        if not isinstance(override, dict):
            continue
        where = f"data.registryOverrides.{registry}"
        other = override.get("dockerRepository")
        if isinstance(other, str) and not DOCKER_REPOSITORY.match(other):
            problems.append(
                ValidationProblem(
                    file, f"{where}.dockerRepository", f"{short_repr(other)} is not a docker repository name"
                )
            )
        tag = override.get("dockerImageTag")
        if tag is not None and not SEMVER.match(str(tag)):
            problems.append(
                ValidationProblem(file, f"{where}.dockerImageTag", f"{short_repr(tag)} is not a semantic version")
            )
    return problems


def bucket_path_problems(path: str, data: dict) -> list[ValidationProblem]:
    """A file in the bucket must sit in its own folder: `metadata/<its repository>/<its tag>/`, or
    `latest/` (never a release candidate) or `release_candidate/` (always one)."""
    parts = path.split("/")
    if len(parts) < 4 or parts[0] != METADATA_FOLDER or parts[-1] != METADATA_FILE_NAME:
        return [
            ValidationProblem(path, "(file)", f"is not at {METADATA_FOLDER}/<repository>/<tag>/{METADATA_FILE_NAME}")
        ]
    folder_repository, folder = "/".join(parts[1:-2]), parts[-2]
    repository, tag = str(data.get("dockerRepository")), str(data.get("dockerImageTag"))
    problems = []
    if folder_repository != repository:
        problems.append(
            ValidationProblem(
                path,
                "data.dockerRepository",
                f"the file's repository is {short_repr(repository)}, not {folder_repository}",
            )
        )
    if folder == LATEST_FOLDER:
        if is_release_candidate(tag):
            problems.append(
                ValidationProblem(path, "data.dockerImageTag", f"{tag} is a release candidate, never latest/")
            )
    elif folder == RELEASE_CANDIDATE_FOLDER:
        if not is_release_candidate(tag):
            problems.append(ValidationProblem(path, "data.dockerImageTag", f"{tag} is not a release candidate (-rc.N)"))
    elif folder != tag:
        problems.append(
            ValidationProblem(path, "data.dockerImageTag", f"the file is version {short_repr(tag)}, not {folder}")
        )
    return problems


def _prerelease_of(tag: str, release: str) -> bool:
    """`2.0.0-dev.1` is a pre-release of `2.0.0`: its breaking change is not 'newer' than it."""
    return tag.split("-", 1)[0] == release and tag != release


def validate_metadata_document(document: Any, file: str) -> MetadataValidationResult:
    result = MetadataValidationResult(file=file, document=document if isinstance(document, dict) else None)
    if not isinstance(document, dict):
        result.problems.append(
            ValidationProblem(file, "(document)", "is not a YAML mapping with metadataSpecVersion and data")
        )
        return result
    try:
        result.metadata = ConnectorMetadataDefinitionV0.model_validate(document)
    except ValidationError as error:
        result.problems.extend(_pydantic_problems(file, error))
    else:
        result.document = document_as_read(document, result.metadata)
        document = result.document
    data = document.get("data")
    if isinstance(data, dict):
        problems, warnings = _rule_problems(file, data)
        result.problems.extend(problems)
        result.warnings.extend(warnings)
    if result.problems:
        result.metadata = None
    return result


def upload_rule_problems(file: str, data: dict, prerelease: str | None = None) -> list[ValidationProblem]:
    """The reference's 2024 rules, applied by the upload command (and `validate`) only (§3.2): files
    already in a bucket were accepted by the rules of their day. `prerelease`: the tag of a
    development build (`--prerelease`), which skips the release-candidate rules."""
    problems: list[ValidationProblem] = []
    tag = str(data.get("dockerImageTag") or "")
    releases = data["releases"] if isinstance(data.get("releases"), dict) else {}
    rollout = releases.get("rolloutConfiguration")
    progressive = rollout.get("enableProgressiveRollout") if isinstance(rollout, dict) else None
    rollout_field = "data.releases.rolloutConfiguration.enableProgressiveRollout"
    if prerelease is None:
        try:
            version = parse_version(tag)
        except ValueError:
            version = None  # already a problem of the schema rules
        if is_release_candidate(tag):
            if version is not None and version.major >= 1 and version.minor == 0 and version.patch == 0:
                problems.append(
                    ValidationProblem(
                        file,
                        "data.dockerImageTag",
                        f"{tag} is a release candidate of a major version: major versions are released directly",
                    )
                )
            if not isinstance(progressive, bool):
                problems.append(
                    ValidationProblem(file, rollout_field, f"release candidate {tag} must set it (true or false)")
                )
        if progressive is True and "-" not in tag:
            problems.append(
                ValidationProblem(file, rollout_field, f"is true, which needs a pre-release tag, not {tag}")
            )
        if releases.get("isReleaseCandidate") is True and not is_release_candidate(tag):
            problems.append(
                ValidationProblem(
                    file, "data.releases.isReleaseCandidate", f"is true, which needs an -rc.N tag, not {tag}"
                )
            )
    tags = [item for item in data.get("tags") or [] if isinstance(item, str)]
    for key in ("remoteRegistries", "remotePackageIndex"):
        block = data.get(key)
        pypi = block.get("pypi") if isinstance(block, dict) else None
        if isinstance(pypi, dict) and pypi.get("enabled") is True and not set(PYPI_LANGUAGES) & set(tags):
            problems.append(
                ValidationProblem(
                    file,
                    f"data.{key}.pypi.enabled",
                    f"PyPI publishing needs the tag {' or '.join(PYPI_LANGUAGES)} (tags: {', '.join(tags) or 'none'})",
                )
            )
    return problems


def validate_metadata_bytes(raw: bytes, file_label: str) -> MetadataValidationResult:
    """Parse and validate one metadata file; malformed YAML is a problem, not an exception."""
    try:
        document = load_yaml(raw)
    except YamlRefused as refused:
        return MetadataValidationResult(
            file=file_label,
            problems=[ValidationProblem(file_label, problem.where, problem.message) for problem in refused.problems],
        )
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "(document)"
        reason = getattr(error, "problem", None) or str(error)
        return MetadataValidationResult(
            file=file_label, problems=[ValidationProblem(file_label, where, f"malformed YAML: {reason}")]
        )
    return validate_metadata_document(document, file_label)
