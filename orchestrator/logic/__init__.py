"""Pure logic: data in, data out. No Dagster and no GCS here, so every rule is testable alone."""
