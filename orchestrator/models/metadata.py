"""The metadata file (`metadata.yaml`), SPEC §3. Strict: an unknown key inside `data` is an error
that names it. Nested pass-through blocks (`connectorBuildOptions`, ...) stay open."""

from __future__ import annotations

import datetime
from enum import Enum
from typing import Any, Literal, Optional
from uuid import UUID

from pydantic import AnyUrl, BaseModel, ConfigDict, Field, field_validator


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class OpenModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ConnectorType(str, Enum):
    source = "source"
    destination = "destination"


class ConnectorSubtype(str, Enum):
    api = "api"
    database = "database"
    datalake = "datalake"
    file = "file"
    custom = "custom"
    message_queue = "message_queue"
    unknown = "unknown"
    vectorstore = "vectorstore"


class ReleaseStage(str, Enum):
    alpha = "alpha"
    beta = "beta"
    generally_available = "generally_available"
    custom = "custom"


class SupportLevel(str, Enum):
    community = "community"
    certified = "certified"
    archived = "archived"


class JobType(str, Enum):
    get_spec = "get_spec"
    check_connection = "check_connection"
    discover_schema = "discover_schema"
    sync = "sync"
    reset_connection = "reset_connection"
    connection_updater = "connection_updater"
    replicate = "replicate"


class AllowedHosts(StrictModel):
    hosts: Optional[list[str]] = None


class SuggestedStreams(StrictModel):
    streams: Optional[list[str]] = None


class ResourceRequirements(StrictModel):
    cpu_request: Optional[str] = None
    cpu_limit: Optional[str] = None
    memory_request: Optional[str] = None
    memory_limit: Optional[str] = None


class JobTypeResourceLimit(StrictModel):
    jobType: JobType
    resourceRequirements: ResourceRequirements


class ActorDefinitionResourceRequirements(StrictModel):
    default: Optional[ResourceRequirements] = None
    jobSpecific: Optional[list[JobTypeResourceLimit]] = None


class NormalizationDestinationDefinitionConfig(StrictModel):
    normalizationRepository: str
    normalizationTag: str
    normalizationIntegrationType: str


class AirbyteInternal(StrictModel):
    sl: Optional[int] = None
    ql: Optional[int] = None
    isEnterprise: Optional[bool] = None
    requireVersionIncrementsInPullRequests: Optional[bool] = None


class StreamBreakingChangeScope(StrictModel):
    scopeType: Literal["stream"]
    impactedScopes: list[str] = Field(min_length=1)


class VersionBreakingChange(StrictModel):
    upgradeDeadline: datetime.date
    message: str
    migrationDocumentationUrl: Optional[AnyUrl] = None
    deadlineAction: Optional[str] = None
    scopedImpact: Optional[list[StreamBreakingChangeScope]] = Field(default=None, min_length=1)


class RolloutConfiguration(OpenModel):
    enableProgressiveRollout: Optional[bool] = None


class ConnectorReleases(StrictModel):
    breakingChanges: Optional[dict[str, VersionBreakingChange]] = None
    migrationDocumentationUrl: Optional[AnyUrl] = None
    rolloutConfiguration: Optional[RolloutConfiguration] = None


class RegistryOverride(StrictModel):
    enabled: bool
    name: Optional[str] = None
    dockerRepository: Optional[str] = None
    dockerImageTag: Optional[str] = None
    supportsDbt: Optional[bool] = None
    supportsNormalization: Optional[bool] = None
    license: Optional[str] = None
    documentationUrl: Optional[AnyUrl] = None
    connectorSubtype: Optional[str] = None
    allowedHosts: Optional[AllowedHosts] = None
    normalizationConfig: Optional[NormalizationDestinationDefinitionConfig] = None
    suggestedStreams: Optional[SuggestedStreams] = None
    resourceRequirements: Optional[ActorDefinitionResourceRequirements] = None


class RegistryOverrides(StrictModel):
    oss: Optional[RegistryOverride] = None
    cloud: Optional[RegistryOverride] = None


class PyPiRegistry(OpenModel):
    enabled: bool
    packageName: Optional[str] = None


class RemoteRegistries(OpenModel):
    pypi: Optional[PyPiRegistry] = None


class ExternalDocumentationUrl(OpenModel):
    title: str
    url: AnyUrl
    type: Optional[str] = None


class ConnectorBuildOptions(OpenModel):
    baseImage: Optional[str] = None


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

    icon: Optional[str] = None
    supportLevel: Optional[SupportLevel] = None
    releaseDate: Optional[datetime.date] = None
    protocolVersion: Optional[str] = None
    tags: list[str] = Field(default_factory=list)
    maxSecondsBetweenMessages: Optional[int] = None
    supportsDbt: Optional[bool] = None
    supportsNormalization: Optional[bool] = None
    supportsRefreshes: Optional[bool] = None
    supportsFileTransfer: Optional[bool] = None
    erdUrl: Optional[str] = None
    allowedHosts: Optional[AllowedHosts] = None
    suggestedStreams: Optional[SuggestedStreams] = None
    resourceRequirements: Optional[ActorDefinitionResourceRequirements] = None
    normalizationConfig: Optional[NormalizationDestinationDefinitionConfig] = None
    ab_internal: Optional[AirbyteInternal] = None
    releases: Optional[ConnectorReleases] = None
    registryOverrides: Optional[RegistryOverrides] = None
    registries: Optional[RegistryOverrides] = None

    # Passed through unchanged; they appear in real files.
    connectorBuildOptions: Optional[ConnectorBuildOptions] = None
    connectorTestSuitesOptions: Optional[list[dict[str, Any]]] = None
    remoteRegistries: Optional[RemoteRegistries] = None
    externalDocumentationUrls: Optional[list[ExternalDocumentationUrl]] = None
    connectorIPCOptions: Optional[dict[str, Any]] = None
    language: Optional[str] = None
    remotePackageIndex: Optional[dict[str, Any]] = None

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

