"""Yanked versions (SPEC §6): which version a registry lists for a connector whose `latest/`
version is withdrawn, what the yank markers in the bucket changed, and how a registry build swaps
entries accordingly. Plain functions; the assets read the markers and the manifest, and call these."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from orchestrator.layout import (
    LATEST_FOLDER,
    METADATA_FILE_NAME,
    METADATA_FOLDER,
    RELEASE_CANDIDATE_FOLDER,
    entry_path,
    folder_of,
    is_versioned_metadata,
    is_yank_marker,
    metadata_path,
    version_folder_parts,
)
from orchestrator.logic.incremental import ScanPlan
from orchestrator.logic.versions import parse_version
from orchestrator.models.state import EntryManifest, YankMarker
from orchestrator.models.steps import YankedConnector, YankSubstitution

# A reason is a line for people; a marker holding more is cut (it is still a yank).
MAX_REASON_LENGTH = 500
NO_REASON = "no reason given"


@dataclass(frozen=True)
class VersionChoice:
    """The version a registry lists for one connector, and why.

    `version` None: the connector is withdrawn from that registry (no version it may list)."""

    version: str | None
    from_latest: bool
    explanation: str
    yanked_version: str | None = None  # the latest version, when it is yanked
    reason: str | None = None  # the reason it was yanked


def _release_version(tag: str):
    """The parsed version of a plain release (`1.2.3`); None for a pre-release or an unparsable tag."""
    try:
        version = parse_version(tag)
    except ValueError:
        return None
    return version if version.release_rank[0] == 1 else None


def choose_registry_version(
    latest_version: str, yanked: Mapping[str, str], versions_with_entry: Iterable[str], registry: str
) -> VersionChoice:
    """The version `registry` lists for a connector whose `latest/` copies `latest_version`.

    Not yanked: latest/ itself. Yanked: the highest release (not a pre-release, which never becomes
    latest/, and not newer than the yanked latest) that is not yanked and has an entry for this
    registry; none: the connector leaves the registry. `yanked`: version -> reason."""
    if latest_version not in yanked:
        return VersionChoice(latest_version, True, f"latest {latest_version} is not yanked")
    reason = yanked[latest_version]
    ceiling = _release_version(latest_version)
    candidates = []
    for tag in versions_with_entry:
        parsed = _release_version(tag)
        if parsed is None or tag in yanked or (ceiling is not None and parsed > ceiling):
            continue
        candidates.append((parsed, tag))
    if not candidates:
        return VersionChoice(
            None,
            False,
            f"latest {latest_version} is yanked ({reason}) and no other release has a {registry} entry that is "
            "not yanked: the connector leaves the registry",
            latest_version,
            reason,
        )
    chosen = max(candidates)[1]
    return VersionChoice(
        chosen,
        False,
        f"latest {latest_version} is yanked ({reason}): listing {chosen}, the highest release with a {registry} "
        "entry that is not yanked",
        latest_version,
        reason,
    )


def yank_reason(raw: bytes) -> str:
    """The reason a marker holds, as one bounded line of text (any bytes are accepted)."""
    text = " ".join(raw.decode("utf-8", errors="replace").split())
    if len(text) > MAX_REASON_LENGTH:
        text = text[: MAX_REASON_LENGTH - 1] + "…"
    return text or NO_REASON


def markers_to_read(listed: Mapping[str, int], recorded: Mapping[str, YankMarker]) -> tuple[list[str], list[str]]:
    """From a listing of every marker (path -> generation): those new or rewritten since they were
    recorded (to read), and those recorded but gone."""
    to_read = sorted(
        path for path, generation in listed.items() if path not in recorded or recorded[path].generation != generation
    )
    gone = sorted(path for path in recorded if path not in listed)
    return to_read, gone


def yank_marker_changes(
    found: Mapping[str, tuple[bytes, int] | None], recorded: Mapping[str, YankMarker]
) -> dict[str, YankMarker | None]:
    """What the markers read (path -> (bytes, generation), None when absent) change in the record:
    path -> the marker now, or None when a recorded one is gone."""
    changes: dict[str, YankMarker | None] = {}
    for path in sorted(found):
        if not is_yank_marker(path):
            continue
        stored = found[path]
        if stored is None:
            if path in recorded:
                changes[path] = None
            continue
        raw, generation = stored
        marker = YankMarker(generation=generation, reason=yank_reason(raw))
        if recorded.get(path) != marker:
            changes[path] = marker
    return changes


def with_yank_markers(manifest: EntryManifest, changes: Mapping[str, YankMarker | None]) -> EntryManifest:
    if not changes:
        return manifest
    markers = dict(manifest.yank_markers)
    for path, marker in changes.items():
        if marker is None:
            markers.pop(path, None)
        else:
            markers[path] = marker
    return manifest.model_copy(update={"yank_markers": dict(sorted(markers.items()))})


def release_candidates_to_rebuild(changes: Mapping[str, YankMarker | None], manifest: EntryManifest) -> list[str]:
    """The release_candidate/ files whose version was yanked or unyanked: rebuilt (with their latest/),
    so that the latest/ entry carries a release candidate only while it is not yanked."""
    rebuilt = set()
    for path in changes:
        repository_folder, tag = version_folder_parts(path)
        candidate = f"{repository_folder}/{RELEASE_CANDIDATE_FOLDER}/{METADATA_FILE_NAME}"
        record = manifest.files.get(candidate)
        if record is not None and record.docker_image_tag == tag:
            rebuilt.add(candidate)
    return sorted(rebuilt)


def with_rebuilt(plan: ScanPlan, paths: Iterable[str]) -> ScanPlan:
    """The plan with these live files read and rebuilt although they did not change."""
    extra = [path for path in paths if path in plan.live_paths and path not in plan.to_read]
    return dataclasses.replace(plan, to_read=[*plan.to_read, *extra]) if extra else plan


def yanked_version_folders(manifest: EntryManifest) -> set[str]:
    """`metadata/<repo>/<version>` of every yanked version."""
    return {folder_of(path) for path in manifest.yank_markers}


def yanked_connectors(manifest: EntryManifest) -> list[YankedConnector]:
    """Every connector with at least one yanked version, with what a registry build needs to choose
    its version: the latest/ version, the yanked versions, and each registry's versioned entries."""
    if not manifest.yank_markers:
        return []
    yanked: dict[str, dict[str, str]] = {}
    for path, marker in manifest.yank_markers.items():
        repository_folder, tag = version_folder_parts(path)
        yanked.setdefault(repository_folder, {})[tag] = marker.reason
    connectors = {
        folder: YankedConnector(repository_folder=folder, yanked=dict(sorted(versions.items())))
        for folder, versions in yanked.items()
    }
    for path, record in manifest.files.items():
        repository_folder, tag = version_folder_parts(path)
        connector = connectors.get(repository_folder)
        if connector is None:
            continue
        if tag == LATEST_FOLDER:
            connector.latest_version = record.docker_image_tag
            connector.definition_id = record.definition_id
            connector.connector_type = record.connector_type
        elif is_versioned_metadata(path):
            for registry, outcome in record.registries.items():
                # A failed rebuild keeps the last good entry in place: it is there to be listed.
                if outcome.status != "disabled" and outcome.generation is not None:
                    connector.versioned_entries.setdefault(registry, {})[tag] = outcome.generation
    return [connectors[folder] for folder in sorted(connectors)]


