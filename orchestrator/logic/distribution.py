"""What is published beside a registry (SPEC §8), derived from the audited registry: the light index,
one document per connector, which of them to write or delete, the digest manifest of the whole
published set, and how a downloaded set differs from its manifest. Plain functions."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from orchestrator.layout import connector_document_path
from orchestrator.logic.registry import SafetyCheck, registry_entries
from orchestrator.logic.transform import entry_connector_type, entry_definition_id
from orchestrator.models.distribution import ConnectorRegistryLightIndex, PublishedObject, RegistryManifest
from orchestrator.models.registry import ConnectorRegistryDestinationDefinition, ConnectorRegistrySourceDefinition


def without_spec(entry: dict) -> dict:
    """An entry as the light index holds it: no `spec`, and none in its release candidates."""
    light = {key: value for key, value in entry.items() if key != "spec"}
    releases = light.get("releases")
    candidates = releases.get("releaseCandidates") if isinstance(releases, dict) else None
    if isinstance(releases, dict) and isinstance(candidates, dict):
        light["releases"] = {
            **releases,
            "releaseCandidates": {
                tag: without_spec(candidate) if isinstance(candidate, dict) else candidate
                for tag, candidate in candidates.items()
            },
        }
    return light


def light_index(registry: dict) -> dict:
    """The registry with every spec left out, in the same order."""
    return {kind: [without_spec(entry) for entry in registry.get(kind, [])] for kind in ("destinations", "sources")}


def connector_documents(registry: dict, registry_name: str) -> tuple[dict[str, dict], list[str]]:
    """Document path -> the connector's full entry, and the problems: two connectors (a source and a
    destination) cannot share one definition id's document."""
    documents: dict[str, dict] = {}
    owners: dict[str, str] = {}
    problems = []
    for entry in registry_entries(registry):
        path = connector_document_path(registry_name, entry_definition_id(entry))
        owner = f"{entry_connector_type(entry)} {entry.get('dockerRepository')}"
        if path in documents:
            problems.append(f"{path} would hold both the {owners[path]} and the {owner}")
            continue
        documents[path] = entry
        owners[path] = owner
    return documents, problems


def _schema_problems(label: str, model, payload: bytes) -> list[str]:
    try:
        model.model_validate_json(payload)
    except ValidationError as error:
        return [f"{label}: {'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors()]
    return []


def document_schema_problems(documents: Mapping[str, tuple[dict, bytes]]) -> list[str]:
    """Each document (path -> (entry, bytes)) against the registry definition of its connector type."""
    problems = []
    for path, (entry, payload) in documents.items():
        model = (
            ConnectorRegistrySourceDefinition
            if entry_connector_type(entry) == "source"
            else ConnectorRegistryDestinationDefinition
        )
        problems += _schema_problems(path, model, payload)
    return problems


def distribution_checks(
    index_path: str,
    index_payload: bytes,
    documents: Mapping[str, tuple[dict, bytes]],
    document_problems: Sequence[str],
    connector_count: int,
    to_write: Collection[str] | None = None,
) -> list[SafetyCheck]:
    """The registry's blocking checks, applied to what is derived from it before it is published:
    schema (the light index and every document to write: `to_write`, None for all; one already
    published with the same bytes passed it when it was written), no duplicates (one document per
    connector), not empty, and no loss (every connector of the audited registry has its document)."""
    schema = _schema_problems(index_path, ConnectorRegistryLightIndex, index_payload)
    checked = documents if to_write is None else {path: documents[path] for path in to_write if path in documents}
    schema += document_schema_problems(checked)
    missing = connector_count - len(documents) - len(document_problems)
    return [
        SafetyCheck("schema_valid", not schema, "; ".join(schema[:20]) or "the light index and every document match"),
        SafetyCheck(
            "no_duplicate_definition_ids",
            not document_problems,
            "; ".join(document_problems) or "one document per connector",
        ),
        SafetyCheck("not_empty", bool(documents), f"{len(documents)} connector documents"),
        SafetyCheck(
            "no_unexplained_loss",
            missing == 0,
            f"{missing} connectors of the registry have no document" if missing else "every connector has its document",
        ),
    ]


def md5_base64(payload: bytes) -> str:
    return base64.b64encode(hashlib.md5(payload).digest()).decode("ascii")


def published_object(payload: bytes, generation: int) -> PublishedObject:
    return PublishedObject(generation=generation, sha256=hashlib.sha256(payload).hexdigest(), size=len(payload))


@dataclass(frozen=True)
class KnownObject:
    """An object already in the bucket, as the last publish recorded it (sha256) or a listing shows
    it (md5)."""

    generation: int
    sha256: str | None = None
    md5: str | None = None

    def holds(self, payload: bytes) -> bool:
        if self.sha256 is not None:
            return self.sha256 == hashlib.sha256(payload).hexdigest()
        return self.md5 is not None and self.md5 == md5_base64(payload)


@dataclass(frozen=True)
class DocumentPlan:
    write: list[str] = field(default_factory=list)  # new or changed bytes
    unchanged: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)  # published before, no longer wanted


def plan_documents(wanted: Mapping[str, bytes], known: Mapping[str, KnownObject]) -> DocumentPlan:
    """Write only what differs from what is there; delete what is there and no longer wanted."""
    write: list[str] = []
    unchanged: list[str] = []
    for path in sorted(wanted):
        (unchanged if path in known and known[path].holds(wanted[path]) else write).append(path)
    return DocumentPlan(write, unchanged, sorted(path for path in known if path not in wanted))


def build_manifest(objects: Mapping[str, PublishedObject]) -> RegistryManifest:
    return RegistryManifest(objects=dict(sorted(objects.items())))


@dataclass(frozen=True)
class SetDifferences:
    problems: list[str]  # the set does not match its manifest
    notes: list[str]  # worth saying, not a mismatch


def manifest_differences(
    manifest: RegistryManifest,
    found: Mapping[str, tuple[bytes, int] | None],
    present: set[str],
    unlisted_allowed: set[str],
) -> SetDifferences:
    """How the objects downloaded (path -> (bytes, generation), None when missing) differ from their
    manifest. `present`: every object under the published folder; one the manifest does not list
    (other than `unlisted_allowed`: the manifest and its signature) means the set is not the one
    the manifest describes."""
    problems, notes = [], []
    for path, listed in manifest.objects.items():
        stored = found.get(path)
        if stored is None:
            problems.append(f"{path}: missing (the manifest lists generation {listed.generation})")
            continue
        payload, generation = stored
        digest = hashlib.sha256(payload).hexdigest()
        if digest != listed.sha256 or len(payload) != listed.size:
            problems.append(
                f"{path}: sha256 {digest[:16]}… ({len(payload)} bytes) differs from the manifest's "
                f"{listed.sha256[:16]}… ({listed.size} bytes)"
            )
        elif generation != listed.generation:
            notes.append(f"{path}: same bytes, generation {generation} (the manifest says {listed.generation})")
    for path in sorted(present - set(manifest.objects) - unlisted_allowed):
        problems.append(f"{path}: not listed in the manifest")
    return SetDifferences(problems, notes)
