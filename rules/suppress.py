"""`// dropsafe:allow(rule-id, ...)` comments.

On a finding's line or the line above, an allow silences that finding; on the
line above an item (`fn`, `impl`, `mod`, ...) it silences the rule in the whole
item. Ids match exactly, and an unknown id is reported so a typo surfaces
instead of silently allowing nothing.

Clippy's own allows count too, for the lints a rule shares with clippy
(`CLIPPY_LINTS`): `#[allow(clippy::await_holding_lock)]` on an item silences
lock-across-await in it, `#![allow(..)]` in the module it opens (serial_test
holds its lock across `.await` on purpose, and says so to clippy).
"""

from __future__ import annotations

import bisect
import re
import sys
from collections.abc import Collection
from dataclasses import dataclass, field

from tree_sitter import Node

from rules.model import pickled_as_call
from rules.rust.context import ITEM_TYPES, attributes
from rules.rust.parsing import Lines

ALLOW_MARK = b"dropsafe:allow"
_ALLOW = re.compile(rb"//[/!]?\s*" + ALLOW_MARK + rb"\(([^)\n]*)\)")
_NO_LINE = sys.maxsize  # sorts after every line: `allows` bisects (line, _NO_LINE)
CLIPPY_LINTS = {
    b"await_holding_lock": "lock-across-await",
    b"mem_forget": "mem-forget",
    b"unwrap_used": "unwrap-in-production",
    b"expect_used": "unwrap-in-production",
    b"panic": "panic-in-production",
}
_CLIPPY_ALLOW = re.compile(rb"#(!?)\[\s*(?:allow|expect)\s*\(([^\]]*\bclippy\s*::[^\]]*)\)\s*\]")
_CLIPPY_LINT = re.compile(rb"\bclippy\s*::\s*(\w+)")


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

    # rule id -> the inclusive line ranges where it is allowed: sorted, disjoint
    # and not adjacent (merged), so a finding's line is looked up by bisection
    ranges: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    unknown: list[UnknownAllow] = field(default_factory=list)

    def allows(self, rule_id: str, line: int) -> bool:
        ranges = self.ranges.get(rule_id, ())
        k = bisect.bisect_right(ranges, (line, _NO_LINE)) - 1
        return k >= 0 and ranges[k][1] >= line


def find_allowances(source: bytes, root: Node, known: Collection[str]) -> Allowances:
    """The file's allow comments, each looked at once, what it needs (its
    line, the next line of code, the item there) found in time that does not
    grow with the file: a generated file may hold thousands."""
    allowances = Allowances()
    has_clippy = b"clippy" in source
    if ALLOW_MARK not in source and not has_clippy:
        return allowances
    lines = Lines(source)
    next_code = _NextCodeLine(lines)
    pending: list[tuple[str, int, int | None]] = []  # (rule id, line, next code line)
    whole: list[tuple[str, int, int]] = []  # (rule id, first line, last line)
    if has_clippy:
        _clippy_allows(source, root, lines, pending, whole)
    previous = 0  # the line of the previous allow comment
    for match in _ALLOW.finditer(source):
        line = lines.number(match.start())
        # A trailing comment speaks for its own line only (after another
        # comment on the line, it is trailing too).
        start = match.start()
        trailing = line == previous or bool(source[lines.start(start) : start].strip())
        previous = line
        at = lines.column(start)
        target = None if trailing else next_code(line)
        for raw in match.group(1).decode("utf-8", "replace").split(","):
            rule_id = raw.strip()
            if not rule_id:
                continue
            if rule_id not in known:
                allowances.unknown.append(UnknownAllow(rule_id, line, at))
                continue
            pending.append((rule_id, line, target))
    ends = _item_end_lines(root, {target for _, _, target in pending if target is not None})
    found: dict[str, list[tuple[int, int]]] = {}
    for rule_id, line, target in pending:
        last = line if target is None else ends.get(target, target)
        found.setdefault(rule_id, []).append((line, last))
    for rule_id, first, last in whole:
        found.setdefault(rule_id, []).append((first, last))
    allowances.ranges = {rule_id: _merged(ranges) for rule_id, ranges in found.items()}
    return allowances


def _clippy_allows(
    source: bytes,
    root: Node,
    lines: Lines,
    pending: list[tuple[str, int, int | None]],
    whole: list[tuple[str, int, int]],
) -> None:
    """Clippy allows of the lints in `CLIPPY_LINTS`: an outer attribute applies
    to its item (`pending`, as an allow comment above it), an inner one to what
    encloses it (`whole`)."""
    for match, attribute in attributes(root, source, _CLIPPY_ALLOW):
        rules = {CLIPPY_LINTS[m] for m in _CLIPPY_LINT.findall(match[2]) if m in CLIPPY_LINTS}
        line = lines.number(match.start())
        if match[1]:  # `#![allow(..)]`: the rest of the enclosing module or file
            owner = attribute.parent or root
            whole.extend((rule, line, owner.end_point[0] + 1) for rule in rules)
        else:
            pending.extend((rule, line, line) for rule in rules)


class _NextCodeLine:
    """The first line after a given one that is not a comment line: an allow
    still applies when other comments (`// SAFETY: ..`) stand between. The
    last answer is kept, so a run of comment lines is read once, not once
    per allow comment in it."""

    def __init__(self, lines: Lines) -> None:
        self.lines = lines
        self._asked = self._answer = 0  # lines asked+1 .. answer-1 are comment lines

    def __call__(self, line: int) -> int:
        if not self._asked <= line < self._answer:
            answer = line
            while answer < self.lines.count():
                answer += 1
                start = self.lines.line_start(answer)
                if not self.lines.source[start : self.lines.end(start)].strip().startswith(b"//"):
                    break
            self._asked, self._answer = line, answer
        return self._answer


def _item_end_lines(root: Node, lines: Collection[int]) -> dict[int, int]:
    """For each of `lines` (1-based) that starts an item (possibly behind its
    attributes), the item's last line.

    The node a line starts is the outermost named node starting on it, found
    by descending through the nodes that span it; all the lines share one
    descent, each node's children read once (children's end rows ascend, so
    each line's first child ending on or after it is found by merging)."""
    ends: dict[int, int] = {}
    work = [(root, sorted(line - 1 for line in lines))]
    while work:
        node, rows = work.pop()
        children = node.named_children
        k = 0
        for index, child in enumerate(children):
            within = []
            while k < len(rows) and rows[k] <= child.end_point[0]:
                row = rows[k]
                if child.start_point[0] < row:
                    within.append(row)
                elif child.start_point[0] == row:
                    item = index
                    while item < len(children) and children[item].type == "attribute_item":
                        item += 1
                    if item < len(children) and children[item].type in ITEM_TYPES:
                        ends[row + 1] = children[item].end_point[0] + 1
                k += 1
            if within:
                work.append((child, within))
            if k == len(rows):
                break
    return ends


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The union of inclusive line ranges, as sorted ranges that neither overlap nor touch."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
