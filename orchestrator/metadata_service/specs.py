"""Putting a connector spec into the spec cache: `specs/<repo>/<tag>/spec.json`, or `spec.cloud.json`
for the cloud registry's own (SPEC §2, §6). `metadata_service upload-spec` and the sample loader
both write through `upload_spec_bytes`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from orchestrator.layout import LATEST_FOLDER, spec_path
from orchestrator.logic.validation import ValidationProblem
from orchestrator.logic.versions import SEMVER
from orchestrator.metadata_service.files import DOCKER_REPOSITORY, UsageError
from orchestrator.models.spec import ConnectorSpecification
from orchestrator.resources.gcs import BlobInfo, ConcurrentWriteError, GcsBucketManager, md5_base64


@dataclass
class SpecUploadResult:
    path: str
    problems: list[ValidationProblem] = field(default_factory=list)
    written: bool = False
    conflict: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and self.conflict is None


def spec_problems(file_label: str, raw: bytes, repository: str, tag: str) -> list[ValidationProblem]:
    """Why `raw` cannot be cached as the spec of repository:tag (empty: it can)."""
    problems = []
    if not DOCKER_REPOSITORY.match(repository):
        problems.append(
            ValidationProblem("arguments", "dockerRepository", f"{repository!r} is not a docker repository name")
        )
    if tag == LATEST_FOLDER or "/" in tag or not SEMVER.match(tag):
        problems.append(ValidationProblem("arguments", "dockerImageTag", f"{tag!r} is not a version tag"))
    try:
        ConnectorSpecification.model_validate_json(raw)
    except ValidationError as error:
        for detail in error.errors():
            location = ".".join(str(part) for part in detail["loc"]) or "(document)"
            if detail["type"] == "missing":
                message = "required field is missing: this is not a connector spec"
            elif detail["type"] == "json_invalid":
                message = f"not valid JSON ({detail.get('ctx', {}).get('error', detail['msg'])})"
            elif detail["type"] == "model_type":
                message = "a connector spec is a JSON object"
            else:
                message = detail["msg"]
            problems.append(ValidationProblem(file_label, location, message))
    return problems


class _LookUp:
    """Marker: the remote state of the spec is not known yet and must be read."""


LOOK_UP = _LookUp()


def upload_spec_bytes(
    bucket: GcsBucketManager,
    raw: bytes,
    file_label: str,
    repository: str,
    tag: str,
    cloud: bool = False,
    remote: BlobInfo | None | _LookUp = LOOK_UP,
) -> SpecUploadResult:
    """Validate, then write unless the cached copy has the same MD5. `remote` is what a listing
    said of the destination (None: absent), saving a request per spec when many are written."""
    path = spec_path(repository, tag, cloud)
    problems = spec_problems(file_label, raw, repository, tag)
    if problems:
        return SpecUploadResult(path, problems=problems)
    if isinstance(remote, _LookUp):
        blob = bucket.bucket.get_blob(path)
        md5, generation = (blob.md5_hash, int(blob.generation)) if blob is not None else (None, 0)
    else:
        md5, generation = (remote.md5_hash, remote.generation) if remote is not None else (None, 0)
    if md5 == md5_base64(raw):
        return SpecUploadResult(path)
    try:
        # Over the generation read (0: only while absent), so a concurrent writer is never overwritten.
        bucket.write(path, raw, if_generation_match=generation)
    except ConcurrentWriteError as error:
        return SpecUploadResult(path, conflict=f"{error}. Run the upload again to retry.")
    return SpecUploadResult(path, written=True)


def upload_spec(
    spec_file: Path, repository: str, tag: str, bucket: GcsBucketManager, cloud: bool = False
) -> SpecUploadResult:
    spec_file = Path(spec_file)
    if not spec_file.is_file():
        raise UsageError(f"{spec_file}: no such file")
    return upload_spec_bytes(bucket, spec_file.read_bytes(), str(spec_file), repository, tag, cloud)
