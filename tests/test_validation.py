"""Validation of metadata files: every problem, each naming the file and the field."""

from __future__ import annotations

import yaml

from orchestrator.logic.validation import validate_metadata_bytes
from orchestrator.logic.versions import is_release_candidate, parse_version
from tests.builders import make_data, to_yaml


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
    assert any(
        "data.releases.breakingChanges.2.0.0: breaking change 2.0.0 is newer than dockerImageTag 1.2.3" in p
        for p in problems_of(newer)
    )
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
