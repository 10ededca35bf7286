"""Process settings that do not depend on the deployment: where the project lives, `.env`, and the
defaults of the embedded local bucket. Nothing here runs on import."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from dotenv import find_dotenv, load_dotenv

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_EMULATOR_PORT = 9023
DEFAULT_EMULATOR_HOST = f"http://127.0.0.1:{DEFAULT_EMULATOR_PORT}"
EMULATOR_HOST_VARIABLE = "STORAGE_EMULATOR_HOST"
EMULATOR_PORT_VARIABLE = "EMULATOR_PORT"
DEFAULT_METADATA_BUCKET = "connector-metadata"
DEFAULT_SPEC_CACHE_BUCKET = "connector-spec-cache"


def load_dotenv_files() -> None:
    """The project's `.env`, then one in the working directory; real environment variables win."""
    load_dotenv(PROJECT_ROOT / ".env", override=False)
    load_dotenv(find_dotenv(usecwd=True), override=False)


def setting(name: str, default: str = "", environ: Mapping[str, str] | None = None) -> str:
    """The variable's value with surrounding blanks removed, `default` when unset or empty."""
    value = (os.environ if environ is None else environ).get(name, "").strip()
    return value or default


def metadata_bucket_name(environ: Mapping[str, str] | None = None) -> str:
    return setting("METADATA_BUCKET", DEFAULT_METADATA_BUCKET, environ)


def spec_cache_bucket_name(environ: Mapping[str, str] | None = None) -> str:
    return setting("SPEC_CACHE_BUCKET", DEFAULT_SPEC_CACHE_BUCKET, environ)


def emulator_host(environ: Mapping[str, str] | None = None) -> str:
    """STORAGE_EMULATOR_HOST when set, else the loopback address on EMULATOR_PORT (default 9023)."""
    explicit = setting(EMULATOR_HOST_VARIABLE, environ=environ)
    if explicit:
        return explicit
    port = setting(EMULATOR_PORT_VARIABLE, environ=environ)
    return f"http://127.0.0.1:{port}" if port else DEFAULT_EMULATOR_HOST


def emulator_address_variable(environ: Mapping[str, str] | None = None) -> str:
    """The variable that decides where the emulator listens: the one to change when its port is taken."""
    return EMULATOR_HOST_VARIABLE if setting(EMULATOR_HOST_VARIABLE, environ=environ) else EMULATOR_PORT_VARIABLE
