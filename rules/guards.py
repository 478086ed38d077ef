"""Lock guards and where they are still held (lock-across-await, nested-locks).

A guard is the value of `.lock()`, `.read()` or `.write()` called with no
arguments (`file.read(&mut buf)` is I/O, not a lock), possibly through `.await`,
`?`, `.unwrap()`, `.expect(..)` and the like, bound by `let` to a name. A
temporary (`m.lock().await.len()`) is released at the end of its statement, a
`let _ = ..` at once: neither is a guard here.

A guard is held from the end of its `let` to the end of its block, unless it is
moved out first (`drop(guard)`, `std::mem::drop(guard)`, any call taking it by
value). Code in a closure or in an `async` block that is not awaited on the
spot runs later, elsewhere: it is not "while the guard is held".
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from itertools import pairwise

from tree_sitter import Node

from rules.context import FileContext
from rules.parsing import ancestors, captures
from rules.syntax import method_calls

NEEDLES = (b".lock()", b".read()", b".write()")

_MOVES = "(call_expression arguments: (arguments (identifier) @arg))"

# methods that hand the guard on (a Result/Option of it, or the guard itself)
_PASS_THROUGH = frozenset({"unwrap", "expect", "unwrap_or_else", "map_err", "ok", "context"})
# a node whose parent is one of these runs conditionally or repeatedly
_BRANCHES = frozenset(
    {
        "if_expression",
        "else_clause",
        "match_arm",
        "while_expression",
        "loop_expression",
        "for_expression",
    }
)


@dataclass(frozen=True, slots=True)
class Acquisition:
    """One zero-argument `.lock()`/`.read()`/`.write()` call."""

    call: Node
    method: Node


@dataclass(slots=True)
class Guard:
    """An acquisition bound by `let` to `name`, in scope until `block` ends."""

    name: str
    binding: Node
    block: Node
    acquisition: Acquisition
    _moves: list[Node] | None = field(default=None, repr=False)

    @property
    def line(self) -> int:
        return self.binding.start_point[0] + 1

    def held_at(self, node: Node) -> bool:
        """True when `node` runs while this guard is still held."""
        if not (self.binding.end_byte <= node.start_byte and node.end_byte <= self.block.end_byte):
            return False
        if not runs_inline(node, self.block):
            return False
        return not any(
            move.end_byte <= node.start_byte and _inside(node, _release_region(move, self.block))
            for move in self.moves()
        )

    def moves(self) -> list[Node]:
        """Where the guard is passed by value (`drop(guard)`), before any later
        `let` of the same name in its block re-binds the name."""
        if self._moves is None:
            end = self.block.end_byte
            for statement in self.block.named_children:
                if (
                    statement.start_byte > self.binding.start_byte
                    and statement.type == "let_declaration"
                    and _bound_name(statement) == self.name
                ):
                    end = statement.start_byte
                    break
            self._moves = [
                arg
                for arg in captures(_MOVES, self.block).get("arg", [])
                if self.binding.end_byte <= arg.start_byte < end
                and arg.text == self.name.encode()
                and runs_inline(arg, self.block)
            ]
        return self._moves


@dataclass(frozen=True, slots=True)
class Locks:
    """Every acquisition of a file (in source order) and the guards among them."""

    acquisitions: list[Acquisition]
    guards: list[Guard]
    starts: list[int]

    def within(self, node: Node) -> list[Acquisition]:
        """The acquisitions inside `node`'s byte range."""
        low = bisect.bisect_left(self.starts, node.start_byte)
        high = bisect.bisect_right(self.starts, node.end_byte)
        return self.acquisitions[low:high]


def locks(ctx: FileContext) -> Locks:
    """The file's locks, computed once for both lock rules."""
    return ctx.memo(_find_locks)


def _find_locks(ctx: FileContext) -> Locks:
    acquisitions = []
    for method, call in method_calls(ctx, ("lock", "read", "write")):
        arguments = call.child_by_field_name("arguments")
        if arguments is not None and arguments.named_child_count == 0:
            acquisitions.append(Acquisition(call, method))
    guards = [g for g in map(_guard, acquisitions) if g is not None]
    starts = [a.call.start_byte for a in acquisitions]
    return Locks(acquisitions, guards, starts)


def runs_inline(node: Node, top: Node) -> bool:
    """False when `node` sits in a closure, a nested fn or an `async` block not
    awaited on the spot, between itself and `top`: that code runs later."""
    chain = ancestors(node, top)
    for inner, outer in pairwise(chain):
        if inner.type in {"closure_expression", "function_item"}:
            return False
        if inner.type == "async_block" and outer.type != "await_expression":
            return False
    return True


def _guard(acquisition: Acquisition) -> Guard | None:
    """The guard `acquisition` is bound to, or None for a temporary."""
    node = acquisition.call
    parent = node.parent
    while parent is not None:
        if parent.type in {"await_expression", "try_expression", "parenthesized_expression"}:
            node = parent
        elif (
            parent.type == "field_expression"
            and parent.child_by_field_name("value") == node
            and _text(parent.child_by_field_name("field")) in _PASS_THROUGH
            and parent.parent is not None
            and parent.parent.type == "call_expression"
        ):
            node = parent.parent
        else:
            break
        parent = node.parent
    if (
        parent is None
        or parent.type != "let_declaration"
        or parent.child_by_field_name("value") != node
    ):
        return None
    name = _bound_name(parent)
    block = parent.parent
    if not name or block is None:
        return None
    return Guard(name, parent, block, acquisition)


def _bound_name(let: Node) -> str:
    """`let g`, `let mut g`, `let g: T`, `let Ok(g) = .. else`: `g`; '' for `_`
    and for patterns that split the value."""
    pattern = let.child_by_field_name("pattern")
    if pattern is not None and pattern.type == "tuple_struct_pattern":
        inner = [c for c in pattern.named_children if c != pattern.child_by_field_name("type")]
        pattern = inner[0] if len(inner) == 1 else None
    if pattern is None or pattern.type != "identifier":
        return ""
    return _text(pattern)


def _release_region(move: Node, block: Node) -> Node:
    """The code a move certainly precedes: the branch it sits in (an `if` arm,
    a loop body), or the guard's whole block when it is unconditional."""
    chain = [move, *ancestors(move, block)]
    for child, parent in pairwise(chain):
        if parent.type in _BRANCHES:
            return child
    return block


def _inside(node: Node, region: Node) -> bool:
    return region.start_byte <= node.start_byte and node.end_byte <= region.end_byte


def _text(node: Node | None) -> str:
    return (node.text or b"").decode("utf-8", "replace") if node is not None else ""
