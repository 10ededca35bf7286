"""Sensors: the metadata sensor starts generate_registry, the registry sensor starts the reports."""
