"""Metadata → registry entry (SPEC §4, and §4.1 in the current format), one function per rule,
applied in order by `metadata_to_registry_entry`. Works on the `data` mapping as read (validation's
document), so every field the author wrote is carried through as written."""

from __future__ import annotations

import copy
import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from orchestrator.layout import DOCKER_REPOSITORY, OVERRIDE_KEYS, entry_file_name, metadata_folder, registry_override
from orchestrator.logic.versions import SEMVER, parse_version
from orchestrator.models.registry import (
    ConnectorRegistryDestinationDefinition,
    ConnectorRegistrySourceDefinition,
    RegistryFormat,
)

SpecLookup = Callable[[str, str, str], dict | None]

# §4.1: what an entry says when its metadata does not.
DEFAULT_SUPPORT_LEVEL = "community"
DEFAULT_AB_INTERNAL = {"sl": 100, "ql": 100}
RELEASES_FIELDS = ("migrationDocumentationUrl", "breakingChanges", "rolloutConfiguration", "releaseCandidates")
ROLLOUT_DEFAULTS = {"initialPercentage": 0, "maxPercentage": 50, "advanceDelayMinutes": 10}


@dataclass(frozen=True)
class SourceFile:
    """The metadata object an entry is built from (`generated.source_file_info`)."""

    bucket_name: str
    path: str
    etag: str
    updated: str  # the object's update time, ISO 8601 UTC

    def info(self) -> dict:
        # The object's time, not the wall clock: the same bucket keeps yielding the same bytes.
        return {
            "metadata_bucket_name": self.bucket_name,
            "metadata_file_path": self.path,
            "metadata_etag": self.etag,
            "metadata_last_modified": self.updated,
            "registry_entry_generated_at": self.updated,
        }


@dataclass(frozen=True)
class ReleaseCandidate:
    """A connector's release_candidate/ version: its tag (the metadata file's own) and its entry for one registry."""

    tag: str
    entry: dict


class RegistryEntryError(ValueError):
    """This metadata file cannot produce an entry for this registry; the message says why."""


def is_enabled(data: dict, registry: str) -> bool:
    """Rule 1: only an override with `enabled: true` puts the connector in that registry."""
    override = registry_override(data, registry)
    return override is not None and override.get("enabled") is True


def overridden(data: dict, registry: str) -> dict:
    """Rule 2 without the copy: a new top-level mapping, its values shared with `data` and the
    override. For reading, or for a caller that copies what it changes."""
    override = registry_override(data, registry) or {}
    return {**data, **{key: value for key, value in override.items() if key != "enabled" and value is not None}}


def apply_overrides(data: dict, registry: str) -> dict:
    """Rule 2: a shallow update by the override, without `enabled` and without null values."""
    return copy.deepcopy(overridden(data, registry))


def remove_registry_only_fields(entry: dict) -> dict:
    """Rule 3."""
    return {key: value for key, value in entry.items() if key not in (*OVERRIDE_KEYS, "connectorType")}


def definition_id_field(connector_type: str) -> str:
    return "sourceDefinitionId" if connector_type == "source" else "destinationDefinitionId"


def rename_fields(entry: dict, connector_type: str) -> dict:
    """Rule 4: connectorSubtype → sourceType (destinations too), definitionId → <type>DefinitionId."""
    renamed = dict(entry)
    if "connectorSubtype" in renamed:
        renamed["sourceType"] = renamed.pop("connectorSubtype")
    if "definitionId" in renamed:
        renamed[definition_id_field(connector_type)] = renamed.pop("definitionId")
    return renamed


def add_registry_defaults(entry: dict) -> dict:
    """Rule 5."""
    return {
        **entry,
        "tombstone": False,
        "custom": False,
        "public": True,
        "releaseStage": entry.get("releaseStage") or "alpha",
    }


def set_icon_url(entry: dict, icon_url: str | None) -> dict:
    """Rule 6: only when an icon.svg sits next to the metadata file."""
    updated = {key: value for key, value in entry.items() if key != "iconUrl"}
    if icon_url:
        updated["iconUrl"] = icon_url
    return updated


