"""Group `registry`: the `latest/` entries of each registry are staged, then audited and published
by `persisted_*_registry`, whose blocking safety checks record the audit (write, audit, publish);
then the light index and per-connector documents derived from each published registry, and last the
digest manifest of the whole set."""

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Failure,
    MetadataValue,
    Output,
    TableColumn,
    TableRecord,
    TableSchema,
    asset,
)

from orchestrator.heap import objects_held_before_frozen
from orchestrator.layout import (
    ENTRY_MANIFEST_PATH,
    REGISTRY_MANIFEST_PATH,
    REGISTRY_MANIFEST_SIGNATURE_PATH,
    SECRETS_MASK_PATH,
    connector_documents_folder,
    light_index_path,
    registry_file_name,
    registry_path,
)
from orchestrator.logic.distribution import (
    KnownObject,
    build_manifest,
    connector_documents,
    distribution_checks,
    light_index,
    plan_documents,
    published_object,
)
from orchestrator.logic.incremental import plan_registry_staging, registry_inputs
from orchestrator.logic.registry import (
    SAFETY_CHECKS,
    SafetyCheck,
    StagedFacts,
    build_registry,
    diff_markdown,
    diff_registries,
    entries_to_check,
    entry_secret_names,
    publish_safety_checks,
    registry_connectors,
    registry_entries,
    registry_schema_fingerprint,
    resolve_duplicate_definition_ids,
    with_spec_embedded,
)
from orchestrator.logic.serialization import from_json_bytes, from_own_json_bytes, to_json_bytes
from orchestrator.logic.transform import entry_connector_type, entry_definition_id
from orchestrator.logic.yank import plan_registry_yanks, yank_diff_items
from orchestrator.models.distribution import PublishedObject
from orchestrator.models.state import RegistryDocumentsState
from orchestrator.models.steps import PublishedDocuments, PublishOutcome, RegistryEntryResult, StagedRegistry
from orchestrator.resources.gcs import ConcurrentWriteError, GcsBucketManager, md5_base64
from orchestrator.resources.policy import RegistryPublishPolicy, RegistrySigning
from orchestrator.resources.state import (
    read_documents_state,
    read_json_document,
    read_registry_inputs,
    write_documents_state,
    write_registry_diff,
    write_registry_inputs,
)

PREVIEW_ROWS = 15


