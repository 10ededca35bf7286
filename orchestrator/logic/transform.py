"""Metadata → registry entry (SPEC §4), one function per rule, applied in order by
`metadata_to_registry_entry`. Works on the `data` mapping as parsed from YAML, so every field the
author wrote is carried through exactly as written."""

from __future__ import annotations

import copy
import datetime
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from orchestrator.layout import OVERRIDE_KEYS, registry_override
from orchestrator.models.registry import ConnectorRegistryDestinationDefinition, ConnectorRegistrySourceDefinition

SpecLookup = Callable[[str, str, str], dict | None]


class RegistryEntryError(ValueError):
    """This metadata file cannot produce an entry for this registry; the message says why."""


def is_enabled(data: dict, registry: str) -> bool:
    """Rule 1: only an override with `enabled: true` puts the connector in that registry."""
    override = registry_override(data, registry)
    return override is not None and override.get("enabled") is True


def apply_overrides(data: dict, registry: str) -> dict:
    """Rule 2: a shallow update by the override, without `enabled` and without null values."""
    override = registry_override(data, registry) or {}
    entry = copy.deepcopy(data)
    entry.update(
        {key: copy.deepcopy(value) for key, value in override.items() if key != "enabled" and value is not None}
    )
    return entry


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
    """Rule 9: nulls left out (a spec keeps its own nulls), then checked against the definition schema."""
    spec = entry.get("spec")
    cleaned = drop_nulls({key: value for key, value in entry.items() if key != "spec"})
    if spec is not None:
        cleaned["spec"] = spec
    model = ConnectorRegistrySourceDefinition if connector_type == "source" else ConnectorRegistryDestinationDefinition
    try:
        model.model_validate(cleaned)
    except ValidationError as error:
        details = "; ".join(f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors())
        raise RegistryEntryError(f"the {connector_type} entry does not match the registry schema: {details}") from error
    return cleaned


def metadata_to_registry_entry(data: dict, registry: str, icon_url: str | None, spec_lookup: SpecLookup) -> dict | None:
    """The registry entry of one metadata `data` mapping, or None when that registry is disabled."""
    if not is_enabled(data, registry):
        return None
    connector_type = data["connectorType"]
    entry = to_json_compatible(apply_overrides(data, registry))
    entry = remove_registry_only_fields(entry)
    entry = rename_fields(entry, connector_type)
    entry = add_registry_defaults(entry)
    entry = set_icon_url(entry, icon_url)
    entry = apply_migration_url_defaults(entry)
    entry = attach_spec(entry, registry, spec_lookup)
    return validate_registry_entry(entry, connector_type)


def entry_definition_id(entry: dict) -> str:
    return str(entry.get("sourceDefinitionId") or entry.get("destinationDefinitionId"))


def entry_connector_type(entry: dict) -> str:
    return "source" if "sourceDefinitionId" in entry else "destination"
