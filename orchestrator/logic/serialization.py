"""Byte-deterministic output: keys sorted at every level, two-space indentation, no wall-clock values.

JSON is written by orjson: the same bytes as `json.dumps(value, sort_keys=True, indent=2,
ensure_ascii=False) + "\\n"` for every document a registry holds (string keys, integers within
64 bits, floats of magnitude 1e-4 and above; below that orjson writes `0.00001` where `json` writes
`1e-05`), several times faster. Values JSON cannot represent are refused (`TypeError`), except
NaN and infinities, which orjson writes as `null`: every reader refuses them before they get here.

JSON is read by orjson too (`from_json_bytes`), falling back to the standard library wherever the two
could disagree, so that every document reads as the same value `json.loads` gives."""

from __future__ import annotations

import json
from typing import Any

import orjson
import yaml

_JSON_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
# orjson reads an integer beyond 64 bits as a float; every such integer has 19 digits or more. To
# find a run of 19 digits, every digit becomes "0" and every other byte " " (a C-speed translation,
# several times faster than a regular expression), then the run is one substring search.
_DIGITS_AS_ZEROS = bytes(ord("0") if chr(byte).isdigit() and byte < 128 else ord(" ") for byte in range(256))
_LONG_DIGIT_RUN = b"0" * 19
# A number's digits follow one of these (or start the document); a run after anything else is inside
# a string (a sha256 digest in an image name holds such runs) or an exponent, which orjson reads
# as json.loads does or refuses. After "." it may be a long fraction: left to json.loads too.
_NUMBER_LEADS = frozenset(b" \t\r\n:,[-+.")


def _may_hold_a_long_number(data: bytes) -> bool:
    digits = data.translate(_DIGITS_AS_ZEROS)
    start = digits.find(_LONG_DIGIT_RUN)
    while start >= 0:
        # `find` gives the leftmost match: the first digit of a run.
        if start == 0 or data[start - 1] in _NUMBER_LEADS:
            return True
        end = digits.find(b" ", start)
        if end < 0:
            return False
        start = digits.find(_LONG_DIGIT_RUN, end)
    return False


def to_json_bytes(value: Any) -> bytes:
    return orjson.dumps(value, option=_JSON_OPTIONS)


def embedded_json(value: Any, depth: int) -> orjson.Fragment:
    """`value` already serialised as `to_json_bytes` writes it `depth` levels deep in a document
    (each level two spaces): the document written with the fragment in its place is byte for byte
    the one written with the value, and the parsed value can be let go in the meantime. Exact
    because JSON text holds a line break only as indentation (one inside a string is written `\\n`)."""
    text = to_json_bytes(value).removesuffix(b"\n")
    return orjson.Fragment(text.replace(b"\n", b"\n" + b"  " * depth))


def from_json_bytes(data: bytes) -> Any:
    """Exactly `json.loads(data)`: the same value, or the same error. orjson reads what both accept
    the same way (dicts in the same key order, the last of duplicate keys, floats correctly
    rounded), several times faster; whatever orjson refuses (NaN and infinities, lone surrogates,
    a byte-order mark, another encoding than UTF-8, too deep a nesting) and any document with a
    19-digit run where a number can start (an integer orjson would turn into a float) is read by
    `json.loads` instead, which then also raises the error the caller expects."""
    if not _may_hold_a_long_number(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)


def from_own_json_bytes(data: bytes) -> Any:
    """`from_json_bytes` of bytes `to_json_bytes` wrote, by orjson alone: they hold no integer beyond
    64 bits (orjson refuses to write one) and nothing else orjson reads differently, so the scan
    for long numbers (about 0.05 s per 28 MB registry) has nothing to find."""
    return orjson.loads(data)


def reference_json_bytes(value: Any) -> bytes:
    """The standard library's rendering of the same format (tests compare the two)."""
    return (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def to_yaml_bytes(value: Any) -> bytes:
    return yaml.safe_dump(value, sort_keys=True, default_flow_style=False, allow_unicode=True).encode("utf-8")
