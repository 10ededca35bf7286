"""Registries from entries, their safety checks, and the diff between two registries."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import orjson
from pydantic import ValidationError

from orchestrator.logic.secrets import secret_property_names
from orchestrator.logic.serialization import embedded_json, to_json_bytes
from orchestrator.logic.transform import entry_connector_type, entry_definition_id
from orchestrator.models.registry import (
    ConnectorRegistryDestinationDefinition,
    ConnectorRegistrySourceDefinition,
    ConnectorRegistryV0,
    RegistryEntryBase,
)
from orchestrator.models.steps import DuplicateResolution, EntryToCheck


def build_registry(entries_by_path: Mapping[str, dict]) -> dict:
    """`{"destinations": [...], "sources": [...]}`, each ordered by the entry's bucket path."""
    registry: dict[str, list] = {"destinations": [], "sources": []}
    for path in sorted(entries_by_path):
        entry = entries_by_path[path]
        registry["sources" if entry_connector_type(entry) == "source" else "destinations"].append(entry)
    return registry


# Where a registry holds an entry's spec: {"sources": [{"spec": ...}]}.
SPEC_DEPTH_IN_REGISTRY = 3


def with_spec_embedded(entry: dict) -> tuple[dict, set[str]]:
    """The entry with its spec (most of its size) already serialised as the registry will hold it,
    and the spec's secret property names, which the secrets mask needs from it."""
    spec = entry.get("spec")
    if not isinstance(spec, dict):
        return entry, secret_property_names(spec or {})
    return {**entry, "spec": embedded_json(spec, SPEC_DEPTH_IN_REGISTRY)}, secret_property_names(spec)


def entry_secret_names(
    entries_by_path: Mapping[str, dict], known: Mapping[str, tuple[dict, set[str]]]
) -> dict[str, set[str]]:
    """Entry path -> the secret property names of its spec: taken from `known` (path -> (entry,
    names)) where the registry holds that very entry, read from the spec otherwise (a spec already
    serialised by `with_spec_embedded` always has its names in `known`)."""
    names: dict[str, set[str]] = {}
    for path, entry in entries_by_path.items():
        recorded = known.get(path)
        if recorded is not None and recorded[0] is entry:
            names[path] = recorded[1]
        else:
            spec = entry.get("spec")
            assert not isinstance(spec, orjson.Fragment), f"{path}: an embedded spec's names are known"
            names[path] = secret_property_names(spec or {})
    return names


def registry_entries(registry: dict | None) -> list[dict]:
    if not registry:
        return []
    return [*registry.get("sources", []), *registry.get("destinations", [])]


def connector_summary(entry: dict) -> dict:
    return {
        "definitionId": entry_definition_id(entry),
        "name": entry.get("name"),
        "dockerRepository": entry.get("dockerRepository"),
        "dockerImageTag": entry.get("dockerImageTag"),
        "connectorType": entry_connector_type(entry),
    }


def _problems(error: ValidationError, prefix: str = "") -> list[str]:
    return [f"{prefix}{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors()]


def schema_problems(payload: bytes) -> list[str]:
    """Problems of the registry exactly as it would be published (its serialised bytes)."""
    try:
        ConnectorRegistryV0.model_validate_json(payload)
    except ValidationError as error:
        return _problems(error)
    return []


@functools.cache
def registry_schema_fingerprint() -> str:
    """Changes whenever the registry model would accept or refuse something else."""
    schema = ConnectorRegistryV0.model_json_schema()
    return hashlib.sha256(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)).hexdigest()


_ENTRY_MODELS: dict[str, type[RegistryEntryBase]] = {
    "sources": ConnectorRegistrySourceDefinition,
    "destinations": ConnectorRegistryDestinationDefinition,
}


