"""The registry report as HTML (jinja2, autoescaped) and as JSON. Pure: data in, text out."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from markupsafe import Markup

from orchestrator.layout import REGISTRY_NAMES
from orchestrator.logic.report import attention_unknown, diff_counts, frame_records, merged_counts

if TYPE_CHECKING:  # both imported on first use: they cost a process start over 1.6 s
    import pandas as pd
    from jinja2 import Environment

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
HTML_TEMPLATE = "connector_registry_report.html.j2"
# Kept out of the template so that its hash can go into the page's Content-Security-Policy:
# only this script may run, whatever a connector's metadata contains.
SCRIPT_FILE = "connector_registry_report.js"

# 2: the "needsAttention" section.
REPORT_FORMAT_VERSION = 2
REGISTRY_LABELS = {"oss": "OSS", "cloud": "Cloud"}


def safe_url(value: Any) -> str | None:
    """The URL when it is http(s), else None: autoescaping does not stop `javascript:` links."""
    if not isinstance(value, str) or not value:
        return None
    return value if urlsplit(value).scheme.lower() in ("http", "https") else None


@lru_cache(maxsize=1)
def report_environment() -> Environment:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    environment = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=True,
        undefined=StrictUndefined,  # a misspelt field fails the render instead of showing blank
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["safe_url"] = safe_url
    return environment


def build_report_data(
    all_sources: pd.DataFrame,
    all_destinations: pd.DataFrame,
    registry_changes: Mapping[str, dict],
    attention: dict | None = None,
) -> dict:
    """Everything both renderings show, as plain JSON-compatible values.

    `registry_changes` maps a registry name to the view of `report.parse_registry_diff`; a
    registry without one is shown as having no recorded changes. `attention`: the view of
    `report.attention_view` (None: unknown)."""
    changes = {}
    for name in REGISTRY_NAMES:
        view = registry_changes.get(name) or {
            "registry": name,
            "status": "missing",
            "error": None,
            "added": [],
            "removed": [],
            "changed": [],
        }
        changes[name] = {**view, "counts": diff_counts(view)}
    return {
        "reportFormatVersion": REPORT_FORMAT_VERSION,
        "counts": {"sources": merged_counts(all_sources), "destinations": merged_counts(all_destinations)},
        "registryChanges": changes,
        "needsAttention": attention if attention is not None else attention_unknown(),
        "sources": frame_records(all_sources),
        "destinations": frame_records(all_destinations),
    }


@lru_cache(maxsize=1)
def _report_script() -> tuple[str, Markup]:
    source = (TEMPLATES_DIR / SCRIPT_FILE).read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii")
    return source, Markup(f"'sha256-{digest}'")


def render_html_report(report_data: dict, json_url: str | None = None) -> str:
    """`json_url`: where the JSON twin is published. Without it the page links to it relatively,
    which only works where the two sit in one folder of a path-style URL (GCS, a CDN, a disk)."""
    script, script_hash = _report_script()
    template = report_environment().get_template(HTML_TEMPLATE)
    return template.render(
        report=report_data,
        json_url=safe_url(json_url) or "connector_registry_report.json",
        registry_names=REGISTRY_NAMES,
        registry_labels=REGISTRY_LABELS,
        # Our own file, not data: marked safe so it is inlined byte for byte (the hash must match).
        script=Markup(script),
        script_hash=script_hash,
    )


def render_json_report(report_data: dict) -> str:
    """Sorted keys, fixed indentation, no timestamps: the same registries give the same bytes."""
    return json.dumps(report_data, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