@objects_held_before_frozen
def stage_registry(
    registry_name: str, gcs_bucket_manager: GcsBucketManager, entries: RegistryEntryResult
) -> StagedRegistry:
    inputs, inputs_generation = read_registry_inputs(gcs_bucket_manager, registry_name)
    # Inputs with a schema fingerprint were written by this code, which writes registries with orjson.
    own_generation = inputs.registry_generation if inputs.schema_fingerprint else 0
    previous_raw, previous, previous_generation = read_json_document(
        gcs_bucket_manager, registry_path(registry_name), own_generation=own_generation
    )

    # Which latest/ entries exist, at which generation: those of the manifest the entries step just
    # wrote. A full run's listing has already compared every entry with it (and rebuilt any that was
    # not the one recorded), so listing them again would only cost a listing of the whole folder.
    generations = dict(entries.entry_generations[registry_name])
    # A connector whose latest/ version is yanked is listed from the version chosen instead, or not at all.
    yanks = plan_registry_yanks(registry_name, generations, entries.yanked_connectors)
    generations = yanks.generations

    published = {
        (entry_connector_type(entry), entry_definition_id(entry)): entry for entry in registry_entries(previous)
    }
    plan = plan_registry_staging(generations, inputs, previous_generation, published)
    entries_by_path = dict(plan.reusable)
    known_secret_names = {
        path: (entry, set(recorded))
        for path, entry in plan.reusable.items()
        if (recorded := inputs.entries[path].secret_names) is not None
    }
    downloaded = gcs_bucket_manager.read_many(plan.to_download)
    for path in plan.to_download:
        # Each entry's bytes are let go as soon as it is parsed, and its spec once serialised: the
        # step holds one parsed spec at a time, not every one.
        stored = downloaded.pop(path)
        if stored is None:
            raise Failure(
                f"gs://{gcs_bucket_manager.bucket_name}/{path} is missing although its metadata file was built; "
                "nothing was published. "
                f"Run again; if it persists, delete gs://{gcs_bucket_manager.bucket_name}/{ENTRY_MANIFEST_PATH} "
                "to rebuild every entry"
            )
        entry, generations[path] = read_entry_json(gcs_bucket_manager, path, stored)
        entries_by_path[path], names = with_spec_embedded(entry)
        known_secret_names[path] = (entries_by_path[path], names)

    previous_by_path = {
        path: published[(known.connector_type, known.definition_id)]
        for path, known in inputs.entries.items()
        if (known.connector_type, known.definition_id) in published
    }
    entries_by_path, duplicates = resolve_duplicate_definition_ids(entries_by_path, generations, previous_by_path)
    registry = build_registry(entries_by_path)
    identify = {
        path: (entry_connector_type(entry), entry_definition_id(entry)) for path, entry in entries_by_path.items()
    }
    secret_names = entry_secret_names(entries_by_path, known_secret_names)
    fingerprint = registry_schema_fingerprint()
    # The published registry passed the schema check against this model when this code wrote it.
    checked_before = inputs.registry_generation == previous_generation and inputs.schema_fingerprint == fingerprint
    return StagedRegistry(
        registry_name=registry_name,
        payload=to_json_bytes(registry),
        connectors=registry_connectors(registry),
        secret_property_names=sorted(set().union(*secret_names.values())),
        previous_connectors=registry_connectors(previous),
        previous_generation=previous_generation,
        previous_sha256=hashlib.sha256(previous_raw).hexdigest() if previous_raw is not None else None,
        inputs=registry_inputs(entries_by_path, generations, previous_generation, identify, secret_names, fingerprint),
        previous_inputs=inputs,
        inputs_generation=inputs_generation,
        disabled_definition_ids=entries.disabled_definition_ids[registry_name],
        downloaded_entries=len(plan.to_download),
        reused_entries=len(plan.reusable),
        yank_substitutions=yanks.substitutions,
        withdrawn_definition_ids=yanks.withdrawn_definition_ids,
        listed_bucket=entries.full_scan,
        duplicate_resolutions=duplicates,
        entries_to_check=entries_to_check(registry, published.values()) if checked_before and previous else None,
    )


def read_entry_json(gcs_bucket_manager: GcsBucketManager, path: str, stored: tuple[bytes, int]) -> tuple[dict, int]:
    raw, generation = stored
    try:
        return from_json_bytes(raw), generation
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
            "listed_instead_of_yanked_latest": len(staged.yank_substitutions),
            "preview": MetadataValue.md(entries_preview(staged.connectors)),
        },
    )


@asset(
    kinds={"gcs", "json"},
    description="The oss registry built from every latest/oss.json entry, staged for audit before publishing.",
)
def latest_oss_registry_entries(
    registry_entry: RegistryEntryResult, gcs_bucket_manager: GcsBucketManager
) -> Output[StagedRegistry]:
    return _staged_output(stage_registry("oss", gcs_bucket_manager, registry_entry))


@asset(
    kinds={"gcs", "json"},
    description="The cloud registry built from every latest/cloud.json entry, staged for audit before publishing.",
)
def latest_cloud_registry_entries(
    registry_entry: RegistryEntryResult, gcs_bucket_manager: GcsBucketManager
) -> Output[StagedRegistry]:
    return _staged_output(stage_registry("cloud", gcs_bucket_manager, registry_entry))


def _facts(staged: StagedRegistry, policy: RegistryPublishPolicy) -> StagedFacts:
    return StagedFacts(
        staged.registry_name,
        staged.payload,
        staged.connectors,
        staged.previous_connectors,
        staged.disabled_definition_ids,
        policy.max_unexplained_drop_share,
        staged.withdrawn_definition_ids,
        staged.entries_to_check,
    )


CLAIMS_CHECK = "definition_ids_claimed_once"
CLAIM_COLUMNS = ("definition_id", "kept_by", "claimed_by", "outcome")