def entries_to_check(registry: Mapping[str, Sequence[dict]], checked_before: Iterable[dict]) -> list[EntryToCheck]:
    """The registry's entries other than `checked_before` (the very objects of a registry that
    passed the schema check against the same model), each serialised as the registry writes it."""
    skip = {id(entry) for entry in checked_before}
    return [
        EntryToCheck(kind, index, to_json_bytes(entry))
        for kind in ("destinations", "sources")
        for index, entry in enumerate(registry[kind])
        if id(entry) not in skip
    ]


def entry_schema_problems(entries: Iterable[EntryToCheck]) -> list[str]:
    """As `schema_problems` would name them in the whole registry (`sources.<index>.<field>`)."""
    problems: list[str] = []
    for entry in entries:
        try:
            _ENTRY_MODELS[entry.kind].model_validate_json(entry.payload)
        except ValidationError as error:
            problems += _problems(error, f"{entry.kind}.{entry.index}.")
    return problems


def duplicate_definition_ids(connectors: Sequence[dict]) -> list[str]:
    duplicates = []
    seen: dict[tuple[str, str], str] = {}
    for connector in connectors:
        kind = "sources" if connector["connectorType"] == "source" else "destinations"
        key = (kind, connector["definitionId"])
        if key in seen:
            duplicates.append(
                f"{kind}: {connector['definitionId']} is both {seen[key]} and {connector['dockerRepository']}"
            )
        seen.setdefault(key, str(connector["dockerRepository"]))
    return duplicates


def _identity(entry: dict) -> tuple[str, str]:
    return entry_connector_type(entry), entry_definition_id(entry)


def resolve_duplicate_definition_ids(
    entries_by_path: Mapping[str, dict], changed_at: Mapping[str, int], previous_by_path: Mapping[str, dict]
) -> tuple[dict[str, dict], list[DuplicateResolution]]:
    """One connector per definition id, so that one bad file never stops a registry from publishing.
    `changed_at`: entry path -> generation (a later write, a later change); `previous_by_path`: entry
    path -> the entry the published registry holds for that path."""
    resolved = dict(entries_by_path)
    resolutions: list[DuplicateResolution] = []
    claims: dict[tuple[str, str], list[str]] = {}
    for path, entry in resolved.items():
        claims.setdefault(_identity(entry), []).append(path)
    for identity, paths in sorted(claims.items()):
        if len(paths) < 2:
            continue
        keeper, *offenders = sorted(paths, key=lambda path: (changed_at.get(path, 0), path))
        for offender in offenders:
            previous = previous_by_path.get(offender)
            taken = {_identity(entry) for path, entry in resolved.items() if path != offender}
            if previous is not None and _identity(previous) not in taken:
                resolved[offender] = previous
                outcome = "kept its previous entry"
            else:
                del resolved[offender]
                outcome = "left out"
            resolutions.append(
                DuplicateResolution(
                    connector_type=identity[0],
                    definition_id=identity[1],
                    kept=str(entries_by_path[keeper].get("dockerRepository")),
                    offender=str(entries_by_path[offender].get("dockerRepository")),
                    offender_entry=offender,
                    outcome=outcome,
                )
            )
    return resolved, resolutions


@dataclass
class DropAnalysis:
    """Connectors that the new registry no longer has, split by whether their metadata explains it."""

    previous_count: int
    explained: list[dict] = field(default_factory=list)
    unexplained: list[dict] = field(default_factory=list)
    yanked: list[dict] = field(default_factory=list)  # every version they could list is yanked

    @property
    def unexplained_share(self) -> float:
        return len(self.unexplained) / self.previous_count if self.previous_count else 0.0

    def describe(self, connectors: Iterable[dict]) -> str:
        return ", ".join(f"{item['name']} ({item['dockerRepository']}, {item['definitionId']})" for item in connectors)


def registry_connectors(registry: dict | None) -> list[dict]:
    """A registry reduced to what the loss check and the diff compare: one summary per connector."""
    return [connector_summary(entry) for entry in registry_entries(registry)]


