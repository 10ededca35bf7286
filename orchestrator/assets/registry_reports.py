"""Group `registry_reports`: dataframes of the PUBLISHED registries and the HTML/JSON report.

Thin assets: reading and writing happen here, everything else in `orchestrator.logic.report` and
`orchestrator.logic.render`. The dataframes read the registry files, so they depend on the
`persisted_*_registry` assets without loading their outputs."""

import json
from typing import Any

from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, Output, asset

from orchestrator.layout import (
    REGISTRY_NAMES,
    REPORT_HTML_FILE_NAME,
    REPORT_JSON_FILE_NAME,
    registry_diff_path,
    registry_path,
)
from orchestrator.logic.failures import failed_entry_rows, invalid_file_rows, invalid_files_of, stale_connectors
from orchestrator.logic.render import build_report_data, render_html_report, render_json_report
from orchestrator.logic.report import (
    PREVIEW_COLUMNS_MERGED,
    PREVIEW_COLUMNS_REGISTRY,
    attention_unknown,
    attention_view,
    diff_counts,
    markdown_table,
    merge_registry_dataframes,
    merged_counts,
    parse_registry_diff,
    published_images,
    registry_dataframe,
)
from orchestrator.resources.gcs import GcsBucketManager, GcsFileManager
from orchestrator.resources.state import read_entry_manifest, read_registry_diff, read_registry_inputs

PREVIEW_ROWS = 10
# The steps pass pandas DataFrames; typed loosely so that loading the code location does not import
# pandas (1.6 s of every process start, and no other group uses it).
DataFrame = Any


def read_published_registry(gcs_bucket_manager: GcsBucketManager, registry_name: str) -> tuple[dict, int, str]:
    """The published registry, its generation and public URL. Absent or unparsable is a failure
    naming the file: an empty report would read as "no connectors" rather than "not published"."""
    path = registry_path(registry_name)
    found = gcs_bucket_manager.read(path)
    if found is None:
        raise Failure(
            description=f"{path} does not exist in the metadata bucket: publish the {registry_name} registry "
            "(job generate_registry) before generating reports"
        )
    data, generation = found
    try:
        registry = json.loads(data)
    except ValueError as error:
        raise Failure(description=f"{path} (generation {generation}) is not valid JSON: {error}") from error
    return registry, generation, gcs_bucket_manager.public_url(path)


def needs_attention(gcs_bucket_manager: GcsBucketManager, all_sources: DataFrame, all_destinations: DataFrame) -> dict:
    """The report's "Needs attention" view from the bucket's state files: the entry manifest, the
    inputs of each published registry, and the update times of the files concerned."""
    registry_files = {name: registry_path(name) for name in REGISTRY_NAMES}
    manifest, generation = read_entry_manifest(gcs_bucket_manager)
    if not generation:
        updated = gcs_bucket_manager.updated_times(registry_files.values())
        return attention_unknown({name: updated.get(path) for name, path in registry_files.items()})
    invalid = invalid_file_rows(invalid_files_of(manifest))
    failed = failed_entry_rows(manifest)
    stale = stale_connectors(
        manifest, {name: read_registry_inputs(gcs_bucket_manager, name)[0] for name in REGISTRY_NAMES}
    )
    files = {row.file for row in invalid} | {row.file for row in failed} | {row.file for row in stale}
    updated = gcs_bucket_manager.updated_times(sorted(files | set(registry_files.values())))
    images = published_images(all_sources)
    for name, by_id in published_images(all_destinations).items():
        images[name].update(by_id)
    published = {name: updated.get(path) for name, path in registry_files.items()}
    return attention_view(invalid, failed, stale, images, updated, published)


def registry_dataframe_output(
    context: AssetExecutionContext, gcs_bucket_manager: GcsBucketManager, registry_name: str, connector_type: str
) -> Output[DataFrame]:
    registry, generation, url = read_published_registry(gcs_bucket_manager, registry_name)
    try:
        frame = registry_dataframe(registry, connector_type, registry_name)
    except ValueError as error:
        raise Failure(description=f"{registry_path(registry_name)}: {error}") from error
    context.log.info(f"{len(frame)} {connector_type}s in the {registry_name} registry (generation {generation})")
    return Output(
        frame,
        metadata={
            "rows": len(frame),
            "registry_url": MetadataValue.url(url),
            "registry_generation": generation,
            "preview": MetadataValue.md(markdown_table(frame, PREVIEW_ROWS, PREVIEW_COLUMNS_REGISTRY)),
        },
    )


@asset(
    kinds={"pandas"},
    deps=["persisted_oss_registry"],
    description="The sources of the published oss registry, one row per connector.",
)
def oss_sources_dataframe(context: AssetExecutionContext, gcs_bucket_manager: GcsBucketManager) -> Output[DataFrame]:
    return registry_dataframe_output(context, gcs_bucket_manager, "oss", "source")


@asset(
    kinds={"pandas"},
    deps=["persisted_cloud_registry"],
    description="The sources of the published cloud registry, one row per connector.",
)
def cloud_sources_dataframe(context: AssetExecutionContext, gcs_bucket_manager: GcsBucketManager) -> Output[DataFrame]:
    return registry_dataframe_output(context, gcs_bucket_manager, "cloud", "source")


