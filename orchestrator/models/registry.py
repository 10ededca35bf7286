"""Registry formats: per-version entries (`oss.json`, `cloud.json`) and the registries. Open
models: every field of an entry is carried through, only the documented ones are typed."""

from __future__ import annotations

import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from orchestrator.models.metadata import ReleaseStage, SupportLevel


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


class ConnectorRegistrySourceDefinition(RegistryEntryBase):
    sourceDefinitionId: UUID
    # The reference system puts connectorSubtype here unchanged (datalake, vectorstore, ... too).
    sourceType: str | None = None
    erdUrl: str | None = None
    supportsFileTransfer: bool | None = None


class ConnectorRegistryDestinationDefinition(RegistryEntryBase):
    destinationDefinitionId: UUID
    sourceType: str | None = None
    tags: list[str] | None = None
    supportsDbt: bool | None = None
    supportsRefreshes: bool | None = None


class ConnectorRegistryV0(BaseModel):
    model_config = ConfigDict(extra="forbid")

    destinations: list[ConnectorRegistryDestinationDefinition]
    sources: list[ConnectorRegistrySourceDefinition]
