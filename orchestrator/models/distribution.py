"""What is published beside the registries (SPEC §8): the digest manifest of the published set and
the light indexes (the registry without specs)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.models.registry import (
    ConnectorRegistryDestinationDefinition,
    ConnectorRegistrySourceDefinition,
    DestinationReleases,
    SourceReleases,
)


class PublishedObject(BaseModel):
    """One published object as the manifest lists it."""

    model_config = ConfigDict(extra="forbid")

    generation: int
    sha256: str
    size: int


class RegistryManifest(BaseModel):
    """`registries/v0/manifest.json`: every object the last complete build published under
    `registries/v0/`, by bucket path. Written after all of them, so a set that does not match it is
    torn (or tampered with)."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    objects: dict[str, PublishedObject] = Field(default_factory=dict)


# A light index entry is a registry entry without `spec`, in its release candidates too.
class LightSourceReleases(SourceReleases):
    releaseCandidates: dict[str, LightSourceDefinition] | None = None  # type: ignore[assignment]


class LightDestinationReleases(DestinationReleases):
    releaseCandidates: dict[str, LightDestinationDefinition] | None = None  # type: ignore[assignment]


class LightSourceDefinition(ConnectorRegistrySourceDefinition):
    spec: None = None  # type: ignore[assignment]
    releases: LightSourceReleases | None = None


class LightDestinationDefinition(ConnectorRegistryDestinationDefinition):
    spec: None = None  # type: ignore[assignment]
    releases: LightDestinationReleases | None = None


class ConnectorRegistryLightIndex(BaseModel):
    """`registries/v0/<registry>_index.json`: the registry with every spec left out."""

    model_config = ConfigDict(extra="forbid")

    destinations: list[LightDestinationDefinition]
    sources: list[LightSourceDefinition]


LightSourceReleases.model_rebuild()
LightDestinationReleases.model_rebuild()
