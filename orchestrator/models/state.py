"""Bookkeeping files of the incremental build, kept in the bucket under `orchestrator_state/`.

Both are bounded by the number of live objects: records of deleted files are pruned each run."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.layout import entry_path, is_latest_metadata
from orchestrator.models.distribution import PublishedObject

EntryStatus = Literal["written", "disabled", "failed"]


class RegistryEntryOutcome(BaseModel):
    """The entry file (`oss.json` / `cloud.json`) beside a metadata file, as the last run left it:
    `written` at `generation`; `disabled` (removed: the metadata turns this registry off); `failed`
    (this build failed; `generation` is the last good entry, kept in place, if there is one).
    With these generations the registry step knows every entry without listing the bucket.
    `copy_path`/`copy_generation`: the override-path copy of this entry that this file wrote and
    owns (SPEC §4.1), removed when the file goes or stops claiming it.
    `specs`: every spec file the build looked up, with the generation it read (0: not in the cache),
    so that a spec arriving or changing rebuilds exactly the entries that use or wait for it."""

    model_config = ConfigDict(extra="forbid")

    status: EntryStatus
    error: str | None = None
    generation: int | None = None
    copy_path: str | None = None
    copy_generation: int | None = None
    specs: dict[str, int] = Field(default_factory=dict)

    @property
    def awaited_specs(self) -> list[str]:
        """The spec files a failed build looked for and did not find."""
        if self.status != "failed":
            return []
        return sorted(path for path, generation in self.specs.items() if not generation)


class ProcessedMetadataFile(BaseModel):
    """What the last run that saw this metadata file (at this generation) made of it."""

    model_config = ConfigDict(extra="forbid")

    generation: int
    etag: str
    valid: bool
    problems: list[str] = Field(default_factory=list)
    definition_id: str | None = None
    connector_type: str | None = None
    # The file's own dockerImageTag: for latest/, the version it copies (a yank of that version withdraws it).
    docker_image_tag: str | None = None
    registries: dict[str, RegistryEntryOutcome] = Field(default_factory=dict)

    @property
    def needs_retry(self) -> bool:
        """Transient outcomes (a spec not yet in the cache, a write conflict) are retried next run;
        an invalid file is not, until it changes."""
        return self.valid and any(outcome.status == "failed" for outcome in self.registries.values())


class YankMarker(BaseModel):
    """A `.yanked` marker as last read: its generation and the reason it holds."""

    model_config = ConfigDict(extra="forbid")

    generation: int
    reason: str


class EntryManifest(BaseModel):
    """`orchestrator_state/registry_entry_manifest.json`, the truth of what the bucket's entries
    were built from: for each live metadata file, the generation last processed, whether it was
    valid, and per registry the entry file it left (written at which generation, disabled, or
    failed with the last good entry kept). What to rebuild is its difference from a listing."""

    model_config = ConfigDict(extra="forbid")

    # 3: each file's version and the yank markers recorded. An older manifest is read as empty
    # (every entry rebuilt once).
    version: Literal[3] = 3
    files: dict[str, ProcessedMetadataFile] = Field(default_factory=dict)
    # `metadata/<repo>/<version>/.yanked` -> the marker as last read (SPEC §6)
    yank_markers: dict[str, YankMarker] = Field(default_factory=dict)

    def published_entry_generations(self, registry: str) -> dict[str, int]:
        """Entry path -> generation of every `latest/` entry of `registry` that is in the bucket."""
        generations: dict[str, int] = {}
        for path, record in self.files.items():
            if not is_latest_metadata(path):
                continue
            outcome = record.registries.get(registry)
            if outcome is not None and outcome.status != "disabled" and outcome.generation is not None:
                generations[entry_path(path, registry)] = outcome.generation
        return generations

    def override_copy_owners(self) -> dict[str, str]:
        """Override-path copy -> the metadata file that wrote it and owns it."""
        return {
            outcome.copy_path: path
            for path, record in self.files.items()
            for outcome in record.registries.values()
            if outcome.copy_path
        }

    def disabled_definition_ids(self, registry: str) -> set[str]:
        """Connectors whose current `latest/` metadata disables `registry`: they may leave it."""
        return {
            record.definition_id
            for path, record in self.files.items()
            if is_latest_metadata(path)
            and record.definition_id
            and registry in record.registries
            and record.registries[registry].status == "disabled"
        }


class SpecWatch(BaseModel):
    """`orchestrator_state/spec_watch.json`, derived from the manifest for the metadata sensor: spec
    path -> {metadata file -> generation of the spec its entries were built from, 0 while they wait
    for it}, for every valid metadata file. The sensor compares it with the spec cache."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    specs: dict[str, dict[str, int]] = Field(default_factory=dict)


class RegistryInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    generation: int
    definition_id: str
    connector_type: str
    # The secret property names of the entry's spec; None (a file of an older build): read from the spec.
    secret_names: list[str] | None = None


class RegistryInputs(BaseModel):
    """`orchestrator_state/<registry>_registry_inputs.json`: the entry objects (and generations) the
    published registry was built from, so the next build downloads only entries that changed."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    registry_generation: int = 0
    # Of the registry model the published registry was checked against (`registry_schema_fingerprint`):
    # while it is the same, the entries taken from that registry need no second schema check.
    schema_fingerprint: str = ""
    entries: dict[str, RegistryInput] = Field(default_factory=dict)


class RegistryDocumentsState(BaseModel):
    """`orchestrator_state/<registry>_registry_documents.json`: the light index and per-connector
    documents a registry's last publish left (and the registry generation they were derived from),
    so that the next publish writes only documents whose bytes changed."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    registry_generation: int = 0
    objects: dict[str, PublishedObject] = Field(default_factory=dict)
