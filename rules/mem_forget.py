"""mem-forget: `std::mem::forget` and `ManuallyDrop::new` skip Drop."""

from __future__ import annotations

import re
from collections.abc import Iterator

from tree_sitter import Node

from rules.docs import page
from rules.model import RESOURCES_RELEASED, Hit, Rule
from rules.rust.context import FileContext
from rules.rust.parsing import enclosing, field_text, type_name

_RELEASES = re.compile(r"ManuallyDrop::(take|drop|into_inner)\s*\(")

FORGETTERS = {"std::mem::forget", "core::mem::forget", "mem::forget"}
MANUALLY_DROP = {"std::mem::ManuallyDrop", "core::mem::ManuallyDrop", "mem::ManuallyDrop"}


def _callees(ctx: FileContext) -> Iterator[Node]:
    """Callee paths of calls that name `forget` or `ManuallyDrop` (aliases too)."""
    names = {"forget", "ManuallyDrop"} | {
        alias for alias, full in ctx.imports.items() if full in FORGETTERS | MANUALLY_DROP
    }
    for name in ctx.occurrences(names):
        node = name
        while node.parent is not None and node.parent.type == "scoped_identifier":
            node = node.parent
        call = node.parent
        if call is not None and call.child_by_field_name("function") == node:
            yield node


def check(ctx: FileContext) -> Iterator[Hit]:
    for callee in _callees(ctx):
        path = ctx.resolve(ctx.text(callee))
        if path in FORGETTERS:
            message = "`mem::forget`: the value's `Drop` never runs"
        elif (
            path.removesuffix("::new") in MANUALLY_DROP | {"ManuallyDrop"}
            and path.endswith("::new")
            and not _released_by_own_drop(ctx, callee)
        ):
            message = "`ManuallyDrop::new`: the value's `Drop` never runs"
        else:
            continue
        function = enclosing(callee, ctx.root, {"function_item"})
        if function is None or not (
            _transfers_own_value(ctx, callee, function) or _in_unsafe_code(ctx, function)
        ):
            yield Hit(callee, message)


def _transfers_own_value(ctx: FileContext, callee: Node, method: Node) -> bool:
    """`mem::forget(self)` / `ManuallyDrop::new(self)` (or of a field of it) in
    a method that consumes its value: `self` by value, or a first parameter
    `this: Self` (tokio's `MutexGuard::map`). Such a method hands what the
    value owns on (`into_raw`, tempfile's `keep`/`persist`, a guard's `map` or
    `downgrade`), and skipping Drop is its contract."""
    call = callee.parent
    arguments = call.child_by_field_name("arguments") if call is not None else None
    if arguments is None or arguments.named_child_count != 1:
        return False
    forgotten = "".join(ctx.text(arguments.named_children[0]).split()).split(".", 1)[0]
    parameters = method.child_by_field_name("parameters")
    first = parameters.named_children[0] if parameters and parameters.named_child_count else None
    if first is None:
        return False
    if first.type == "self_parameter":
        return forgotten == "self" and "&" not in ctx.text(first)
    declared = first.child_by_field_name("type")
    return (
        first.type == "parameter"
        and declared is not None
        and ctx.text(declared) == "Self"
        and field_text(first, "pattern").removeprefix("mut ") == forgotten
    )


def _in_unsafe_code(ctx: FileContext, function: Node) -> bool:
    """A function with `unsafe` code (an `unsafe fn` or block): there the
    value's ownership moves by hand, into a raw pointer, to C (OpenSSL's
    `set0` calls), or out through a `ptr::read` copy, and forgetting it is how
    that is written."""
    within = [(function.start_byte, function.end_byte)]
    return bool(ctx.occurrences(("unsafe",), ("unsafe",), within))


def _released_by_own_drop(ctx: FileContext, callee: Node) -> bool:
    """`ManuallyDrop::new(..)` in an impl of a type whose own `impl Drop` takes
    the value back out (`ManuallyDrop::take`, `::drop`, `::into_inner`): the
    wrapped value is dropped after all, at the moment that Drop chooses."""
    impl = enclosing(callee, ctx.root, {"impl_item"})
    target = impl.child_by_field_name("type") if impl is not None else None
    if target is None:
        return False
    owner = type_name(target)
    return any(
        owner_impl.drop_fn is not None
        and _RELEASES.search(ctx.text(owner_impl.drop_fn)) is not None
        for owner_impl in ctx.drop_impls_of(owner)
    )


RULE = Rule(
    id="mem-forget",
    label="`Drop` never runs for this value",
    help="let the value drop, or release what it owns before forgetting it",
    severity="notice",
    checklist=(RESOURCES_RELEASED,),
    message="the value's `Drop` never runs",
    needles=(b"forget", b"ManuallyDrop"),
    check=check,
    docs=page(
        what="""
            Flags `std::mem::forget(..)` (however it is imported) and
            `ManuallyDrop::new(..)`, as a notice: like clippy's `mem_forget` (a restriction
            lint, off by default), it marks a deliberate act more often than a mistake. In
            the async and concurrency crates the precision set reads (tokio, crossbeam,
            futures, lock_api's kin) every one of about a hundred was deliberate: a guard
            defused on the success path (`mem::forget(abort_guard)` in rayon), a value whose
            ownership moved into a raw pointer or a mapped guard
            (`mem::forget(this)` in tokio's `RwLockWriteGuard::map`), a `ptr::read` copy
            that must not drop twice (crossbeam-deque). Raise it to `warning` in
            `.github/dropsafe.toml` for application code, where a forgotten guard is a leak.

            Not flagged: `mem::forget(self)` and `ManuallyDrop::new(self)` (or of a
            field of `self`) in a method that consumes the value (`self` by value, or a
            first parameter `this: Self`): such a method hands what the value owns on
            (`into_raw`, tempfile's `keep` and `persist`, a guard's `map` or
            `downgrade`), and skipping `Drop` is its contract. Nor either one in a
            function with `unsafe` code, where ownership moves by hand: into a raw
            pointer, to C (OpenSSL's `set0` calls), out through a `ptr::read` copy.
            The precision set's 200 `mem-forget` findings were all deliberate; these
            two forms were 180 of them. Nor `ManuallyDrop::new(..)`
            in the impls of a type whose own `impl Drop` takes the value back out
            (`ManuallyDrop::take`, `ManuallyDrop::drop`, `ManuallyDrop::into_inner`): it is
            dropped after all, when that `drop` chooses.
        """,
        why="""
            Both make sure a value's destructor never runs: a guard's cleanup, a lock's
            release, a temporary file's removal, a task's cancellation are skipped. It is
            safe Rust, so nothing else warns. Sometimes it is what you want (handing
            ownership to C, `into_raw` patterns); then say so with an allow comment.
        """,
        example="""
            let guard = TempFileGuard::new(path);
            std::mem::forget(guard); // the file is never removed
        """,
        instead="""
            let guard = TempFileGuard::new(path);
            let path = guard.keep(); // an explicit method that disarms the guard
        """,
        references="""
            - [std::mem::forget](https://doc.rust-lang.org/std/mem/fn.forget.html)
            - [clippy: mem_forget](https://rust-lang.github.io/rust-clippy/master/index.html#mem_forget)
        """,
    ),
)
