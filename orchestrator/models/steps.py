"""What the steps of `generate_registry` hand each other (through the IO manager): plain
dataclasses, kept small because each is pickled between steps."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field

from orchestrator.layout import REGISTRY_NAMES, folder_of
from orchestrator.models.distribution import PublishedObject
from orchestrator.models.state import RegistryInputs, YankMarker


@dataclass
class MetadataFile:
    """One metadata file as read in this run.

    A valid file's `data` mapping (exactly as written: the registry carries every field through) is
    kept pickled: ~1.6 KB instead of ~9 KB of dicts, a cheaper hand-over between steps, and the
    entries step unpickles each document only while it builds that file's entries."""

    path: str
    generation: int
    etag: str
    data_pickle: bytes | None = None
    problems: list[str] = field(default_factory=list)
    icon_url: str | None = None
    docker_image: tuple[str, str] = ("", "")  # (dockerRepository, dockerImageTag) of a valid file
    updated: str = ""  # the object's update time, ISO 8601 UTC
    warnings: list[str] = field(default_factory=list)  # problems that do not refuse the file
    # registry -> (dockerRepository, dockerImageTag) of its entry, for the registries the file enables
    entry_images: dict[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def parsed(
        cls,
        path: str,
        generation: int,
        etag: str,
        data: dict | None,
        problems: list[str],
        updated: str = "",
        warnings: list[str] | None = None,
        entry_images: dict[str, tuple[str, str]] | None = None,
    ) -> MetadataFile:
        if data is None:
            return cls(path, generation, etag, problems=problems, updated=updated, warnings=warnings or [])
        image = (str(data.get("dockerRepository")), str(data.get("dockerImageTag")))
        return cls(
            path,
            generation,
            etag,
            pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL),
            problems,
            docker_image=image,
            updated=updated,
            warnings=warnings or [],
            entry_images=entry_images or {},
        )

    def load_data(self) -> dict:
        if self.data_pickle is None:
            raise ValueError(f"{self.path} was not parsed: {'; '.join(self.problems)}")
        return pickle.loads(self.data_pickle)

    @property
    def folder(self) -> str:
        return folder_of(self.path)

    @property
    def valid(self) -> bool:
        return self.data_pickle is not None and not self.problems


@dataclass
class MetadataDefinitions:
    """The bucket's metadata files: those new or changed since they were processed are parsed.
    The manifest itself is not carried along (the entries step reads it again, checking its
    generation): passing 12,000 records from step to step cost more than reading them twice."""

    live_paths: set[str]  # every metadata file in the bucket, as far as this run knows
    manifest_generation: int
    changed: list[MetadataFile]
    deleted: list[str]
    known_invalid: dict[str, list[str]] = field(default_factory=dict)  # invalid files not read again in this run
    full_scan: bool = True  # False: only the files the sensor named were looked at
    # yank marker path -> the marker now (None: removed), for markers new, rewritten or gone
    yank_changes: dict[str, YankMarker | None] = field(default_factory=dict)
    # entry path -> generation listed, of entries that are not the ones the manifest records
    replaced_entries: dict[str, int] = field(default_factory=dict)
    # Every icon the full scan's listing found (None: not listed, as in a run on named files)
    icons: set[str] | None = None

    @property
    def unchanged_count(self) -> int:
        return len(self.live_paths) - len(self.changed)

    def invalid_files(self) -> dict[str, list[str]]:
        """Every currently invalid file: those read now, and unchanged ones known from earlier runs."""
        invalid = {item.path: item.problems for item in self.changed if not item.valid}
        return dict(sorted({**self.known_invalid, **invalid}.items()))

    def warnings(self) -> dict[str, list[str]]:
        """Warnings of the files read in this run."""
        return {item.path: item.warnings for item in self.changed if item.warnings}


@dataclass
class MetadataEntries:
    """What the entries step works on: the valid new or changed files (with icon URLs), the invalid
    ones, the deleted ones, and the generation of the manifest they were compared with."""

    valid: list[MetadataFile]
    invalid: list[MetadataFile]
    deleted: list[str]
    manifest_generation: int
    full_scan: bool
    yank_changes: dict[str, YankMarker | None] = field(default_factory=dict)
    replaced_entries: dict[str, int] = field(default_factory=dict)


@dataclass
class YankedConnector:
    """A connector with yanked versions, as the entry manifest knows it (SPEC §6)."""

    repository_folder: str  # metadata/<dockerRepository>
    yanked: dict[str, str] = field(default_factory=dict)  # version -> reason
    latest_version: str | None = None  # the version latest/ copies; None: no latest/, or not known
    definition_id: str | None = None
    connector_type: str | None = None
    # registry -> version -> generation of that version's entry
    versioned_entries: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class YankSubstitution:
    """A connector whose registry entry is not its latest/ one, because latest/ is yanked."""

    repository_folder: str
    definition_id: str | None
    yanked_version: str
    reason: str
    listed_version: str | None  # None: withdrawn from the registry


