"""Every real metadata file in ../shared/data/connectors through validation and transformation."""

from __future__ import annotations

import json

from orchestrator.logic.secrets import secret_property_names
from orchestrator.logic.transform import metadata_to_registry_entry, registry_override
from orchestrator.logic.validation import validate_metadata_bytes
from tests.builders import make_spec

RENAMED_OR_REMOVED = {"registryOverrides", "registries", "connectorType", "connectorSubtype", "definitionId"}


def real_files(shared_data):
    files = sorted((shared_data / "connectors").glob("*/metadata.yaml"))
    assert files, "the reference folder holds no metadata files"
    return files


def test_only_the_file_with_an_unknown_field_is_rejected(shared_data):
    outcomes = {
        path.parent.name: validate_metadata_bytes(path.read_bytes(), str(path)) for path in real_files(shared_data)
    }
    rejected = {name: result for name, result in outcomes.items() if not result.ok}
    assert set(rejected) == {"destination-duckdb"}
    assert [problem.field for problem in rejected["destination-duckdb"].problems] == ["data._ab_internal"]
    assert str(rejected["destination-duckdb"].problems[0]).startswith(
        str(shared_data / "connectors" / "destination-duckdb" / "metadata.yaml")
    )


def test_entries_of_every_valid_real_file_follow_the_rules(shared_data):
    checked = 0
    for path in real_files(shared_data):
        result = validate_metadata_bytes(path.read_bytes(), str(path))
        if not result.ok:
            continue
        assert result.document is not None  # a valid file was parsed into a mapping
        data = result.document["data"]
        specs: dict[tuple[str, str, str], dict] = {}

        def lookup(repository, tag, registry, specs=specs):
            # Every image gets its own spec, and cloud a distinct one: the entry must take the right one.
            spec = make_spec(secret=f"{registry}_{repository.split('/')[-1]}_{tag}".replace("-", "_").replace(".", "_"))
            specs[(repository, tag, registry)] = spec
            return spec

        for registry in ("oss", "cloud"):
            entry = metadata_to_registry_entry(data, registry, f"https://icons/{registry}.svg", lookup)
            override = registry_override(data, registry) or {}
            if override.get("enabled") is not True:
                assert entry is None
                continue
            assert entry is not None
            checked += 1
            applied = {key: value for key, value in override.items() if key != "enabled" and value is not None}
            kind = data["connectorType"]
            for key, value in data.items():
                if key in RENAMED_OR_REMOVED or value is None:
                    continue
                expected = applied.get(key, value)
                if key == "releases":
                    assert entry["releases"]["migrationDocumentationUrl"] in (
                        value.get("migrationDocumentationUrl"),
                        f"{entry['documentationUrl']}-migrations",
                    )
                    for version, change in (value.get("breakingChanges") or {}).items():
                        got = entry["releases"]["breakingChanges"][str(version)]
                        assert got["message"] == change["message"]
                        assert got["migrationDocumentationUrl"] == change.get(
                            "migrationDocumentationUrl", f"{entry['documentationUrl']}-migrations#{version}"
                        )
                    continue
                assert json.dumps(entry[key], sort_keys=True, default=str) == json.dumps(
                    expected, sort_keys=True, default=str
                ), f"{path}: {registry}: {key}"
            for key, value in applied.items():
                if key not in ("connectorSubtype",):
                    assert json.dumps(entry[key], sort_keys=True) == json.dumps(value, sort_keys=True), (
                        f"{path}: {registry}: override {key}"
                    )
            assert entry[f"{kind}DefinitionId"] == data["definitionId"]
            assert entry["sourceType"] == applied.get("connectorSubtype", data["connectorSubtype"])
            assert not RENAMED_OR_REMOVED & set(entry)
            assert (entry["tombstone"], entry["custom"], entry["public"]) == (False, False, True)
            assert entry["iconUrl"] == f"https://icons/{registry}.svg"
            image = (entry["dockerRepository"], str(entry["dockerImageTag"]), registry)
            assert entry["spec"] == specs[image], f"{path}: {registry}: spec of the image after overrides"
            assert secret_property_names(entry["spec"]) >= {"client_secret", "personal_token"}
    assert checked >= 10


def test_release_candidate_with_registry_tags(shared_data):
    path = shared_data / "connectors" / "source-postgres" / "metadata.yaml"
    document = validate_metadata_bytes(path.read_bytes(), str(path)).document
    assert document is not None
    data = document["data"]
    entry = metadata_to_registry_entry(
        data, "cloud", None, lambda repository, tag, registry: {"connectionSpecification": {"title": tag}}
    )
    assert entry is not None
    assert entry["dockerImageTag"] == "3.7.0" and entry["spec"]["connectionSpecification"]["title"] == "3.7.0"
    assert "iconUrl" not in entry
