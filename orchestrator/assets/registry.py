"""Group `registry`: the `latest/` entries of each registry are staged, audited by blocking asset
checks, and only then published (write, audit, publish)."""

import hashlib
import json
from dataclasses import dataclass, field
from typing import Optional

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetIn,
    Failure,
    MetadataValue,
    Output,
    asset,
    asset_check,
)

from orchestrator.assets.metadata import ENTRY_MANIFEST_PATH
from orchestrator.assets.registry_entry import RegistryEntryResult
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
from orchestrator.models.state import RegistryInput, RegistryInputs
from orchestrator.resources import GcsBlobListing, GcsBucketManager, GcsFileManager, RegistryPublishPolicy
from orchestrator.settings import STATE_FOLDER


def registry_file_name(registry_name: str) -> str:
    return f"{registry_name}_registry.json"


def registry_inputs_path(registry_name: str) -> str:
    return f"{STATE_FOLDER}/{registry_name}_registry_inputs.json"


def registry_diff_path(registry_name: str) -> str:
    return f"{STATE_FOLDER}/{registry_name}_registry_diff.json"


@dataclass
class StagedRegistry:
    """A fully built registry, not yet published, with what is needed to audit and publish it."""

    registry_name: str
    # Exactly the bytes publishing writes: the checks audit these, and a step that loads the staged
    # registry unpickles one bytes object instead of every entry's nested spec.
    payload: bytes
    connectors: list[dict]  # one summary per connector (logic.registry.connector_summary), sources first
    secret_property_names: list[str]  # of every spec in the registry, for the secrets mask
    previous_connectors: list[dict]  # the published registry, reduced to what the checks and the diff need
    previous_generation: int
    previous_sha256: Optional[str]
    inputs: RegistryInputs
    previous_inputs: RegistryInputs
    inputs_generation: int
    disabled_definition_ids: set[str] = field(default_factory=set)
    downloaded_entries: int = 0
    reused_entries: int = 0

    def count(self, connector_type: str) -> int:
        return sum(1 for connector in self.connectors if connector["connectorType"] == connector_type)


def _read_json(gcs_bucket_manager: GcsBucketManager, path: str) -> tuple[Optional[bytes], Optional[dict], int]:
    stored = gcs_bucket_manager.read(path)
    if stored is None:
        return None, None, 0
    raw, generation = stored
    try:
        return raw, json.loads(raw), generation
    except json.JSONDecodeError as error:
        raise Failure(f"gs://{gcs_bucket_manager.bucket_name}/{path} is not valid JSON ({error}); refusing to build on it") from error


