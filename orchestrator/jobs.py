"""Jobs. Runs that write entries or registries share one concurrency tag: the run queue
(`dagster.yaml`) lets only one of them run at a time, so two never race on the same files."""

import os

from dagster import AssetSelection, ExecutorDefinition, define_asset_job, in_process_executor, multiprocess_executor

REGISTRY_WRITER_TAG = {"orchestrator/concurrency": "registry_writer"}

registry_entry_selection = AssetSelection.groups("metadata", "registry_entry")

generate_registry_entry = define_asset_job(
    name="generate_registry_entry",
    selection=registry_entry_selection,
    description=(
        "Writes oss.json / cloud.json for metadata files that are new or changed since they were last processed."
    ),
    tags={**REGISTRY_WRITER_TAG, "orchestrator/job": "generate_registry_entry"},
)

generate_registry = define_asset_job(
    name="generate_registry",
    selection=registry_entry_selection | AssetSelection.groups("registry", "specs_secrets_mask"),
    description=(
        "Brings everything up to date: entries for new or changed metadata, then both registries and the secrets mask."
    ),
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
    """DAGSTER_EXECUTOR=k8s: every step in its own Kubernetes Job (dagster-k8s); =multiprocess: a
    subprocess per step. Default: in process. The steps are a near-linear chain of I/O-bound work
    with their own thread pools, so a process per step only adds an interpreter start and a full
    import per step (measured: `dagster job execute` took minutes instead of seconds on 2 cores)."""
    choice = os.environ.get("DAGSTER_EXECUTOR", "").strip().lower()
    if choice == "multiprocess":
        return multiprocess_executor
    if choice == "k8s":
        from dagster_k8s import k8s_job_executor

        max_steps = int(os.environ.get("DAGSTER_K8S_MAX_CONCURRENT_STEPS", "8"))
        return k8s_job_executor.configured({"max_concurrent": max_steps}, name="k8s")
    return in_process_executor
