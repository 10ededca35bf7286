"""Environment for the code location: `.env` is read once, and with no cloud settings at all
the embedded local bucket (fake-gcs-server on 127.0.0.1) is the default."""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import load_dotenv

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_EMULATOR_HOST = "http://127.0.0.1:9023"
DEFAULT_METADATA_BUCKET = "connector-metadata"
DEFAULT_SPEC_CACHE_BUCKET = "connector-spec-cache"

METADATA_FOLDER = "metadata"
REGISTRY_FOLDER = "registries/v0"
REPORT_FOLDER = "generated_reports"
# Bookkeeping of the incremental build; not public, one small object per registry step.
STATE_FOLDER = "orchestrator_state"


def load_environment() -> None:
    """Read `.env` (never overriding real environment variables) and fill in the embedded default."""
    load_dotenv(PROJECT_ROOT / ".env", override=False)
    load_dotenv(override=False)
    uses_real_gcs = bool(os.environ.get("GCS_CREDENTIALS")) and not os.environ.get("STORAGE_EMULATOR_HOST")
    if not uses_real_gcs:
        os.environ.setdefault("STORAGE_EMULATOR_HOST", DEFAULT_EMULATOR_HOST)
    os.environ.setdefault("METADATA_BUCKET", DEFAULT_METADATA_BUCKET)
    os.environ.setdefault("SPEC_CACHE_BUCKET", DEFAULT_SPEC_CACHE_BUCKET)
    # Optional: public URLs go through this CDN when it is set.
    os.environ.setdefault("METADATA_CDN_BASE_URL", "")


def uses_emulator() -> bool:
    return bool(os.environ.get("STORAGE_EMULATOR_HOST"))
