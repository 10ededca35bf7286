"""Registry formats: per-version entries (`oss.json`, `cloud.json`) and the registries. Open
models: every field of an entry is carried through, only the documented ones are typed."""

from __future__ import annotations

import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from orchestrator.models.metadata import ReleaseStage, SupportLevel


class RegistryFormat(StrEnum):
    """`REGISTRY_FORMAT`: which registry entries are written (SPEC §4.1)."""

    seed = "2023"  # exactly the entries of SPEC §4, as the seed wrote them
    current = "2025"  # §4 plus the fields today's consumers read


DEFAULT_REGISTRY_FORMAT = RegistryFormat.current


class SourceFileInfo(BaseModel):
    """`generated.source_file_info`: the metadata object an entry was built from."""

    model_config = ConfigDict(extra="allow")

    metadata_bucket_name: str
    metadata_file_path: str
    metadata_etag: str
    metadata_last_modified: str
    registry_entry_generated_at: str


class GeneratedFields(BaseModel):
    model_config = ConfigDict(extra="allow")

    source_file_info: SourceFileInfo | None = None


class RolloutConfiguration(BaseModel):
    model_config = ConfigDict(extra="allow")

    enableProgressiveRollout: bool | None = None
    initialPercentage: int | None = None
    maxPercentage: int | None = None
    advanceDelayMinutes: int | None = None


class RegistryReleases(BaseModel):
    model_config = ConfigDict(extra="allow")

    migrationDocumentationUrl: str | None = None
    breakingChanges: dict[str, dict[str, Any]] | None = None
    rolloutConfiguration: RolloutConfiguration | None = None


class RegistryEntryBase(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    dockerRepository: str
    dockerImageTag: str
    documentationUrl: str
    spec: dict[str, Any]
    icon: str | None = None
    iconUrl: str | None = None
    tombstone: bool | None = None
    public: bool | None = None
    custom: bool | None = None
    releaseStage: ReleaseStage | None = None
    supportLevel: SupportLevel | None = None
    releaseDate: datetime.date | None = None
    protocolVersion: str | None = None
    maxSecondsBetweenMessages: int | None = None
    language: str | None = None
    ab_internal: dict[str, Any] | None = None
    generated: GeneratedFields | None = None


# releaseCandidates: rc tag -> the release candidate's own entry for this registry.
class SourceReleases(RegistryReleases):
    releaseCandidates: dict[str, ConnectorRegistrySourceDefinition] | None = None


class DestinationReleases(RegistryReleases):
    releaseCandidates: dict[str, ConnectorRegistryDestinationDefinition] | None = None


class ConnectorRegistrySourceDefinition(RegistryEntryBase):
    sourceDefinitionId: UUID
    releases: SourceReleases | None = None
    # The reference system puts connectorSubtype here unchanged (datalake, vectorstore, ... too).
    sourceType: str | None = None
    erdUrl: str | None = None
    supportsFileTransfer: bool | None = None


class ConnectorRegistryDestinationDefinition(RegistryEntryBase):
    destinationDefinitionId: UUID
    releases: DestinationReleases | None = None
    sourceType: str | None = None
    tags: list[str] | None = None
    supportsDbt: bool | None = None
    supportsRefreshes: bool | None = None
    supportsDataActivation: bool | None = None


class ConnectorRegistryV0(BaseModel):
    model_config = ConfigDict(extra="forbid")

    destinations: list[ConnectorRegistryDestinationDefinition]
    sources: list[ConnectorRegistrySourceDefinition]


SourceReleases.model_rebuild()
DestinationReleases.model_rebuild()