def analyse_drops(
    previous_connectors: Sequence[dict],
    connectors: Sequence[dict],
    disabled_definition_ids: set[str],
    withdrawn_definition_ids: Iterable[str] = (),
) -> DropAnalysis:
    """A connector may leave a registry only when its metadata disables that registry, or when every
    version it could list is yanked."""
    new_ids = {connector["definitionId"] for connector in connectors}
    withdrawn = set(withdrawn_definition_ids)
    analysis = DropAnalysis(previous_count=len(previous_connectors))
    for connector in previous_connectors:
        if connector["definitionId"] in new_ids:
            continue
        if connector["definitionId"] in disabled_definition_ids:
            analysis.explained.append(connector)
        elif connector["definitionId"] in withdrawn:
            analysis.yanked.append(connector)
        else:
            analysis.unexplained.append(connector)
    return analysis


def diff_registries(previous_connectors: Sequence[dict], connectors: Sequence[dict], registry_name: str) -> dict:
    before = {connector["definitionId"]: connector for connector in previous_connectors}
    after = {connector["definitionId"]: connector for connector in connectors}
    changed = []
    for definition_id in sorted(before.keys() & after.keys(), key=lambda key: str(after[key]["dockerRepository"])):
        old, current = before[definition_id], after[definition_id]
        if (old["dockerRepository"], old["dockerImageTag"]) != (current["dockerRepository"], current["dockerImageTag"]):
            summary = {key: value for key, value in current.items() if key != "dockerImageTag"}
            changed.append({**summary, "from": old["dockerImageTag"], "to": current["dockerImageTag"]})

    def summaries(connectors: Mapping[str, dict], ids: set[str]) -> list[dict]:
        return sorted((connectors[key] for key in ids), key=lambda item: str(item["dockerRepository"]))

    return {
        "registry": registry_name,
        "added": summaries(after, after.keys() - before.keys()),
        "removed": summaries(before, before.keys() - after.keys()),
        "changed": changed,
    }


def diff_markdown(diff: dict) -> str:
    lines = [
        (
            f"**{diff['registry']} registry**: {len(diff['added'])} added, {len(diff['removed'])} removed, "
            f"{len(diff['changed'])} version changes"
        ),
        "",
    ]
    if not (diff["added"] or diff["removed"] or diff["changed"]):
        return lines[0] + "\n\nNo change."
    lines += ["| change | connector | image |", "|---|---|---|"]
    for item in diff["added"]:
        lines.append(f"| added | {item['name']} | {item['dockerRepository']}:{item['dockerImageTag']} |")
    for item in diff["removed"]:
        lines.append(f"| removed | {item['name']} | {item['dockerRepository']}:{item['dockerImageTag']} |")
    for item in diff["changed"]:
        lines.append(f"| {item['from']} → {item['to']} | {item['name']} | {item['dockerRepository']} |")
    for item in diff.get("yanked", []):
        lines.append(f"| {yank_text(item)} | {item['name']} | {item['dockerRepository']} |")
    return "\n".join(lines)


def yank_text(item: dict) -> str:
    """`yanked: 1.3.0 → 1.2.3 (reason)`, or `→ withdrawn` when no version is left to list."""
    return f"yanked: {item['from']} → {item['to'] or 'withdrawn'} ({item['reason']})"


@dataclass(frozen=True)
class SafetyCheck:
    name: str
    passed: bool
    description: str
    metadata: dict[str, int | float] = field(default_factory=dict)  # the figures the verdict rests on


@dataclass(frozen=True)
class StagedFacts:
    """What the safety checks look at: the staged registry as the bytes that would be published and
    its connectors, the connectors of the published one, those whose metadata disables this
    registry, and the allowed share of unexplained loss."""

    registry_name: str
    payload: bytes
    connectors: Sequence[dict]
    previous_connectors: Sequence[dict]
    disabled_definition_ids: set[str]
    max_unexplained_drop_share: float
    withdrawn_definition_ids: set[str] = field(default_factory=set)  # every listable version yanked
    # None: the schema check reads the whole payload. Otherwise the only entries it checks: the
    # others are those of the published registry, which passed it against the same model.
    entries_to_check: Sequence[EntryToCheck] | None = None


