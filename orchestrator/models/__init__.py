"""Pydantic v2 models of every file format (metadata, registries, state files) and the step outputs."""
