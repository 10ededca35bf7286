"""Each rule of SPEC §4 on its own, then the whole chain; then those of §4.1 (the current format)."""

from __future__ import annotations

import json

import pytest

from orchestrator.logic import transform
from orchestrator.logic.transform import RegistryEntryError, ReleaseCandidate, SourceFile, metadata_to_registry_entry
from orchestrator.models.registry import ConnectorRegistrySourceDefinition, RegistryFormat
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


# -------------------------------------------------------------------------------------------------
# SPEC §4.1, the current format: each rule alone, then the chain.

CURRENT = RegistryFormat.current
SOURCE_FILE = SourceFile(
    "connector-metadata", "metadata/airbyte/source-x/latest/metadata.yaml", "etag==", "2025-03-04T05:06:07.123456+00:00"
)


def test_current_rule_language_from_the_first_language_tag_when_absent():
    assert transform.set_language({"tags": ["cdk:java", "language:java", "language:python"]})["language"] == "java"
    assert transform.set_language({"language": "manifest-only", "tags": ["language:python"]})["language"] == (
        "manifest-only"
    )
    assert "language" not in transform.set_language({"tags": ["cdk:python", "language:"]})


def test_current_rule_support_level_defaults_to_community():
    assert transform.default_support_level({})["supportLevel"] == "community"
    assert transform.default_support_level({"supportLevel": "certified"})["supportLevel"] == "certified"


def test_current_rule_ab_internal_defaults_under_the_files_values():
    assert transform.default_ab_internal({})["ab_internal"] == {"sl": 100, "ql": 100}
    own = {"ab_internal": {"ql": 400, "sl": None, "isEnterprise": True}}
    assert transform.default_ab_internal(own)["ab_internal"] == {"sl": 100, "ql": 400, "isEnterprise": True}


def test_current_rule_source_file_info_from_the_metadata_object_not_the_clock():
    entry = transform.set_source_file_info({"generated": {"git": {"sha": "abc"}}}, SOURCE_FILE)
    assert entry["generated"] == {
        "git": {"sha": "abc"},
        "source_file_info": {
            "metadata_bucket_name": "connector-metadata",
            "metadata_file_path": "metadata/airbyte/source-x/latest/metadata.yaml",
            "metadata_etag": "etag==",
            "metadata_last_modified": "2025-03-04T05:06:07.123456+00:00",
            "registry_entry_generated_at": "2025-03-04T05:06:07.123456+00:00",
        },
    }
    assert transform.set_source_file_info({"name": "x"}, None) == {"name": "x"}


def test_current_rule_releases_keep_only_registry_fields_and_empty_goes():
    releases = {
        "migrationDocumentationUrl": "https://m",
        "breakingChanges": {},
        "rolloutConfiguration": {"enableProgressiveRollout": False},
        "isReleaseCandidate": True,
    }
    kept = transform.keep_registry_release_fields({"releases": releases})["releases"]
    assert kept == {key: value for key, value in releases.items() if key != "isReleaseCandidate"}
    assert "releases" not in transform.keep_registry_release_fields({"releases": {"isReleaseCandidate": False}})
    assert transform.keep_registry_release_fields({"name": "x"}) == {"name": "x"}


def test_current_rule_release_candidate_with_rollout_defaults_only_when_newer():
    candidate = ReleaseCandidate(
        "1.3.0-rc.2",
        {
            "dockerImageTag": "1.3.0-rc.2",
            "releases": {"rolloutConfiguration": {"enableProgressiveRollout": True, "maxPercentage": 20}},
        },
    )
    entry = transform.add_release_candidate(
        {"releases": {"migrationDocumentationUrl": "https://m"}}, "1.2.3", candidate
    )
    assert entry["releases"]["migrationDocumentationUrl"] == "https://m"
    assert entry["releases"]["releaseCandidates"] == {
        "1.3.0-rc.2": {
            "dockerImageTag": "1.3.0-rc.2",
            "releases": {
                "rolloutConfiguration": {
                    "enableProgressiveRollout": True,
                    "initialPercentage": 0,
                    "maxPercentage": 20,
                    "advanceDelayMinutes": 10,
                }
            },
        }
    }
    assert candidate.entry["releases"]["rolloutConfiguration"] == {
        "enableProgressiveRollout": True,
        "maxPercentage": 20,
    }
    for latest in ("1.3.0", "1.3.0-rc.2", "1.4.0"):  # promoted, the same, or left behind
        assert transform.add_release_candidate({"name": "x"}, latest, candidate) == {"name": "x"}, latest


