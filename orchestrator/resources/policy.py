from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

from orchestrator.models.registry import DEFAULT_REGISTRY_FORMAT, RegistryFormat


class RegistryPublishPolicy(ConfigurableResource):
    """How much a registry may shrink in one run before publishing is refused.

    A connector may always leave a registry when its own metadata disables that registry; any
    other disappearance is an unexplained loss, always listed, and fatal past this share."""

    max_unexplained_drop_share: float = Field(default=0.05, ge=0.0, le=1.0)


class RegistryFormatSettings(ConfigurableResource):
    """`REGISTRY_FORMAT`: which registry entries are written (SPEC §4.1). `2025` (the default) adds
    the fields today's consumers read, release candidates and override-path copies; `2023` writes
    exactly the seed's entries."""

    registry_format: RegistryFormat = DEFAULT_REGISTRY_FORMAT


SIGNING_KEY_VARIABLE = "REGISTRY_SIGNING_KEY"


class RegistrySigning(ConfigurableResource):
    """`REGISTRY_SIGNING_KEY`: the Ed25519 private key (PEM) that signs `registries/v0/manifest.json`
    into `manifest.json.sig` (SPEC §8); unset, nothing is signed. Set from the environment variable,
    so the Dagster UI shows the variable's name, never the key."""

    private_key_pem: str | None = None

    def signature_file(self, payload: bytes) -> bytes | None:
        if not self.private_key_pem:
            return None
        from orchestrator.logic.signing import signature_file

        return signature_file(payload, self.private_key_pem, SIGNING_KEY_VARIABLE)
