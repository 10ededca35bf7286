"""Group `specs_secrets_mask`: every spec property marked `airbyte_secret: true`, as a YAML mask."""

from dagster import MetadataValue, Output, asset

from orchestrator.layout import SECRETS_MASK_FILE_NAME
from orchestrator.logic.secrets import secrets_mask_yaml
from orchestrator.models.steps import StagedRegistry
from orchestrator.resources.gcs import GcsFileManager


@asset(
    deps=["persisted_oss_registry", "persisted_cloud_registry"],
    description="Names of every spec property marked airbyte_secret in the published registries, at any depth.",
)
def all_specs_secrets(
    latest_oss_registry_entries: StagedRegistry, latest_cloud_registry_entries: StagedRegistry
) -> Output[list[str]]:
    # Each staged registry found the secret names of its own specs while it was built.
    names = sorted(
        set(latest_oss_registry_entries.secret_property_names)
        | set(latest_cloud_registry_entries.secret_property_names)
    )
    specs_scanned = len(latest_oss_registry_entries.connectors) + len(latest_cloud_registry_entries.connectors)
    return Output(
        names,
        metadata={
            "secret_properties": len(names),
            "specs_scanned": specs_scanned,
            "preview": MetadataValue.md(
                f"First {min(50, len(names))} of {len(names)} secret property names: " + ", ".join(names[:50])
            ),
        },
    )


@asset(
    kinds={"gcs", "yaml"},
    description=(
        "Writes registries/v0/specs_secrets_mask.yaml (`properties:` sorted list); rewritten only when it changes."
    ),
)
def specs_secrets_mask_yaml(all_specs_secrets: list[str], registry_directory_manager: GcsFileManager) -> Output[str]:
    payload = secrets_mask_yaml(all_specs_secrets)
    stored = registry_directory_manager.read(SECRETS_MASK_FILE_NAME)
    changed = stored is None or stored[0] != payload
    if changed:
        registry_directory_manager.write(
            SECRETS_MASK_FILE_NAME, payload, if_generation_match=stored[1] if stored else 0
        )
    url = registry_directory_manager.public_url(SECRETS_MASK_FILE_NAME)
    return Output(
        url,
        metadata={
            "url": MetadataValue.url(url),
            "published": "published" if changed else "unchanged (same bytes)",
            "secret_properties": len(all_specs_secrets),
            "preview": MetadataValue.md(f"```yaml\n{payload.decode()[:2000]}\n```"),
        },
    )
