"""Byte-deterministic output: keys sorted at every level, no wall-clock values.

The JSON format is exactly `json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\\n"`.
With `indent`, the standard library falls back to its pure-Python generator encoder, which
dominated a full build (tens of thousands of entries carrying 5-50 KB specs). `to_json_bytes`
produces the same bytes with a recursive encoder that appends to one list, and encodes lists of
plain strings (spec enums, the bulk of a large spec) with a single C-level join."""

from __future__ import annotations

import json
from json.encoder import encode_basestring as _encode_string  # the C implementation when available
from typing import Any

import yaml

_INDENT = "  "
_INFINITY = float("inf")


def _float_text(value: float) -> str:
    # As json.dumps with allow_nan=True.
    if value != value:
        return "NaN"
    if value == _INFINITY:
        return "Infinity"
    if value == -_INFINITY:
        return "-Infinity"
    return float.__repr__(value)


def _key_text(key: Any) -> str:
    # As json.dumps: str keys as they are, scalars converted, anything else refused.
    if isinstance(key, str):
        return key
    if isinstance(key, float):
        return _float_text(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {key.__class__.__name__}")


def _encode(value: Any, level: int, parts: list[str]) -> None:
    if isinstance(value, str):
        parts.append(_encode_string(value))
    elif value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, int):
        parts.append(int.__repr__(value))
    elif isinstance(value, float):
        parts.append(_float_text(value))
    elif isinstance(value, dict):
        if not value:
            parts.append("{}")
            return
        inner = "\n" + _INDENT * (level + 1)
        separator = "," + inner
        parts.append("{" + inner)
        first = True
        for key, item in sorted(value.items()):
            if first:
                first = False
            else:
                parts.append(separator)
            parts.append(_encode_string(_key_text(key)))
            parts.append(": ")
            _encode(item, level + 1, parts)
        parts.append("\n" + _INDENT * level + "}")
    elif isinstance(value, (list, tuple)):
        if not value:
            parts.append("[]")
            return
        inner = "\n" + _INDENT * (level + 1)
        separator = "," + inner
        try:  # a list of strings only: one join (the encoder refuses anything but str)
            parts.append("[" + inner + separator.join(map(_encode_string, value)) + "\n" + _INDENT * level + "]")
            return
        except TypeError:
            pass
        parts.append("[" + inner)
        first = True
        for item in value:
            if first:
                first = False
            else:
                parts.append(separator)
            _encode(item, level + 1, parts)
        parts.append("\n" + _INDENT * level + "]")
    else:
        raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


def to_json_bytes(value: Any) -> bytes:
    parts: list[str] = []
    _encode(value, 0, parts)
    parts.append("\n")
    return "".join(parts).encode("utf-8")


def reference_json_bytes(value: Any) -> bytes:
    """The definition `to_json_bytes` must match byte for byte (tests compare the two)."""
    return (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def to_yaml_bytes(value: Any) -> bytes:
    return yaml.safe_dump(value, sort_keys=True, default_flow_style=False, allow_unicode=True).encode("utf-8")
