"""mem-forget: `std::mem::forget` and `ManuallyDrop::new` skip Drop."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from rules.docs import page
from rules.model import RESOURCES_RELEASED, Hit, Rule
from rules.rust.context import FileContext

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
    for function in _callees(ctx):
        path = ctx.resolve(ctx.text(function))
        if path in FORGETTERS:
            yield Hit(function, "`mem::forget`: the value's `Drop` never runs")
        elif path.removesuffix("::new") in MANUALLY_DROP | {"ManuallyDrop"} and path.endswith(
            "::new"
        ):
            yield Hit(function, "`ManuallyDrop::new`: the value's `Drop` never runs")


RULE = Rule(
    id="mem-forget",
    severity="warning",
    checklist=(RESOURCES_RELEASED,),
    message="the value's `Drop` never runs",
    needles=(b"forget", b"ManuallyDrop"),
    check=check,
    docs=page(
        what="""
            Flags `std::mem::forget(..)` (however it is imported) and
            `ManuallyDrop::new(..)`.
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