def check_schema_valid(facts: StagedFacts) -> SafetyCheck:
    """Every entry matches the registry definition schema."""
    if facts.entries_to_check is None:
        problems = schema_problems(facts.payload)
        checked = len(facts.connectors)
    else:
        problems = entry_schema_problems(facts.entries_to_check)
        checked = len(facts.entries_to_check)
    description = "; ".join(problems) or (
        f"{len(facts.connectors)} entries match the registry schema"
        + ("" if checked == len(facts.connectors) else f" ({checked} checked now, the others as published)")
    )
    return SafetyCheck(
        "schema_valid",
        not problems,
        description,
        {"connectors": len(facts.connectors), "checked_now": checked, "schema_problems": len(problems)},
    )


def check_no_duplicate_definition_ids(facts: StagedFacts) -> SafetyCheck:
    """No definition id appears twice among sources or destinations."""
    duplicates = duplicate_definition_ids(facts.connectors)
    description = "; ".join(duplicates) or "every definition id appears once"
    metadata: dict[str, int | float] = {"connectors": len(facts.connectors), "duplicates": len(duplicates)}
    return SafetyCheck("no_duplicate_definition_ids", not duplicates, description, metadata)


def check_not_empty(facts: StagedFacts) -> SafetyCheck:
    """The registry has at least one connector."""
    size = len(facts.connectors)
    description = f"{size} connectors" if size else f"the {facts.registry_name} registry would be empty"
    return SafetyCheck("not_empty", size > 0, description, {"connectors": size})


def check_no_unexplained_loss(facts: StagedFacts) -> SafetyCheck:
    """Connectors leave only when their metadata disables the registry, within the configured share."""
    drops = analyse_drops(
        facts.previous_connectors, facts.connectors, facts.disabled_definition_ids, facts.withdrawn_definition_ids
    )
    limit = facts.max_unexplained_drop_share
    if not drops.unexplained:
        text = "no connector left the registry without its metadata disabling it"
    else:
        text = (
            f"{len(drops.unexplained)} of {drops.previous_count} connectors ({drops.unexplained_share:.1%}) "
            f"would leave the {facts.registry_name} registry without their metadata disabling it (limit {limit:.0%}): "
            f"{drops.describe(drops.unexplained)}"
        )
    if drops.explained:
        text += f"; disabled by their metadata: {drops.describe(drops.explained)}"
    if drops.yanked:
        text += f"; every version yanked: {drops.describe(drops.yanked)}"
    metadata = {
        "previous_connectors": drops.previous_count,
        "connectors": len(facts.connectors),
        "explained_losses": len(drops.explained) + len(drops.yanked),
        "yanked_losses": len(drops.yanked),
        "unexplained_losses": len(drops.unexplained),
        "unexplained_share": round(drops.unexplained_share, 4),
        "max_unexplained_share": limit,
    }
    return SafetyCheck("no_unexplained_loss", not drops.unexplained or drops.unexplained_share <= limit, text, metadata)


# The properties a staged registry must have before it may replace the published one, by check
# name; each function's docstring says what it asserts.
SAFETY_CHECKS: dict[str, Callable[[StagedFacts], SafetyCheck]] = {
    "schema_valid": check_schema_valid,
    "no_duplicate_definition_ids": check_no_duplicate_definition_ids,
    "not_empty": check_not_empty,
    "no_unexplained_loss": check_no_unexplained_loss,
}


def publish_safety_checks(facts: StagedFacts) -> list[SafetyCheck]:
    return [check(facts) for check in SAFETY_CHECKS.values()]