def test_current_format_chain_and_the_seed_format_untouched():
    data = make_data(
        "source-x",
        tags=["cdk:java", "language:java"],
        supportLevel=None,
        releases={"isReleaseCandidate": False, "breakingChanges": {}},
    )
    seed = metadata_to_registry_entry(data, "oss", None, lambda *_: SPEC)
    assert seed is not None
    assert not {"language", "ab_internal", "generated"} & set(seed) and "supportLevel" not in seed
    assert seed["releases"]["isReleaseCandidate"] is False, "2023: the seed's entries exactly"
    entry = metadata_to_registry_entry(
        data, "oss", None, lambda *_: SPEC, registry_format=CURRENT, source_file=SOURCE_FILE
    )
    assert entry is not None
    assert (entry["language"], entry["supportLevel"], entry["ab_internal"]) == (
        "java",
        "community",
        {"sl": 100, "ql": 100},
    )
    assert entry["generated"]["source_file_info"]["metadata_file_path"] == SOURCE_FILE.path
    assert entry["releases"] == {
        "breakingChanges": {},
        "migrationDocumentationUrl": "https://docs.example.com/integrations/sources/source-x-migrations",
    }
    assert {
        key: value
        for key, value in entry.items()
        if key not in ("language", "ab_internal", "generated", "supportLevel", "releases")
    } == {key: value for key, value in seed.items() if key not in ("releases",)}


def test_release_candidate_entry_keeps_its_spec_nulls_inside_the_latest_entry():
    spec = {"connectionSpecification": {"properties": {"a": {"default": None}}}}
    candidate_data = make_data(
        "source-x", tag="1.3.0-rc.1", releases={"rolloutConfiguration": {"enableProgressiveRollout": True}}
    )
    candidate_entry = metadata_to_registry_entry(
        candidate_data, "cloud", None, lambda *_: spec, registry_format=CURRENT
    )
    assert candidate_entry is not None
    latest = metadata_to_registry_entry(
        make_data("source-x"),
        "cloud",
        None,
        lambda *_: SPEC,
        registry_format=CURRENT,
        release_candidate=ReleaseCandidate("1.3.0-rc.1", candidate_entry),
    )
    assert latest is not None
    embedded = latest["releases"]["releaseCandidates"]["1.3.0-rc.1"]
    assert embedded["spec"] == spec and embedded["dockerImageTag"] == "1.3.0-rc.1"
    assert embedded["releases"]["rolloutConfiguration"]["advanceDelayMinutes"] == 10
    ConnectorRegistrySourceDefinition.model_validate(latest)


def test_override_copy_path_only_for_another_valid_image():
    assert transform.override_copy_path(
        "airbyte/source-x-strict-encrypt", "1.2.3", "airbyte/source-x", "1.2.3", "cloud"
    ) == ("metadata/airbyte/source-x-strict-encrypt/1.2.3/cloud.json")
    assert transform.override_copy_path("airbyte/source-x", "1.2.3", "airbyte/source-x", "1.2.3", "cloud") is None
    assert transform.override_copy_path("airbyte/../registries", "1.2.3", "airbyte/source-x", "1.2.3", "oss") is None
    assert transform.override_copy_path("airbyte/source-x", "latest", "airbyte/source-x", "1.2.3", "oss") is None


def _containers(value, found: dict) -> dict:
    if isinstance(value, (dict, list)):
        found[id(value)] = value
        for item in value.values() if isinstance(value, dict) else value:
            _containers(item, found)
    return found


@pytest.mark.parametrize("registry_format", list(RegistryFormat))
def test_entries_share_no_mapping_or_list_with_the_metadata(registry_format):
    # The entry is built from the file's data without a deep copy: every mapping and list in it is new.
    import copy

    data = make_data(
        tags=["language:python"],
        ab_internal={"sl": 200},
        generated={"git": {"commit": "abc"}},
        releases={"breakingChanges": {"2.0.0": {"message": "m", "upgradeDeadline": "2024-01-01"}}},
        registries={
            "oss": {"enabled": True},
            "cloud": {"enabled": True, "allowedHosts": {"hosts": ["api.x.com"]}, "suggestedStreams": {"streams": []}},
        },
    )
    before = copy.deepcopy(data)
    for registry in ("oss", "cloud"):
        entry = metadata_to_registry_entry(
            data, registry, None, lambda *_: SPEC, registry_format=registry_format, source_file=SOURCE_FILE
        )
        assert entry is not None
        shared = (
            _containers({key: value for key, value in entry.items() if key != "spec"}, {}).keys()
            & _containers(data, {}).keys()
        )
        assert not shared
        entry["releases"]["breakingChanges"]["2.0.0"]["message"] = "changed"
        entry.setdefault("allowedHosts", {"hosts": []})["hosts"].append("x")
    assert data == before
