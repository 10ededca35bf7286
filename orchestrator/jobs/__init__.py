"""Jobs. Runs that write entries or registries share one concurrency tag: the run queue
(`dagster.yaml`) lets only one of them run at a time, so two never race on the same files."""

import os

from dagster import AssetSelection, ExecutorDefinition, define_asset_job, multi_or_in_process_executor

REGISTRY_WRITER_TAG = {"orchestrator/concurrency": "registry_writer"}

registry_entry_selection = AssetSelection.groups("metadata", "registry_entry")

generate_registry_entry = define_asset_job(
    name="generate_registry_entry",
    selection=registry_entry_selection,
    description="Writes oss.json / cloud.json for metadata files that are new or changed since they were last processed.",
    tags={**REGISTRY_WRITER_TAG, "orchestrator/job": "generate_registry_entry"},
)

generate_registry = define_asset_job(
    name="generate_registry",
    selection=registry_entry_selection | AssetSelection.groups("registry", "specs_secrets_mask"),
    description="Brings everything up to date: entries for new or changed metadata, then both registries and the secrets mask.",
    tags={**REGISTRY_WRITER_TAG, "orchestrator/job": "generate_registry"},
)

generate_registry_reports = define_asset_job(
    name="generate_registry_reports",
    selection=AssetSelection.groups("registry_reports"),
    description="Builds the registry report (HTML and JSON) and the dataframes from the published registries.",
    tags={"orchestrator/job": "generate_registry_reports"},
)

ALL_JOBS = [generate_registry_entry, generate_registry, generate_registry_reports]


def selected_executor() -> ExecutorDefinition:
    """DAGSTER_EXECUTOR=k8s: every step in its own Kubernetes Job (dagster-k8s).
    Otherwise Dagster's default: subprocesses on the run worker, or in process."""
    if os.environ.get("DAGSTER_EXECUTOR", "").strip().lower() == "k8s":
        from dagster_k8s import k8s_job_executor

        max_steps = int(os.environ.get("DAGSTER_K8S_MAX_CONCURRENT_STEPS", "8"))
        return k8s_job_executor.configured({"max_concurrent": max_steps}, name="k8s")
    return multi_or_in_process_executor
