"""Registry report data: registry dicts in, pandas dataframes out. No Dagster, no GCS.

One frame per registry and connector type (`oss` sources, `cloud` destinations, ...), then one
merged frame per connector type with a row per definition id telling where it is published and
whether both registries ship the same image.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from orchestrator.models.steps import FailedEntryRow, InvalidFileRow, StaleRow

if TYPE_CHECKING:  # imported where a frame is built: pandas is 1.6 s of a process start
    import pandas as pd

# connector type -> (key of its list in a registry, name of its definition id field)
CONNECTOR_TYPES = {
    "source": ("sources", "sourceDefinitionId"),
    "destination": ("destinations", "destinationDefinitionId"),
}

GITHUB_REPOSITORY_URL = "https://github.com/airbytehq/airbyte"
CONNECTORS_SOURCE_FOLDER = "airbyte-integrations/connectors"

REGISTRY_COLUMNS = [
    "definitionId",
    "name",
    "connectorType",
    "dockerRepository",
    "dockerImageTag",
    "image",
    "releaseStage",
    "supportLevel",
    "sourceType",
    "language",
    "releaseCandidate",
    "tags",
    "githubIssueLabel",
    "documentationUrl",
    "iconUrl",
]

MERGED_COLUMNS = [
    "definitionId",
    "name",
    "connectorType",
    "releaseStage",
    "supportLevel",
    "sourceType",
    "language",
    "releaseCandidate",
    "inOss",
    "inCloud",
    "imageOss",
    "imageCloud",
    "imagesMatch",
    "documentationUrl",
    "issuesUrl",
    "sourceCodeUrl",
    "iconUrl",
]

# Fields of the merged row that describe the connector rather than one registry's copy of it:
# taken from the OSS entry, or from the Cloud entry when OSS lacks them.
_SHARED_FIELDS = (
    "name",
    "releaseStage",
    "supportLevel",
    "sourceType",
    "language",
    "releaseCandidate",
    "documentationUrl",
    "iconUrl",
)

PREVIEW_COLUMNS_REGISTRY = ["name", "definitionId", "image", "releaseStage", "supportLevel"]
PREVIEW_COLUMNS_MERGED = ["name", "imageOss", "imageCloud", "imagesMatch", "releaseStage", "supportLevel"]

DIFF_KINDS = ("added", "removed", "changed")
# Beside the kinds: the yanks behind this publish's changes (SPEC §6), each with from, to and reason.
YANKED_KIND = "yanked"
DIFF_ITEM_FIELDS = ("definitionId", "name", "connectorType", "dockerRepository", "dockerImageTag", "from", "to")


def _blank(value: Any) -> bool:
    import pandas as pd

    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) or value == ""


def plain_value(value: Any) -> Any:
    """A dataframe cell as a JSON-friendly Python value: numpy scalars unwrapped, NA/NaN as None."""
    if isinstance(value, (list, tuple)):
        return [plain_value(item) for item in value]
    if _blank(value) and not isinstance(value, str):
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


def frame_records(frame: pd.DataFrame) -> list[dict]:
    """Rows as plain dicts, in frame order."""
    return [{column: plain_value(value) for column, value in row.items()} for row in frame.to_dict("records")]


def docker_image(repository: str | None, tag: str | None) -> str | None:
    if _blank(repository):
        return None
    return f"{repository}:{tag}" if not _blank(tag) else repository


def issues_url(github_issue_label: str | None) -> str | None:
    """Open issues carrying the connector's label on the monorepo."""
    if _blank(github_issue_label):
        return None
    return f"{GITHUB_REPOSITORY_URL}/issues?" + urlencode({"q": f"is:open is:issue label:{github_issue_label}"})