@dataclass(frozen=True)
class InvalidFileRow:
    """One problem of an invalid metadata file."""

    file: str
    field: str
    reason: str


@dataclass(frozen=True)
class FailedEntryRow:
    """An entry (one metadata file, one registry) whose last build failed."""

    file: str
    registry: str
    reason: str
    awaited_specs: tuple[str, ...] = ()  # spec files looked for and not in the cache


@dataclass(frozen=True)
class StaleRow:
    """A connector whose `latest/` metadata the published registry does not reflect."""

    file: str  # the latest/ metadata file
    registry: str
    definition_id: str
    metadata_version: str  # dockerImageTag of the latest/ metadata
    reason: str


def _per_registry(factory):
    return field(default_factory=lambda: {name: factory() for name in REGISTRY_NAMES})


@dataclass
class RegistryEntryResult:
    """What the entries step wrote, deleted and failed, and what the registry step needs of the
    manifest as it now stands (not the manifest itself: its records are many, and little is needed)."""

    full_scan: bool = True  # the bucket was listed (else only files named by the sensor were looked at)
    written: dict[str, list[str]] = _per_registry(list)
    deleted: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    override_copies_written: list[str] = field(default_factory=list)
    override_copies_deleted: list[str] = field(default_factory=list)
    # Per registry: path -> generation of every latest/ entry in the bucket, by the manifest.
    entry_generations: dict[str, dict[str, int]] = _per_registry(dict)
    # Per registry: connectors whose current latest/ metadata disables it (they may leave it).
    disabled_definition_ids: dict[str, set[str]] = _per_registry(set)
    manifest_records: int = 0
    yanked_connectors: list[YankedConnector] = field(default_factory=list)
    # Every failed entry in the bucket by the manifest as it now stands (not only this run's).
    failed_entries: list[FailedEntryRow] = field(default_factory=list)


@dataclass(frozen=True)
class DuplicateResolution:
    """Two connectors' metadata claim one definition id: the one whose entry changed last is the
    offender; it keeps the entry the registry published for it before, or is left out."""

    connector_type: str
    definition_id: str
    kept: str  # dockerRepository of the connector that keeps the id
    offender: str  # dockerRepository of the connector that claimed it
    offender_entry: str  # entry path of the offender
    outcome: str  # "kept its previous entry" or "left out"

    def describe(self) -> str:
        return (
            f"{self.offender} claims definition id {self.definition_id} of {self.kept} ({self.connector_type}): "
            f"{self.offender} {self.outcome}"
        )


@dataclass(frozen=True)
class EntryToCheck:
    """One entry of a staged registry, serialised, and where the registry holds it."""

    kind: str  # "sources" or "destinations"
    index: int
    payload: bytes


@dataclass
class StagedRegistry:
    """A fully built registry, not yet published, with what is needed to audit and publish it."""

    registry_name: str
    # Exactly the bytes publishing writes: the checks audit these, and a step that loads the staged
    # registry unpickles one bytes object instead of every entry's nested spec.
    payload: bytes
    connectors: list[dict]  # one summary per connector (logic.registry.connector_summary)
    secret_property_names: list[str]  # of every spec in the registry, for the secrets mask
    previous_connectors: list[dict]  # the published registry, reduced to what the checks and the diff need
    previous_generation: int
    previous_sha256: str | None
    inputs: RegistryInputs
    previous_inputs: RegistryInputs
    inputs_generation: int
    disabled_definition_ids: set[str] = field(default_factory=set)
    downloaded_entries: int = 0
    reused_entries: int = 0
    yank_substitutions: list[YankSubstitution] = field(default_factory=list)
    # connectors left out because no version they could list is free of a yank (they may leave)
    withdrawn_definition_ids: set[str] = field(default_factory=set)
    listed_bucket: bool = True  # False: built from the entry manifest on the sensor's named files
    # Connectors whose metadata claimed another's definition id, and what was published for them instead.
    duplicate_resolutions: list[DuplicateResolution] = field(default_factory=list)
    # The entries the schema check must read; None: all of them, from the payload.
    entries_to_check: list[EntryToCheck] | None = None

    def count(self, connector_type: str) -> int:
        return sum(1 for connector in self.connectors if connector["connectorType"] == connector_type)


@dataclass
class PublishOutcome:
    url: str
    published: bool  # False: the published registry already had these bytes
    size: int
    diff: dict
    generation: int = 0  # of the registry file as it now stands


@dataclass
class PublishedDocuments:
    """What a registry's documents step left published: the registry file, its light index and its
    per-connector documents (path -> object), for the manifest."""

    registry_name: str
    objects: dict[str, PublishedObject]
    written: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