def apply_migration_url_defaults(entry: dict) -> dict:
    """Rule 7: migration documentation URLs default to <documentationUrl>-migrations[#<version>]."""
    releases = entry.get("releases")
    if not isinstance(releases, dict):
        return entry
    base = f"{str(entry['documentationUrl']).rstrip('/')}-migrations"
    releases = copy.deepcopy(releases)
    if not releases.get("migrationDocumentationUrl"):
        releases["migrationDocumentationUrl"] = base
    for version, change in (releases.get("breakingChanges") or {}).items():
        if isinstance(change, dict) and not change.get("migrationDocumentationUrl"):
            change["migrationDocumentationUrl"] = f"{base}#{version}"
    return {**entry, "releases": releases}


def _mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def set_language(entry: dict) -> dict:
    """§4.1: `language`, when absent, from the first `language:<x>` tag (PyAirbyte installs by it)."""
    if entry.get("language"):
        return entry
    for tag in entry.get("tags") or []:
        if isinstance(tag, str) and tag.startswith("language:") and len(tag) > len("language:"):
            return {**entry, "language": tag.split(":", 1)[1]}
    return entry


def default_support_level(entry: dict) -> dict:
    """§4.1."""
    return entry if entry.get("supportLevel") else {**entry, "supportLevel": DEFAULT_SUPPORT_LEVEL}


def default_ab_internal(entry: dict) -> dict:
    """§4.1: `{sl: 100, ql: 100}` with the file's own values on top."""
    own = _mapping(entry.get("ab_internal"))
    return {
        **entry,
        "ab_internal": {**DEFAULT_AB_INTERNAL, **{key: value for key, value in own.items() if value is not None}},
    }


def set_source_file_info(entry: dict, source_file: SourceFile | None) -> dict:
    """§4.1: `generated.source_file_info`; other keys the upload tooling wrote under `generated` stay."""
    if source_file is None:
        return entry
    generated = _mapping(entry.get("generated"))
    return {**entry, "generated": {**copy.deepcopy(generated), "source_file_info": source_file.info()}}


def keep_registry_release_fields(entry: dict) -> dict:
    """§4.1: `releases` holds only what a registry carries (`isReleaseCandidate` is dropped); empty, it goes."""
    releases = entry.get("releases")
    if not isinstance(releases, dict):
        return entry
    kept = {key: releases[key] for key in RELEASES_FIELDS if key in releases}
    updated = {key: value for key, value in entry.items() if key != "releases"}
    if kept:
        updated["releases"] = kept
    return updated


def release_candidate_applies(latest_tag: str, candidate_tag: str) -> bool:
    """A release candidate older than or equal to the latest version has been promoted or abandoned."""
    try:
        return parse_version(candidate_tag) > parse_version(latest_tag)
    except ValueError:
        return False


def add_release_candidate(entry: dict, latest_tag: str, candidate: ReleaseCandidate | None) -> dict:
    """§4.1: the latest/ entry (of the metadata file tagged `latest_tag`) carries a newer release
    candidate's own entry under `releases.releaseCandidates.<tag>`, its rollout configuration
    completed by the defaults."""
    if candidate is None or not release_candidate_applies(latest_tag, candidate.tag):
        return entry
    candidate_entry = copy.deepcopy(candidate.entry)
    candidate_releases = _mapping(candidate_entry.get("releases"))
    rollout = _mapping(candidate_releases.get("rolloutConfiguration"))
    candidate_releases["rolloutConfiguration"] = {**ROLLOUT_DEFAULTS, **rollout}
    candidate_entry["releases"] = candidate_releases
    releases = copy.deepcopy(_mapping(entry.get("releases")))
    releases["releaseCandidates"] = {candidate.tag: candidate_entry}
    return {**entry, "releases": releases}