@dataclass(frozen=True)
class RegistryYankPlan:
    generations: dict[str, int]  # entry path -> generation: the entries the registry is built from
    substitutions: list[YankSubstitution] = field(default_factory=list)

    @property
    def withdrawn_definition_ids(self) -> set[str]:
        return {item.definition_id for item in self.substitutions if item.listed_version is None and item.definition_id}


def plan_registry_yanks(
    registry: str, latest_generations: Mapping[str, int], connectors: Sequence[YankedConnector]
) -> RegistryYankPlan:
    """The entries a registry is built from once yanks are applied: a connector whose latest/ is
    yanked has its latest/ entry replaced by the chosen version's entry, or left out.
    `latest_generations`: path -> generation of every latest/ entry of this registry."""
    generations = dict(latest_generations)
    substitutions = []
    for connector in connectors:
        if connector.latest_version is None:
            continue  # no latest/ (or its version is unknown): nothing is listed from latest/ to replace
        entries = connector.versioned_entries.get(registry, {})
        choice = choose_registry_version(connector.latest_version, connector.yanked, entries, registry)
        if choice.from_latest:
            continue
        repository = connector.repository_folder.removeprefix(f"{METADATA_FOLDER}/")
        generations.pop(entry_path(metadata_path(repository, LATEST_FOLDER), registry), None)
        if choice.version is not None:
            generations[entry_path(metadata_path(repository, choice.version), registry)] = entries[choice.version]
        substitutions.append(
            YankSubstitution(
                connector.repository_folder,
                connector.definition_id,
                connector.latest_version,
                choice.reason or NO_REASON,
                choice.version,
            )
        )
    return RegistryYankPlan(generations, substitutions)


def yank_diff_items(substitutions: Sequence[YankSubstitution], diff: Mapping[str, list[dict]]) -> list[dict]:
    """The yanks behind this publish's changes: a connector now listed at another version, or gone,
    because its latest version is yanked. Each: the connector's summary, `from` (the yanked version),
    `to` (the version listed now, None when withdrawn) and `reason`."""
    touched = {item["definitionId"]: item for kind in ("changed", "removed") for item in diff.get(kind, [])}
    items = []
    for substitution in substitutions:
        summary = touched.get(substitution.definition_id or "")
        if summary is None:
            continue
        shown = {key: summary.get(key) for key in ("connectorType", "definitionId", "dockerRepository", "name")}
        items.append(
            {
                **shown,
                "from": substitution.yanked_version,
                "to": substitution.listed_version,
                "reason": substitution.reason,
            }
        )
    return sorted(items, key=lambda item: str(item["dockerRepository"]))
