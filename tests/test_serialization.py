"""to_json_bytes (orjson) writes exactly json.dumps(sort_keys=True, indent=2, ensure_ascii=False)
for registry documents."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from orchestrator.local.sample import generate_sample
from orchestrator.logic.serialization import embedded_json, from_json_bytes, reference_json_bytes, to_json_bytes

EDGE_CASES: list[Any] = [
    {},
    [],
    "",
    None,
    True,
    0,
    -12,
    1.5,
    1e16,
    0.0001,
    2**63,
    -0.0,
    {"b": [], "a": {}, "c": [{}], "d": [[]]},
    {"é": 'ünïcödé ✓ \u2028 \x00 \x1f \\ " /', "emoji": "🚀"},
    ["a", "b", "c"],
    ["a", 1, "b", None, 2.5, True],
    [1, 2, 3],
    ("tuple", ("nested",)),
    {"list of dicts": [{"z": 1, "a": [1, {"y": None}]}], "deep": {"x": {"y": {"z": ["q"]}}}},
]


@pytest.mark.parametrize("value", EDGE_CASES, ids=[repr(case)[:40] for case in EDGE_CASES])
def test_same_bytes_as_json_dumps(value):
    assert to_json_bytes(value) == reference_json_bytes(value)


def test_what_json_writes_but_a_registry_never_holds_is_refused_or_documented():
    # JSON has no NaN or infinity; orjson writes null where json.dumps writes invalid JSON. The
    # readers (metadata YAML, spec JSON) refuse them, so none reaches the writer.
    assert to_json_bytes([math.nan, math.inf]) == b"[\n  null,\n  null\n]\n"
    # Below 1e-4 the two spell a float differently; both parse back to the same number.
    assert json.loads(to_json_bytes([1e-7])) == json.loads(reference_json_bytes([1e-7]))


def test_realistic_specs_and_registry_shapes():
    sample = generate_sample(6, 3, seed=11, spec_size="realistic")
    specs = [json.loads(data) for data in sample.spec_objects.values()]
    for spec in specs:
        assert to_json_bytes(spec) == reference_json_bytes(spec)
    registry = {
        "destinations": [{"spec": spec, "name": "x"} for spec in specs[:3]],
        "sources": [{"spec": spec} for spec in specs[3:]],
    }
    assert to_json_bytes(registry) == reference_json_bytes(registry)


@pytest.mark.parametrize("depth", [0, 1, 3, 5])
def test_a_value_embedded_ahead_writes_the_same_document(depth):
    sample = generate_sample(6, 3, seed=11, spec_size="realistic")
    values = [*EDGE_CASES, *(json.loads(data) for data in list(sample.spec_objects.values())[:6])]
    values.append({"multi\nline": "a\nb\r\n\tc", "nested": [{"k": "\n"}, [], {}], "x": [[1, [2, {"y": "\n"}]]]})

    def nest(value, levels):  # `value` at `levels` levels deep: objects and lists alternating
        for level in range(levels):
            value = {"key": value, "after": 1} if level % 2 else [0, value]
        return value

    for value in values:
        assert to_json_bytes(nest(embedded_json(value, depth), depth)) == to_json_bytes(nest(value, depth))


@pytest.mark.parametrize("value", [{"a": object()}, [set()], {(1, 2): "tuple key"}])
def test_refuses_what_json_dumps_refuses(value):
    with pytest.raises(TypeError):
        reference_json_bytes(value)
    with pytest.raises(TypeError):
        to_json_bytes(value)


@pytest.mark.parametrize("value", [{2: "int key"}, {True: 1}, 10**30])
def test_refuses_keys_and_integers_a_registry_never_holds(value):
    # Entries are built with string keys (YAML keys are converted) and JSON-sized integers.
    with pytest.raises(TypeError):
        to_json_bytes(value)


# What orjson and json.loads read differently (or one of them refuses): from_json_bytes must give
# json.loads's value or raise json.loads's error for each.
READ_CASES: list[bytes] = [
    b'{"a":1,"b":2,"a":3}',
    b"[18446744073709551615, 18446744073709551616, -9223372036854775809, 12345678901234567890123]",
    b'{"n": 1000000000000000000000.5}',
    b"[1e400, -1e400, 1e-400]",
    b"[NaN, Infinity, -Infinity]",
    b'["\\ud800", "\\udfff"]',
    b'["\xed\xa0\x80"]',
    b"\xef\xbb\xbf{}",
    '{"utf16": 1}'.encode("utf-16"),
    b"[-0, -0.0, 0e0, 1E+2, 5e-324, 1.7976931348623157e308, 0.30000000000000004]",
    b'{"\\ud83d\\ude00": "\\u0000\\/\\uffff"}',
    b"[" * 2000 + b"]" * 2000,
    # 19-digit runs after each character a number can follow, and inside strings and exponents
    b"12345678901234567890123",
    b'{"a":12345678901234567890123,"b":[12345678901234567890123,-12345678901234567890123]}',
    b'{"a": 12345678901234567890123, "b":\t12345678901234567890123,\n"c":\r\n12345678901234567890123}',
    b"[+12345678901234567890123]",
    b"[1.12345678901234567890123, 1e1234567890123456789, 1E0000000000000000000001, 1e-1234567890123456789]",
    b'{"image": "python-connector-base:8.1.0@sha256:5f968defd8b43e1d1d219815341106721600949dee2362c97"}',
    b'["12345678901234567890123", "x:12345678901234567890123", "a 12345678901234567890123"]',
]


@pytest.mark.parametrize("data", READ_CASES, ids=[repr(case)[:40] for case in READ_CASES])
def test_from_json_bytes_reads_what_json_loads_reads(data):
    try:
        expected: Any = json.loads(data)
    except (ValueError, RecursionError) as error:
        with pytest.raises(type(error)):
            from_json_bytes(data)
        return
    assert repr(from_json_bytes(data)) == repr(expected)


def test_from_json_bytes_reads_digests_in_strings_with_orjson(monkeypatch):
    # Every real registry holds sha256 digests, some with 19-digit runs: they are not numbers, so
    # the document is read by orjson, not by the standard library.
    document = {"image": "base@sha256:5f968defd8b43e1d1d219815341106721600949dee2362c97", "n": 10**17}
    data = json.dumps(document).encode()

    def refused(*args, **kwargs):
        raise AssertionError("read by json.loads")

    monkeypatch.setattr(json, "loads", refused)
    assert from_json_bytes(data) == document


@pytest.mark.parametrize("data", [b"", b"[1,]", b'{"a" 1}', b'["\xff"]', b'["a\x01"]', b"[1] x"])
def test_from_json_bytes_raises_what_json_loads_raises(data):
    with pytest.raises(ValueError) as expected:
        json.loads(data)
    with pytest.raises(type(expected.value)) as got:
        from_json_bytes(data)
    assert str(got.value) == str(expected.value)


def test_from_json_bytes_floats_and_realistic_specs():
    import random
    import struct

    rng = random.Random(5)
    numbers = []
    for _ in range(20000):
        value = struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
        if math.isfinite(value):
            numbers.append(repr(value))
        numbers.append(f"{rng.random() * 10 ** rng.randint(-30, 30):.{rng.randint(1, 17)}g}")
    data = ("[" + ",".join(numbers) + "]").encode()
    assert repr(from_json_bytes(data)) == repr(json.loads(data))
    for raw in generate_sample(6, 3, seed=11, spec_size="realistic").spec_objects.values():
        assert repr(from_json_bytes(raw)) == repr(json.loads(raw))
