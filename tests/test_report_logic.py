"""The report's pure logic: registry frames, the OSS/Cloud merge, rendering and its escaping."""

import json
import re

import pandas as pd
import pytest

from orchestrator.logic.render import build_report_data, render_html_report, render_json_report, safe_url
from orchestrator.logic.report import (
    MERGED_COLUMNS,
    REGISTRY_COLUMNS,
    issues_url,
    markdown_table,
    merge_registry_dataframes,
    merged_counts,
    parse_registry_diff,
    registry_dataframe,
    source_code_url,
)
from tests.report_samples import (
    DESTINATION_POSTGRES,
    DUCKDB,
    FAKER,
    GITHUB,
    MYSQL,
    OSS_DIFF,
    SNOWFLAKE,
    SOURCE_POSTGRES,
    cloud_registry,
    oss_registry,
    to_bytes,
    with_hostile_source,
)


def merged(connector_type, oss=None, cloud=None):
    return merge_registry_dataframes(
        registry_dataframe(oss or oss_registry(), connector_type, "oss"),
        registry_dataframe(cloud or cloud_registry(), connector_type, "cloud"),
    )


def rows_by_id(frame):
    return {row["definitionId"]: row for row in frame.to_dict("records")}


def report(oss=None, cloud=None, changes=None):
    return build_report_data(merged("source", oss, cloud), merged("destination", oss, cloud), changes or {})


def test_registry_frame_has_one_row_per_entry_in_registry_order():
    frame = registry_dataframe(oss_registry(), "source", "oss")
    assert list(frame.columns) == REGISTRY_COLUMNS
    assert list(frame["definitionId"]) == [FAKER, GITHUB, SOURCE_POSTGRES]
    faker = frame.iloc[0]
    assert faker["image"] == "airbyte/source-faker:6.2.20"
    assert faker["connectorType"] == "source"
    assert faker["language"] == "python"
    assert faker["tags"] == "language:python"


def test_registry_frame_of_an_empty_list_keeps_its_columns():
    frame = registry_dataframe({"destinations": [], "sources": []}, "destination", "cloud")
    assert frame.empty and list(frame.columns) == REGISTRY_COLUMNS
    assert list(merge_registry_dataframes(frame, frame).columns) == MERGED_COLUMNS