def safety_check_specs(asset_name: str) -> list[AssetCheckSpec]:
    return [
        *(
            AssetCheckSpec(
                name,
                asset=asset_name,
                blocking=True,
                description=f"{check.__doc__} Audited before the registry is written; a failure publishes nothing.",
            )
            for name, check in SAFETY_CHECKS.items()
        ),
        AssetCheckSpec(
            CLAIMS_CHECK,
            asset=asset_name,
            description=(
                "No two connectors' metadata claim one definition id. A claim never stops the registry: the "
                "connector whose entry changed last keeps the entry published for it before, or is left out."
            ),
        ),
    ]


def claims_check_result(asset_name: str, staged: StagedRegistry) -> AssetCheckResult:
    resolutions = staged.duplicate_resolutions
    rows = [
        TableRecord(
            {
                "definition_id": item.definition_id,
                "kept_by": item.kept,
                "claimed_by": item.offender,
                "outcome": item.outcome,
            }
        )
        for item in resolutions
    ]
    return AssetCheckResult(
        asset_key=asset_name,
        check_name=CLAIMS_CHECK,
        passed=not resolutions,
        severity=AssetCheckSeverity.ERROR,
        description="; ".join(item.describe() for item in resolutions) or "every definition id is claimed once",
        metadata={
            "conflicting_claims": len(resolutions),
            "claims": MetadataValue.table(
                rows,
                schema=TableSchema(columns=[TableColumn(name, "string") for name in CLAIM_COLUMNS]),
            ),
        },
    )


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
    diff["yanked"] = yank_diff_items(staged.yank_substitutions, diff)
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
            "yanked": len(outcome.diff["yanked"]),
            "preview": MetadataValue.md(entries_preview(staged.connectors)),
        },
    )


@objects_held_before_frozen
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
    yield claims_check_result(asset_name, staged)
    for resolution in staged.duplicate_resolutions:
        context.log.error(resolution.describe())
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


# ---------------------------------------------------------------------------------------------
# Distribution (SPEC §8): light index and per-connector documents, then the manifest


def _known_documents(
    staged: StagedRegistry, gcs_bucket_manager: GcsBucketManager, state: RegistryDocumentsState, state_generation: int
) -> dict[str, KnownObject]:
    """What the index and documents in the bucket hold. A run on the sensor's named files takes them
    from the state file, if it was written for the registry this run started from (a publish cut
    short leaves it behind); a run that listed the bucket, or one that cannot trust the state, lists
    the documents too, and so also repairs what someone else changed there."""
    if not staged.listed_bucket and state_generation and state.registry_generation == staged.previous_generation:
        return {path: KnownObject(item.generation, sha256=item.sha256) for path, item in state.objects.items()}
    listed = gcs_bucket_manager.list_blobs(f"{connector_documents_folder(staged.registry_name)}/")
    index = gcs_bucket_manager.describe(light_index_path(staged.registry_name))
    return {
        blob.name: KnownObject(blob.generation, md5=blob.md5_hash) for blob in [*listed, *([index] if index else [])]
    }


def _write_all(gcs_bucket_manager: GcsBucketManager, writes: list[tuple[str, bytes, int]]) -> dict[str, int]:
    """path -> new generation; each write only over the generation known (0: only while absent)."""

    def write(item: tuple[str, bytes, int]) -> tuple[str, int]:
        path, payload, generation = item
        return path, gcs_bucket_manager.write(path, payload, if_generation_match=generation)

    if not writes:
        return {}
    with ThreadPoolExecutor(max_workers=min(gcs_bucket_manager.max_workers, len(writes))) as pool:
        return dict(pool.map(write, writes))


