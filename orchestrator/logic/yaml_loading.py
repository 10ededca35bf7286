"""Reading a metadata file's YAML within fixed bounds, so that no file can exhaust the machine or crash
a run: a size limit, a nesting-depth limit, a budget for what aliases expand to (an alias bomb is a
few KB that expands to billions of nodes), plain-data tags only, no NaN or infinity (JSON has none),
and no duplicate keys. The document is composed once (libyaml caps nesting itself), the node graph is
checked without building Python objects, and only then constructed."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import yaml

try:  # the C parser is several times faster on large buckets
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 64
# Real metadata files hold a few hundred to a few thousand nodes.
MAX_EXPANDED_NODES = 100_000

_TAG = "tag:yaml.org,2002:"
PLAIN_DATA_TAGS = frozenset(
    _TAG + name for name in ("str", "int", "float", "bool", "null", "seq", "map", "timestamp", "merge")
)
_FLOAT = _TAG + "float"
_MERGE_KEY = "<<"


@dataclass(frozen=True)
class YamlProblem:
    where: str  # a field path (`data.name`) or `line N`
    message: str


class YamlRefused(ValueError):
    """The YAML is not plain data within the bounds; `problems` says where and why."""

    def __init__(self, problems: list[YamlProblem]):
        super().__init__("; ".join(f"{problem.where}: {problem.message}" for problem in problems))
        self.problems = problems


def _line(node: yaml.Node) -> str:
    return f"line {node.start_mark.line + 1}"


class _BoundedLoader(_BaseLoader):
    """The safe loader with plain-data constructors only, noting duplicate keys and non-finite
    numbers as it constructs (construction visits every node anyway)."""

    yaml_constructors = {
        tag: constructor for tag, constructor in _BaseLoader.yaml_constructors.items() if tag in PLAIN_DATA_TAGS
    }

    def __init__(self, stream: bytes):
        super().__init__(stream)
        self.problems: list[YamlProblem] = []

    def construct_undefined(self, node: yaml.Node) -> Any:
        self.problems.append(YamlProblem(_line(node), f"the YAML tag {node.tag.replace(_TAG, '!!')} is not plain data"))
        return None

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
        value = super().construct_yaml_float(node)
        if not math.isfinite(value):
            self.problems.append(
                YamlProblem(_line(node), f"{node.value[:20]!r} is NaN or infinite, which JSON cannot hold")
            )
        return value

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[str, yaml.Node] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.value == _MERGE_KEY:
                continue
            if key.value in seen:
                lines = f"lines {seen[key.value].start_mark.line + 1} and {key.start_mark.line + 1}"
                self.problems.append(YamlProblem(_line(key), f"duplicate key {key.value[:40]!r} ({lines})"))
            else:
                seen[key.value] = key
        return super().construct_mapping(node, deep=deep)


_BoundedLoader.add_constructor(None, _BoundedLoader.construct_undefined)
_BoundedLoader.add_constructor(_FLOAT, _BoundedLoader.construct_yaml_float)


def _collections(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return [item for item in node.value if not isinstance(item, yaml.ScalarNode)]
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair if not isinstance(item, yaml.ScalarNode)]
    return []


def _depth_problem(root: yaml.Node) -> YamlProblem | None:
    """Nesting depth, over collections only (a graph without aliases is a tree)."""
    stack = [(root, 1)]
    while stack:
        node, level = stack.pop()
        if level > MAX_DEPTH:
            return YamlProblem(_line(node), f"nested deeper than {MAX_DEPTH} levels")
        stack.extend((child, level + 1) for child in _collections(node))
    return None


def _alias_problem(root: yaml.Node) -> YamlProblem | None:
    """Depth and expanded size of a graph whose nodes aliases share, each computed once per node (a
    bomb's graph is small even when its expansion is not); a node that contains itself is refused."""
    expanded: dict[int, int] = {}
    depth: dict[int, int] = {}
    children: dict[int, list[yaml.Node]] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            kids = children.pop(key)
            expanded[key] = 1 + sum(expanded[id(child)] for child in kids)
            depth[key] = 1 + max((depth[id(child)] for child in kids), default=0)
            if expanded[key] > MAX_EXPANDED_NODES:
                return YamlProblem(
                    _line(node), f"aliases expand to more than {MAX_EXPANDED_NODES:,} nodes (an alias bomb?)"
                )
            if depth[key] > MAX_DEPTH:
                return YamlProblem(_line(node), f"nested deeper than {MAX_DEPTH} levels")
            continue
        if key in expanded:
            continue
        if key in children:
            return YamlProblem(_line(node), "an alias refers to a node that contains it (recursive YAML)")
        if isinstance(node, yaml.SequenceNode):
            children[key] = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children[key] = [item for pair in node.value for item in pair]
        else:
            children[key] = []
        stack.append((node, True))
        stack.extend((child, False) for child in children[key] if id(child) not in expanded)
    return None


def load_bounded_yaml(raw: bytes) -> Any:
    """The document as Python data, or `YamlRefused` naming where and why; malformed YAML raises
    `yaml.YAMLError` as usual."""
    if len(raw) > MAX_FILE_BYTES:
        raise YamlRefused(
            [YamlProblem("(file)", f"{len(raw):,} bytes is more than the {MAX_FILE_BYTES:,} a metadata file may hold")]
        )
    loader = _BoundedLoader(raw)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        # Only anchors let nodes be shared: without one, the graph is a tree as large as the file.
        shape = _alias_problem(root) if b"&" in raw else _depth_problem(root)
        if shape is not None:
            raise YamlRefused([shape])
        document = loader.construct_document(root)
        if loader.problems:
            raise YamlRefused(loader.problems)
        return document
    finally:
        loader.dispose()
