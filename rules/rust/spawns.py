"""Spawn calls: which ones start a task or a thread, and whether the handle
they return is thrown away.

Shared by drop-detached-spawn, detached-spawn (is this spawn detached?) and
drop-block-on / drop-blocking-call (does this closure run on another thread?).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from tree_sitter import Node

from rules.rust.bindings import field_types, origin, short_text, tuple_field_type
from rules.rust.context import FileContext
from rules.rust.excuses import drop_excuse
from rules.rust.locals import binding_of, call_of_argument
from rules.rust.parsing import lineage
from rules.rust.syntax import (
    call_named,
    calls_query,
    in_one_time_init,
    runs_only_when_not_panicking,
)

SPAWN_NAMES = ("spawn", "spawn_local", "spawn_blocking", "spawn_scoped")
SPAWN_CALLS = calls_query(*SPAWN_NAMES)
Family = Literal["task", "blocking", "thread", "scoped"]
# Families whose closure runs on a thread other than the caller's.
OTHER_THREAD: frozenset[Family] = frozenset({"blocking", "thread", "scoped"})

_FUNCTIONS: dict[str, Family] = {
    "tokio::spawn": "task",
    "tokio::task::spawn": "task",
    "tokio::task::spawn_local": "task",
    "tokio::task::spawn_blocking": "blocking",
    "async_std::task::spawn": "task",
    "async_std::task::spawn_local": "task",
    "async_std::task::spawn_blocking": "blocking",
    "std::thread::spawn": "thread",
    "thread::spawn": "thread",
}
_RUNTIME_OWNERS = frozenset({"Handle", "Runtime", "LocalSet"})

# Receiver clues of a `.spawn(..)` method call, strongest first (see `_receiver_family`).
_TRACKED_TYPE = re.compile(r"\b(TaskTracker|JoinSet|JoinMap|FuturesUnordered)\b")
_SCOPE_TYPE = re.compile(r"thread::scope$|\bScope\b")
_THREAD_BUILDER = re.compile(r"^((std::)?thread::)?Builder::new$")
_NOT_A_TASK_TYPE = re.compile(r"\bCommand\b|process::")
_RUNTIME_TYPE = re.compile(
    r"\b(Handle|Runtime|LocalSet)\b|runtime::|Builder::new_(current|multi)_thread"
)
# A runtime-like name that is a trait object (`Arc<dyn Runtime>`, `impl Runtime`):
# tokio's and async-std's runtimes, handles and local sets are structs.
_TRAIT_OBJECT = re.compile(r"\b(dyn|impl)\s+([\w:]*::)?(Handle|Runtime|LocalSet)\b")
_RUNTIME_PATH = re.compile(r"[\w:]*\b(Handle|Runtime|LocalSet)\b")
_OWN_PATH = ("crate::", "self::", "super::")
_TRACKED_NAME = re.compile(r"tracker|join_?set|task_?set", re.I)
_RUNTIME_NAME = re.compile(r"(^|_)(rt|runtime|handle|local_?set)\d*($|_)", re.I)

# Methods that hand the spawn's result on unchanged for our purpose:
# `Builder::spawn(..).expect(..)` still holds (or drops) the JoinHandle.
_PASS_THROUGH = frozenset({b"unwrap", b"expect", b"ok"})
_COMMENTS = frozenset({"line_comment", "block_comment"})
_DROP_FUNCTIONS = frozenset({"drop", "std::mem::drop", "core::mem::drop", "mem::drop"})


@dataclass(frozen=True, slots=True)
class Spawn:
    """A recognised spawn: how messages name it, and where its work runs."""

    name: str
    family: Family


def spawn_calls(ctx: FileContext) -> list[Node]:
    """Every call of a function or method named like a spawn, in the whole
    file, found by byte search (cheaper than a query over the whole tree)."""
    names = ctx.occurrences(SPAWN_NAMES, {"identifier", "field_identifier"})
    calls = (call_named(ctx, name) for name in names)
    return [call for call in calls if call is not None]


def classify_spawn(ctx: FileContext, call: Node) -> Spawn | None:
    """What `call` spawns, or None when it is no task or thread spawn (a
    `TaskTracker`/`JoinSet` spawn someone awaits, `Command::spawn`, an
    unknown receiver, a local function named `spawn`)."""
    function = call.child_by_field_name("function")
    if function is None:
        return None
    if function.type == "field_expression":
        return _method_spawn(ctx, function)
    path = ctx.resolve(ctx.text(function))
    family = _FUNCTIONS.get(path)
    if family is not None:
        return Spawn("std::thread::spawn" if family == "thread" else path, family)
    segments = path.split("::")
    if len(segments) >= 2 and segments[-2] in _RUNTIME_OWNERS:
        name = f"{segments[-2]}::{segments[-1]}"
        return Spawn(name, "blocking" if segments[-1] == "spawn_blocking" else "task")
    return None


def handle_discarded(ctx: FileContext, call: Node) -> bool:
    """True when the handle `call` returns is thrown away: an expression
    statement, `let _ =`, `_ =`, a `let` binding never used afterwards,
    `drop(..)`, or the tail of a block (an `if`/`match` arm, `unsafe`) whose
    own value is thrown away. Anything else keeps it: a used binding, an
    argument (`handles.push(..)`), a field, a return, `.await`, `.join()`."""
    node = call
    parent = ctx.parent(call)
    while parent is not None:
        kind = parent.type
        if kind == "expression_statement" and not _block_tail(ctx, parent):
            return True
        if kind == "let_declaration":
            return _binding_unused(ctx, parent)
        if kind == "assignment_expression":
            return node == parent.child_by_field_name("right") and _is_underscore(
                parent.child_by_field_name("left")
            )
        if kind == "arguments":
            owner = ctx.parent(parent)
            function = owner.child_by_field_name("function") if owner is not None else None
            return function is not None and ctx.resolve(ctx.text(function)) in _DROP_FUNCTIONS
        if kind == "field_expression":
            field = parent.child_by_field_name("field")
            outer = ctx.parent(parent)
            if field is None or field.text not in _PASS_THROUGH:
                return False
            if outer is None or outer.type != "call_expression":
                return False
            parent = outer  # `.unwrap()`: continue with the whole call
        elif not _passes_value_up(ctx, node, parent):
            return False
        node = parent
        parent = ctx.parent(parent)
    return False


def closure_on_other_thread(ctx: FileContext, closure: Node) -> bool:
    """True when `closure` is the argument of a spawn that runs it on another
    thread: `std::thread::spawn`, a `thread::Builder`, a scoped thread,
    `spawn_blocking`."""
    call = call_of_argument(closure)
    spawn = classify_spawn(ctx, call) if call is not None else None
    return spawn is not None and spawn.family in OTHER_THREAD


def in_spawned_code(ctx: FileContext, node: Node, function: Node) -> bool:
    """True when `node` sits in a closure or `async` block handed to a spawn
    (a task, a thread, a tracker's task): it runs there, not in `function`."""
    for child, parent in lineage(node, function):
        if child.type in {"closure_expression", "async_block"} and parent.type == "arguments":
            call = parent.parent
            callee = call.child_by_field_name("function") if call is not None else None
            name = ctx.text(callee).rsplit(".", 1)[-1].rsplit("::", 1)[-1]
            if callee is not None and name in SPAWN_NAMES:
                return True
    return False


@drop_excuse(b"panicking", b"spawn", b"init", b"call_once")
def cannot_abort(ctx: FileContext, node: Node, function: Node) -> bool:
    """The excuse of drop-unwrap and drop-panic: a panic there cannot abort the
    process, because the code runs only while the thread is not unwinding
    (`runs_only_when_not_panicking`) or runs on a spawned thread or task,
    where a panic ends that thread or task, or it is not in Drop at all (a
    one-time initialiser's closure, `in_one_time_init`). A closure given to an
    iterator adapter (`for_each`, `map`, `retain`) runs right here and is not
    excused."""
    return (
        runs_only_when_not_panicking(ctx, node, function)
        or in_spawned_code(ctx, node, function)
        or in_one_time_init(ctx, node, function)
    )


def _method_spawn(ctx: FileContext, function: Node) -> Spawn | None:
    receiver = function.child_by_field_name("value")
    method = function.child_by_field_name("field")
    if receiver is None or method is None:
        return None
    family = _receiver_family(ctx, receiver)
    if family is None:
        return None
    name = ctx.text(method)
    if family == "task" and name == "spawn_blocking":
        family = "blocking"
    elif family == "thread" and name == "spawn_scoped":
        family = "scoped"
    return Spawn(short_text(ctx, function) or f".{name}(..)", family)


def _receiver_family(ctx: FileContext, receiver: Node) -> Family | None:
    """Decide by what the receiver is. Types (declared, or the constructor it
    was built with) decide first: `TaskTracker`/`JoinSet` are tracked (None),
    a `thread::scope` scope spawns scoped threads, `thread::Builder::new()`
    threads, `Command` is a process, `Handle`/`Runtime`/`LocalSet` tasks.
    A runtime-like type that is the crate's own (`_crates_own_runtime`) is
    no task spawn. Only when the receiver itself has no declared type do the
    names decide: `tracker`/`join_set` tracked, `rt`/`runtime`/`handle` (also as
    `_`-separated parts) tasks. Anything else is unknown and not reported."""
    clues = origin(ctx, receiver)
    if clues.type_matches(_TRACKED_TYPE):
        return None
    if clues.type_matches(_SCOPE_TYPE):
        return "scoped"
    if clues.type_matches(_THREAD_BUILDER):
        return "thread"
    if clues.type_matches(_NOT_A_TASK_TYPE):
        return None
    if any(_crates_own_runtime(ctx, text) for text in (*clues.declared, *clues.types)):
        return None
    if clues.type_matches(_RUNTIME_TYPE) or any(map(_RUNTIME_TYPE.search, clues.declared)):
        return "task"
    if _declared_type(ctx, receiver) is not None:
        return None  # a declared type that is no runtime: the name alone does not decide
    if clues.name_matches(_TRACKED_NAME):
        return None
    if clues.name_matches(_RUNTIME_NAME):
        return "task"
    return None


def _declared_type(ctx: FileContext, receiver: Node) -> str | None:
    """The declared type of the receiver itself (a typed binding or parameter,
    a field of a struct of this file), not of what it was taken from."""
    if receiver.type == "identifier":
        binding = binding_of(receiver, ctx.root)
        return ctx.text(binding.type) if binding is not None and binding.type else None
    if receiver.type == "field_expression":
        field = receiver.child_by_field_name("field")
        name = ctx.text(field) if field is not None else ""
        return field_types(ctx).get(name) or tuple_field_type(ctx, receiver)
    return None


def _crates_own_runtime(ctx: FileContext, text: str) -> bool:
    """True when a type named like a runtime is the crate's own, not tokio's:
    a trait object (quinn's `runtime: Arc<dyn Runtime>`, whose `spawn`
    returns `()`), or a name that `use` brings from `crate::`/`self::`/
    `super::` (quinn's `use crate::runtime::Runtime`)."""
    if _TRAIT_OBJECT.search(text):
        return True
    paths = (ctx.resolve(match.group(0)) for match in _RUNTIME_PATH.finditer(text))
    return any(path.startswith(_OWN_PATH) for path in paths)


def _block_tail(ctx: FileContext, statement: Node) -> bool:
    """A `match`/`if` written last in its block with no `;`: tree-sitter
    makes it a statement, yet it is the block's value (`fn f() -> JoinHandle<()>
    { match x { .. => tokio::spawn(..) } }` returns the handle)."""
    block = ctx.parent(statement)
    last = statement.children[-1] if statement.children else None
    if block is None or block.type != "block" or last is None or last.type == ";":
        return False
    tails = ctx.memo(_block_tails)
    if block.id not in tails:  # one look per block: siblings are found through the parent
        tails[block.id] = next(
            (c for c in reversed(block.named_children) if c.type not in _COMMENTS), None
        )
    return tails[block.id] == statement


def _block_tails(ctx: FileContext) -> dict[int, Node | None]:
    """Per file: each block's last statement that is not a comment, by block id."""
    return {}


def _passes_value_up(ctx: FileContext, node: Node, parent: Node) -> bool:
    """True when `parent`'s value is `node`'s value: parentheses, `?`, the
    tail of a block, a branch of an `if`, an arm of a `match`."""
    kind = parent.type
    if kind in {
        "parenthesized_expression",
        "try_expression",
        "unsafe_block",
        "else_clause",
        "expression_statement",  # a block's tail `match`/`if` (see `_block_tail`)
    }:
        return True
    if kind == "block":
        if node.type == "expression_statement":
            return _block_tail(ctx, node)
        return node.type != "let_declaration"
    if kind == "if_expression":
        return node != parent.child_by_field_name("condition")
    if kind == "match_arm":
        return node == parent.child_by_field_name("value")
    if kind == "match_block":
        return True
    if kind == "match_expression":
        return node == parent.child_by_field_name("body")
    return False


def _binding_unused(ctx: FileContext, let: Node) -> bool:
    """`let _ = ..` or `let name = ..` with `name` not mentioned again in the
    rest of its block (a plain text search: a mention in a macro counts)."""
    pattern = let.child_by_field_name("pattern")
    if pattern is None or _is_underscore(pattern):
        return True
    if pattern.type != "identifier":
        return False
    block = let.parent
    end = block.end_byte if block is not None else let.end_byte
    rest = ctx.source[let.end_byte : end].decode("utf-8", "replace")
    return re.search(rf"\b{re.escape(ctx.text(pattern))}\b", rest) is None


def _is_underscore(node: Node | None) -> bool:
    return node is not None and node.text == b"_"
