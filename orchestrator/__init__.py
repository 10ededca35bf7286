"""Connector Orchestrator: a Dagster code location that builds connector registries from a GCS bucket.

The code location is `orchestrator.definitions.defs`."""
