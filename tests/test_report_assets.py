"""The `registry_reports` assets against the GCS emulator: published registries in, report out."""

import json
import urllib.request
from html import escape as html_escape

import dagster
import pytest
from dagster import materialize

from orchestrator.assets import registry_reports
from tests.builders import module_assets
from tests.report_samples import FAKER, OSS_DIFF, cloud_registry, oss_registry, to_bytes

REPORT_ASSETS = module_assets(registry_reports, group_name="registry_reports")
HTML_PATH = "generated_reports/connector_registry_report.html"
JSON_PATH = "generated_reports/connector_registry_report.json"


@pytest.fixture
def bound(resources):
    """The code location's own resources, initialised, to put files where the assets look."""
    with dagster.build_resources(
        {
            "registry_directory_manager": resources["registry_directory_manager"],
            "gcs_bucket_manager": resources["gcs_bucket_manager"],
        }
    ) as initialised:
        yield initialised


def publish(bound, oss=True, cloud=True):
    if oss:
        bound.registry_directory_manager.write("oss_registry.json", to_bytes(oss_registry()))
    if cloud:
        bound.registry_directory_manager.write("cloud_registry.json", to_bytes(cloud_registry()))


def step_failure_messages(result) -> dict[str, str]:
    """The error message of each failed step, by step key."""
    messages = {}
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        assert error is not None, event
        messages[event.step_key] = error.message
    return messages


def materialization_metadata(result, asset_name):
    (materialization,) = result.asset_materializations_for_node(asset_name)
    return materialization.metadata


def test_report_assets_are_the_spec_names():
    names = {key.to_user_string() for assets_def in REPORT_ASSETS for key in assets_def.keys}
    assert names == {
        "oss_sources_dataframe",
        "cloud_sources_dataframe",
        "oss_destinations_dataframe",
        "cloud_destinations_dataframe",
        "all_sources_dataframe",
        "all_destinations_dataframe",
        "connector_registry_report",
    }


def test_report_is_written_with_content_type_cache_control_and_metadata(resources, bound, gcs_env):
    publish(bound)
    bound.gcs_bucket_manager.write("orchestrator_state/oss_registry_diff.json", to_bytes(OSS_DIFF))

    result = materialize(REPORT_ASSETS, resources=resources)
    assert result.success

    bucket = gcs_env["metadata"].bucket
    for path, content_type in ((HTML_PATH, "text/html"), (JSON_PATH, "application/json")):
        blob = bucket.get_blob(path)
        assert blob is not None, f"{path} was not written"
        assert blob.content_type.startswith(content_type)
        assert blob.cache_control == "no-cache"

    html = bucket.blob(HTML_PATH).download_as_text()
    assert html.count("<tr data-definition-id=") == 4 + 3
    assert "Chargebee" in html  # the OSS diff
    assert "No recorded changes yet." in html  # no Cloud diff recorded

    document = json.loads(bucket.blob(JSON_PATH).download_as_bytes())
    assert document["counts"]["sources"] == {
        "total": 4,
        "oss": 3,
        "cloud": 3,
        "both": 2,
        "ossOnly": 1,
        "cloudOnly": 1,
        "imagesDiffer": 1,
    }
    assert document["registryChanges"]["oss"]["status"] == "recorded"

    report_metadata = materialization_metadata(result, "connector_registry_report")
    html_url = report_metadata["html_url"].value
    assert html_url == bound.gcs_bucket_manager.public_url(HTML_PATH)
    with urllib.request.urlopen(html_url, timeout=10) as response:  # the emulator serves the public URL
        assert response.read().decode("utf-8") == html
    json_url = bound.gcs_bucket_manager.public_url(JSON_PATH)
    assert report_metadata["json_url"].value == json_url
    assert f'href="{html_escape(json_url)}"' in html  # the page links to its JSON twin wherever it is served
    assert report_metadata["sources_oss"].value == 3 and report_metadata["destinations_cloud"].value == 2
    assert report_metadata["sources_images_differ"].value == 1
    assert report_metadata["oss_last_changes"].value == "1 added, 1 removed, 1 changed"
    assert report_metadata["cloud_last_changes"].value == "missing"

    oss_sources = materialization_metadata(result, "oss_sources_dataframe")
    assert oss_sources["rows"].value == 3
    assert oss_sources["registry_url"].value == bound.registry_directory_manager.public_url("oss_registry.json")
    assert "| Sample Data (Faker) | dfd88b22" in oss_sources["preview"].value

    all_sources = materialization_metadata(result, "all_sources_dataframe")
    assert (all_sources["rows"].value, all_sources["in_both"].value, all_sources["images_differ"].value) == (4, 2, 1)
    assert "airbyte/source-faker:6.2.20 | airbyte/source-faker:6.2.19 | False" in all_sources["preview"].value

    frame = result.output_for_node("all_sources_dataframe")
    assert frame.set_index("definitionId").loc[FAKER, "imagesMatch"] == False  # noqa: E712


def test_missing_registry_fails_naming_the_file(resources, bound, gcs_env):
    publish(bound, cloud=False)

    result = materialize(REPORT_ASSETS, resources=resources, raise_on_error=False)
    assert not result.success

    failures = step_failure_messages(result)
    assert set(failures) == {"cloud_sources_dataframe", "cloud_destinations_dataframe"}
    for message in failures.values():
        assert "registries/v0/cloud_registry.json does not exist" in message
    # Nothing downstream ran: no report that silently lacks the Cloud registry.
    assert gcs_env["metadata"].bucket.get_blob(HTML_PATH) is None
    assert gcs_env["metadata"].bucket.get_blob(JSON_PATH) is None


def test_unparsable_registry_fails_naming_the_file(resources, bound):
    publish(bound)
    bound.registry_directory_manager.write("oss_registry.json", b"{truncated")

    result = materialize(REPORT_ASSETS, resources=resources, raise_on_error=False)
    failures = step_failure_messages(result)
    assert set(failures) == {"oss_sources_dataframe", "oss_destinations_dataframe"}
    assert all(
        "registries/v0/oss_registry.json" in message and "not valid JSON" in message for message in failures.values()
    )
