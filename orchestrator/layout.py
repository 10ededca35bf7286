"""The bucket layout (SPEC §2): folders, file names, registry names and the paths built from them.

Every other module takes its paths from here. Pure: no Dagster, no GCS."""

from __future__ import annotations

import re
from typing import Any

METADATA_FOLDER = "metadata"
REGISTRY_FOLDER = "registries/v0"
REPORT_FOLDER = "generated_reports"
SPEC_FOLDER = "specs"
# Bookkeeping of the incremental build; not public.
STATE_FOLDER = "orchestrator_state"

METADATA_FILE_NAME = "metadata.yaml"
ICON_FILE_NAME = "icon.svg"
SPEC_FILE_NAME = "spec.json"
CLOUD_SPEC_FILE_NAME = "spec.cloud.json"
LATEST_FOLDER = "latest"
# The current release candidate of a connector (SPEC §4.1), beside latest/.
RELEASE_CANDIDATE_FOLDER = "release_candidate"
# Beside a version's metadata file: that version is withdrawn from the registries (SPEC §6); holds the reason.
YANK_MARKER_FILE_NAME = ".yanked"

# Docker's repository grammar: lower-case path components separated by '/'. Anything else could
# not round-trip through a bucket path (`..`, spaces, upper case, an empty component).
DOCKER_REPOSITORY = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*\Z")

REGISTRY_NAMES = ("oss", "cloud")
# Where a metadata file enables registries and overrides their fields: the current name first.
OVERRIDE_KEYS = ("registryOverrides", "registries")

SECRETS_MASK_FILE_NAME = "specs_secrets_mask.yaml"
SECRETS_MASK_PATH = f"{REGISTRY_FOLDER}/{SECRETS_MASK_FILE_NAME}"
REPORT_HTML_FILE_NAME = "connector_registry_report.html"
REPORT_JSON_FILE_NAME = "connector_registry_report.json"
REPORT_HTML_PATH = f"{REPORT_FOLDER}/{REPORT_HTML_FILE_NAME}"
REPORT_JSON_PATH = f"{REPORT_FOLDER}/{REPORT_JSON_FILE_NAME}"
ENTRY_MANIFEST_PATH = f"{STATE_FOLDER}/registry_entry_manifest.json"
# What a reader checks the published set against (SPEC §8); the signature, when signing is configured.
REGISTRY_MANIFEST_PATH = f"{REGISTRY_FOLDER}/manifest.json"
REGISTRY_MANIFEST_SIGNATURE_PATH = f"{REGISTRY_MANIFEST_PATH}.sig"
CONNECTOR_DOCUMENTS_FOLDER = f"{REGISTRY_FOLDER}/connectors"
# Which specs the entries were built from or wait for: what the metadata sensor watches.
SPEC_WATCH_PATH = f"{STATE_FOLDER}/spec_watch.json"

ALL_METADATA_GLOB = f"{METADATA_FOLDER}/**/{METADATA_FILE_NAME}"
LATEST_METADATA_GLOB = f"{METADATA_FOLDER}/**/{LATEST_FOLDER}/{METADATA_FILE_NAME}"
ICON_GLOB = f"{METADATA_FOLDER}/**/{ICON_FILE_NAME}"
YANK_MARKER_GLOB = f"{METADATA_FOLDER}/**/{YANK_MARKER_FILE_NAME}"
# What the metadata sensor watches, in one listing (GCS matchGlob and glob_to_regex read `{a,b}` as either).
METADATA_AND_YANK_MARKER_GLOB = f"{METADATA_FOLDER}/**/{{{METADATA_FILE_NAME},{YANK_MARKER_FILE_NAME}}}"
CLOUD_SPEC_GLOB = f"{SPEC_FOLDER}/**/{CLOUD_SPEC_FILE_NAME}"
# Every entry beside a metadata file, of every registry (`oss.json`, `cloud.json`).
ENTRY_GLOB = f"{METADATA_FOLDER}/**/{{{','.join(f'{name}.json' for name in REGISTRY_NAMES)}}}"
REGISTRY_FILES_GLOB = f"{REGISTRY_FOLDER}/*_registry.json"
# A full scan's one listing of the metadata folder: metadata files and yank markers, entries and icons
# (then told apart by their own globs). On GCS it returns what the three listings would; the emulator,
# which ignores matchGlob, sends its whole folder once instead of three times.
FULL_SCAN_GLOB = (
    f"{METADATA_FOLDER}/**/{{{METADATA_FILE_NAME},{YANK_MARKER_FILE_NAME},"
    f"{','.join(f'{name}.json' for name in REGISTRY_NAMES)},{ICON_FILE_NAME}}}"
)
SPEC_FILE_NAMES = (SPEC_FILE_NAME, CLOUD_SPEC_FILE_NAME)


def registry_file_name(registry: str) -> str:
    return f"{registry}_registry.json"


def registry_path(registry: str) -> str:
    return f"{REGISTRY_FOLDER}/{registry_file_name(registry)}"


def entry_file_name(registry: str) -> str:
    return f"{registry}.json"


def latest_entry_glob(registry: str) -> str:
    return f"{METADATA_FOLDER}/**/{LATEST_FOLDER}/{entry_file_name(registry)}"


