"""Group `registry`: the `latest/` entries of each registry are staged, then audited and published
by `persisted_*_registry`, whose blocking safety checks record the audit (write, audit, publish)."""

import hashlib
import json
from collections.abc import Iterator

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Failure,
    MetadataValue,
    Output,
    asset,
)

from orchestrator.layout import ENTRY_MANIFEST_PATH, registry_file_name, registry_path
from orchestrator.logic.incremental import plan_registry_staging, registry_inputs
from orchestrator.logic.registry import (
    SAFETY_CHECKS,
    SafetyCheck,
    StagedFacts,
    build_registry,
    diff_markdown,
    diff_registries,
    publish_safety_checks,
    registry_connectors,
    registry_entries,
)
from orchestrator.logic.secrets import all_secret_property_names
from orchestrator.logic.serialization import to_json_bytes
from orchestrator.logic.transform import entry_connector_type, entry_definition_id
from orchestrator.models.steps import PublishOutcome, RegistryEntryResult, StagedRegistry
from orchestrator.resources.gcs import GcsBlobListing, GcsBucketManager
from orchestrator.resources.policy import RegistryPublishPolicy
from orchestrator.resources.state import (
    read_json_document,
    read_registry_inputs,
    write_registry_diff,
    write_registry_inputs,
)

PREVIEW_ROWS = 15


def stage_registry(
    registry_name: str,
    entry_listing: GcsBlobListing,
    gcs_bucket_manager: GcsBucketManager,
    entries: RegistryEntryResult,
) -> StagedRegistry:
    previous_raw, previous, previous_generation = read_json_document(gcs_bucket_manager, registry_path(registry_name))
    inputs, inputs_generation = read_registry_inputs(gcs_bucket_manager, registry_name)

    # Which latest/ entries exist, at which generation: a full run lists them (and so also sees
    # entries it did not write); a run on the sensor's named files takes them from the manifest the
    # entries step just wrote, so that its cost does not grow with the bucket.
    if entries.full_scan:
        generations = {blob.name: blob.generation for blob in entry_listing.list()}
    else:
        generations = dict(entries.entry_generations[registry_name])

    published = {
        (entry_connector_type(entry), entry_definition_id(entry)): entry for entry in registry_entries(previous)
    }
    plan = plan_registry_staging(generations, inputs, previous_generation, published)
    entries_by_path = dict(plan.reusable)
    for path, stored in gcs_bucket_manager.read_many(plan.to_download).items():
        if stored is None:
            raise Failure(
                f"gs://{gcs_bucket_manager.bucket_name}/{path} is missing although its metadata file was built; "
                "nothing was published. "
                f"Run again; if it persists, delete gs://{gcs_bucket_manager.bucket_name}/{ENTRY_MANIFEST_PATH} "
                "to rebuild every entry"
            )
        entries_by_path[path], generations[path] = read_entry_json(gcs_bucket_manager, path, stored)

    registry = build_registry(entries_by_path)
    identify = {
        path: (entry_connector_type(entry), entry_definition_id(entry)) for path, entry in entries_by_path.items()
    }
    return StagedRegistry(
        registry_name=registry_name,
        payload=to_json_bytes(registry),
        connectors=registry_connectors(registry),
        secret_property_names=sorted(
            all_secret_property_names(entry.get("spec") or {} for entry in registry_entries(registry))
        ),
        previous_connectors=registry_connectors(previous),
        previous_generation=previous_generation,
        previous_sha256=hashlib.sha256(previous_raw).hexdigest() if previous_raw is not None else None,
        inputs=registry_inputs(entries_by_path, generations, previous_generation, identify),
        previous_inputs=inputs,
        inputs_generation=inputs_generation,
        disabled_definition_ids=entries.disabled_definition_ids[registry_name],
        downloaded_entries=len(plan.to_download),
        reused_entries=len(plan.reusable),
    )