@objects_held_before_frozen
def publish_registry_documents(
    context: AssetExecutionContext, staged: StagedRegistry, gcs_bucket_manager: GcsBucketManager
) -> PublishedDocuments:
    """The light index and one document per connector of the registry just published, audited like
    the registry, written only where their bytes changed; documents of connectors that left are
    deleted."""
    registry_name = staged.registry_name
    live = gcs_bucket_manager.describe(registry_path(registry_name))
    if live is None or live.md5_hash != md5_base64(staged.payload):
        raise Failure(
            f"gs://{gcs_bucket_manager.bucket_name}/{registry_path(registry_name)} is not the registry this run "
            "staged and published (another writer?); no index or document was written"
        )
    registry = from_own_json_bytes(staged.payload)
    index_payload = to_json_bytes(light_index(registry))
    entries, duplicate_problems = connector_documents(registry, registry_name)
    documents = {path: (entry, to_json_bytes(entry)) for path, entry in entries.items()}
    wanted = {light_index_path(registry_name): index_payload, **{path: item[1] for path, item in documents.items()}}
    state, state_generation = read_documents_state(gcs_bucket_manager, registry_name)
    known = _known_documents(staged, gcs_bucket_manager, state, state_generation)
    plan = plan_documents(wanted, known)
    failing = [
        check
        for check in distribution_checks(
            light_index_path(registry_name),
            index_payload,
            documents,
            duplicate_problems,
            len(staged.connectors),
            to_write=plan.write,
        )
        if not check.passed
    ]
    if failing:
        raise Failure(
            f"refusing to publish the {registry_name} light index and documents; those published stay in place: "
            + " | ".join(f"{check.name}: {check.description}" for check in failing)
        )
    generations = {path: known[path].generation for path in plan.unchanged}
    generations.update(
        _write_all(
            gcs_bucket_manager,
            [(path, wanted[path], known[path].generation if path in known else 0) for path in plan.write],
        )
    )
    deleted = []
    for path in plan.delete:
        # Checked first as well: the emulator ignores a delete's generation precondition.
        if gcs_bucket_manager.generation_of(path) != known[path].generation:
            context.log.warning(f"{path} was rewritten since it was published; left in place")
            continue
        try:
            if gcs_bucket_manager.delete(path, if_generation_match=known[path].generation):
                deleted.append(path)
        except ConcurrentWriteError:
            context.log.warning(f"{path} was rewritten since it was published; left in place")
    objects = {path: published_object(wanted[path], generations[path]) for path in sorted(wanted)}
    new_state = RegistryDocumentsState(registry_generation=live.generation, objects=objects)
    if new_state != state:
        write_documents_state(gcs_bucket_manager, registry_name, new_state, if_generation_match=state_generation)
    registry_object = PublishedObject(
        generation=live.generation, sha256=hashlib.sha256(staged.payload).hexdigest(), size=len(staged.payload)
    )
    return PublishedDocuments(
        registry_name=registry_name,
        objects={registry_path(registry_name): registry_object, **objects},
        written=plan.write,
        deleted=deleted,
    )


def _documents_output(
    staged: StagedRegistry, published: PublishedDocuments, gcs_bucket_manager: GcsBucketManager
) -> Output[PublishedDocuments]:
    index = published.objects[light_index_path(staged.registry_name)]
    registry_size = published.objects[registry_path(staged.registry_name)].size
    documents = len(published.objects) - 2
    url = gcs_bucket_manager.public_url(light_index_path(staged.registry_name))
    return Output(
        published,
        metadata={
            "index_url": MetadataValue.url(url),
            "index_bytes": index.size,
            "registry_bytes": registry_size,
            "index_share_of_registry": round(index.size / registry_size, 4) if registry_size else 0.0,
            "connector_documents": documents,
            "written": len(published.written),
            "deleted": len(published.deleted),
            "unchanged": len(published.objects) - 1 - len(published.written),
            "written_paths": MetadataValue.md("\n".join(f"- {path}" for path in published.written[:25]) or "None."),
        },
    )


@asset(
    kinds={"gcs", "json"},
    deps=["persisted_oss_registry"],
    description=(
        "Publishes registries/v0/oss_index.json (the oss registry without specs) and "
        "registries/v0/connectors/oss/<definitionId>.json per connector, from the audited registry; "
        "only documents whose bytes changed are written."
    ),
)
def persisted_oss_registry_documents(
    context: AssetExecutionContext, latest_oss_registry_entries: StagedRegistry, gcs_bucket_manager: GcsBucketManager
) -> Output[PublishedDocuments]:
    published = publish_registry_documents(context, latest_oss_registry_entries, gcs_bucket_manager)
    return _documents_output(latest_oss_registry_entries, published, gcs_bucket_manager)