def source_code_url(docker_repository: str | None) -> str | None:
    """The connector's folder in the monorepo, named after the image (`airbyte/source-faker` -> `source-faker`)."""
    if docker_repository is None or _blank(docker_repository):
        return None
    folder = docker_repository.rstrip("/").rsplit("/", 1)[-1]
    return f"{GITHUB_REPOSITORY_URL}/tree/master/{CONNECTORS_SOURCE_FOLDER}/{quote(folder)}"


def _language(entry: dict) -> str | None:
    if not _blank(entry.get("language")):
        return entry["language"]
    for tag in entry.get("tags") or []:
        if isinstance(tag, str) and tag.startswith("language:"):
            return tag.split(":", 1)[1]
    return None


def release_candidate_summary(entry: dict) -> str | None:
    """The release candidate in rollout (SPEC §4.1), e.g. `1.3.0-rc.1 (rollout 0-50%)`."""
    releases = entry.get("releases")
    candidates = releases.get("releaseCandidates") if isinstance(releases, dict) else None
    if not isinstance(candidates, dict) or not candidates:
        return None
    parts = []
    for tag, candidate in sorted(candidates.items()):
        candidate_releases = candidate.get("releases") if isinstance(candidate, dict) else None
        rollout = candidate_releases.get("rolloutConfiguration") if isinstance(candidate_releases, dict) else None
        if isinstance(rollout, dict) and rollout.get("enableProgressiveRollout"):
            parts.append(f"{tag} (rollout {rollout.get('initialPercentage', 0)}-{rollout.get('maxPercentage', 50)}%)")
        else:
            parts.append(str(tag))
    return ", ".join(parts)


def registry_dataframe(registry: dict, connector_type: str, registry_name: str) -> pd.DataFrame:
    """One row per entry of `registry`'s sources or destinations, in registry order.

    A malformed registry raises ValueError naming the registry and the entry: a report built on
    a half-read registry would silently under-count."""
    list_key, id_field = CONNECTOR_TYPES[connector_type]
    entries = registry.get(list_key) if isinstance(registry, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"the {registry_name} registry has no '{list_key}' list")
    rows = []
    seen: set[str] = set()
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict) or _blank(entry.get(id_field)):
            raise ValueError(f"the {registry_name} registry's {list_key}[{position}] has no {id_field}")
        definition_id = str(entry[id_field])
        if definition_id in seen:
            raise ValueError(f"the {registry_name} registry lists {connector_type} {definition_id} twice")
        seen.add(definition_id)
        tags = entry.get("tags") or []
        rows.append(
            {
                "definitionId": definition_id,
                "name": entry.get("name"),
                "connectorType": connector_type,
                "dockerRepository": entry.get("dockerRepository"),
                "dockerImageTag": entry.get("dockerImageTag"),
                "image": docker_image(entry.get("dockerRepository"), entry.get("dockerImageTag")),
                "releaseStage": entry.get("releaseStage"),
                "supportLevel": entry.get("supportLevel"),
                "sourceType": entry.get("sourceType"),
                "language": _language(entry),
                "releaseCandidate": release_candidate_summary(entry),
                # Joined so that the frame previews and serialises as plain text.
                "tags": ", ".join(str(tag) for tag in tags),
                "githubIssueLabel": entry.get("githubIssueLabel"),
                "documentationUrl": entry.get("documentationUrl"),
                "iconUrl": entry.get("iconUrl"),
            }
        )
    import pandas as pd

    return pd.DataFrame(rows, columns=REGISTRY_COLUMNS)


def _pick(field: str, oss_row: dict | None, cloud_row: dict | None) -> Any:
    for row in (oss_row, cloud_row):
        if row is not None and not _blank(row.get(field)):
            return row[field]
    return None


def _sort_key(row: dict) -> tuple:
    return ((row["name"] or "").casefold(), row["name"] or "", row["definitionId"])


