"""A connector specification (`spec.json` / `spec.cloud.json` in the spec cache): what the
connector's `spec` command prints. Only `connectionSpecification` is required; the rest passes
through as the connector wrote it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class ConnectorSpecification(BaseModel):
    model_config = ConfigDict(extra="allow")

    # The JSON schema of the connector's configuration form.
    connectionSpecification: dict[str, Any]
    documentationUrl: str | None = None
