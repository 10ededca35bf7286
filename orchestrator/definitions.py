"""The code location: every asset, check, job, sensor and resource, wired in one `Definitions`.

Nothing is built on import: Dagster calls `defs` when it loads the code location (`dagster dev`,
`dagster job execute -m orchestrator.definitions`, `dg`), and only then is `.env` read and the
deployment chosen."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import dagster as dg

from orchestrator.settings import load_dotenv_files


def build_definitions(resources: Mapping[str, Any]) -> dg.Definitions:
    """The definitions with the given resource set (tests pass their own)."""
    # Imported here so that the sensors read their interval and default status after `.env`.
    from orchestrator.assets import metadata, registry, registry_entry, registry_reports, specs_secrets_mask
    from orchestrator.jobs import ALL_JOBS, selected_executor
    from orchestrator.sensors.alerts import alert_on_failed_checks, alert_on_run_failure
    from orchestrator.sensors.metadata import generate_registry_on_new_latest_metadata_file_blobs
    from orchestrator.sensors.registry import generate_registry_reports_on_registry_updated

    # One module per asset group: the module's name is the group's.
    groups = {
        "metadata": metadata,
        "registry_entry": registry_entry,
        "registry": registry,
        "specs_secrets_mask": specs_secrets_mask,
        "registry_reports": registry_reports,
    }
    return dg.Definitions(
        assets=[
            asset
            for group, module in groups.items()
            for asset in dg.load_assets_from_modules([module], group_name=group)
        ],
        asset_checks=dg.load_asset_checks_from_modules(list(groups.values())),
        jobs=ALL_JOBS,
        sensors=[
            generate_registry_on_new_latest_metadata_file_blobs,
            generate_registry_reports_on_registry_updated,
            alert_on_run_failure,
            alert_on_failed_checks,
        ],
        resources=dict(resources),
        executor=selected_executor(),
    )


@dg.definitions
def defs() -> dg.Definitions:
    from orchestrator.resources.deployments import deployment_resources

    load_dotenv_files()
    _, resources = deployment_resources(os.environ)
    return build_definitions(resources)
