"""Registry formats: per-version entries (`oss.json`, `cloud.json`) and the registries. Open
models: every field of an entry is carried through, only the documented ones are typed."""

from __future__ import annotations

import datetime
from typing import Any, Optional
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
    icon: Optional[str] = None
    iconUrl: Optional[str] = None
    tombstone: Optional[bool] = None
    public: Optional[bool] = None
    custom: Optional[bool] = None
    releaseStage: Optional[ReleaseStage] = None
    supportLevel: Optional[SupportLevel] = None
    releaseDate: Optional[datetime.date] = None
    protocolVersion: Optional[str] = None
    maxSecondsBetweenMessages: Optional[int] = None
    language: Optional[str] = None


class ConnectorRegistrySourceDefinition(RegistryEntryBase):
    sourceDefinitionId: UUID
    # The reference system puts connectorSubtype here unchanged (datalake, vectorstore, ... too).
    sourceType: Optional[str] = None
    erdUrl: Optional[str] = None
    supportsFileTransfer: Optional[bool] = None


class ConnectorRegistryDestinationDefinition(RegistryEntryBase):
    destinationDefinitionId: UUID
    sourceType: Optional[str] = None
    tags: Optional[list[str]] = None
    supportsDbt: Optional[bool] = None
    supportsRefreshes: Optional[bool] = None


class ConnectorRegistryV0(BaseModel):
    model_config = ConfigDict(extra="forbid")

    destinations: list[ConnectorRegistryDestinationDefinition]
    sources: list[ConnectorRegistrySourceDefinition]


REGISTRY_NAMES = ("oss", "cloud")