@asset(
    kinds={"pandas"},
    deps=["persisted_oss_registry"],
    description="The destinations of the published oss registry, one row per connector.",
)
def oss_destinations_dataframe(
    context: AssetExecutionContext, gcs_bucket_manager: GcsBucketManager
) -> Output[DataFrame]:
    return registry_dataframe_output(context, gcs_bucket_manager, "oss", "destination")


@asset(
    kinds={"pandas"},
    deps=["persisted_cloud_registry"],
    description="The destinations of the published cloud registry, one row per connector.",
)
def cloud_destinations_dataframe(
    context: AssetExecutionContext, gcs_bucket_manager: GcsBucketManager
) -> Output[DataFrame]:
    return registry_dataframe_output(context, gcs_bucket_manager, "cloud", "destination")


def _merged_output(merged: DataFrame) -> Output[DataFrame]:
    counts = merged_counts(merged)
    return Output(
        merged,
        metadata={
            "rows": counts["total"],
            "in_oss": counts["oss"],
            "in_cloud": counts["cloud"],
            "in_both": counts["both"],
            "oss_only": counts["ossOnly"],
            "cloud_only": counts["cloudOnly"],
            "images_differ": counts["imagesDiffer"],
            "preview": MetadataValue.md(markdown_table(merged, PREVIEW_ROWS, PREVIEW_COLUMNS_MERGED)),
        },
    )


@asset(
    kinds={"pandas"},
    description=(
        "Every source of either registry, one row per definition id: where it is published and with which images."
    ),
)
def all_sources_dataframe(oss_sources_dataframe: DataFrame, cloud_sources_dataframe: DataFrame) -> Output[DataFrame]:
    return _merged_output(merge_registry_dataframes(oss_sources_dataframe, cloud_sources_dataframe))


@asset(
    kinds={"pandas"},
    description=(
        "Every destination of either registry, one row per definition id: where it is published and with which images."
    ),
)
def all_destinations_dataframe(
    oss_destinations_dataframe: DataFrame, cloud_destinations_dataframe: DataFrame
) -> Output[DataFrame]:
    return _merged_output(merge_registry_dataframes(oss_destinations_dataframe, cloud_destinations_dataframe))


@asset(
    kinds={"gcs", "html", "json"},
    description=(
        "generated_reports/connector_registry_report.html and .json: counts, last registry changes, what needs "
        "attention (invalid files, failed entries, stale connectors), every connector."
    ),
)
def connector_registry_report(
    context: AssetExecutionContext,
    all_sources_dataframe: DataFrame,
    all_destinations_dataframe: DataFrame,
    gcs_bucket_manager: GcsBucketManager,
    registry_report_directory_manager: GcsFileManager,
) -> MaterializeResult:
    changes = {}
    for registry_name in REGISTRY_NAMES:
        changes[registry_name] = parse_registry_diff(
            registry_name, read_registry_diff(gcs_bucket_manager, registry_name)
        )
        if changes[registry_name]["status"] == "unreadable":
            context.log.warning(
                f"{registry_diff_path(registry_name)} is unreadable, shown as such: {changes[registry_name]['error']}"
            )

    attention = needs_attention(gcs_bucket_manager, all_sources_dataframe, all_destinations_dataframe)
    report = build_report_data(all_sources_dataframe, all_destinations_dataframe, changes, attention)
    # JSON first: the HTML links to it, so it should never point at a missing or older file.
    json_url = registry_report_directory_manager.write(REPORT_JSON_FILE_NAME, render_json_report(report))
    html_url = registry_report_directory_manager.write(
        REPORT_HTML_FILE_NAME, render_html_report(report, json_url=json_url)
    )

    sources, destinations = report["counts"]["sources"], report["counts"]["destinations"]
    metadata = {
        "html_url": MetadataValue.url(html_url),
        "json_url": MetadataValue.url(json_url),
        "sources_oss": sources["oss"],
        "sources_cloud": sources["cloud"],
        "sources_images_differ": sources["imagesDiffer"],
        "destinations_oss": destinations["oss"],
        "destinations_cloud": destinations["cloud"],
        "destinations_images_differ": destinations["imagesDiffer"],
        "invalid_files": attention["counts"]["invalidFiles"],
        "failed_entries": attention["counts"]["failedEntries"],
        "stale_connectors": attention["counts"]["staleConnectors"],
        "preview_sources": MetadataValue.md(
            markdown_table(all_sources_dataframe, PREVIEW_ROWS, PREVIEW_COLUMNS_MERGED)
        ),
        "preview_destinations": MetadataValue.md(
            markdown_table(all_destinations_dataframe, PREVIEW_ROWS, PREVIEW_COLUMNS_MERGED)
        ),
    }
    for registry_name, view in changes.items():
        counts = diff_counts(view)
        metadata[f"{registry_name}_registry_published_at"] = (
            attention["registriesPublished"].get(registry_name) or "never"
        )
        metadata[f"{registry_name}_last_changes"] = (
            f"{counts['added']} added, {counts['removed']} removed, {counts['changed']} changed"
            if view["status"] == "recorded"
            else view["status"]
        )
    return MaterializeResult(metadata=metadata)
