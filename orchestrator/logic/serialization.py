"""Byte-deterministic output: keys sorted at every level, no wall-clock values."""

from __future__ import annotations

import json
from typing import Any

import yaml


def to_json_bytes(value: Any) -> bytes:
    return (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def to_yaml_bytes(value: Any) -> bytes:
    return yaml.safe_dump(value, sort_keys=True, default_flow_style=False, allow_unicode=True).encode("utf-8")
