"""The secrets mask: every spec property name whose definition has `airbyte_secret: true`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from orchestrator.logic.serialization import to_yaml_bytes
from orchestrator.models.metadata import SecretsMask

# Schema keywords whose values hold further sub-schemas (not property names).
_NESTED_SCHEMA_LISTS = ("oneOf", "anyOf", "allOf")


def _secret_names_in_schema(schema: Any, found: set[str]) -> None:
    if not isinstance(schema, dict):
        return
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for name, definition in properties.items():
            if isinstance(definition, dict):
                if definition.get("airbyte_secret") is True:
                    found.add(name)
                _secret_names_in_schema(definition, found)
    for keyword in _NESTED_SCHEMA_LISTS:
        options = schema.get(keyword)
        if isinstance(options, list):
            for option in options:
                _secret_names_in_schema(option, found)
    items = schema.get("items")
    for item in items if isinstance(items, list) else [items]:
        _secret_names_in_schema(item, found)


def secret_property_names(spec: dict) -> set[str]:
    found: set[str] = set()
    _secret_names_in_schema((spec or {}).get("connectionSpecification"), found)
    return found


def all_secret_property_names(specs: Iterable[dict]) -> set[str]:
    names: set[str] = set()
    for spec in specs:
        names |= secret_property_names(spec)
    return names


def secrets_mask_yaml(names: Iterable[str]) -> bytes:
    return to_yaml_bytes(SecretsMask(properties=sorted(set(names))).model_dump())
