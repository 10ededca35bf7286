"""The metadata file (`metadata.yaml`), SPEC §3 and §3.1. Strict: an unknown key inside `data` is an
error that names it. Nested pass-through blocks (`connectorTestSuitesOptions`, ...) stay open.

Values are read as the reference's pydantic v1 model read them (§3.1): a YAML number where a string
is wanted is its text (`metadataSpecVersion: 1.0` is "1.0"), and `[]` where a mapping is wanted is
an empty mapping."""

from __future__ import annotations

import datetime
import re
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, HttpUrl, field_validator, model_validator

# `<image>:<tag>@sha256:<digest>`; the image may carry a registry host with a port.
BASE_IMAGE = re.compile(r"^[^\s@]+:[^\s:@/]+@sha256:[0-9a-f]{64}$")


def number_as_text(value: Any) -> Any:
    """A YAML int or float where a string is wanted is read as its text (booleans are not numbers here)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def empty_list_as_mapping(value: Any) -> Any:
    return {} if isinstance(value, list) and not value else value


Text = Annotated[str, BeforeValidator(number_as_text)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_list_is_empty_mapping(cls, value: Any) -> Any:
        return empty_list_as_mapping(value)


class OpenModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_list_is_empty_mapping(cls, value: Any) -> Any:
        return empty_list_as_mapping(value)


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
    hosts: list[Text] | None = None


class SuggestedStreams(StrictModel):
    streams: list[Text] | None = None


class ResourceRequirements(StrictModel):
    cpu_request: Text | None = None
    cpu_limit: Text | None = None
    memory_request: Text | None = None
    memory_limit: Text | None = None


class JobTypeResourceLimit(StrictModel):
    jobType: JobType
    resourceRequirements: ResourceRequirements


class ActorDefinitionResourceRequirements(StrictModel):
    default: ResourceRequirements | None = None
    jobSpecific: list[JobTypeResourceLimit] | None = None


class NormalizationDestinationDefinitionConfig(StrictModel):
    normalizationRepository: Text
    normalizationTag: Text
    normalizationIntegrationType: Text


class AirbyteInternal(StrictModel):
    sl: Literal[0, 100, 200, 300] | None = None
    ql: Literal[0, 100, 200, 300, 400, 500, 600] | None = None
    isEnterprise: bool | None = None
    requireVersionIncrementsInPullRequests: bool | None = None


class StreamBreakingChangeScope(StrictModel):
    scopeType: Literal["stream"]
    impactedScopes: list[Text] = Field(min_length=1)


class VersionBreakingChange(StrictModel):
    upgradeDeadline: datetime.date
    message: Text
    migrationDocumentationUrl: HttpUrl | None = None
    deadlineAction: Text | None = None
    scopedImpact: list[StreamBreakingChangeScope] | None = Field(default=None, min_length=1)

    @field_validator("scopedImpact", mode="before")
    @classmethod
    def _present_means_a_list(cls, value: Any) -> Any:
        # Absent is fine; written as null it is not (the reference schema wants a non-empty list).
        if value is None:
            raise ValueError("must be a non-empty list of scopes when present (null is not allowed)")
        return value


class RolloutConfiguration(OpenModel):
    """Any key is accepted: Airbyte adds new ones (initialPercentage, maxPercentage, advanceDelayMinutes, ...)."""

    enableProgressiveRollout: bool | None = None


BreakingChanges = Annotated[dict[str, VersionBreakingChange], BeforeValidator(empty_list_as_mapping)]


class ConnectorReleases(StrictModel):
    breakingChanges: BreakingChanges | None = None
    migrationDocumentationUrl: HttpUrl | None = None
    rolloutConfiguration: RolloutConfiguration | None = None
    isReleaseCandidate: bool | None = None


class RegistryOverride(StrictModel):
    enabled: bool
    name: Text | None = None
    dockerRepository: Text | None = None
    dockerImageTag: Text | None = None
    supportsDbt: bool | None = None
    supportsNormalization: bool | None = None
    license: Text | None = None
    documentationUrl: HttpUrl | None = None
    connectorSubtype: Text | None = None
    allowedHosts: AllowedHosts | None = None
    normalizationConfig: NormalizationDestinationDefinitionConfig | None = None
    suggestedStreams: SuggestedStreams | None = None
    resourceRequirements: ActorDefinitionResourceRequirements | None = None


class RegistryOverrides(StrictModel):
    oss: RegistryOverride | None = None
    cloud: RegistryOverride | None = None


class PyPiRegistry(StrictModel):
    enabled: bool
    packageName: Text | None = None


class RemoteRegistries(StrictModel):
    """`remoteRegistries` and the older `remotePackageIndex`: PyPI is the only remote registry."""

    pypi: PyPiRegistry | None = None


class ExternalDocumentationUrl(OpenModel):
    title: Text
    url: HttpUrl
    type: Text | None = None
    requiresLogin: bool | None = None


class ConnectorBuildOptions(StrictModel):
    baseImage: Text | None = None

    @field_validator("baseImage")
    @classmethod
    def _pinned_by_digest(cls, value: str | None) -> str | None:
        if value is not None and not BASE_IMAGE.match(value):
            raise ValueError(f"{value!r} is not of the form <image>:<tag>@sha256:<64 hex digits>")
        return value


OpenMapping = Annotated[dict[str, Any], BeforeValidator(empty_list_as_mapping)]


class Data(StrictModel):
    name: Text
    definitionId: UUID
    connectorType: ConnectorType
    dockerRepository: Text
    dockerImageTag: Text
    license: Text
    documentationUrl: HttpUrl
    githubIssueLabel: Text
    connectorSubtype: ConnectorSubtype
    releaseStage: ReleaseStage

    icon: Text | None = None
    supportLevel: SupportLevel | None = None
    releaseDate: datetime.date | None = None
    protocolVersion: Text | None = None
    tags: list[Text] = Field(default_factory=list)
    maxSecondsBetweenMessages: int | None = None
    supportsDbt: bool | None = None
    supportsNormalization: bool | None = None
    supportsRefreshes: bool | None = None
    supportsFileTransfer: bool | None = None
    supportsDataActivation: bool | None = None
    erdUrl: Text | None = None
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
    connectorIPCOptions: OpenMapping | None = None
    language: Text | None = None
    remotePackageIndex: RemoteRegistries | None = None
    # Written by upload tooling (2024 on).
    generated: OpenMapping | None = None

    @field_validator("maxSecondsBetweenMessages", mode="before")
    @classmethod
    def _integer_not_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("must be an integer")
        return value


class ConnectorMetadataDefinitionV0(StrictModel):
    metadataSpecVersion: Text
    data: Data


class SecretsMask(BaseModel):
    """`registries/v0/specs_secrets_mask.yaml`."""

    properties: list[str]
