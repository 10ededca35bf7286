"""Bookkeeping files of the incremental build, kept in the bucket under `orchestrator_state/`.

Both are bounded by the number of live objects: records of deleted files are pruned each run."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

EntryStatus = Literal["written", "disabled", "failed"]


class RegistryEntryOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: EntryStatus
    error: Optional[str] = None


class ProcessedMetadataFile(BaseModel):
    """What the last run that saw this metadata file (at this generation) made of it."""

    model_config = ConfigDict(extra="forbid")

    generation: int
    etag: str
    valid: bool
    problems: list[str] = Field(default_factory=list)
    definition_id: Optional[str] = None
    connector_type: Optional[str] = None
    registries: dict[str, RegistryEntryOutcome] = Field(default_factory=dict)

    @property
    def needs_retry(self) -> bool:
        """Transient outcomes (a spec not yet in the cache, a write conflict) are retried next run;
        an invalid file is not, until it changes."""
        return self.valid and any(outcome.status == "failed" for outcome in self.registries.values())


class EntryManifest(BaseModel):
    """`orchestrator_state/registry_entry_manifest.json`: metadata path → last processed state."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    files: dict[str, ProcessedMetadataFile] = Field(default_factory=dict)


class RegistryInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    generation: int
    definition_id: str
    connector_type: str


class RegistryInputs(BaseModel):
    """`orchestrator_state/<registry>_registry_inputs.json`: the entry objects (and generations) the
    published registry was built from, so the next build downloads only entries that changed."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    registry_generation: int = 0
    entries: dict[str, RegistryInput] = Field(default_factory=dict)
