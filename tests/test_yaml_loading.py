"""Bounded YAML reading: hostile files are refused as problems naming a line, within bounded memory."""

from __future__ import annotations

import datetime
import tracemalloc

import pytest
import yaml

from orchestrator.logic.yaml_loading import (
    MAX_DEPTH,
    MAX_EXPANDED_NODES,
    MAX_FILE_BYTES,
    YamlRefused,
    load_bounded_yaml,
)


def alias_bomb(levels: int = 9, width: int = 10) -> bytes:
    """`a` holds `width` scalars, each next level `width` aliases of the previous: width**levels nodes."""
    lines = ["a: &a [" + ", ".join(["lol"] * width) + "]"]
    for level in range(1, levels + 1):
        previous, name = f"l{level - 1}" if level > 1 else "a", f"l{level}"
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * width) + "]")
    return ("\n".join(lines) + "\n").encode()


def refusal(raw: bytes) -> str:
    with pytest.raises(YamlRefused) as refused:
        load_bounded_yaml(raw)
    return str(refused.value)


def test_plain_metadata_reads_exactly_as_the_safe_loader_reads_it():
    raw = (
        b"metadataSpecVersion: 1.0\n"
        b"data:\n"
        b"  name: Example\n"
        b"  releaseDate: 2024-05-01\n"
        b"  tags: [language:python, 'cdk:low-code']\n"
        b"  maxSecondsBetweenMessages: 86400\n"
        b"  defaults: &defaults {cpu_limit: '1'}\n"
        b"  resourceRequirements:\n"
        b"    default:\n"
        b"      <<: *defaults\n"
        b"      memory_limit: 2Gi\n"
    )
    document = load_bounded_yaml(raw)
    assert document == yaml.safe_load(raw)
    assert document["data"]["releaseDate"] == datetime.date(2024, 5, 1)
    assert document["data"]["resourceRequirements"]["default"] == {"cpu_limit": "1", "memory_limit": "2Gi"}


def test_an_alias_bomb_is_refused_before_it_expands():
    raw = alias_bomb()
    assert len(raw) < 3000
    tracemalloc.start()
    try:
        message = refusal(raw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert f"aliases expand to more than {MAX_EXPANDED_NODES:,} nodes" in message
    assert message.startswith("line ")
    assert peak < 5 * 1024 * 1024, f"refusing the bomb took {peak:,} bytes"


def test_aliases_within_the_budget_are_plain_data():
    document = load_bounded_yaml(alias_bomb(levels=3))
    assert len(document["l3"]) == 10 and document["l3"][0][0][0] == ["lol"] * 10


def test_a_recursive_alias_is_refused():
    assert "refers to a node that contains it" in refusal(b"a: &a [1, *a]\n")


@pytest.mark.parametrize(
    "raw",
    [
        ("a: " + "[" * 600 + "]" * 600 + "\n").encode(),
        ("a:\n" + "".join(" " * level + f"k{level}:\n" for level in range(1, 120)) + " " * 120 + "v\n").encode(),
    ],
    ids=["flow", "block"],
)
def test_deep_nesting_is_refused(raw):
    assert f"nested deeper than {MAX_DEPTH} levels" in refusal(raw)


def test_nesting_within_the_limit_reads():
    raw = ("a: " + "[" * (MAX_DEPTH - 2) + "1" + "]" * (MAX_DEPTH - 2) + "\n").encode()
    value = load_bounded_yaml(raw)["a"]
    for _ in range(MAX_DEPTH - 3):
        value = value[0]
    assert value == [1]


@pytest.mark.parametrize(
    "raw, tag",
    [
        (b"data:\n  icon: !!binary aGVsbG8=\n", "!!binary"),
        (b"data:\n  tags: !!set {a: null, b: null}\n", "!!set"),
        (b"data: !!python/object/apply:os.system [ls]\n", "!!python/object/apply:os.system"),
        (b"data:\n  x: !!omap [{a: 1}]\n", "!!omap"),
        (b"data:\n  x: !custom value\n", "!custom"),
    ],
)
def test_only_plain_data_tags_are_read(raw, tag):
    message = refusal(raw)
    assert f"the YAML tag {tag} is not plain data" in message
    assert "line " in message


@pytest.mark.parametrize("text", [".nan", ".NaN", ".inf", "-.Inf", "+.INF", "1.0e+999"])
def test_nan_and_infinity_are_refused(text):
    message = refusal(f"data:\n  maxSecondsBetweenMessages: {text}\n".encode())
    assert "is NaN or infinite, which JSON cannot hold" in message and "line 2" in message


def test_quoted_nan_is_a_string():
    assert load_bounded_yaml(b"a: '.nan'\n") == {"a": ".nan"}


def test_duplicate_keys_are_refused_naming_the_key_and_both_lines():
    message = refusal(b"data:\n  name: first\n  license: MIT\n  name: second\n")
    assert "duplicate key 'name' (lines 2 and 4)" in message


def test_a_merge_key_may_be_overridden():
    assert load_bounded_yaml(b"base: &b {a: 1, b: 2}\nx:\n  <<: *b\n  a: 3\n")["x"] == {"a": 3, "b": 2}


def test_every_problem_is_reported_not_just_the_first():
    message = refusal(b"a: .nan\nb: 1\nb: 2\nc: .inf\n")
    assert message.count("NaN or infinite") == 2 and "duplicate key 'b'" in message


def test_a_file_over_the_size_limit_is_refused_unread():
    message = refusal(b"a: '" + b"x" * MAX_FILE_BYTES + b"'\n")
    assert f"more than the {MAX_FILE_BYTES:,} a metadata file may hold" in message


def test_malformed_yaml_is_still_a_yaml_error():
    with pytest.raises(yaml.YAMLError):
        load_bounded_yaml(b"a: [unclosed\n")