def read_entry_json(gcs_bucket_manager: GcsBucketManager, path: str, stored: tuple[bytes, int]) -> tuple[dict, int]:
    raw, generation = stored
    try:
        return json.loads(raw), generation
    except ValueError as error:
        raise Failure(f"gs://{gcs_bucket_manager.bucket_name}/{path} is not valid JSON ({error})") from error


def entries_preview(connectors: list[dict], rows: int = PREVIEW_ROWS) -> str:
    lines = [f"First {min(rows, len(connectors))} of {len(connectors)} connectors.", ""]
    lines += ["| type | name | image | definition id |", "|---|---|---|---|"]
    for item in connectors[:rows]:
        image = f"{item['dockerRepository']}:{item['dockerImageTag']}"
        lines.append(f"| {item['connectorType']} | {item['name']} | {image} | {item['definitionId']} |")
    return "\n".join(lines)


def _staged_output(staged: StagedRegistry) -> Output[StagedRegistry]:
    return Output(
        staged,
        metadata={
            "sources": staged.count("source"),
            "destinations": staged.count("destination"),
            "entries_downloaded": staged.downloaded_entries,
            "entries_reused_from_published_registry": staged.reused_entries,
            "preview": MetadataValue.md(entries_preview(staged.connectors)),
        },
    )


@asset(
    kinds={"gcs", "json"},
    description="The oss registry built from every latest/oss.json entry, staged for audit before publishing.",
)
def latest_oss_registry_entries(
    registry_entry: RegistryEntryResult,
    latest_oss_registry_entries_file_blobs: GcsBlobListing,
    gcs_bucket_manager: GcsBucketManager,
) -> Output[StagedRegistry]:
    return _staged_output(
        stage_registry("oss", latest_oss_registry_entries_file_blobs, gcs_bucket_manager, registry_entry)
    )


@asset(
    kinds={"gcs", "json"},
    description="The cloud registry built from every latest/cloud.json entry, staged for audit before publishing.",
)
def latest_cloud_registry_entries(
    registry_entry: RegistryEntryResult,
    latest_cloud_registry_entries_file_blobs: GcsBlobListing,
    gcs_bucket_manager: GcsBucketManager,
) -> Output[StagedRegistry]:
    return _staged_output(
        stage_registry("cloud", latest_cloud_registry_entries_file_blobs, gcs_bucket_manager, registry_entry)
    )


def _facts(staged: StagedRegistry, policy: RegistryPublishPolicy) -> StagedFacts:
    return StagedFacts(
        staged.registry_name,
        staged.payload,
        staged.connectors,
        staged.previous_connectors,
        staged.disabled_definition_ids,
        policy.max_unexplained_drop_share,
    )


def safety_check_specs(asset_name: str) -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(
            name,
            asset=asset_name,
            blocking=True,
            description=f"{check.__doc__} Audited before the registry is written; a failure publishes nothing.",
        )
        for name, check in SAFETY_CHECKS.items()
    ]


def _check_results(asset_name: str, checks: list[SafetyCheck]) -> Iterator[AssetCheckResult]:
    for check in checks:
        yield AssetCheckResult(
            asset_key=asset_name,
            check_name=check.name,
            passed=check.passed,
            severity=AssetCheckSeverity.ERROR,
            description=check.description,
            metadata={"details": check.description, **check.metadata},
        )


