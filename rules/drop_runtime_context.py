"""drop-runtime-context: tokio calls in Drop that panic in the wrong runtime context.

`block_on` has its own rule (drop-block-on); this one covers the other calls
whose success depends on where the value happens to be dropped:
- `Handle::current()` panics when no runtime is running on the thread;
- `block_in_place` panics on a current-thread runtime (and in a `LocalSet`);
- a tokio `Runtime` dropped inside async code panics while it shuts down.
Each is reported inside Drop (and what Drop reaches); a runtime built and
dropped inside an `async fn` or `async` block is reported wherever it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from tree_sitter import Node

from rules.docs import page
from rules.drop_block_on import excused, runtime_branch
from rules.fixes import SAFE_DROP
from rules.model import NEVER_PANICS, Hit, Rule
from rules.rust.bindings import origin
from rules.rust.context import FileContext
from rules.rust.locals import call_of_argument
from rules.rust.parsing import ancestors, earlier_statements, lineage
from rules.rust.syntax import calls_query, drop_excuse, in_drop, method_calls

NO_RUNTIME = '"there is no reactor running, must be called from the context of a Tokio 1.x runtime"'
CURRENT_THREAD = '"can call blocking only when running on the multi-threaded runtime"'
RUNTIME_DROPPED = '"Cannot drop a runtime in a context where blocking is not allowed"'

HANDLE_CURRENT = calls_query("current")
RUNTIME_CALLS = calls_query("block_in_place", "new", "build", "drop", "take")
_RUNTIME_TYPE = re.compile(r"(?<![\w:])(tokio::runtime::|runtime::)?Runtime\b(?!\w)")
# a condition that holds only on a multi-thread runtime
_MULTI_THREAD_ONLY = re.compile(
    r"==\s*[\w:]*MultiThread\b|matches!\s*\(.*MultiThread|!=\s*[\w:]*CurrentThread\b"
)
_BUILDER = re.compile(r"Builder::new_(current|multi)_thread$")
# methods after which a runtime is no longer left to drop where it was built:
# shut down without waiting, handed on (`block_on` is drop-block-on's finding)
IN_DROP_DISPOSALS = frozenset({"shutdown_background", "into", "block_on"})
ASYNC_DISPOSALS = frozenset({"shutdown_background", "into"})
_DROP_FUNCTIONS = frozenset({"drop", "std::mem::drop", "core::mem::drop", "mem::drop"})


def check(ctx: FileContext) -> Iterator[Hit]:
    for call, scope in in_drop(ctx, HANDLE_CURRENT, "call"):
        callee = call.child_by_field_name("function")
        path = ctx.resolve(ctx.text(callee))
        if path.endswith("Handle::current") and not _in_running_branch(ctx, call):
            message = (
                f"`Handle::current()` in `Drop` panics when the value is dropped outside a"
                f" runtime ({NO_RUNTIME}): use `Handle::try_current()`"
            )
            yield Hit(call, message, scope=scope)
    for call, scope in in_drop(ctx, RUNTIME_CALLS, "call", guarded):
        found = _in_drop(ctx, call)
        if found is not None:
            yield Hit(call, found, scope=scope)
    for call in ctx.memo(_runtimes_built_in_async):
        yield Hit(call, _dropped_message("a tokio `Runtime` built in async code is dropped there"))


@drop_excuse(b"block_in_place", b"spawn", b"try_current", b"runtime_flavor")
def guarded(ctx: FileContext, node: Node, function: Node) -> bool:
    """drop-block-on's excuses (another thread, `block_in_place`, no runtime
    here), and for `block_in_place` a check that the runtime is multi-thread."""
    return excused(ctx, node, function) or _flavor_checked(ctx, node, function)


def _in_drop(ctx: FileContext, call: Node) -> str | None:
    callee = call.child_by_field_name("function")
    if callee is None:
        return None
    path = ctx.resolve(ctx.text(callee))
    if path.split("::")[-1] == "block_in_place" and callee.type != "field_expression":
        return (
            "`block_in_place` in `Drop` panics when the value is dropped on a"
            f" current-thread runtime ({CURRENT_THREAD}): check `runtime_flavor()` first"
        )
    if _builds_runtime(ctx, call) and _left_to_drop(ctx, call, IN_DROP_DISPOSALS):
        return _dropped_message("a tokio `Runtime` built in `Drop` is dropped there")
    if _drops_runtime(ctx, call, path):
        return _dropped_message("a tokio `Runtime` dropped in `Drop`")
    return None


def _dropped_message(what: str) -> str:
    return (
        f"{what}: dropping a runtime inside async code panics ({RUNTIME_DROPPED});"
        " call `shutdown_background()` or drop it on another thread"
    )


def _in_running_branch(ctx: FileContext, node: Node) -> bool:
    """In the branch where `Handle::try_current()` succeeded."""
    return any(
        runtime_branch(ctx, parent, child) == "running" for child, parent in lineage(node, ctx.root)
    )


def _flavor_checked(ctx: FileContext, node: Node, function: Node) -> bool:
    """`block_in_place` where the code made sure the runtime is multi-thread: a
    branch on `runtime_flavor()` (an `if`, a `match` arm or arm guard naming
    `MultiThread`), or after `if .. runtime_flavor() .. { return }`."""
    if not ctx.mentions(b"runtime_flavor"):
        return False
    for child, parent in lineage(node, function):
        if parent.type == "match_arm" and child == parent.child_by_field_name("value"):
            pattern = ctx.text(parent.child_by_field_name("pattern"))
            if "MultiThread" in pattern:
                return True
        if parent.type == "if_expression" and child == parent.child_by_field_name("consequence"):
            condition = ctx.text(parent.child_by_field_name("condition"))
            if "runtime_flavor" in condition and _MULTI_THREAD_ONLY.search(condition):
                return True
        if parent.type == "block" and _returned_unless_multi_thread(ctx, child):
            return True
    return False


def _returned_unless_multi_thread(ctx: FileContext, statement: Node) -> bool:
    return any(
        "runtime_flavor" in text and "return" in text
        for text in map(ctx.text, earlier_statements(statement))
    )


def _builds_runtime(ctx: FileContext, call: Node) -> bool:
    """`Runtime::new()` or `Builder::new_*_thread()...build()`."""
    callee = call.child_by_field_name("function")
    if callee is None:
        return False
    if callee.type != "field_expression":
        return bool(re.search(r"(^|::)Runtime::new$", ctx.resolve(ctx.text(callee))))
    if ctx.text(callee.child_by_field_name("field")) != "build":
        return False
    receiver = callee.child_by_field_name("value")
    return receiver is not None and origin(ctx, receiver).type_matches(_BUILDER)


def _left_to_drop(ctx: FileContext, call: Node, disposals: frozenset[str]) -> bool:
    """The runtime the call builds is dropped where it was built: not
    returned, stored, moved elsewhere or disposed of by one of `disposals`."""
    holder, method = _fate(call)
    if method is not None:
        return method not in disposals
    if holder.type != "let_declaration":
        return holder.type == "expression_statement"
    pattern = holder.child_by_field_name("pattern")
    block = holder.parent
    if pattern is None or block is None:
        return False
    name = ctx.text(pattern).removeprefix("mut ").strip()
    if not re.fullmatch(r"\w+", name):
        return False
    rest = ctx.source[holder.end_byte : block.end_byte].decode("utf-8", "replace")
    rebound = re.search(rf"\blet\s+(mut\s+)?{name}\b", rest)
    rest = rest[: rebound.start()] if rebound else rest
    if name == "_":
        return True
    # moved into a closure (a thread that drops it), returned, stored, passed on
    if re.search(rf"\bmove\b[^;]*\b{name}\b", rest):
        return False
    if re.search(rf"\bdrop\(\s*{name}\s*\)", rest):
        return True
    disposed = "|".join(sorted(disposals))
    if re.search(rf"\b{name}\s*\.\s*({disposed})\b", rest):
        return False
    handed_on = rf"(return\s+|[(,{{:]\s*|Some\(\s*){name}\b|\b{name}\s*}}"
    return re.search(handed_on, rest) is None


def _fate(call: Node) -> tuple[Node, str | None]:
    """Follow `call` up through `?`, `.unwrap()`/`.expect(..)`: the node that
    holds the runtime and the method then called on it (None when none)."""
    node = call
    while node.parent is not None:
        parent = node.parent
        if parent.type == "try_expression":
            node = parent
            continue
        if parent.type == "field_expression" and parent.parent is not None:
            method = FileContext.text(parent.child_by_field_name("field"))
            if method in {"unwrap", "expect", "unwrap_or_else"}:
                node = parent.parent
                continue
            return parent, method
        return parent, None
    return node, None


def _drops_runtime(ctx: FileContext, call: Node, path: str) -> bool:
    """`drop(rt)` / `drop(self.rt.take())` of a `Runtime`-typed value, or a
    bare `self.rt.take();` statement that drops it on the spot."""
    arguments = call.child_by_field_name("arguments")
    if path in _DROP_FUNCTIONS and arguments is not None and arguments.named_child_count == 1:
        return origin(ctx, arguments.named_children[0]).type_matches(_RUNTIME_TYPE)
    callee = call.child_by_field_name("function")
    if callee is None or callee.type != "field_expression" or not path.endswith("take"):
        return False
    holder, _ = _fate(call)
    discarded = holder.type == "expression_statement" or (
        holder.type == "let_declaration" and ctx.text(holder.child_by_field_name("pattern")) == "_"
    )
    return discarded and origin(ctx, call).type_matches(_RUNTIME_TYPE)


def _runtimes_built_in_async(ctx: FileContext) -> tuple[Node, ...]:
    """Runtimes built and dropped inside an `async fn` or `async` block (not
    inside a closure that runs on another thread). Whole-file work, and the
    engine runs `check` again on the functions Drop reaches: asked once per
    file (`ctx.memo`)."""
    if b"async" not in ctx.source:
        return ()
    found = [
        built for _, call in method_calls(ctx, ("build",)) for built in _built_in_async(ctx, call)
    ]
    for name in ctx.occurrences(("Runtime",), {"identifier"}):
        path = name
        while path.parent is not None and path.parent.type == "scoped_identifier":
            path = path.parent
        constructor = path.parent
        if constructor is not None and constructor.type == "call_expression":
            found.extend(_built_in_async(ctx, constructor))
    return tuple(found)


def _built_in_async(ctx: FileContext, call: Node) -> Iterator[Node]:
    if not (_builds_runtime(ctx, call) and _left_to_drop(ctx, call, ASYNC_DISPOSALS)):
        return
    for node in ancestors(call, ctx.root):
        if node.type == "closure_expression":
            caller = call_of_argument(node)
            if caller is not None and "spawn" in ctx.text(caller.child_by_field_name("function")):
                return
        if node.type == "async_block" or (node.type == "function_item" and _is_async_fn(node)):
            yield call
            return
        if node.type == "function_item":
            return


def _is_async_fn(function: Node) -> bool:
    modifiers = next((c for c in function.children if c.type == "function_modifiers"), None)
    return modifiers is not None and b"async" in (modifiers.text or b"")


RULE = Rule(
    id="drop-runtime-context",
    label="panics in the wrong runtime context",
    help="use `Handle::try_current()` and check the runtime flavor first (safe-Drop pattern)",
    severity="error",
    checklist=(NEVER_PANICS,),
    message=(
        "tokio call in `Drop` that panics in the wrong runtime context (`Handle::current()`,"
        " `block_in_place`, a `Runtime` dropped in async code)"
    ),
    needles=(b"current", b"block_in_place", b"Runtime", b"runtime"),
    check=check,
    fix=SAFE_DROP,
    docs=page(
        what="""
            Flags, inside `fn drop` of an `impl Drop` and in every function of the same
            file that `drop` reaches through calls, the tokio calls that only work in some
            runtime contexts:

            - `Handle::current()`, which panics when no runtime is running on the thread
              ("there is no reactor running, must be called from the context of a Tokio 1.x
              runtime"); quiet in the branch where `Handle::try_current()` succeeded;
            - `tokio::task::block_in_place(..)`, which panics on a current-thread runtime
              ("can call blocking only when running on the multi-threaded runtime"); quiet
              where the code checked `handle.runtime_flavor()` for `MultiThread` first (an
              `if` on `== MultiThread`, `matches!(.., MultiThread)` or `!= CurrentThread`, a
              `match` arm, an arm guard, or an early return), and where no runtime
              runs (the `Err` branch of `Handle::try_current()`);
            - a tokio `Runtime` built there (`Runtime::new()`, `Builder::new_*_thread()
              ..build()`) and left to drop, or dropped explicitly (`drop(rt)`,
              `drop(self.runtime.take())`), which panics when that happens inside async code
              ("Cannot drop a runtime in a context where blocking is not allowed").
              `rt.shutdown_background()`, a runtime moved to another thread, or one dropped
              inside `block_in_place` is quiet. A runtime built and dropped inside an
              `async fn` or `async` block is reported anywhere, not only in Drop.

            Code in a closure that runs on another thread is quiet. A runtime used for
            `block_on` in `Drop` is drop-block-on's finding.
        """,
        why="""
            Whoever drops the value picks the context `drop` runs in. A client dropped at
            the end of `#[tokio::main]` runs it on a runtime thread; the same client dropped
            by a plain thread, a test without a runtime, or during shutdown has none. Tokio
            reports each mismatch with a panic, and a panic in `drop` while the thread is
            already unwinding aborts the process (fedimint's `ClientHandle`, whose drop
            called `Handle::current()`, turned every unwinding test failure into a SIGABRT).
            `#[tokio::test]` uses a current-thread runtime, where `block_in_place` always
            panics; and a runtime dropped inside a request handler takes the server down
            with "Cannot drop a runtime in a context where blocking is not allowed".
        """,
        example="""
            impl Drop for ClientHandle {
                fn drop(&mut self) {
                    let handle = tokio::runtime::Handle::current();
                    tokio::task::block_in_place(|| handle.block_on(self.shutdown()));
                }
            }
        """,
        instead="""
            impl Drop for ClientHandle {
                fn drop(&mut self) {
                    match tokio::runtime::Handle::try_current() {
                        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
                            tokio::task::block_in_place(|| handle.block_on(self.shutdown()));
                        }
                        // current-thread runtime or none: the safe-Drop pattern's
                        // `block_on_cleanup` runs the cleanup on a thread of its own
                        _ => self.shutdown_without_runtime(),
                    }
                }
            }
        """,
        references="""
            - [tokio::runtime::Handle::current: panics](https://docs.rs/tokio/latest/tokio/runtime/struct.Handle.html#method.current)
            - [tokio::task::block_in_place: panics](https://docs.rs/tokio/latest/tokio/task/fn.block_in_place.html)
            - [tokio::runtime::Runtime::shutdown_background](https://docs.rs/tokio/latest/tokio/runtime/struct.Runtime.html#method.shutdown_background)
            - [fedimint#9053: Handle::current() in Drop aborts unwinding threads](https://github.com/fedimint/fedimint/issues/9053)
        """,
    ),
)
