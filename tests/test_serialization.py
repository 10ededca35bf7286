"""to_json_bytes is a faster encoder for exactly json.dumps(sort_keys=True, indent=2, ensure_ascii=False)."""

from __future__ import annotations

import json
import math

import pytest

from orchestrator.local.sample import generate_sample
from orchestrator.logic.serialization import reference_json_bytes, to_json_bytes

EDGE_CASES = [
    {},
    [],
    "",
    None,
    True,
    0,
    -12,
    10**30,
    1.5,
    1e16,
    -0.0,
    1e-7,
    math.inf,
    -math.inf,
    {"b": [], "a": {}, "c": [{}], "d": [[]]},
    {"é": "ünïcödé ✓ \u2028 \x00 \x1f \\ \" /", "emoji": "🚀"},
    {2: "int key", 1: "sorted as ints"},
    {1.5: "float", 2.5: True},
    {True: 1, False: 0},
    ["a", "b", "c"],
    ["a", 1, "b", None, 2.5, True],
    [1, 2, 3],
    ("tuple", ("nested",)),
    {"list of dicts": [{"z": 1, "a": [1, {"y": None}]}], "deep": {"x": {"y": {"z": ["q"]}}}},
]


@pytest.mark.parametrize("value", EDGE_CASES, ids=[repr(case)[:40] for case in EDGE_CASES])
def test_same_bytes_as_json_dumps(value):
    assert to_json_bytes(value) == reference_json_bytes(value)


def test_nan_like_json_dumps():
    assert to_json_bytes([math.nan]) == reference_json_bytes([math.nan])


def test_realistic_specs_and_registry_shapes():
    sample = generate_sample(6, 3, seed=11, spec_size="realistic")
    specs = [json.loads(data) for data in sample.spec_objects.values()]
    for spec in specs:
        assert to_json_bytes(spec) == reference_json_bytes(spec)
    registry = {"destinations": [{"spec": spec, "name": "x"} for spec in specs[:3]], "sources": [{"spec": spec} for spec in specs[3:]]}
    assert to_json_bytes(registry) == reference_json_bytes(registry)


@pytest.mark.parametrize("value", [{"a": object()}, [set()], {(1, 2): "tuple key"}])
def test_refuses_what_json_dumps_refuses(value):
    with pytest.raises(TypeError):
        reference_json_bytes(value)
    with pytest.raises(TypeError):
        to_json_bytes(value)