def publish_registry(
    staged: StagedRegistry,
    gcs_bucket_manager: GcsBucketManager,
    policy: RegistryPublishPolicy,
    audit: list[SafetyCheck] | None = None,
) -> PublishOutcome:
    """Replace the published registry with the staged one, only over the generation read when it was
    staged; identical bytes are not rewritten. The diff and the build inputs are recorded beside."""
    registry_name = staged.registry_name
    # Every path to a write goes through the audit; the asset passes the one its checks recorded.
    checks = audit if audit is not None else publish_safety_checks(_facts(staged, policy))
    failing = [check for check in checks if not check.passed]
    if failing:
        raise Failure(
            f"refusing to publish the {registry_name} registry; the published one stays in place: "
            + " | ".join(f"{check.name}: {check.description}" for check in failing)
        )
    published = hashlib.sha256(staged.payload).hexdigest() != staged.previous_sha256
    diff = diff_registries(staged.previous_connectors, staged.connectors, registry_name)
    generation = staged.previous_generation
    if published:
        generation = gcs_bucket_manager.write(
            registry_path(registry_name), staged.payload, if_generation_match=staged.previous_generation
        )
        write_registry_diff(gcs_bucket_manager, registry_name, diff)
    inputs = staged.inputs.model_copy(update={"registry_generation": generation})
    if inputs != staged.previous_inputs:
        write_registry_inputs(gcs_bucket_manager, registry_name, inputs, if_generation_match=staged.inputs_generation)
    url = gcs_bucket_manager.public_url(registry_path(registry_name))
    return PublishOutcome(url=url, published=published, size=len(staged.payload), diff=diff, generation=generation)


def publish_status(outcome: PublishOutcome) -> str:
    return f"published (generation {outcome.generation})" if outcome.published else "unchanged (same bytes)"


def _published_output(context: AssetExecutionContext, staged: StagedRegistry, outcome: PublishOutcome) -> Output[str]:
    context.log.info(f"{staged.registry_name} registry {publish_status(outcome)}: {outcome.url}")
    return Output(
        outcome.url,
        metadata={
            "url": MetadataValue.url(outcome.url),
            "published": publish_status(outcome),
            "sources": staged.count("source"),
            "destinations": staged.count("destination"),
            "bytes": outcome.size,
            "registry_diff": MetadataValue.md(diff_markdown(outcome.diff)),
            "added": len(outcome.diff["added"]),
            "removed": len(outcome.diff["removed"]),
            "version_changes": len(outcome.diff["changed"]),
            "preview": MetadataValue.md(entries_preview(staged.connectors)),
        },
    )


def audit_and_publish(
    context: AssetExecutionContext,
    asset_name: str,
    staged: StagedRegistry,
    gcs_bucket_manager: GcsBucketManager,
    policy: RegistryPublishPolicy,
) -> Iterator[AssetCheckResult | Output[str]]:
    """The safety checks' results first (recorded even when the audit refuses the publish), then the
    publish itself, only when every check passed."""
    audit = publish_safety_checks(_facts(staged, policy))
    yield from _check_results(asset_name, audit)
    outcome = publish_registry(staged, gcs_bucket_manager, policy, audit)
    yield _published_output(context, staged, outcome)


@asset(
    kinds={"gcs", "json"},
    check_specs=safety_check_specs("persisted_oss_registry"),
    description=(
        f"Publishes registries/v0/{registry_file_name('oss')} once the staged registry passes its safety checks."
    ),
)
def persisted_oss_registry(
    context: AssetExecutionContext,
    latest_oss_registry_entries: StagedRegistry,
    gcs_bucket_manager: GcsBucketManager,
    registry_publish_policy: RegistryPublishPolicy,
) -> Iterator[AssetCheckResult | Output[str]]:
    yield from audit_and_publish(
        context, "persisted_oss_registry", latest_oss_registry_entries, gcs_bucket_manager, registry_publish_policy
    )


@asset(
    kinds={"gcs", "json"},
    check_specs=safety_check_specs("persisted_cloud_registry"),
    description=(
        f"Publishes registries/v0/{registry_file_name('cloud')} once the staged registry passes its safety checks."
    ),
)
def persisted_cloud_registry(
    context: AssetExecutionContext,
    latest_cloud_registry_entries: StagedRegistry,
    gcs_bucket_manager: GcsBucketManager,
    registry_publish_policy: RegistryPublishPolicy,
) -> Iterator[AssetCheckResult | Output[str]]:
    yield from audit_and_publish(
        context, "persisted_cloud_registry", latest_cloud_registry_entries, gcs_bucket_manager, registry_publish_policy
    )
