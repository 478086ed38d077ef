"""`// dropsafe:allow(rule-id, ...)` comments.

On a finding's line or the line above, an allow silences that finding; on the
line above an item (`fn`, `impl`, `mod`, ...) it silences the rule in the whole
item. Ids match exactly, and an unknown id is reported so a typo surfaces
instead of silently allowing nothing.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field

from tree_sitter import Node

from rules.model import pickled_as_call
from rules.rust.context import ITEM_TYPES
from rules.rust.parsing import column

ALLOW_MARK = b"dropsafe:allow"
_ALLOW = re.compile(rb"//[/!]?\s*" + ALLOW_MARK + rb"\(([^)\n]*)\)")


@pickled_as_call
@dataclass(frozen=True, slots=True)
class UnknownAllow:
    """An allow comment naming a rule id the catalogue does not have."""

    rule_id: str
    line: int
    column: int


@pickled_as_call
@dataclass(slots=True)
class Allowances:
    """Which (rule, line) pairs are silenced in one file; lines are 1-based."""

    # rule id -> list of inclusive line ranges where it is allowed
    ranges: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    unknown: list[UnknownAllow] = field(default_factory=list)

    def allows(self, rule_id: str, line: int) -> bool:
        return any(start <= line <= end for start, end in self.ranges.get(rule_id, ()))


def find_allowances(source: bytes, root: Node, known: Collection[str]) -> Allowances:
    allowances = Allowances()
    if ALLOW_MARK not in source:
        return allowances
    for match in _ALLOW.finditer(source):
        comment_line = source.count(b"\n", 0, match.start()) + 1
        line_start = source.rfind(b"\n", 0, match.start()) + 1
        at = column(source, match.start())
        if source[line_start : match.start()].strip():
            last = comment_line  # a trailing comment speaks for its own line only
        else:
            target = _next_code_line(source, match.end())
            last = _item_end_line(root, target) or target
        for raw in match.group(1).decode("utf-8", "replace").split(","):
            rule_id = raw.strip()
            if not rule_id:
                continue
            if rule_id not in known:
                allowances.unknown.append(UnknownAllow(rule_id, comment_line, at))
                continue
            allowances.ranges.setdefault(rule_id, []).append((comment_line, last))
    return allowances


def _next_code_line(source: bytes, offset: int) -> int:
    """The 1-based line after `offset` that is not a comment line: an allow
    still applies when other comments (`// SAFETY: ..`) stand between."""
    line = source.count(b"\n", 0, offset) + 1
    position = source.find(b"\n", offset)
    while position >= 0:
        line += 1
        end = source.find(b"\n", position + 1)
        text = source[position + 1 : end if end >= 0 else len(source)].strip()
        if not text.startswith(b"//"):
            break
        position = end
    return line


def _item_end_line(root: Node, line: int) -> int | None:
    """When `line` starts an item (possibly behind its attributes), the
    item's last line (1-based); else None."""
    node = _first_node_on_row(root, line - 1)
    while node is not None and node.type == "attribute_item":
        node = node.next_named_sibling
    if node is not None and node.type in ITEM_TYPES:
        return node.end_point[0] + 1
    return None


def _first_node_on_row(root: Node, row: int) -> Node | None:
    """The outermost named node that starts on `row`, found by descending
    (iteratively) through the nodes that span it."""
    node = root
    while True:
        child = next((c for c in node.named_children if c.end_point[0] >= row), None)
        if child is None or child.start_point[0] > row:
            return None
        if child.start_point[0] == row:
            return child
        node = child