@pytest.mark.parametrize(
    "registry, message",
    [
        ({"destinations": []}, "the oss registry has no 'sources' list"),
        ({"sources": [{"name": "No id"}]}, "sources[0] has no sourceDefinitionId"),
        ({"sources": [{"sourceDefinitionId": FAKER}, {"sourceDefinitionId": FAKER}]}, f"lists source {FAKER} twice"),
    ],
)
def test_malformed_registry_is_an_error_saying_where(registry, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        registry_dataframe(registry, "source", "oss")


def test_merge_covers_oss_only_cloud_only_and_both():
    sources = rows_by_id(merged("source"))
    assert list(merged("source")["name"]) == ["GitHub", "MySQL", "Postgres", "Sample Data (Faker)"]

    github = sources[GITHUB]  # only in OSS
    assert (github["inOss"], github["inCloud"]) == (True, False)
    assert github["imageOss"] == "airbyte/source-github:3.0.0" and github["imageCloud"] is None
    assert pd.isna(github["imagesMatch"])

    mysql = sources[MYSQL]  # only in Cloud: its fields come from the Cloud entry
    assert (mysql["inOss"], mysql["inCloud"]) == (False, True)
    assert mysql["imageOss"] is None and mysql["imageCloud"] == "airbyte/source-mysql:3.6.1"
    assert pd.isna(mysql["imagesMatch"])
    assert mysql["name"] == "MySQL" and mysql["releaseStage"] == "generally_available"
    assert (
        mysql["sourceCodeUrl"]
        == "https://github.com/airbytehq/airbyte/tree/master/airbyte-integrations/connectors/source-mysql"
    )

    faker = sources[FAKER]  # both, different images
    assert (faker["inOss"], faker["inCloud"]) == (True, True)
    assert (faker["imageOss"], faker["imageCloud"]) == ("airbyte/source-faker:6.2.20", "airbyte/source-faker:6.2.19")
    assert faker["imagesMatch"] == False  # noqa: E712 (numpy/pandas boolean)

    postgres = sources[SOURCE_POSTGRES]  # both, same image
    assert postgres["imagesMatch"] == True  # noqa: E712
    assert (
        postgres["issuesUrl"]
        == "https://github.com/airbytehq/airbyte/issues?q=is%3Aopen+is%3Aissue+label%3Asource-postgres"
    )
    assert postgres["documentationUrl"] == "https://docs.airbyte.com/integrations/sources/postgres"


def test_merge_prefers_the_oss_entry_for_shared_fields():
    cloud = cloud_registry()
    cloud["sources"][0]["name"] = "Faker (Cloud name)"
    faker = rows_by_id(merged("source", cloud=cloud))[FAKER]
    assert faker["name"] == "Sample Data (Faker)"


def test_counts():
    assert merged_counts(merged("source")) == {
        "total": 4,
        "oss": 3,
        "cloud": 3,
        "both": 2,
        "ossOnly": 1,
        "cloudOnly": 1,
        "imagesDiffer": 1,
    }
    destinations = merged("destination")
    assert merged_counts(destinations) == {
        "total": 3,
        "oss": 3,
        "cloud": 2,
        "both": 2,
        "ossOnly": 1,
        "cloudOnly": 0,
        "imagesDiffer": 1,
    }
    assert rows_by_id(destinations)[DUCKDB]["inCloud"] == False  # noqa: E712
    assert rows_by_id(destinations)[SNOWFLAKE]["imagesMatch"] == False  # noqa: E712
    assert rows_by_id(destinations)[DESTINATION_POSTGRES]["imagesMatch"] == True  # noqa: E712


def test_links():
    assert (
        issues_url("source-faker")
        == "https://github.com/airbytehq/airbyte/issues?q=is%3Aopen+is%3Aissue+label%3Asource-faker"
    )
    assert issues_url(None) is None
    faker_source = source_code_url("airbyte/source-faker")
    assert faker_source is not None
    assert faker_source.endswith("/airbyte-integrations/connectors/source-faker")
    assert source_code_url(None) is None
    assert safe_url("https://docs.airbyte.com/x") == "https://docs.airbyte.com/x"
    assert (
        safe_url("javascript:alert(1)") is None and safe_url("JaVaScRiPt:alert(1)") is None and safe_url(None) is None
    )


def test_markdown_preview_escapes_pipes_and_counts_the_rest():
    frame = pd.DataFrame({"name": ["a|b", "two\nlines", "c"], "n": [1, None, 3]})
    table = markdown_table(frame, max_rows=2)
    assert table.splitlines()[:4] == ["| name | n |", "| --- | --- |", "| a\\|b | 1.0 |", "| two lines |  |"]
    assert "_first 2 of 3 rows_" in table
    assert "_no rows_" in markdown_table(frame.head(0))


def test_diff_parsing():
    assert parse_registry_diff("cloud", None)["status"] == "missing"
    unreadable = parse_registry_diff("oss", b"{not json")
    assert unreadable["status"] == "unreadable" and unreadable["error"]
    assert parse_registry_diff("oss", b'{"added": "nope"}')["status"] == "unreadable"
    view = parse_registry_diff("oss", to_bytes(OSS_DIFF))
    assert view["status"] == "recorded"
    assert [item["name"] for item in view["added"]] == ["GitHub"]
    assert view["added"][0]["image"] == "airbyte/source-github:3.0.0"
    assert (view["changed"][0]["from"], view["changed"][0]["to"]) == ("6.2.19", "6.2.20")


def test_html_escapes_connector_data():
    hostile = with_hostile_source(oss_registry())
    html = render_html_report(report(oss=hostile))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    # The only script element is our own, and the page's policy allows no other.
    assert len(re.findall(r"<script\b", html)) == 1
    assert "script-src 'sha256-" in html
    assert "javascript:" not in html


def test_html_shows_counts_rows_and_changes():
    html = render_html_report(report(changes={"oss": parse_registry_diff("oss", to_bytes(OSS_DIFF))}))
    for definition_id in (FAKER, SOURCE_POSTGRES, GITHUB, MYSQL, DUCKDB, SNOWFLAKE, DESTINATION_POSTGRES):
        assert f'data-definition-id="{definition_id}"' in html
    assert html.count("<tr data-definition-id=") == 7
    assert "Chargebee" in html and "6.2.19" in html and "6.2.20" in html
    assert "No recorded changes yet." in html  # the cloud registry has no recorded diff
    assert 'data-count="imagesDiffer">1<' in html


def test_json_report_is_deterministic_and_complete():
    changes = {"oss": parse_registry_diff("oss", to_bytes(OSS_DIFF)), "cloud": parse_registry_diff("cloud", None)}
    first = render_json_report(report(changes=changes))
    # Same registries with entries in another order: the same bytes.
    oss, cloud = oss_registry(), cloud_registry()
    for registry in (oss, cloud):
        registry["sources"].reverse()
        registry["destinations"].reverse()
    second = render_json_report(report(oss, cloud, changes))
    assert first == second

    document = json.loads(first)
    assert document["counts"]["sources"]["oss"] == 3 and document["counts"]["destinations"]["cloud"] == 2
    faker = next(row for row in document["sources"] if row["definitionId"] == FAKER)
    assert faker["imagesMatch"] is False
    github = next(row for row in document["sources"] if row["definitionId"] == GITHUB)
    assert github["imagesMatch"] is None and github["imageCloud"] is None
    assert document["registryChanges"]["oss"]["counts"] == {"added": 1, "removed": 1, "changed": 1}
    assert document["registryChanges"]["cloud"]["status"] == "missing"


def test_language_and_release_candidate_in_rollout_per_connector():
    oss = oss_registry()
    postgres = next(entry for entry in oss["sources"] if entry["sourceDefinitionId"] == SOURCE_POSTGRES)
    candidate = {
        **postgres,
        "dockerImageTag": "3.8.0-rc.1",
        "releases": {
            "rolloutConfiguration": {
                "enableProgressiveRollout": True,
                "initialPercentage": 10,
                "maxPercentage": 50,
                "advanceDelayMinutes": 10,
            }
        },
    }
    postgres["language"] = "java"
    postgres["releases"] = {"releaseCandidates": {"3.8.0-rc.1": candidate}}
    rows = rows_by_id(merged("source", oss=oss))
    assert rows[SOURCE_POSTGRES]["releaseCandidate"] == "3.8.0-rc.1 (rollout 10-50%)"
    assert rows[SOURCE_POSTGRES]["language"] == "java"
    assert pd.isna(rows[FAKER]["releaseCandidate"]) or rows[FAKER]["releaseCandidate"] is None
    html = render_html_report(report(oss=oss))
    postgres_row = html.split(f'data-definition-id="{SOURCE_POSTGRES}"', 1)[1].split("</tr>", 1)[0]
    assert "<code>3.8.0-rc.1 (rollout 10-50%)</code>" in postgres_row and "<td>java</td>" in postgres_row
    faker_row = html.split(f'data-definition-id="{FAKER}"', 1)[1].split("</tr>", 1)[0]
    assert "<td>python</td>" in faker_row and '<span class="muted">none</span>' in faker_row
