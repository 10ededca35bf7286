"""Jobs. Runs that write entries or registries share one concurrency tag: the run queue
(`dagster.yaml`) lets only one of them run at a time, so two never race on the same files."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

REGISTRY_WRITER_TAG = {"orchestrator/concurrency": "registry_writer"}

registry_entry_selection = AssetSelection.groups("metadata", "registry_entry")

generate_registry_entry = define_asset_job(
    name="generate_registry_entry",
    selection=registry_entry_selection,
    description="Writes oss.json / cloud.json for metadata files that are new or changed since they were last processed.",
    tags=REGISTRY_WRITER_TAG,
)

generate_registry = define_asset_job(
    name="generate_registry",
    selection=registry_entry_selection | AssetSelection.groups("registry", "specs_secrets_mask"),
    description="Brings everything up to date: entries for new or changed metadata, then both registries and the secrets mask.",
    tags=REGISTRY_WRITER_TAG,
)

generate_registry_reports = define_asset_job(
    name="generate_registry_reports",
    selection=AssetSelection.groups("registry_reports"),
    description="Builds the registry report (HTML and JSON) and the dataframes from the published registries.",
)

ALL_JOBS = [generate_registry_entry, generate_registry, generate_registry_reports]
