"""Lock guards and where they are still held (lock-across-await, nested-locks).

A guard is the value of `.lock()`, `.read()` or `.write()` called with no
arguments (`file.read(&mut buf)` is I/O, not a lock; `ptr.read()` on a raw
pointer copies memory out, see `_reads_pointer`), possibly through `.await`,
`?`, `.unwrap()`, `.expect(..)` and the like, bound by `let` to a name (also
through `match m.lock() { Ok(g) => g, Err(e) => e.into_inner() }`), or by
`if let`/`while let`, where it is held in the body. A
temporary (`m.lock().await.len()`) is released at the end of its statement, a
`let _ = ..` at once: neither is a guard here.

A guard is held from the end of its `let` to the end of its block, unless it is
moved out first (`drop(guard)`, `std::mem::drop(guard)`, any call taking it by
value). Code in a closure or in an `async` block that is not awaited on the
spot runs later, elsewhere: it is not "while the guard is held".
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from itertools import pairwise

from tree_sitter import Node

from rules.rust.bindings import origin
from rules.rust.context import FileContext
from rules.rust.locals import binds
from rules.rust.parsing import Nesting, ancestors, captures, lineage, text, unparenthesized
from rules.rust.syntax import method_calls

NEEDLES = (b".lock()", b".read()", b".write()")

_MOVES = "(call_expression arguments: (arguments (identifier) @arg))"

# `x.as_ptr().read()`, `cell.get().read()`: raw pointers, not locks
_POINTER_METHODS = frozenset(
    {
        "as_ptr",
        "as_mut_ptr",
        "get",
        "add",
        "sub",
        "offset",
        "cast",
        "cast_mut",
        "cast_const",
        "byte_add",
        "byte_sub",
        "wrapping_add",
        "wrapping_sub",
    }
)
# (declared types arrive with their spaces removed: `*constu8`)
_POINTER_TYPE = re.compile(r"^&?\*\s*(const|mut)|\b(NonNull|UnsafeCell|MaybeUninit)\b|ptr::")
_LOCK_TYPE = re.compile(r"Lock|Mutex")
_NESTED_LOCK = re.compile(r"(Lock|Mutex)\s*<\s*(Arc\s*<\s*)?\S*(Lock|Mutex)\b")
_ACQUIRE = frozenset({"lock", "read", "write"})
_WRAPPER = re.compile(r"^&?(mut)?\s*((std|alloc|core)::\w+::)?(Arc|Rc|Box|Pin|Option|Cow)\b")
_POINTER_NAME = re.compile(r"(^|_)ptr$", re.I)

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


@dataclass(frozen=True, slots=True)
class _Block:
    """What the guards of one block ask about it, read once for all of them:
    the identifiers passed as call arguments and the `let` statements, by name
    and in source order."""

    arguments: dict[bytes, list[Node]]
    lets: dict[str, list[int]]

    @staticmethod
    def of(block: Node) -> _Block:
        arguments: dict[bytes, list[Node]] = {}
        for arg in captures(_MOVES, block).get("arg", []):
            arguments.setdefault(arg.text or b"", []).append(arg)
        for found in arguments.values():
            found.sort(key=lambda arg: arg.start_byte)
        lets: dict[str, list[int]] = {}
        for statement in block.named_children:
            if statement.type == "let_declaration":
                lets.setdefault(_bound_name(statement), []).append(statement.start_byte)
        return _Block(arguments, lets)


@dataclass(slots=True)
class Guard:
    """An acquisition bound by `let` to `name`, in scope until `block` ends.
    `blocks` is shared by the file's guards (see `_Block`)."""

    name: str
    binding: Node
    block: Node
    acquisition: Acquisition
    blocks: dict[int, _Block] = field(default_factory=dict, repr=False)
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
            key = self.block.start_byte
            if key not in self.blocks:
                self.blocks[key] = _Block.of(self.block)
            block = self.blocks[key]
            lets = block.lets.get(self.name, [])
            later = bisect.bisect_right(lets, self.binding.start_byte)
            end = lets[later] if later < len(lets) else self.block.end_byte
            arguments = block.arguments.get(self.name.encode(), [])
            first = bisect.bisect_left(
                arguments, self.binding.end_byte, key=lambda arg: arg.start_byte
            )
            self._moves = []
            for arg in arguments[first:]:
                if arg.start_byte >= end:
                    break
                if runs_inline(arg, self.block):
                    self._moves.append(arg)
        return self._moves


