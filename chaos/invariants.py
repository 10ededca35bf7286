"""What must hold after every scenario, read straight from the emulator (never through the proxy).

- Each registry is either the previous good bytes or a complete new registry: valid JSON, valid by
  the registry schema, not empty, no connector lost, none at an older version.
- After one clean run, no registry is older than the metadata: every connector whose `latest/`
  metadata is valid is listed at the version that metadata gives it (after its overrides), and every
  connector whose `latest/` file is invalid keeps the version it had before it broke."""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import ValidationError

from orchestrator.layout import LATEST_METADATA_GLOB, METADATA_FOLDER, REGISTRY_NAMES, registry_path
from orchestrator.logic.transform import apply_overrides, entry_definition_id, is_enabled
from orchestrator.logic.validation import validate_metadata_bytes
from orchestrator.logic.versions import parse_version
from orchestrator.models.registry import ConnectorRegistryV0
from orchestrator.resources.gcs import GcsBucketManager


@dataclass(frozen=True)
class RegistrySnapshot:
    raw: dict[str, bytes | None]  # registry name -> bytes as published, None when absent

    def versions(self, registry: str) -> dict[str, str]:
        """definition id -> dockerImageTag of every connector the registry lists."""
        raw = self.raw.get(registry)
        if raw is None:
            return {}
        document = json.loads(raw)
        return {
            entry_definition_id(entry): str(entry["dockerImageTag"])
            for kind in ("sources", "destinations")
            for entry in document[kind]
        }


def snapshot(bucket: GcsBucketManager) -> RegistrySnapshot:
    raw: dict[str, bytes | None] = {}
    for registry in REGISTRY_NAMES:
        stored = bucket.read(registry_path(registry))
        raw[registry] = stored[0] if stored else None
    return RegistrySnapshot(raw)


def _older(candidate: str, than: str) -> bool:
    try:
        return parse_version(candidate) < parse_version(than)
    except ValueError:
        return candidate != than


def registry_file_violations(before: RegistrySnapshot, after: RegistrySnapshot) -> list[str]:
    """The registries after a faulty run against the ones before it."""
    violations = []
    for registry in REGISTRY_NAMES:
        old, new = before.raw.get(registry), after.raw.get(registry)
        if new == old:
            continue
        if new is None:
            violations.append(f"{registry}: the published registry disappeared")
            continue
        try:
            ConnectorRegistryV0.model_validate_json(new)
        except ValidationError as error:
            violations.append(f"{registry}: published bytes are not a valid registry ({str(error).splitlines()[0]})")
            continue
        new_versions, old_versions = after.versions(registry), before.versions(registry)
        if not new_versions:
            violations.append(f"{registry}: an empty registry was published")
        lost = sorted(set(old_versions) - set(new_versions))
        if lost:
            violations.append(f"{registry}: {len(lost)} connector(s) lost: {', '.join(lost[:3])}")
        older = sorted(
            key for key in set(old_versions) & set(new_versions) if _older(new_versions[key], old_versions[key])
        )
        if older:
            key = older[0]
            violations.append(
                f"{registry}: {len(older)} connector(s) went back, "
                f"e.g. {key} {old_versions[key]} -> {new_versions[key]}"
            )
    return violations


@dataclass(frozen=True)
class Expectation:
    """Per registry: definition id -> the version a converged registry must list."""

    versions: dict[str, dict[str, str]]
    invalid_latest: list[str]  # latest/ files that are not valid (their connector keeps its last good version)


def expected_versions(bucket: GcsBucketManager, last_good: RegistrySnapshot) -> Expectation:
    invalid = []
    valid: dict[str, list[tuple[str, dict]]] = {}  # definition id -> (path, data) of each valid latest/ file
    for blob in bucket.list_blobs(f"{METADATA_FOLDER}/", LATEST_METADATA_GLOB):
        stored = bucket.read(blob.name)
        if stored is None:
            continue
        result = validate_metadata_bytes(stored[0], blob.name)
        folder_repository = blob.name[len(METADATA_FOLDER) + 1 : -len("/latest/metadata.yaml")]
        data = result.document.get("data") if result.ok and isinstance(result.document, dict) else None
        if (
            not isinstance(data, dict)
            or data.get("dockerRepository") != folder_repository
            or "-rc." in str(data.get("dockerImageTag"))
        ):
            invalid.append(blob.name)
            continue
        valid.setdefault(str(data["definitionId"]), []).append((blob.name, data))
    versions: dict[str, dict[str, str]] = {registry: {} for registry in REGISTRY_NAMES}
    for claims in valid.values():
        if len(claims) > 1:  # two connectors claim one id: neither changes
            invalid.extend(path for path, _ in claims)
            continue
        [(_, data)] = claims
        for registry in REGISTRY_NAMES:
            if is_enabled(data, registry):
                versions[registry][str(data["definitionId"])] = str(apply_overrides(data, registry)["dockerImageTag"])
    # A connector whose latest/ file is broken stays as it was (the campaign removes no connector, so
    # a listed connector that no valid latest/ file accounts for is one of the broken ones).
    if invalid:
        for registry in REGISTRY_NAMES:
            for definition_id, version in last_good.versions(registry).items():
                if definition_id not in versions[registry] or definition_id in {
                    str(i) for i in valid if len(valid[i]) > 1
                }:
                    versions[registry][definition_id] = version
    return Expectation(versions, sorted(invalid))


def convergence_violations(bucket: GcsBucketManager, expectation: Expectation) -> list[str]:
    """After one clean run: every registry lists what the metadata says, no more, no older."""
    violations = []
    now = snapshot(bucket)
    for registry in REGISTRY_NAMES:
        listed, wanted = now.versions(registry), expectation.versions[registry]
        missing = sorted(set(wanted) - set(listed))
        if missing:
            violations.append(f"{registry}: {len(missing)} connector(s) missing after a clean run, e.g. {missing[0]}")
        stale = sorted(key for key in set(wanted) & set(listed) if listed[key] != wanted[key])
        if stale:
            key = stale[0]
            violations.append(
                f"{registry}: {len(stale)} connector(s) not at their metadata's version after a clean run, "
                f"e.g. {key} lists {listed[key]}, metadata says {wanted[key]}"
            )
    return violations