def stage_registry(
    registry_name: str,
    entry_listing: GcsBlobListing,
    gcs_bucket_manager: GcsBucketManager,
    registry_directory_manager: GcsFileManager,
    entries: RegistryEntryResult,
) -> StagedRegistry:
    published_path = registry_directory_manager.path_of(registry_file_name(registry_name))
    previous_raw, previous, previous_generation = _read_json(gcs_bucket_manager, published_path)
    _, inputs_data, inputs_generation = _read_json(gcs_bucket_manager, registry_inputs_path(registry_name))
    inputs = RegistryInputs.model_validate(inputs_data) if inputs_data else RegistryInputs()

    # Which latest/ entries exist, at which generation: a full run lists them (and so also sees
    # entries it did not write); a run on the sensor's named files takes them from the manifest the
    # entries step just wrote, so that its cost does not grow with the bucket.
    if entries.full_scan:
        generations = {blob.name: blob.generation for blob in entry_listing.list()}
    else:
        generations = dict(entries.entry_generations[registry_name])

    # Entries unchanged since the published registry was built are taken from it, not downloaded again.
    reusable: dict[str, dict] = {}
    if previous is not None and inputs.registry_generation == previous_generation:
        published = {(entry_connector_type(entry), entry_definition_id(entry)): entry for entry in registry_entries(previous)}
        for path, generation in generations.items():
            known = inputs.entries.get(path)
            if known and known.generation == generation and (known.connector_type, known.definition_id) in published:
                reusable[path] = published[(known.connector_type, known.definition_id)]

    to_download = sorted(path for path in generations if path not in reusable)
    entries_by_path = dict(reusable)
    for path, stored in gcs_bucket_manager.read_many(to_download).items():
        if stored is None:
            raise Failure(
                f"gs://{gcs_bucket_manager.bucket_name}/{path} is missing although its metadata file was built; nothing was published. "
                f"Run again; if it persists, delete gs://{gcs_bucket_manager.bucket_name}/{ENTRY_MANIFEST_PATH} to rebuild every entry"
            )
        raw, generation = stored
        try:
            entries_by_path[path] = json.loads(raw)
        except json.JSONDecodeError as error:
            raise Failure(f"gs://{gcs_bucket_manager.bucket_name}/{path} is not valid JSON ({error})") from error
        generations[path] = generation

    registry = build_registry(entries_by_path)
    new_inputs = RegistryInputs(
        registry_generation=previous_generation,
        entries={
            path: RegistryInput(generation=generations[path], definition_id=entry_definition_id(entry), connector_type=entry_connector_type(entry))
            for path, entry in sorted(entries_by_path.items())
        },
    )
    return StagedRegistry(
        registry_name=registry_name,
        payload=to_json_bytes(registry),
        connectors=registry_connectors(registry),
        secret_property_names=sorted(all_secret_property_names(entry.get("spec") or {} for entry in registry_entries(registry))),
        previous_connectors=registry_connectors(previous),
        previous_generation=previous_generation,
        previous_sha256=hashlib.sha256(previous_raw).hexdigest() if previous_raw is not None else None,
        inputs=new_inputs,
        previous_inputs=inputs,
        inputs_generation=inputs_generation,
        disabled_definition_ids=entries.disabled_definition_ids[registry_name],
        downloaded_entries=len(to_download),
        reused_entries=len(reusable),
    )


def _entries_preview(connectors: list[dict], rows: int = 15) -> str:
    lines = ["| type | name | image | definition id |", "|---|---|---|---|"]
    for item in connectors[:rows]:
        lines.append(f"| {item['connectorType']} | {item['name']} | {item['dockerRepository']}:{item['dockerImageTag']} | {item['definitionId']} |")
    return "\n".join(lines)


def build_registry_assets(registry_name: str) -> list:
    staged_name = f"latest_{registry_name}_registry_entries"
    listing_key = f"latest_{registry_name}_registry_entries_file_blobs"

    @asset(
        name=staged_name,
        required_resource_keys={listing_key, "gcs_bucket_manager", "registry_directory_manager"},
        description=f"The {registry_name} registry built from every latest/{registry_name}.json entry, staged for audit before publishing.",
    )
    def latest_registry_entries(context: AssetExecutionContext, registry_entry: RegistryEntryResult) -> Output[StagedRegistry]:
        staged = stage_registry(
            registry_name,
            getattr(context.resources, listing_key),
            context.resources.gcs_bucket_manager,
            context.resources.registry_directory_manager,
            registry_entry,
        )
        return Output(
            staged,
            metadata={
                "sources": staged.count("source"),
                "destinations": staged.count("destination"),
                "entries_downloaded": staged.downloaded_entries,
                "entries_reused_from_published_registry": staged.reused_entries,
                "preview": MetadataValue.md(_entries_preview(staged.connectors)),
            },
        )

    checks = []
    for check_name, description in (
        ("schema_valid", "Every entry matches the registry definition schema."),
        ("no_duplicate_definition_ids", "No definition id appears twice among sources or destinations."),
        ("not_empty", "The registry has at least one connector."),
        ("no_unexplained_loss", "Connectors leave only when their metadata disables the registry, within the configured share."),
    ):
        checks.append(_safety_check(staged_name, check_name, description))

    @asset(
        name=f"persisted_{registry_name}_registry",
        ins={"staged": AssetIn(staged_name)},
        required_resource_keys={"gcs_bucket_manager", "registry_directory_manager", "registry_publish_policy"},
        description=f"Publishes registries/v0/{registry_file_name(registry_name)} once the staged registry passed its checks.",
    )
    def persisted_registry(context: AssetExecutionContext, staged: StagedRegistry) -> Output[str]:
        outcome = publish_registry(
            staged, context.resources.gcs_bucket_manager, context.resources.registry_directory_manager, context.resources.registry_publish_policy
        )
        context.log.info(f"{registry_name} registry {'published' if outcome.published else 'unchanged'}: {outcome.url}")
        return Output(
            outcome.url,
            metadata={
                "url": MetadataValue.url(outcome.url),
                "published": outcome.published,
                "sources": staged.count("source"),
                "destinations": staged.count("destination"),
                "bytes": outcome.size,
                "registry_diff": MetadataValue.md(diff_markdown(outcome.diff)),
                "added": len(outcome.diff["added"]),
                "removed": len(outcome.diff["removed"]),
                "version_changes": len(outcome.diff["changed"]),
                "preview": MetadataValue.md(_entries_preview(staged.connectors)),
            },
        )

    return [latest_registry_entries, persisted_registry, *checks]