@dataclass(frozen=True, slots=True)
class Locks:
    """Every acquisition of a file (in source order) and the guards among them."""

    acquisitions: list[Acquisition]
    guards: list[Guard]
    starts: list[int]
    blocks: Nesting  # the guards' blocks
    by_block: dict[int, list[Guard]]  # each block's guards (by node id), in source order

    def within(self, node: Node) -> list[Acquisition]:
        """The acquisitions inside `node`'s byte range."""
        low = bisect.bisect_left(self.starts, node.start_byte)
        high = bisect.bisect_right(self.starts, node.end_byte)
        return self.acquisitions[low:high]

    def holder(self, node: Node) -> Guard | None:
        """The guard bound last before `node` that is still held there: only
        guards of the blocks holding `node` can be, the innermost block's
        bound latest."""
        for block in self.blocks.holding(node):
            guards = self.by_block[block.id]
            before = bisect.bisect_left(
                guards, node.start_byte, key=lambda g: g.acquisition.call.start_byte
            )
            for index in range(before - 1, -1, -1):
                if guards[index].held_at(node):
                    return guards[index]
        return None


def locks(ctx: FileContext) -> Locks:
    """The file's locks, computed once for both lock rules."""
    return ctx.memo(_find_locks)


def _find_locks(ctx: FileContext) -> Locks:
    acquisitions = []
    for method, call in method_calls(ctx, ("lock", "read", "write")):
        arguments = call.child_by_field_name("arguments")
        if arguments is None or arguments.named_child_count > 0:
            continue
        if method.text != b"lock" and (_reads_pointer(ctx, call) or _not_a_lock(ctx, call)):
            continue
        acquisitions.append(Acquisition(call, method))
    blocks: dict[int, _Block] = {}
    guards = [g for g in (_guard(a, blocks) for a in acquisitions) if g is not None]
    starts = [a.call.start_byte for a in acquisitions]
    by_block: dict[int, list[Guard]] = {}
    for guard in guards:
        by_block.setdefault(guard.block.id, []).append(guard)
    return Locks(acquisitions, guards, starts, Nesting(g.block for g in guards), by_block)


def _not_a_lock(ctx: FileContext, call: Node) -> bool:
    """`.read()`/`.write()` whose receiver the file shows is something else:
    the value behind a guard (`histo.lock().unwrap().read()` reads a
    histogram, unless the guarded type is itself a lock: `Mutex<RwLock<T>>`),
    or a declared or constructed type that names no lock (`command: Command`).
    Unknown receivers stay locks: `.read()` with no arguments rarely is
    anything else."""
    function = call.child_by_field_name("function")
    receiver = unparenthesized(function.child_by_field_name("value") if function else None)
    if receiver is None:
        return False
    clues = origin(ctx, receiver)
    if any(name in _ACQUIRE for name in clues.names):
        return not clues.type_matches(_NESTED_LOCK)
    if clues.type_matches(_LOCK_TYPE):
        return False
    # a wrapper (`Arc<RwLock<T>>` reads `Arc` once `use` resolution drops the
    # generic arguments) says nothing either way
    return any(_WRAPPER.match(t) is None for t in clues.types)


def _reads_pointer(ctx: FileContext, call: Node) -> bool:
    """`.read()`/`.write()` on a raw pointer (`p.read()` with `p: *const T`,
    `x.as_ptr().read()`, `(x as *const T).read()`, `cell.get().read()`) rather
    than on a lock: judged by the receiver, unless its type names a lock."""
    function = call.child_by_field_name("function")
    value = function.child_by_field_name("value") if function is not None else None
    receiver = unparenthesized(value)
    if receiver is None:
        return False
    if receiver.type == "type_cast_expression":
        target = receiver.child_by_field_name("type")
        return target is not None and target.type == "pointer_type"
    if receiver.type == "call_expression":
        callee = receiver.child_by_field_name("function")
        if (
            callee is not None
            and callee.type == "field_expression"
            and text(callee.child_by_field_name("field")) in _POINTER_METHODS
        ):
            return True
    clues = origin(ctx, receiver)
    if clues.type_matches(_LOCK_TYPE):
        return False
    return clues.type_matches(_POINTER_TYPE) or bool(
        clues.names and _POINTER_NAME.search(clues.names[0])
    )


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


def _guard(acquisition: Acquisition, blocks: dict[int, _Block] | None = None) -> Guard | None:
    """The guard `acquisition` is bound to, or None for a temporary; `blocks`
    is shared by the file's guards (see `_Block`)."""
    if blocks is None:
        blocks = {}
    node = handed_value(acquisition.call)
    parent = node.parent
    if parent is not None and parent.child_by_field_name("value") == node:
        if parent.type == "let_condition":
            return _conditional_guard(parent, acquisition, blocks)
        if parent.type == "match_expression" and _arm_hands_on_guard(parent):
            node, parent = parent, parent.parent
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
    return Guard(name, parent, block, acquisition, blocks)


