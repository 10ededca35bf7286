"""Each rule of SPEC §4 on its own, then the whole chain."""

from __future__ import annotations

import json

import pytest

from orchestrator.logic import transform
from orchestrator.logic.transform import RegistryEntryError, metadata_to_registry_entry
from tests.builders import make_data, make_spec

SPEC = make_spec()


def lookup_with(specs: dict):
    return lambda repository, tag, registry: specs.get((repository, tag, registry))


def test_rule1_registry_must_be_enabled_explicitly():
    data = make_data(registryOverrides={"oss": {"enabled": True}, "cloud": {"enabled": False}})
    assert transform.is_enabled(data, "oss")
    assert not transform.is_enabled(data, "cloud")
    assert not transform.is_enabled(make_data(registryOverrides={"oss": {"enabled": True}}), "cloud")
    assert metadata_to_registry_entry(data, "cloud", None, lookup_with({})) is None


def test_rule1_older_registries_key_is_accepted():
    data = make_data()
    data["registries"] = data.pop("registryOverrides")
    data["registries"]["cloud"]["enabled"] = False
    assert transform.is_enabled(data, "oss") and not transform.is_enabled(data, "cloud")


def test_rule2_overrides_replace_top_level_fields_and_nulls_are_dropped():
    data = make_data(
        name="source-x",
        registryOverrides={
            "oss": {"enabled": True},
            "cloud": {
                "enabled": True,
                "dockerRepository": "airbyte/source-x-strict-encrypt",
                "name": None,
                "allowedHosts": {"hosts": ["api.x.com"]},
            },
        },
        allowedHosts={"hosts": ["${host}"]},
    )
    entry = transform.apply_overrides(data, "cloud")
    assert entry["dockerRepository"] == "airbyte/source-x-strict-encrypt"
    assert entry["name"] == data["name"], "a null override leaves the field alone"
    assert entry["allowedHosts"] == {"hosts": ["api.x.com"]}, "shallow update: the whole object is replaced"
    assert "enabled" not in entry
    assert transform.apply_overrides(data, "oss")["dockerRepository"] == "airbyte/source-x"


def test_rule3_and_rule4_removed_and_renamed_fields():
    entry = transform.remove_registry_only_fields(make_data(registries={"oss": {"enabled": True}}))
    assert "registryOverrides" not in entry and "registries" not in entry and "connectorType" not in entry
    source = transform.rename_fields(make_data(connectorSubtype="database"), "source")
    assert source["sourceType"] == "database" and "connectorSubtype" not in source
    assert "sourceDefinitionId" in source and "definitionId" not in source
    destination = transform.rename_fields(
        make_data(connector_type="destination", connectorSubtype="vectorstore"), "destination"
    )
    assert destination["sourceType"] == "vectorstore", "destinations get sourceType too, as in the reference system"
    assert "destinationDefinitionId" in destination


def test_rule5_defaults():
    entry = transform.add_registry_defaults({"name": "x", "releaseStage": None})
    assert entry == {"name": "x", "releaseStage": "alpha", "tombstone": False, "custom": False, "public": True}
    assert transform.add_registry_defaults({"releaseStage": "beta"})["releaseStage"] == "beta"


def test_rule6_icon_url_present_or_absent():
    assert transform.set_icon_url({"name": "x"}, "https://cdn/icon.svg")["iconUrl"] == "https://cdn/icon.svg"
    assert "iconUrl" not in transform.set_icon_url({"name": "x", "iconUrl": "stale"}, None)


def test_rule7_migration_url_defaults():
    entry = {
        "documentationUrl": "https://docs.example.com/sources/x",
        "releases": {
            "breakingChanges": {
                "2.0.0": {"message": "m", "upgradeDeadline": "2024-01-01"},
                "3.0.0": {
                    "message": "m",
                    "upgradeDeadline": "2024-02-01",
                    "migrationDocumentationUrl": "https://own/url",
                },
            }
        },
    }
    releases = transform.apply_migration_url_defaults(entry)["releases"]
    assert releases["migrationDocumentationUrl"] == "https://docs.example.com/sources/x-migrations"
    assert (
        releases["breakingChanges"]["2.0.0"]["migrationDocumentationUrl"]
        == "https://docs.example.com/sources/x-migrations#2.0.0"
    )
    assert releases["breakingChanges"]["3.0.0"]["migrationDocumentationUrl"] == "https://own/url"
    assert "releases" not in transform.apply_migration_url_defaults({"documentationUrl": "https://d"})
    explicit = {"documentationUrl": "https://d", "releases": {"migrationDocumentationUrl": "https://m"}}
    assert transform.apply_migration_url_defaults(explicit)["releases"]["migrationDocumentationUrl"] == "https://m"


def test_rule8_cloud_spec_preferred_and_missing_spec_is_an_error_naming_the_image():
    data = make_data(
        "source-x", registryOverrides={"oss": {"enabled": True}, "cloud": {"enabled": True, "dockerImageTag": "1.0.0"}}
    )
    cloud_spec = make_spec(secret="cloud_only_secret")
    specs = {("airbyte/source-x", "1.2.3", "oss"): SPEC, ("airbyte/source-x", "1.0.0", "cloud"): cloud_spec}
    oss = metadata_to_registry_entry(data, "oss", None, lookup_with(specs))
    assert oss is not None
    assert oss["spec"] == SPEC
    cloud = metadata_to_registry_entry(data, "cloud", None, lookup_with(specs))
    assert cloud is not None
    assert cloud["spec"] == cloud_spec and cloud["dockerImageTag"] == "1.0.0", "spec of the image after overrides"
    with pytest.raises(RegistryEntryError, match=r"airbyte/source-x:1.2.3"):
        metadata_to_registry_entry(data, "oss", None, lookup_with({}))


def test_rule9_nulls_left_out_but_spec_kept_as_is_and_schema_checked():
    spec = {"connectionSpecification": {"properties": {"a": {"default": None}}}}
    entry = metadata_to_registry_entry(
        make_data(maxSecondsBetweenMessages=None, protocolVersion=None), "oss", None, lambda *_: spec
    )
    assert entry is not None
    assert "maxSecondsBetweenMessages" not in entry and "protocolVersion" not in entry
    assert entry["spec"] == spec
    with pytest.raises(RegistryEntryError, match="sourceDefinitionId"):
        transform.validate_registry_entry(
            {"name": "x", "dockerRepository": "r", "dockerImageTag": "1", "documentationUrl": "d", "spec": {}}, "source"
        )


def test_whole_chain_output_is_json_with_every_field_carried_through():
    data = make_data(
        releaseDate="2023-05-01",
        erdUrl="https://erd",
        connectorBuildOptions={"baseImage": "img"},
        tags=["language:python", "cdk:low-code"],
    )
    import datetime

    data["releaseDate"] = datetime.date(2023, 5, 1)  # as YAML parses an unquoted date
    entry = metadata_to_registry_entry(data, "oss", "https://icon", lambda *_: SPEC)
    assert entry is not None
    assert entry["releaseDate"] == "2023-05-01"
    assert entry["connectorBuildOptions"] == {"baseImage": "img"} and entry["erdUrl"] == "https://erd"
    assert entry["tombstone"] is False and entry["public"] is True and entry["iconUrl"] == "https://icon"
    json.dumps(entry)
    assert data["registryOverrides"], "the input mapping is not modified"
