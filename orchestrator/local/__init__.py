"""The embedded local bucket: a fake-gcs-server emulator with a realistic, generated sample bucket."""