def temporary_extent(acquisition: Acquisition) -> tuple[Node, Node] | None:
    """Where an unbound guard (a temporary) lives, and the expression that
    yields it (`m.lock().await`, `m.lock().unwrap()`): to the end of its statement
    (`foo(m.lock().unwrap().len()).await;`), through the body of an `if let` or
    `while let` whose scrutinee holds it, to the end of an `if`/`while`
    condition, a `match` arm, a block's tail or a closure's body. None when the
    value is bound (a `Guard`) or handed to a call by value (`drop(m.lock())`,
    `timeout(d, m.lock())`: the callee decides)."""
    if _guard(acquisition) is not None:
        return None
    node = value = handed_value(acquisition.call)
    parent = node.parent
    if parent is None or parent.type == "arguments":
        return None
    while parent is not None:
        kind = parent.type
        if kind in {"expression_statement", "let_declaration"}:
            return parent, value
        if kind == "let_condition":
            return (parent.parent or parent), value
        if kind in {"if_expression", "while_expression"} and node == parent.child_by_field_name(
            "condition"
        ):
            return node, value
        if kind == "match_arm" and node == parent.child_by_field_name("value"):
            return node, value
        if kind in {"block", "closure_expression", "async_block", "function_item"}:
            return node, value
        node, parent = parent, parent.parent
    return None


def handed_value(call: Node) -> Node:
    """The outermost expression around the acquiring `call` that still yields
    the guard (or its Result): `m.lock().await?`, `m.lock().unwrap()`."""
    node = call
    while (handed := _hands_on(node)) is not None:
        node = handed
    return node


def _hands_on(node: Node) -> Node | None:
    """The expression around `node` that passes the same guard (or its Result)
    along: `.await`, `?`, parentheses, `.unwrap()`, `.expect(..)`; else None."""
    parent = node.parent
    if parent is None:
        return None
    if parent.type in {"await_expression", "try_expression", "parenthesized_expression"}:
        return parent
    if (
        parent.type == "field_expression"
        and parent.child_by_field_name("value") == node
        and text(parent.child_by_field_name("field")) in _PASS_THROUGH
        and parent.parent is not None
        and parent.parent.type == "call_expression"
    ):
        return parent.parent
    return None


def _conditional_guard(
    condition: Node, acquisition: Acquisition, blocks: dict[int, _Block]
) -> Guard | None:
    """`if let Ok(g) = m.lock() { .. }` / `while let ..`: held in the body."""
    owner = condition.parent
    if owner is None or owner.type not in {"if_expression", "while_expression"}:
        return None
    body = owner.child_by_field_name("consequence" if owner.type == "if_expression" else "body")
    name = _bound_name(condition)
    if not name or body is None:
        return None
    return Guard(name, condition, body, acquisition, blocks)


def _arm_hands_on_guard(match: Node) -> bool:
    """`match m.lock() { Ok(g) => g, Err(e) => e.into_inner() }`: some arm's
    value is the name its pattern binds, so the `let` gets the guard itself
    (not `Ok(g) => g.len()`)."""
    body = match.child_by_field_name("body")
    for arm in body.named_children if body is not None else []:
        value = arm.child_by_field_name("value")
        if (
            value is not None
            and value.type == "identifier"
            and binds(arm.child_by_field_name("pattern"), value.text or b"")
        ):
            return True
    return False


def _bound_name(let: Node) -> str:
    """`let g`, `let mut g`, `let g: T`, `let Ok(g) = .. else`: `g`; '' for `_`
    and for patterns that split the value."""
    pattern = let.child_by_field_name("pattern")
    if pattern is not None and pattern.type == "tuple_struct_pattern":
        inner = [c for c in pattern.named_children if c != pattern.child_by_field_name("type")]
        pattern = inner[0] if len(inner) == 1 else None
    if pattern is not None and pattern.type == "mut_pattern":  # `Ok(mut g)`
        pattern = pattern.named_children[-1] if pattern.named_children else None
    if pattern is None or pattern.type != "identifier":
        return ""
    return text(pattern)


def _release_region(move: Node, block: Node) -> Node:
    """The code a move certainly precedes: the branch it sits in (an `if` arm,
    a loop body), or the guard's whole block when it is unconditional."""
    for child, parent in lineage(move, block):
        if parent.type in _BRANCHES:
            return child
    return block


def _inside(node: Node, region: Node) -> bool:
    return region.start_byte <= node.start_byte and node.end_byte <= region.end_byte
