"""The metadata file (`metadata.yaml`), SPEC §3. Strict: an unknown key inside `data` is an error
that names it. Nested pass-through blocks (`connectorBuildOptions`, ...) stay open."""

from __future__ import annotations

import datetime
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from pydantic import AnyUrl, BaseModel, ConfigDict, Field, field_validator


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class OpenModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ConnectorType(StrEnum):
    source = "source"
    destination = "destination"


class ConnectorSubtype(StrEnum):
    api = "api"
    database = "database"
    datalake = "datalake"
    file = "file"
    custom = "custom"
    message_queue = "message_queue"
    unknown = "unknown"
    vectorstore = "vectorstore"


class ReleaseStage(StrEnum):
    alpha = "alpha"
    beta = "beta"
    generally_available = "generally_available"
    custom = "custom"


class SupportLevel(StrEnum):
    community = "community"
    certified = "certified"
    archived = "archived"


class JobType(StrEnum):
    get_spec = "get_spec"
    check_connection = "check_connection"
    discover_schema = "discover_schema"
    sync = "sync"
    reset_connection = "reset_connection"
    connection_updater = "connection_updater"
    replicate = "replicate"


class AllowedHosts(StrictModel):
    hosts: list[str] | None = None


class SuggestedStreams(StrictModel):
    streams: list[str] | None = None


class ResourceRequirements(StrictModel):
    cpu_request: str | None = None
    cpu_limit: str | None = None
    memory_request: str | None = None
    memory_limit: str | None = None


class JobTypeResourceLimit(StrictModel):
    jobType: JobType
    resourceRequirements: ResourceRequirements


class ActorDefinitionResourceRequirements(StrictModel):
    default: ResourceRequirements | None = None
    jobSpecific: list[JobTypeResourceLimit] | None = None


class NormalizationDestinationDefinitionConfig(StrictModel):
    normalizationRepository: str
    normalizationTag: str
    normalizationIntegrationType: str


class AirbyteInternal(StrictModel):
    sl: int | None = None
    ql: int | None = None
    isEnterprise: bool | None = None
    requireVersionIncrementsInPullRequests: bool | None = None


class StreamBreakingChangeScope(StrictModel):
    scopeType: Literal["stream"]
    impactedScopes: list[str] = Field(min_length=1)


class VersionBreakingChange(StrictModel):
    upgradeDeadline: datetime.date
    message: str
    migrationDocumentationUrl: AnyUrl | None = None
    deadlineAction: str | None = None
    scopedImpact: list[StreamBreakingChangeScope] | None = Field(default=None, min_length=1)


class RolloutConfiguration(OpenModel):
    enableProgressiveRollout: bool | None = None


class ConnectorReleases(StrictModel):
    breakingChanges: dict[str, VersionBreakingChange] | None = None
    migrationDocumentationUrl: AnyUrl | None = None
    rolloutConfiguration: RolloutConfiguration | None = None


class RegistryOverride(StrictModel):
    enabled: bool
    name: str | None = None
    dockerRepository: str | None = None
    dockerImageTag: str | None = None
    supportsDbt: bool | None = None
    supportsNormalization: bool | None = None
    license: str | None = None
    documentationUrl: AnyUrl | None = None
    connectorSubtype: str | None = None
    allowedHosts: AllowedHosts | None = None
    normalizationConfig: NormalizationDestinationDefinitionConfig | None = None
    suggestedStreams: SuggestedStreams | None = None
    resourceRequirements: ActorDefinitionResourceRequirements | None = None


class RegistryOverrides(StrictModel):
    oss: RegistryOverride | None = None
    cloud: RegistryOverride | None = None


class PyPiRegistry(OpenModel):
    enabled: bool
    packageName: str | None = None


class RemoteRegistries(OpenModel):
    pypi: PyPiRegistry | None = None


class ExternalDocumentationUrl(OpenModel):
    title: str
    url: AnyUrl
    type: str | None = None


class ConnectorBuildOptions(OpenModel):
    baseImage: str | None = None


class Data(StrictModel):
    name: str
    definitionId: UUID
    connectorType: ConnectorType
    dockerRepository: str
    dockerImageTag: str
    license: str
    documentationUrl: AnyUrl
    githubIssueLabel: str
    connectorSubtype: ConnectorSubtype
    releaseStage: ReleaseStage

    icon: str | None = None
    supportLevel: SupportLevel | None = None
    releaseDate: datetime.date | None = None
    protocolVersion: str | None = None
    tags: list[str] = Field(default_factory=list)
    maxSecondsBetweenMessages: int | None = None
    supportsDbt: bool | None = None
    supportsNormalization: bool | None = None
    supportsRefreshes: bool | None = None
    supportsFileTransfer: bool | None = None
    erdUrl: str | None = None
    allowedHosts: AllowedHosts | None = None
    suggestedStreams: SuggestedStreams | None = None
    resourceRequirements: ActorDefinitionResourceRequirements | None = None
    normalizationConfig: NormalizationDestinationDefinitionConfig | None = None
    ab_internal: AirbyteInternal | None = None
    releases: ConnectorReleases | None = None
    registryOverrides: RegistryOverrides | None = None
    registries: RegistryOverrides | None = None

    # Passed through unchanged; they appear in real files.
    connectorBuildOptions: ConnectorBuildOptions | None = None
    connectorTestSuitesOptions: list[dict[str, Any]] | None = None
    remoteRegistries: RemoteRegistries | None = None
    externalDocumentationUrls: list[ExternalDocumentationUrl] | None = None
    connectorIPCOptions: dict[str, Any] | None = None
    language: str | None = None
    remotePackageIndex: dict[str, Any] | None = None

    @field_validator("maxSecondsBetweenMessages", mode="before")
    @classmethod
    def _integer_not_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("must be an integer")
        return value


class ConnectorMetadataDefinitionV0(StrictModel):
    metadataSpecVersion: str
    data: Data


class SecretsMask(BaseModel):
    """`registries/v0/specs_secrets_mask.yaml`."""

    properties: list[str]
