"""The report's "Needs attention" section, built from a bucket the real pipeline left with an
invalid file, entries waiting for a spec and a stale connector: every row with since when (the
object's update time in the bucket), and when each registry was last published."""

from __future__ import annotations

import json

from dagster import materialize

from orchestrator.assets import registry_reports
from orchestrator.logic.render import build_report_data, render_html_report
from orchestrator.logic.report import attention_view, merge_registry_dataframes, registry_dataframe
from tests.builders import bucket_needing_attention, module_assets
from tests.report_samples import cloud_registry, oss_registry

JSON_PATH = "generated_reports/connector_registry_report.json"


def updated_time(bucket, path: str) -> str:
    return bucket.bucket.get_blob(path).updated.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_needs_attention_lists_invalid_files_failed_entries_and_stale_connectors(gcs_env, resources):
    paths = bucket_needing_attention(gcs_env, resources)
    result = materialize(module_assets(registry_reports), resources=resources)
    assert result.success
    metadata = gcs_env["metadata"]
    stored = metadata.read(JSON_PATH)
    assert stored is not None
    attention = json.loads(stored[0])["needsAttention"]
    assert attention["status"] == "recorded"

    assert [(row["file"], row["field"]) for row in attention["invalidFiles"]] == [
        (paths["invalid"], "data.license"),
        (paths["invalid_latest"], "data.license"),
    ]
    assert attention["invalidFiles"][0]["since"] == updated_time(metadata, paths["invalid"])

    failed = {(row["file"], row["registry"]): row for row in attention["failedEntries"]}
    assert set(failed) == {
        (path, registry) for path in (paths["waiting"], paths["stale_latest"]) for registry in ("cloud", "oss")
    }
    oss_waiting = failed[(paths["waiting"], "oss")]
    assert "no spec in the spec cache for image airbyte/source-stale:1.3.0" in oss_waiting["reason"]
    assert oss_waiting["awaitedSpecs"] == ["specs/airbyte/source-stale/1.3.0/spec.json"]
    assert oss_waiting["since"] == updated_time(metadata, paths["waiting"])

    stale = {row["registry"]: row for row in attention["staleConnectors"]}
    assert set(stale) == {"oss", "cloud"}
    assert stale["oss"]["file"] == paths["stale_latest"]
    assert (stale["oss"]["metadataVersion"], stale["oss"]["registryImage"]) == ("1.3.0", "airbyte/source-stale:1.2.3")
    assert stale["oss"]["since"] == updated_time(metadata, paths["stale_latest"])
    assert attention["counts"] == {"invalidFiles": 2, "failedEntries": 4, "staleConnectors": 2}
    for registry in ("oss", "cloud"):
        published = attention["registriesPublished"][registry]
        assert published == updated_time(metadata, f"registries/v0/{registry}_registry.json")

    report_metadata = result.asset_materializations_for_node("connector_registry_report")[0].metadata
    assert (report_metadata["invalid_files"].value, report_metadata["stale_connectors"].value) == (2, 2)

    # The same bucket gives the same report, byte for byte.
    assert materialize(module_assets(registry_reports), resources=resources).success
    again = metadata.read(JSON_PATH)
    assert again is not None and again[0] == stored[0]

    html = render_html_report(json.loads(stored[0]))
    assert 'id="attention" data-attention-count="8"' in html
    assert paths["invalid"] in html and "Stale connectors" in html


def test_nothing_needs_attention_or_unknown_says_so():
    frame = merge_registry_dataframes(
        registry_dataframe(oss_registry(), "source", "oss"), registry_dataframe(cloud_registry(), "source", "cloud")
    )
    published = {"oss": "2024-05-01T10:00:00Z", "cloud": None}
    clean = render_html_report(
        build_report_data(frame, frame.head(0), {}, attention_view([], [], [], {}, {}, published))
    )
    assert "Nothing needs attention" in clean
    assert '<time data-published="oss">2024-05-01T10:00:00Z</time>' in clean
    assert '<span class="muted" data-published="cloud">never</span>' in clean
    unknown = render_html_report(build_report_data(frame, frame.head(0), {}))
    assert "No entry manifest in the bucket" in unknown
