"""drop-block-on: `block_on` in Drop where a runtime may already be running."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Literal

from tree_sitter import Node

from rules.docs import page
from rules.fixes import SAFE_DROP
from rules.model import NEVER_PANICS, Hit, Rule, Severity
from rules.rust.bindings import origin, short_text
from rules.rust.context import FileContext
from rules.rust.locals import binding_of, call_of_argument
from rules.rust.parsing import lineage, unparenthesized
from rules.rust.spawns import closure_on_other_thread
from rules.rust.syntax import calls_query, drop_excuse, in_drop

# tokio's blocking twins of async calls: each is a `block_on` inside
TOKIO_BLOCKING = frozenset(
    {
        "blocking_lock",
        "blocking_lock_owned",
        "blocking_read",
        "blocking_write",
        "blocking_recv",
        "blocking_send",
    }
)
BLOCK_ON_CALLS = calls_query("block_on", *sorted(TOKIO_BLOCKING))
PANIC = '("Cannot start a runtime from within a runtime")'
BLOCKING_PANIC = '("Cannot block the current thread from within a runtime")'
_BUILT_HERE = re.compile(r"Runtime::new$|Builder::new_(current|multi)_thread$")
_HEAD = re.compile(r"\s*(?:[\w:]+::)?(\w+)")
_WRAPPERS = frozenset({"unary_expression", "parenthesized_expression"})
Branch = Literal["failed", "running"]
_BLOCKS = "dropped inside async code it stalls a runtime worker and can deadlock"


def check(ctx: FileContext) -> Iterator[Hit]:
    for call, scope in in_drop(ctx, BLOCK_ON_CALLS, "call", excused):
        message = _message(ctx, call, scope.function)
        # an executor's own `block_on` (futures, futures-lite, pollster) does not
        # panic: it blocks, the lesser hazard
        blocks_only = message.endswith(_BLOCKS)
        at_most: Severity | None = "warning" if blocks_only else None
        yield Hit(call, message, scope=scope, at_most=at_most)


@drop_excuse(b"block_in_place", b"spawn", b"try_current")
def excused(ctx: FileContext, node: Node, function: Node) -> bool:
    """True when `node` runs where blocking on a future cannot panic: in a
    closure given to `block_in_place` or to a spawn on another thread, or in
    the branch where `Handle::try_current()` failed (no runtime here)."""
    for child, parent in lineage(node, function):
        if parent.type == "closure_expression" and (
            _in_block_in_place(ctx, parent) or closure_on_other_thread(ctx, parent)
        ):
            return True
        if runtime_branch(ctx, parent, child) == "failed":
            return True
    return False


def runtime_branch(ctx: FileContext, parent: Node, child: Node) -> Branch | None:
    """Which outcome of `Handle::try_current()` the branch `child` of `parent`
    runs under: `match` arms (`Err(_)`, `Ok(h)`, `_` after `Ok`), `if let` and
    its `else`, `let .. else`, `if try_current().is_err()` (negations too).
    `.ok()` turns the outcomes into `Some`/`None`."""
    if parent.type == "match_arm" and child == parent.child_by_field_name("value"):
        return _arm_branch(ctx, parent)
    if parent.type == "if_expression":
        condition = parent.child_by_field_name("condition")
        if child == parent.child_by_field_name("consequence"):
            when_true = True
        elif child == parent.child_by_field_name("alternative"):
            when_true = False
        else:
            return None
        outcome = _condition_outcome(ctx, condition)
        if outcome is None:
            return None
        return outcome if when_true else _other(outcome)
    if parent.type == "let_declaration" and child == parent.child_by_field_name("alternative"):
        outcome = _pattern_outcome(ctx, parent.child_by_field_name("pattern"), parent)
        return _other(outcome) if outcome is not None else None
    return None


def _message(ctx: FileContext, call: Node, function: Node) -> str:
    callee = call.child_by_field_name("function")
    assert callee is not None  # the query captured it
    if callee.type != "field_expression":
        path = ctx.resolve(ctx.text(callee))
        if path.split("::")[-2:-1] not in (["Handle"], ["Runtime"]):
            return f"`{path}` in `Drop` blocks the thread: {_BLOCKS}"
    receiver = callee.child_by_field_name("value")
    method = ctx.text(callee.child_by_field_name("field"))
    if method in TOKIO_BLOCKING:
        name = short_text(ctx, callee) or method
        return f"`{name}()` in `Drop` panics when dropped inside async code {BLOCKING_PANIC}"
    if receiver is not None and origin(ctx, receiver).type_matches(_BUILT_HERE):
        return f"`block_on` on a runtime built in `Drop` panics inside async code {PANIC}"
    name = short_text(ctx, callee) or "Runtime::block_on"
    message = f"`{name}` in `Drop` panics when the value is dropped inside async code {PANIC}"
    if _in_running_branch(ctx, call, function):
        message += "; a successful `Handle::try_current()` does not make it safe"
    return message


def _in_running_branch(ctx: FileContext, node: Node, function: Node) -> bool:
    return any(
        runtime_branch(ctx, parent, child) == "running" for child, parent in lineage(node, function)
    )


def _in_block_in_place(ctx: FileContext, closure: Node) -> bool:
    call = call_of_argument(closure)
    function = call.child_by_field_name("function") if call is not None else None
    return function is not None and ctx.resolve(ctx.text(function)).endswith("block_in_place")


def _arm_branch(ctx: FileContext, arm: Node) -> Branch | None:
    block = arm.parent
    match = block.parent if block is not None else None
    if block is None or match is None:
        return None
    outcomes = _outcomes(ctx, match.child_by_field_name("value"))
    if outcomes is None:
        return None
    pattern = ctx.text(arm.child_by_field_name("pattern") or arm).strip()
    head = _head(pattern)
    if head in outcomes:
        return outcomes[head]
    if pattern == "_":
        # a catch-all after the success arm is the failure arm
        heads = {
            _head(ctx.text(other.child_by_field_name("pattern") or other))
            for other in block.named_children
            if other.type == "match_arm"
        }
        return "failed" if any(outcomes.get(h) == "running" for h in heads) else None
    return None


def _condition_outcome(ctx: FileContext, condition: Node | None) -> Branch | None:
    """The outcome under which an `if` condition holds."""
    negated = False
    while condition is not None and condition.type in _WRAPPERS:
        if condition.type == "unary_expression":
            negated = not negated
        condition = condition.named_children[-1] if condition.named_children else None
    if condition is None:
        return None
    outcome: Branch | None
    if condition.type == "let_condition":
        outcome = _pattern_outcome(ctx, condition.child_by_field_name("pattern"), condition)
    elif condition.type == "call_expression":
        outcome = _predicate_outcome(ctx, condition)
    else:
        return None
    if outcome is None:
        return None
    return _other(outcome) if negated else outcome


def _predicate_outcome(ctx: FileContext, call: Node) -> Branch | None:
    """`try_current().is_err()` holds when it failed, `.is_ok()` when it ran."""
    function = call.child_by_field_name("function")
    if function is None or function.type != "field_expression":
        return None
    method = ctx.text(function.child_by_field_name("field") or function)
    outcomes = _outcomes(ctx, function.child_by_field_name("value"))
    if outcomes is None:
        return None
    holds = {"is_err": "Err", "is_none": "None", "is_ok": "Ok", "is_some": "Some"}.get(method)
    return outcomes.get(holds) if holds is not None else None


def _pattern_outcome(ctx: FileContext, pattern: Node | None, owner: Node) -> Branch | None:
    """The outcome a `let`/`if let` pattern matches against its value."""
    outcomes = _outcomes(ctx, owner.child_by_field_name("value"))
    if pattern is None or outcomes is None:
        return None
    return outcomes.get(_head(ctx.text(pattern)))


def _outcomes(ctx: FileContext, expr: Node | None, depth: int = 1) -> dict[str, Branch] | None:
    """Constructor -> outcome when `expr` is `Handle::try_current()` (through
    `.map(..)`, `.ok()`, parentheses, or a variable bound to it)."""
    expr = unparenthesized(expr)
    if expr is None:
        return None
    if expr.type == "identifier" and depth > 0:
        binding = binding_of(expr, ctx.root)
        return _outcomes(ctx, binding.value, depth - 1) if binding is not None else None
    if expr.type != "call_expression":
        return None
    function = expr.child_by_field_name("function")
    if function is None:
        return None
    if function.type != "field_expression":
        if ctx.text(function).endswith("try_current"):
            return {"Ok": "running", "Err": "failed"}
        return None
    method = ctx.text(function.child_by_field_name("field") or function)
    inner = _outcomes(ctx, function.child_by_field_name("value"), depth)
    if inner is None or method not in {"ok", "map", "map_err"}:
        return None
    if method == "ok":
        return {"Some": "running", "None": "failed"}
    return inner


def _head(pattern: str) -> str:
    match = _HEAD.match(pattern)
    return match.group(1) if match else ""


def _other(branch: Branch) -> Branch:
    return "running" if branch == "failed" else "failed"


RULE = Rule(
    only_in_drop=True,
    id="drop-block-on",
    label="panics when dropped inside a runtime",
    help="wrap it in `block_in_place`, or block on a thread of its own (safe-Drop pattern)",
    severity="error",
    checklist=(NEVER_PANICS,),
    message=f"`block_on` in `Drop` panics when the value is dropped inside async code {PANIC}",
    needles=(b"block_on", b"blocking_"),
    check=check,
    fix=SAFE_DROP,
    docs=page(
        what="""
            Flags every `block_on(..)` inside `fn drop` of an `impl Drop`, and in every
            function of the same file that `drop` reaches through calls: a handle's or a
            runtime's (`handle.block_on`, `Handle::current().block_on`, `rt.block_on`, a
            runtime built on the spot with `Runtime::new()` or `Builder`), and free
            `block_on` functions such as `futures::executor::block_on`; and tokio's blocking
            twins of async calls, each a `block_on` inside (`blocking_lock`,
            `blocking_lock_owned`, `blocking_read`, `blocking_write`, `blocking_recv`,
            `blocking_send`), which panic "Cannot block the current thread from within a
            runtime". It is not flagged
            where it cannot hit a running runtime: inside the closure given to
            `tokio::task::block_in_place`, inside a closure that runs on another thread
            (`std::thread::spawn`, a `thread::Builder`, a scoped thread, `spawn_blocking`),
            in the branch where `Handle::try_current()` failed (`Err(_) =>`, the `else` of
            `if let Ok(h) = ..`, `if Handle::try_current().is_err()`, `let Ok(h) = .. else`),
            and in helpers that are only called from such places. Other executors'
            `block_on` (`futures::executor::block_on`, `futures_lite::future::block_on`,
            as in async-std's `File::drop`, which flushes that way on purpose) block
            rather than panic: those are warnings.
        """,
        why="""
            A value is often dropped inside async code: at the end of an `async fn`, when a
            task finishes or is cancelled. Tokio's `block_on` then panics with "Cannot start
            a runtime from within a runtime", and a panic in `drop` during unwinding aborts
            the process. Checking `Handle::try_current()` first does not help: it succeeds
            exactly when a runtime is around, which is the case that panics (the audit's own
            "safe Drop pattern" has this bug). A runtime built inside `drop` panics the same
            way, and dropping it in async code panics again. Other executors' `block_on`
            (`futures::executor::block_on`) do not panic but block a runtime worker, and on a
            current-thread runtime deadlock when the future needs that runtime.
        """,
        example="""
            impl Drop for SafeGuard {
                fn drop(&mut self) {
                    if let Ok(handle) = tokio::runtime::Handle::try_current() {
                        let env = self.environment.clone();
                        let _ = handle.block_on(async move { env.cleanup().await });
                    }
                }
            }
        """,
        instead="""
            impl Drop for SafeGuard {
                fn drop(&mut self) {
                    let env = self.environment.clone();
                    // `block_on_cleanup` is the safe-Drop fix pattern's helper: it waits
                    // with `block_in_place` on a multi-thread runtime, on a thread of its
                    // own on a current-thread runtime, on a small runtime when there is
                    // none; bounded by a time limit, never panicking
                    let cleanup = async move { env.cleanup().await };
                    if let Some(Err(error)) = block_on_cleanup(cleanup, CLEANUP_LIMIT) {
                        eprintln!("warning: cleanup failed: {error}");
                    }
                }
            }
        """,
        references="""
            - [tokio::runtime::Handle::block_on: panics](https://docs.rs/tokio/latest/tokio/runtime/struct.Handle.html#method.block_on)
            - [tokio::runtime::Handle::try_current](https://docs.rs/tokio/latest/tokio/runtime/struct.Handle.html#method.try_current)
            - [tokio::task::block_in_place](https://docs.rs/tokio/latest/tokio/task/fn.block_in_place.html)
            - [tokio::runtime::Handle::runtime_flavor](https://docs.rs/tokio/latest/tokio/runtime/struct.Handle.html#method.runtime_flavor)
            - [std::ops::Drop: panics](https://doc.rust-lang.org/std/ops/trait.Drop.html#panics)
        """,
    ),
)