def merge_registry_dataframes(oss_frame: pd.DataFrame, cloud_frame: pd.DataFrame) -> pd.DataFrame:
    """One row per definition id present in either registry, sorted by name then id.

    `imagesMatch` is True/False when both registries publish the connector, and missing (NA)
    when only one does: there is nothing to compare."""
    oss_rows = {row["definitionId"]: row for row in frame_records(oss_frame)}
    cloud_rows = {row["definitionId"]: row for row in frame_records(cloud_frame)}
    merged = []
    for definition_id in set(oss_rows) | set(cloud_rows):
        oss_row, cloud_row = oss_rows.get(definition_id), cloud_rows.get(definition_id)
        row = {"definitionId": definition_id, "connectorType": _pick("connectorType", oss_row, cloud_row)}
        row.update({field: _pick(field, oss_row, cloud_row) for field in _SHARED_FIELDS})
        row["inOss"] = oss_row is not None
        row["inCloud"] = cloud_row is not None
        row["imageOss"] = oss_row["image"] if oss_row else None
        row["imageCloud"] = cloud_row["image"] if cloud_row else None
        row["imagesMatch"] = row["imageOss"] == row["imageCloud"] if oss_row and cloud_row else None
        row["issuesUrl"] = issues_url(_pick("githubIssueLabel", oss_row, cloud_row))
        # The OSS image names the base connector; Cloud overrides may point at a variant image.
        row["sourceCodeUrl"] = source_code_url(_pick("dockerRepository", oss_row, cloud_row))
        merged.append(row)
    merged.sort(key=_sort_key)
    import pandas as pd

    frame = pd.DataFrame(merged, columns=MERGED_COLUMNS)
    frame["inOss"] = frame["inOss"].astype(bool)
    frame["inCloud"] = frame["inCloud"].astype(bool)
    frame["imagesMatch"] = frame["imagesMatch"].astype("boolean")
    return frame.reset_index(drop=True)


def merged_counts(merged: pd.DataFrame) -> dict[str, int]:
    """How many connectors of one type each registry publishes, and how many differ."""
    in_oss, in_cloud = merged["inOss"].astype(bool), merged["inCloud"].astype(bool)
    return {
        "total": int(len(merged)),
        "oss": int(in_oss.sum()),
        "cloud": int(in_cloud.sum()),
        "both": int((in_oss & in_cloud).sum()),
        "ossOnly": int((in_oss & ~in_cloud).sum()),
        "cloudOnly": int((~in_oss & in_cloud).sum()),
        "imagesDiffer": int((merged["imagesMatch"] == False).fillna(False).sum()),  # noqa: E712 (NA-aware)
    }


def _markdown_cell(value: Any) -> str:
    value = plain_value(value)
    if value is None:
        return ""
    text = str(value).replace("\r", " ").replace("\n", " ")
    return text.replace("\\", "\\\\").replace("|", "\\|")


def markdown_table(frame: pd.DataFrame, max_rows: int = 10, columns: Iterable[str] | None = None) -> str:
    """The first `max_rows` rows as a GitHub-flavoured markdown table, for Dagster metadata previews."""
    columns = [column for column in (columns or frame.columns) if column in frame.columns]
    if not columns:
        return "_no columns_"
    lines = [
        "| " + " | ".join(_markdown_cell(column) for column in columns) + " |",
        "|" + "|".join(" --- " for _ in columns) + "|",
    ]
    for row in frame_records(frame.head(max_rows)):
        lines.append("| " + " | ".join(_markdown_cell(row[column]) for column in columns) + " |")
    if len(frame) == 0:
        lines.append("\n_no rows_")
    elif len(frame) > max_rows:
        lines.append(f"\n_first {max_rows} of {len(frame)} rows_")
    return "\n".join(lines)


def _diff_item_key(item: dict) -> tuple:
    return (
        str(item.get("connectorType") or ""),
        str(item.get("name") or "").casefold(),
        str(item.get("definitionId") or ""),
    )


