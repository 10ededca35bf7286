"""The code location: every resource, asset, check, job and sensor, wired in one Definitions."""

from __future__ import annotations

from dagster import Definitions, load_asset_checks_from_modules, load_assets_from_modules

from orchestrator.settings import load_environment

load_environment()

from orchestrator.assets import metadata, registry, registry_entry, registry_report, specs_secrets_mask  # noqa: E402
from orchestrator.jobs import ALL_JOBS, selected_executor  # noqa: E402
from orchestrator.resources import build_resources  # noqa: E402
from orchestrator.sensors import ALL_SENSORS  # noqa: E402

ASSET_GROUPS = {
    "metadata": metadata,
    "registry_entry": registry_entry,
    "registry": registry,
    "specs_secrets_mask": specs_secrets_mask,
    "registry_reports": registry_report,
}

all_assets = [asset for group, module in ASSET_GROUPS.items() for asset in load_assets_from_modules([module], group_name=group)]
all_asset_checks = load_asset_checks_from_modules(list(ASSET_GROUPS.values()))

defn = Definitions(
    assets=all_assets,
    asset_checks=all_asset_checks,
    jobs=ALL_JOBS,
    sensors=ALL_SENSORS,
    resources=build_resources(),
    executor=selected_executor(),
)