@dataclass
class PublishOutcome:
    url: str
    published: bool
    size: int
    diff: dict


def publish_registry(
    staged: StagedRegistry, gcs_bucket_manager: GcsBucketManager, directory: GcsFileManager, policy: RegistryPublishPolicy
) -> PublishOutcome:
    """Replace the published registry with the staged one, only over the generation read when it was
    staged; identical bytes are not rewritten. The diff and the build inputs are recorded beside."""
    registry_name = staged.registry_name
    # The same audit as the blocking checks, so that no selection can publish around them.
    failing = [check for check in _audit(staged, policy) if not check.passed]
    if failing:
        raise Failure(
            f"refusing to publish the {registry_name} registry; the published one stays in place: "
            + " | ".join(f"{check.name}: {check.description}" for check in failing)
        )
    payload = staged.payload
    published = hashlib.sha256(payload).hexdigest() != staged.previous_sha256
    diff = diff_registries(staged.previous_connectors, staged.connectors, registry_name)
    generation = staged.previous_generation
    if published:
        path = directory.path_of(registry_file_name(registry_name))
        generation = gcs_bucket_manager.write(path, payload, if_generation_match=staged.previous_generation)
        gcs_bucket_manager.write(registry_diff_path(registry_name), to_json_bytes(diff))
    inputs = staged.inputs.model_copy(update={"registry_generation": generation})
    if inputs != staged.previous_inputs:
        gcs_bucket_manager.write(
            registry_inputs_path(registry_name), to_json_bytes(inputs.model_dump(mode="json")), if_generation_match=staged.inputs_generation
        )
    return PublishOutcome(url=directory.public_url(registry_file_name(registry_name)), published=published, size=len(payload), diff=diff)


def _facts(staged: StagedRegistry, policy: RegistryPublishPolicy) -> StagedFacts:
    return StagedFacts(
        staged.registry_name,
        staged.payload,
        staged.connectors,
        staged.previous_connectors,
        staged.disabled_definition_ids,
        policy.max_unexplained_drop_share,
    )


def _audit(staged: StagedRegistry, policy: RegistryPublishPolicy) -> list[SafetyCheck]:
    return publish_safety_checks(_facts(staged, policy))


def _safety_check(staged_name: str, check_name: str, description: str):
    @asset_check(asset=staged_name, name=check_name, blocking=True, description=description, required_resource_keys={"registry_publish_policy"})
    def registry_safety_check(context, staged: StagedRegistry) -> AssetCheckResult:
        check = SAFETY_CHECKS[check_name](_facts(staged, context.resources.registry_publish_policy))
        return AssetCheckResult(
            passed=check.passed, severity=AssetCheckSeverity.ERROR, description=check.description, metadata={"details": check.description}
        )

    return registry_safety_check


oss_registry_assets = build_registry_assets("oss")
cloud_registry_assets = build_registry_assets("cloud")