def attach_spec(entry: dict, registry: str, spec_lookup: SpecLookup) -> dict:
    """Rule 8: the cached spec of the image after overrides (for cloud, spec.cloud.json first)."""
    repository, tag = entry["dockerRepository"], str(entry["dockerImageTag"])
    spec = spec_lookup(repository, tag, registry)
    if spec is None:
        raise RegistryEntryError(f"no spec in the spec cache for image {repository}:{tag} ({registry} registry)")
    return {**entry, "spec": spec}


def drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: drop_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [drop_nulls(item) for item in value]
    return value


def to_json_compatible(value: Any) -> Any:
    """YAML turns unquoted dates into date objects; the registry keeps them as YYYY-MM-DD strings."""
    if isinstance(value, dict):
        return {str(key): to_json_compatible(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_json_compatible(item) for item in value]
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return value


def validate_registry_entry(entry: dict, connector_type: str) -> dict:
    """Rule 9: nulls left out (a spec keeps its own nulls, and so do the release candidates' entries,
    already cleaned), then checked against the definition schema."""
    spec = entry.get("spec")
    releases = entry.get("releases")
    candidates = releases.get("releaseCandidates") if isinstance(releases, dict) else None
    cleaned = drop_nulls({key: value for key, value in entry.items() if key != "spec"})
    if spec is not None:
        cleaned["spec"] = spec
    if candidates is not None:
        cleaned["releases"]["releaseCandidates"] = candidates
    model = ConnectorRegistrySourceDefinition if connector_type == "source" else ConnectorRegistryDestinationDefinition
    try:
        model.model_validate(cleaned)
    except ValidationError as error:
        details = "; ".join(f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors())
        raise RegistryEntryError(f"the {connector_type} entry does not match the registry schema: {details}") from error
    return cleaned


def metadata_to_registry_entry(
    data: dict,
    registry: str,
    icon_url: str | None,
    spec_lookup: SpecLookup,
    *,
    registry_format: RegistryFormat = RegistryFormat.seed,
    source_file: SourceFile | None = None,
    release_candidate: ReleaseCandidate | None = None,
) -> dict | None:
    """The registry entry of one metadata `data` mapping, or None when that registry is disabled.
    The current format also needs the metadata object (`source_file`) and, for a latest/ file, the
    connector's release candidate with its entry for this registry, if it has one."""
    if not is_enabled(data, registry):
        return None
    connector_type = data["connectorType"]
    # to_json_compatible builds every mapping and list anew (the other values YAML gives are
    # immutable), so nothing the next rules change is shared with `data`: no deep copy is needed.
    entry = to_json_compatible(overridden(data, registry))
    entry = remove_registry_only_fields(entry)
    entry = rename_fields(entry, connector_type)
    entry = add_registry_defaults(entry)
    entry = set_icon_url(entry, icon_url)
    entry = apply_migration_url_defaults(entry)
    if registry_format is RegistryFormat.current:
        entry = set_language(entry)
        entry = default_support_level(entry)
        entry = default_ab_internal(entry)
        entry = set_source_file_info(entry, source_file)
        entry = keep_registry_release_fields(entry)
        entry = add_release_candidate(entry, str(data["dockerImageTag"]), release_candidate)
    entry = attach_spec(entry, registry, spec_lookup)
    return validate_registry_entry(entry, connector_type)


def override_copy_path(
    repository: str, tag: str, metadata_repository: str, metadata_tag: str, registry: str
) -> str | None:
    """§4.1: where an entry naming the image `repository:tag`, unlike its metadata file's, is also
    written (`metadata/<entry repository>/<entry tag>/<registry>.json`); None when the image is the
    file's own, or cannot name a versioned folder."""
    if (repository, tag) == (metadata_repository, metadata_tag):
        return None
    if not DOCKER_REPOSITORY.match(repository) or not SEMVER.match(tag):
        return None
    return f"{metadata_folder(repository, tag)}/{entry_file_name(registry)}"


def entry_definition_id(entry: dict) -> str:
    return str(entry.get("sourceDefinitionId") or entry.get("destinationDefinitionId"))


def entry_connector_type(entry: dict) -> str:
    return "source" if "sourceDefinitionId" in entry else "destination"