@asset(
    kinds={"gcs", "json"},
    deps=["persisted_cloud_registry"],
    description=(
        "Publishes registries/v0/cloud_index.json (the cloud registry without specs) and "
        "registries/v0/connectors/cloud/<definitionId>.json per connector, from the audited registry; "
        "only documents whose bytes changed are written."
    ),
)
def persisted_cloud_registry_documents(
    context: AssetExecutionContext, latest_cloud_registry_entries: StagedRegistry, gcs_bucket_manager: GcsBucketManager
) -> Output[PublishedDocuments]:
    published = publish_registry_documents(context, latest_cloud_registry_entries, gcs_bucket_manager)
    return _documents_output(latest_cloud_registry_entries, published, gcs_bucket_manager)


def publish_manifest(
    objects: dict[str, PublishedObject], gcs_bucket_manager: GcsBucketManager, signing: RegistrySigning
) -> tuple[bytes, bool, bool]:
    """Write the signature (when a key is configured; a stale one is removed otherwise), then the
    manifest, each only when its bytes change. Returns (manifest bytes, manifest written, signed)."""
    payload = to_json_bytes(build_manifest(objects).model_dump(mode="json"))
    signature = signing.signature_file(payload)
    stored_signature = gcs_bucket_manager.read(REGISTRY_MANIFEST_SIGNATURE_PATH)
    if signature is not None and (stored_signature is None or stored_signature[0] != signature):
        gcs_bucket_manager.write(
            REGISTRY_MANIFEST_SIGNATURE_PATH,
            signature,
            if_generation_match=stored_signature[1] if stored_signature else 0,
            content_type="text/plain",
        )
    elif signature is None and stored_signature is not None:
        gcs_bucket_manager.delete(REGISTRY_MANIFEST_SIGNATURE_PATH)
    current = gcs_bucket_manager.read(REGISTRY_MANIFEST_PATH)
    written = current is None or current[0] != payload
    if written:
        gcs_bucket_manager.write(REGISTRY_MANIFEST_PATH, payload, if_generation_match=current[1] if current else 0)
    return payload, written, signature is not None


@asset(
    kinds={"gcs", "json"},
    deps=["specs_secrets_mask_yaml"],
    description=(
        "Writes registries/v0/manifest.json last: sha256, size and generation of every object published under "
        "registries/v0/ (registries, light indexes, connector documents, secrets mask); with REGISTRY_SIGNING_KEY "
        "also manifest.json.sig. Rewritten only when it changes."
    ),
)
def persisted_registry_manifest(
    context: AssetExecutionContext,
    persisted_oss_registry_documents: PublishedDocuments,
    persisted_cloud_registry_documents: PublishedDocuments,
    gcs_bucket_manager: GcsBucketManager,
    registry_signing: RegistrySigning,
) -> Output[str]:
    mask = gcs_bucket_manager.read(SECRETS_MASK_PATH)
    if mask is None:
        raise Failure(f"gs://{gcs_bucket_manager.bucket_name}/{SECRETS_MASK_PATH} is missing; no manifest written")
    objects = {
        **persisted_oss_registry_documents.objects,
        **persisted_cloud_registry_documents.objects,
        SECRETS_MASK_PATH: published_object(*mask),
    }
    payload, written, signed = publish_manifest(objects, gcs_bucket_manager, registry_signing)
    url = gcs_bucket_manager.public_url(REGISTRY_MANIFEST_PATH)
    context.log.info(f"manifest of {len(objects)} objects {'written' if written else 'unchanged'}: {url}")
    return Output(
        url,
        metadata={
            "url": MetadataValue.url(url),
            "published": written,
            "signed": signed,
            "objects": len(objects),
            "published_bytes": sum(item.size for item in objects.values()),
            "manifest_bytes": len(payload),
        },
    )