def metadata_folder(repository: str, tag_or_latest: str) -> str:
    return f"{METADATA_FOLDER}/{repository}/{tag_or_latest}"


def metadata_path(repository: str, tag_or_latest: str) -> str:
    return f"{metadata_folder(repository, tag_or_latest)}/{METADATA_FILE_NAME}"


def folder_of(path: str) -> str:
    return path.rsplit("/", 1)[0]


def icon_path_beside(metadata_file: str) -> str:
    return f"{folder_of(metadata_file)}/{ICON_FILE_NAME}"


def entry_path(metadata_file: str, registry: str) -> str:
    """`metadata/<repo>/<tag>/oss.json` beside `metadata/<repo>/<tag>/metadata.yaml`."""
    return f"{folder_of(metadata_file)}/{entry_file_name(registry)}"


def is_latest_metadata(path: str) -> bool:
    folder, _, leaf = path.rpartition("/")
    return leaf == METADATA_FILE_NAME and folder.endswith(f"/{LATEST_FOLDER}")


def is_release_candidate_metadata(path: str) -> bool:
    folder, _, leaf = path.rpartition("/")
    return leaf == METADATA_FILE_NAME and folder.endswith(f"/{RELEASE_CANDIDATE_FOLDER}")


def is_versioned_metadata(path: str) -> bool:
    """`metadata/<repo>/<tag>/metadata.yaml`, neither latest/ nor release_candidate/."""
    return (
        path.startswith(f"{METADATA_FOLDER}/")
        and path.endswith(f"/{METADATA_FILE_NAME}")
        and not is_latest_metadata(path)
        and not is_release_candidate_metadata(path)
    )


def repository_folder_of(metadata_file: str) -> str:
    """`metadata/<repo>` of `metadata/<repo>/<tag or latest>/metadata.yaml`."""
    return folder_of(folder_of(metadata_file))


def latest_metadata_beside(metadata_file: str) -> str:
    """The latest/ metadata file of the connector that `metadata_file` belongs to."""
    return f"{repository_folder_of(metadata_file)}/{LATEST_FOLDER}/{METADATA_FILE_NAME}"


def release_candidate_metadata_beside(metadata_file: str) -> str:
    """The release_candidate/ metadata file of the connector that `metadata_file` belongs to."""
    return f"{repository_folder_of(metadata_file)}/{RELEASE_CANDIDATE_FOLDER}/{METADATA_FILE_NAME}"


def spec_path(repository: str, tag: str, cloud: bool = False) -> str:
    return f"{SPEC_FOLDER}/{repository}/{tag}/{CLOUD_SPEC_FILE_NAME if cloud else SPEC_FILE_NAME}"


def parse_spec_path(path: str) -> tuple[str, str, bool] | None:
    """`specs/<repo>/<tag>/spec[.cloud].json` -> (repository, tag, is the cloud spec); None otherwise."""
    parts = path.split("/")
    if len(parts) < 4 or parts[0] != SPEC_FOLDER or parts[-1] not in (SPEC_FILE_NAME, CLOUD_SPEC_FILE_NAME):
        return None
    return "/".join(parts[1:-2]), parts[-2], parts[-1] == CLOUD_SPEC_FILE_NAME


def yank_marker_path(repository: str, tag: str) -> str:
    return f"{metadata_folder(repository, tag)}/{YANK_MARKER_FILE_NAME}"


def is_yank_marker(path: str) -> bool:
    return path.startswith(f"{METADATA_FOLDER}/") and path.endswith(f"/{YANK_MARKER_FILE_NAME}")


def version_folder_parts(path: str) -> tuple[str, str]:
    """(repository folder `metadata/<repo>`, tag or folder name) of any file in a version folder."""
    folder = folder_of(path)
    return folder_of(folder), folder.rsplit("/", 1)[-1]


def light_index_path(registry: str) -> str:
    return f"{REGISTRY_FOLDER}/{registry}_index.json"


def connector_documents_folder(registry: str) -> str:
    return f"{CONNECTOR_DOCUMENTS_FOLDER}/{registry}"


def connector_document_path(registry: str, definition_id: str) -> str:
    return f"{connector_documents_folder(registry)}/{definition_id}.json"


def registry_documents_state_path(registry: str) -> str:
    return f"{STATE_FOLDER}/{registry}_registry_documents.json"


def registry_inputs_path(registry: str) -> str:
    return f"{STATE_FOLDER}/{registry}_registry_inputs.json"


def registry_diff_path(registry: str) -> str:
    return f"{STATE_FOLDER}/{registry}_registry_diff.json"


def registry_overrides(data: dict[str, Any]) -> dict[str, Any]:
    """The overrides block of a metadata `data` mapping: the first of OVERRIDE_KEYS that holds a
    mapping (so `registryOverrides: {}` hides an older `registries`), else `{}`."""
    for key in OVERRIDE_KEYS:
        overrides = data.get(key)
        if isinstance(overrides, dict):
            return overrides
    return {}


def registry_override(data: dict[str, Any], registry: str) -> dict[str, Any] | None:
    override = registry_overrides(data).get(registry)
    return override if isinstance(override, dict) else None
