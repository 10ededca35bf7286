"""Sensors: the metadata sensor starts generate_registry, the registry sensor starts the reports."""

from orchestrator.sensors.metadata import evaluate_metadata_tick, generate_registry_on_new_latest_metadata_file_blobs
from orchestrator.sensors.registry import generate_registry_reports_on_registry_updated

ALL_SENSORS = [generate_registry_on_new_latest_metadata_file_blobs, generate_registry_reports_on_registry_updated]

__all__ = [
    "ALL_SENSORS",
    "evaluate_metadata_tick",
    "generate_registry_on_new_latest_metadata_file_blobs",
    "generate_registry_reports_on_registry_updated",
]
