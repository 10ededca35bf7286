from orchestrator.models.metadata import ConnectorMetadataDefinitionV0, RegistryOverride, SecretsMask
from orchestrator.models.registry import (
    REGISTRY_NAMES,
    ConnectorRegistryDestinationDefinition,
    ConnectorRegistrySourceDefinition,
    ConnectorRegistryV0,
)

__all__ = [
    "ConnectorMetadataDefinitionV0",
    "RegistryOverride",
    "SecretsMask",
    "REGISTRY_NAMES",
    "ConnectorRegistryDestinationDefinition",
    "ConnectorRegistrySourceDefinition",
    "ConnectorRegistryV0",
]
