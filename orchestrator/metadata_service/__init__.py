"""`metadata_service`: validate a connector's metadata.yaml and upload it into the metadata bucket (SPEC §6)."""
