"""Validation of metadata files: every problem, each naming the file and the field (SPEC §3, §3.1),
and the rules applied at upload only (§3.2)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.logic.validation import (
    DECLARATIVE_MANIFEST_DEFINITION_ID,
    upload_rule_problems,
    validate_metadata_bytes,
)
from orchestrator.logic.versions import is_release_candidate, parse_version
from tests.builders import make_data, to_yaml

FIXTURES = Path(__file__).parent / "fixtures" / "metadata_2025"


def problems_of(data: dict, name: str = "metadata/x/metadata.yaml") -> list[str]:
    return [str(problem) for problem in validate_metadata_bytes(to_yaml(data), name).problems]


def test_valid_file_passes():
    result = validate_metadata_bytes(to_yaml(make_data()), "m.yaml")
    assert result.metadata is not None, result.describe()
    assert result.ok and result.metadata.data.name == "Source Example"


def test_malformed_yaml_names_file_and_line():
    problems = [str(p) for p in validate_metadata_bytes(b"data:\n  name: [unclosed\n", "bad/metadata.yaml").problems]
    assert len(problems) == 1 and problems[0].startswith("bad/metadata.yaml: line ") and "malformed YAML" in problems[0]


def test_missing_required_field_and_wrong_type_are_all_reported():
    data = make_data(maxSecondsBetweenMessages="often")
    del data["license"]
    problems = problems_of(data)
    assert any(p.startswith("metadata/x/metadata.yaml: data.license: required field is missing") for p in problems)
    assert any("data.maxSecondsBetweenMessages" in p for p in problems)


def test_bad_enum_bad_uuid_unknown_key():
    problems = problems_of(make_data(releaseStage="production", definitionId="not-a-uuid", _ab_internal={"sl": 1}))
    joined = "\n".join(problems)
    assert "data.releaseStage" in joined and "data.definitionId" in joined
    assert "data._ab_internal: unknown field '_ab_internal'" in joined


def test_non_semver_tag_and_tags_rules():
    problems = "\n".join(problems_of(make_data(tag="latest-build", tags=["python", "cdk:python"])))
    assert "data.dockerImageTag" in problems and "not a semantic version" in problems
    assert "data.tags.0: tag 'python' is not of the form key:value" in problems
    assert "data.tags: needs at least one language:<lang> tag" in problems


def test_breaking_changes_rules():
    newer = make_data(
        tag="1.2.3", releases={"breakingChanges": {"2.0.0": {"message": "m", "upgradeDeadline": "2024-01-01"}}}
    )
    result = validate_metadata_bytes(to_yaml(newer), "metadata/x/metadata.yaml")
    assert result.ok, "a breaking change newer than the tag is a warning, not an error (§3.1)"
    assert [str(warning) for warning in result.warnings] == [
        "metadata/x/metadata.yaml: data.releases.breakingChanges.2.0.0: breaking change 2.0.0 is newer than "
        "dockerImageTag 1.2.3"
    ]
    major = make_data(tag="2.0.0")
    assert any("major version 2.0.0 needs a breaking change entry" in p for p in problems_of(major))
    ok = make_data(
        tag="2.0.0", releases={"breakingChanges": {"2.0.0": {"message": "m", "upgradeDeadline": "2024-01-01"}}}
    )
    assert problems_of(ok) == []
    bad_key = make_data(
        tag="2.0.0", releases={"breakingChanges": {"2.0": {"message": "m", "upgradeDeadline": "2024-01-01"}}}
    )
    assert any("'2.0' is not of the form x.y.z" in p for p in problems_of(bad_key))


def test_release_candidates_and_version_order():
    assert problems_of(make_data(tag="3.7.2-rc.1")) == []
    assert is_release_candidate("3.7.2-rc.1") and not is_release_candidate("3.7.2")
    assert parse_version("1.0.0-rc.1") < parse_version("1.0.0") < parse_version("1.0.1") < parse_version("1.10.0")
    assert parse_version("1.0.0-rc.2") < parse_version("1.0.0-rc.10")


def test_not_a_mapping():
    result = validate_metadata_bytes(yaml.safe_dump(["a"]).encode(), "list.yaml")
    assert not result.ok and str(result.problems[0]).startswith("list.yaml: (document)")


def test_breaking_change_of_the_very_version_a_prerelease_leads_to_is_not_even_a_warning():
    changes = {"breakingChanges": {"2.0.0": {"message": "m", "upgradeDeadline": "2024-01-01"}}}
    result = validate_metadata_bytes(to_yaml(make_data(tag="2.0.0-dev.4", releases=changes)), "m.yaml")
    assert result.ok and result.warnings == []
    later = validate_metadata_bytes(to_yaml(make_data(tag="1.9.0-dev.4", releases=changes)), "m.yaml")
    assert later.ok and len(later.warnings) == 1


# -------------------------------------------------------------------------------------------------
# §3.1: files read as the reference read them


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_unquoted_metadata_spec_version_is_read_as_its_text():
    raw = fixture("destination-customer-io.yaml")
    assert b"\nmetadataSpecVersion: 1.0\n" in raw and yaml.safe_load(raw)["metadataSpecVersion"] == 1.0
    result = validate_metadata_bytes(raw, "destination-customer-io.yaml")
    assert result.ok, result.describe()
    assert result.metadata is not None and result.metadata.metadataSpecVersion == "1.0"
    assert result.document is not None and result.document["metadataSpecVersion"] == "1.0"


def test_data_activation_destination_with_newer_fields_validates_and_keeps_them():
    result = validate_metadata_bytes(fixture("destination-customer-io.yaml"), "destination-customer-io.yaml")
    assert result.ok, result.describe()
    assert result.document is not None
    data = result.document["data"]
    assert data["supportsDataActivation"] is True
    assert data["externalDocumentationUrls"][0]["requiresLogin"] is False
    assert data["generated"] == {"git": {"commit_sha": "4d3c2b1a0f9e8d7c6b5a4d3c2b1a0f9e8d7c6b5a"}}
    # a YAML number where a string is wanted is its text; everything else exactly as written
    assert data["resourceRequirements"]["default"] == {"cpu_limit": "1", "memory_limit": "2Gi"}
    assert data["documentationUrl"] == "https://docs.airbyte.com/integrations/destinations/customer-io"


def test_empty_list_of_breaking_changes_counts_as_an_empty_mapping():
    raw = fixture("source-pypi-empty-breaking-changes.yaml")
    assert yaml.safe_load(raw)["data"]["releases"]["breakingChanges"] == []
    result = validate_metadata_bytes(raw, "source-pypi.yaml")
    assert result.ok, result.describe()
    assert result.document is not None
    releases = result.document["data"]["releases"]
    assert releases["breakingChanges"] == {}
    assert releases["rolloutConfiguration"] == {
        "enableProgressiveRollout": False,
        "initialPercentage": 5,
        "advanceDelayMinutes": 60,
    }
    assert result.document["data"]["protocolVersion"] == "0.2"


def test_other_empty_lists_where_a_mapping_is_wanted():
    data = make_data(releases=[], connectorIPCOptions=[], generated=[])
    result = validate_metadata_bytes(to_yaml(data), "m.yaml")
    assert result.ok, result.describe()
    assert result.document is not None
    assert [result.document["data"][key] for key in ("releases", "connectorIPCOptions", "generated")] == [{}, {}, {}]


def test_a_boolean_is_not_read_as_text():
    data = make_data()
    data["name"] = True
    assert any("data.name" in p for p in problems_of(data))


def _with_breaking_change(**change) -> dict:
    entry = {"message": "m", "upgradeDeadline": "2024-01-01", **change}
    return make_data(tag="2.0.0", releases={"breakingChanges": {"2.0.0": entry}})


@pytest.mark.parametrize(
    "change, field",
    [
        ({"scopedImpact": None}, "data.releases.breakingChanges.2.0.0.scopedImpact"),
        ({"scopedImpact": []}, "data.releases.breakingChanges.2.0.0.scopedImpact"),
        (
            {"scopedImpact": [{"scopeType": "stream", "impactedScopes": []}]},
            "data.releases.breakingChanges.2.0.0.scopedImpact.0.impactedScopes",
        ),
        (
            {"scopedImpact": [{"scopeType": "stream", "impactedScopes": None}]},
            "data.releases.breakingChanges.2.0.0.scopedImpact.0.impactedScopes",
        ),
    ],
)
def test_scoped_impact_when_present_is_a_non_empty_list(change, field):
    problems = problems_of(_with_breaking_change(**change))
    assert any(p.startswith(f"metadata/x/metadata.yaml: {field}: ") for p in problems), problems
    scoped = {"scopedImpact": [{"scopeType": "stream", "impactedScopes": ["users"]}]}
    assert problems_of(_with_breaking_change(**scoped)) == []


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"ab_internal": {"sl": 150, "ql": 200}}, "data.ab_internal.sl"),
        ({"ab_internal": {"sl": 100, "ql": 700}}, "data.ab_internal.ql"),
        (
            {"connectorBuildOptions": {"baseImage": "docker.io/airbyte/python-connector-base:4.0.0"}},
            "data.connectorBuildOptions.baseImage",
        ),
        (
            {"connectorBuildOptions": {"baseImage": "a:1@sha256:" + "0" * 64, "builder": "x"}},
            "data.connectorBuildOptions.builder",
        ),
        ({"remoteRegistries": {"npm": {"enabled": True}}}, "data.remoteRegistries.npm"),
        (
            {"remoteRegistries": {"pypi": {"enabled": True, "packageName": "p", "mirror": "x"}}},
            "data.remoteRegistries.pypi.mirror",
        ),
        ({"remotePackageIndex": {"conda": {"enabled": True}}}, "data.remotePackageIndex.conda"),
    ],
)
def test_stricter_sub_schemas(fields, field):
    problems = problems_of(make_data(**fields))
    assert any(p.startswith(f"metadata/x/metadata.yaml: {field}: ") for p in problems), problems


def test_allowed_sub_schema_values():
    fields: dict[str, Any] = {
        "ab_internal": {"sl": 300, "ql": 600, "isEnterprise": True},
        "connectorBuildOptions": {"baseImage": "registry.example.com:5000/airbyte/base:2.0.1@sha256:" + "a" * 64},
        "remoteRegistries": {"pypi": {"enabled": False, "packageName": "airbyte-source-example"}},
        "remotePackageIndex": {"pypi": {"enabled": False}},
    }
    assert problems_of(make_data(**fields)) == []


def test_declarative_manifest_image_is_exempt_from_the_major_version_rule():
    raw = fixture("source-declarative-manifest.yaml")
    result = validate_metadata_bytes(raw, "sdm.yaml")
    assert result.ok, result.describe()
    other = yaml.safe_load(raw)
    other["data"]["definitionId"] = "1d4f9c3a-0000-4000-8000-000000000001"
    assert other["data"]["definitionId"] != DECLARATIVE_MANIFEST_DEFINITION_ID
    refused = validate_metadata_bytes(yaml.safe_dump(other).encode(), "other.yaml")
    assert [problem.field for problem in refused.problems] == ["data.releases.breakingChanges"]


# -------------------------------------------------------------------------------------------------
# §3.2: rules applied at upload only


def upload_problems(data: dict, prerelease: str | None = None) -> list[str]:
    return [str(problem) for problem in upload_rule_problems("m.yaml", data, prerelease)]


ROLLOUT = {"rolloutConfiguration": {"enableProgressiveRollout": True}}


def test_release_candidate_of_a_major_version_is_refused():
    problems = upload_problems(make_data(tag="3.0.0-rc.1", releases=copy.deepcopy(ROLLOUT)))
    assert len(problems) == 1 and problems[0].startswith("m.yaml: data.dockerImageTag: 3.0.0-rc.1 is a release")
    assert upload_problems(make_data(tag="3.1.0-rc.1", releases=copy.deepcopy(ROLLOUT))) == []


def test_release_candidate_must_say_whether_it_rolls_out_progressively():
    field = "data.releases.rolloutConfiguration.enableProgressiveRollout"
    assert [p.split(": ")[1] for p in upload_problems(make_data(tag="1.3.0-rc.1"))] == [field]
    assert upload_problems(make_data(tag="1.3.0-rc.1", releases={"rolloutConfiguration": {"maxPercentage": 5}}))
    off = {"rolloutConfiguration": {"enableProgressiveRollout": False}}
    assert upload_problems(make_data(tag="1.3.0-rc.1", releases=off)) == []


def test_progressive_rollout_needs_a_prerelease_tag_and_is_release_candidate_an_rc_tag():
    problems = upload_problems(make_data(tag="1.3.0", releases=copy.deepcopy(ROLLOUT)))
    assert [p.split(": ")[1] for p in problems] == ["data.releases.rolloutConfiguration.enableProgressiveRollout"]
    flagged = upload_problems(make_data(tag="1.3.0", releases={"isReleaseCandidate": True}))
    assert [p.split(": ")[1] for p in flagged] == ["data.releases.isReleaseCandidate"]
    candidate = {"isReleaseCandidate": True, **copy.deepcopy(ROLLOUT)}
    assert upload_problems(make_data(tag="1.3.0-rc.2", releases=candidate)) == []


@pytest.mark.parametrize("key", ["remoteRegistries", "remotePackageIndex"])
def test_pypi_publishing_needs_a_python_or_low_code_language_tag(key):
    pypi: dict[str, Any] = {key: {"pypi": {"enabled": True, "packageName": "airbyte-source-example"}}}
    problems = upload_problems(make_data(tags=["language:java"], **pypi))
    assert len(problems) == 1 and problems[0].startswith(f"m.yaml: data.{key}.pypi.enabled: PyPI publishing needs")
    assert upload_problems(make_data(tags=["language:low-code"], **pypi)) == []
    assert upload_problems(make_data(tags=["language:python"], **pypi)) == []
    disabled: dict[str, Any] = {key: {"pypi": {"enabled": False, "packageName": "airbyte-source-example"}}}
    assert upload_problems(make_data(tags=["language:java"], **disabled)) == []


def test_prerelease_skips_the_release_candidate_rules_only():
    data = make_data(tag="3.0.0-rc.1", tags=["language:java"], remoteRegistries={"pypi": {"enabled": True}})
    problems = upload_problems(data, prerelease="3.0.0-rc.1")
    assert [p.split(": ")[1] for p in problems] == ["data.remoteRegistries.pypi.enabled"]


def test_the_orchestrator_does_not_apply_the_upload_rules():
    """A file already in the bucket was accepted by the rules of its day (§3.2)."""
    data = make_data(tag="3.0.0-rc.1", tags=["language:java"], remoteRegistries={"pypi": {"enabled": True}})
    assert upload_problems(data)
    assert validate_metadata_bytes(to_yaml(data), "m.yaml").ok