def parse_registry_diff(registry_name: str, data: bytes | None) -> dict:
    """The last recorded publish diff of one registry, ready to display.

    `status` is `missing` (no diff recorded yet), `unreadable` (with `error`) or `recorded`. An
    unreadable diff file must not stop the report: it is shown as such instead."""
    view: dict[str, Any] = {
        "registry": registry_name,
        "status": "missing",
        "error": None,
        **{kind: [] for kind in DIFF_KINDS},
        YANKED_KIND: [],
    }
    if data is None:
        return view
    try:
        document = json.loads(data)
        if not isinstance(document, dict):
            raise ValueError("the diff is not a JSON object")
        lists = {kind: document.get(kind) or [] for kind in (*DIFF_KINDS, YANKED_KIND)}
        for kind, items in lists.items():
            if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
                raise ValueError(f"'{kind}' is not a list of objects")
    except ValueError as error:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        return {**view, "status": "unreadable", "error": str(error)}
    view["status"] = "recorded"
    for kind, items in lists.items():
        view[kind] = sorted((_diff_item(item) for item in items), key=_diff_item_key)
    view[YANKED_KIND] = sorted(
        ({**_diff_item(item), "reason": plain_value(item.get("reason"))} for item in lists[YANKED_KIND]),
        key=_diff_item_key,
    )
    return view


def _diff_item(item: dict) -> dict:
    """Every field the report shows is present (None when the writer left it out), plus `image`."""
    shown: dict[str, Any] = {key: None for key in DIFF_ITEM_FIELDS}
    shown.update({key: plain_value(value) for key, value in item.items()})
    shown["image"] = docker_image(shown["dockerRepository"], shown["dockerImageTag"])
    return shown


def diff_counts(diff_view: dict) -> dict[str, int]:
    return {kind: len(diff_view.get(kind) or []) for kind in DIFF_KINDS}


def attention_view(
    invalid: Sequence[InvalidFileRow],
    failed: Sequence[FailedEntryRow],
    stale: Sequence[StaleRow],
    registry_images: Mapping[str, Mapping[str, str | None]],
    updated: Mapping[str, str],
    published: Mapping[str, str | None],
) -> dict:
    """The report's "Needs attention" section: invalid files, failed entries and stale connectors,
    each with since when (the update time of the metadata file, from the bucket: the same bucket
    gives the same report), and when each registry was last published.

    `registry_images`: registry -> definition id -> image in the published registry."""
    return {
        "status": "recorded",
        "invalidFiles": [
            {"file": row.file, "field": row.field, "reason": row.reason, "since": updated.get(row.file)}
            for row in invalid
        ],
        "failedEntries": [
            {
                "file": row.file,
                "registry": row.registry,
                "reason": row.reason,
                "awaitedSpecs": list(row.awaited_specs),
                "since": updated.get(row.file),
            }
            for row in failed
        ],
        "staleConnectors": [
            {
                "file": row.file,
                "registry": row.registry,
                "definitionId": row.definition_id,
                "metadataVersion": row.metadata_version,
                "registryImage": registry_images.get(row.registry, {}).get(row.definition_id),
                "reason": row.reason,
                "since": updated.get(row.file),
            }
            for row in stale
        ],
        "registriesPublished": dict(published),
        "counts": {
            "invalidFiles": len({row.file for row in invalid}),
            "failedEntries": len(failed),
            "staleConnectors": len(stale),
        },
    }


def attention_unknown(published: Mapping[str, str | None] | None = None) -> dict:
    """No entry manifest in the bucket (the entries were never built here): nothing is known."""
    view = attention_view([], [], [], {}, {}, published or {})
    return {**view, "status": "unknown"}


def published_images(merged: pd.DataFrame) -> dict[str, dict[str, str | None]]:
    """registry -> definition id -> image it publishes, from a merged frame."""
    records = frame_records(merged)
    return {
        "oss": {row["definitionId"]: row["imageOss"] for row in records if row["inOss"]},
        "cloud": {row["definitionId"]: row["imageCloud"] for row in records if row["inCloud"]},
    }
