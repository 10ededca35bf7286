"""Byte-deterministic output: keys sorted at every level, two-space indentation, no wall-clock values.

JSON is written by orjson: the same bytes as `json.dumps(value, sort_keys=True, indent=2,
ensure_ascii=False) + "\\n"` for every document a registry holds (string keys, integers within
64 bits, floats of magnitude 1e-4 and above; below that orjson writes `0.00001` where `json` writes
`1e-05`), several times faster. Values JSON cannot represent are refused (`TypeError`), except
NaN and infinities, which orjson writes as `null`: every reader refuses them before they get here."""

from __future__ import annotations

import json
from typing import Any

import orjson
import yaml

_JSON_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE


def to_json_bytes(value: Any) -> bytes:
    return orjson.dumps(value, option=_JSON_OPTIONS)


def reference_json_bytes(value: Any) -> bytes:
    """The standard library's rendering of the same format (tests compare the two)."""
    return (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def to_yaml_bytes(value: Any) -> bytes:
    return yaml.safe_dump(value, sort_keys=True, default_flow_style=False, allow_unicode=True).encode("utf-8")
