"""YAML read as PyYAML nodes, which keep the line of every key and value."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import yaml

from reprolock.formats.errors import ParseError

try:  # the C composer is several times faster on large files; both give the same nodes and marks
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

NULL_TAG = "tag:yaml.org,2002:null"
STR_TAG = "tag:yaml.org,2002:str"
BOOL_TAG = "tag:yaml.org,2002:bool"
INT_TAG = "tag:yaml.org,2002:int"
FLOAT_TAG = "tag:yaml.org,2002:float"
MERGE_TAG = "tag:yaml.org,2002:merge"


def compose(text: str) -> yaml.Node | None:
    """The first YAML document's node tree, or :class:`ParseError` where the parser stops."""
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        column = mark.column + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "invalid YAML"
        raise ParseError(f"invalid YAML: {problem}", line, column) from None
    except yaml.YAMLError as exc:
        position = getattr(exc, "position", None)
        line = text.count("\n", 0, position) + 1 if isinstance(position, int) else 1
        raise ParseError(f"invalid YAML: {exc}", line) from None


def compose_all(text: str) -> Iterator[yaml.Node]:
    """Every document's node tree, lazily; PyYAML's errors are the caller's to handle."""
    return yaml.compose_all(text, Loader=_Loader)


def node_line(node: yaml.Node) -> int:
    """The 1-based line where ``node`` starts."""
    return int(node.start_mark.line) + 1


def node_column(node: yaml.Node) -> int:
    """The 1-based column where ``node`` starts."""
    return int(node.start_mark.column) + 1


def scalar(node: yaml.Node | None) -> str | None:
    """The text of a non-null scalar node, else None."""
    if not isinstance(node, yaml.ScalarNode) or node.tag == NULL_TAG:
        return None
    return str(node.value)


def is_null(node: yaml.Node | None) -> bool:
    """True for a missing node or an explicit null."""
    return node is None or (isinstance(node, yaml.ScalarNode) and node.tag == NULL_TAG)


def sequence_items(node: yaml.Node | None) -> list[yaml.Node]:
    """The items of a sequence node; [] for anything else."""
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def unique(nodes: Iterable[yaml.Node], seen: set[int] | None = None) -> Iterator[yaml.Node]:
    """``nodes`` with every node after its first appearance left out (by identity, which is
    what an alias is): an anchored node is judged once, at the anchor, where its findings
    belong. ``seen`` carries the identities already judged across calls."""
    seen = set() if seen is None else seen
    for node in nodes:
        key = id(node)
        if key not in seen:
            seen.add(key)
            yield node


def mapping_pairs(node: yaml.Node | None) -> list[tuple[str, yaml.Node, yaml.Node]]:
    """(key text, key node, value node) for every scalar key of a mapping node, repeats kept."""
    if not isinstance(node, yaml.MappingNode):
        return []
    return [(str(k.value), k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)]


def mapping(node: yaml.Node | None) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """Scalar keys of a mapping node to (key node, value node); {} for anything else.

    Of a repeated key the first wins.
    """
    out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key, key_node, value in mapping_pairs(node):
        out.setdefault(key, (key_node, value))
    return out
