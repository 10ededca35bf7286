"""Validation of a metadata file (SPEC §3). Every problem is returned, not just the first, and
each one names the file and the field."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from orchestrator.logic.versions import PLAIN_VERSION, parse_version
from orchestrator.models.metadata import ConnectorMetadataDefinitionV0

YamlLoader: type[yaml.CSafeLoader] | type[yaml.SafeLoader]
try:  # the C loader is several times faster on large buckets
    from yaml import CSafeLoader as YamlLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as YamlLoader


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
    # The document exactly as parsed from YAML: what the registry entries are built from.
    document: dict | None = None
    problems: list[ValidationProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.metadata is not None

    def describe(self) -> str:
        return "; ".join(str(problem) for problem in self.problems)


def load_yaml(raw: bytes) -> Any:
    return yaml.load(raw, Loader=YamlLoader)


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
            message = f"{detail['msg']} (got {detail.get('input')!r})"
        problems.append(ValidationProblem(file, _field_path(location), message))
    return problems


def _rule_problems(file: str, data: dict) -> list[ValidationProblem]:
    """The rules that the schema alone cannot express."""
    problems: list[ValidationProblem] = []
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

    version = None
    image_tag = data.get("dockerImageTag")
    if image_tag is not None:
        try:
            version = parse_version(str(image_tag))
        except ValueError as error:
            problems.append(ValidationProblem(file, "data.dockerImageTag", str(error)))

    releases = data.get("releases")
    breaking_changes = releases.get("breakingChanges") if isinstance(releases, dict) else None
    breaking_changes = breaking_changes if isinstance(breaking_changes, dict) else {}
    for key in breaking_changes:
        where = f"data.releases.breakingChanges.{key}"
        if not PLAIN_VERSION.match(str(key)):
            problems.append(ValidationProblem(file, where, f"breaking change version {key!r} is not of the form x.y.z"))
        elif version is not None and parse_version(str(key)) > version:
            problems.append(
                ValidationProblem(file, where, f"breaking change {key} is newer than dockerImageTag {image_tag}")
            )

    if (
        version is not None
        and version.is_major_release
        and str(image_tag) not in {str(key) for key in breaking_changes}
    ):
        problems.append(
            ValidationProblem(
                file,
                "data.releases.breakingChanges",
                f"major version {image_tag} needs a breaking change entry for {image_tag}",
            )
        )
    return problems


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
    data = document.get("data")
    if isinstance(data, dict):
        result.problems.extend(_rule_problems(file, data))
    if result.problems:
        result.metadata = None
    return result


def validate_metadata_bytes(raw: bytes, file_label: str) -> MetadataValidationResult:
    """Parse and validate one metadata file; malformed YAML is a problem, not an exception."""
    try:
        document = load_yaml(raw)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "(document)"
        reason = getattr(error, "problem", None) or str(error)
        return MetadataValidationResult(
            file=file_label, problems=[ValidationProblem(file_label, where, f"malformed YAML: {reason}")]
        )
    return validate_metadata_document(document, file_label)
