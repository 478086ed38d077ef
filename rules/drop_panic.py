"""drop-panic: panicking macros in Drop."""

from __future__ import annotations

from collections.abc import Iterator

from rules.docs import page
from rules.fixes import SAFE_DROP
from rules.model import NEVER_PANICS, UNWIND_SAFE, Hit, Rule
from rules.rust.context import FileContext
from rules.rust.spawns import cannot_abort
from rules.rust.syntax import in_drop, macro_name

PANIC_MACROS = """
(macro_invocation macro: [
  (identifier) @name
  (scoped_identifier name: (identifier) @name)
] (#any-of? @name "panic" "unreachable" "todo" "unimplemented" "assert" "assert_eq"
  "assert_ne" "debug_assert" "debug_assert_eq" "debug_assert_ne")) @macro
"""


def check(ctx: FileContext) -> Iterator[Hit]:
    for macro, scope in in_drop(ctx, PANIC_MACROS, "macro", cannot_abort):
        message = f"`{macro_name(macro)}!` in `Drop`: a panic while unwinding aborts the process"
        yield Hit(macro, message, scope=scope)


RULE = Rule(
    id="drop-panic",
    severity="error",
    checklist=(NEVER_PANICS, UNWIND_SAFE),
    message="panicking macro in `Drop`: a panic while unwinding aborts the process",
    needles=(b"panic!", b"unreachable!", b"todo!", b"unimplemented!", b"assert"),
    supersedes="panic-in-production",
    check=check,
    fix=SAFE_DROP,
    docs=page(
        what="""
            Flags `panic!`, `unreachable!`, `todo!`, `unimplemented!` and the `assert*!`
            family inside `fn drop` of an `impl Drop`, and in every function of the same
            file that `drop` reaches through calls.

            Not flagged: code that runs only while the thread is not already panicking
            (`if !std::thread::panicking() { .. }`, the `else` of
            `if std::thread::panicking() { .. }`, what follows
            `if std::thread::panicking() { return; }`), where a panic cannot abort; and
            code in a closure or `async` block handed to a spawn (`std::thread::spawn`,
            `tokio::spawn`, `spawn_blocking`, a tracker's `spawn`), which runs on that
            thread or task, where a panic ends only it. A closure given to an iterator
            adapter (`for_each`, `map(..).collect()`, `retain`, `filter`) runs inside `drop`
            and is flagged like the code around it.
        """,
        why="""
            `drop` runs during unwinding too. A panic raised while the thread is already
            unwinding aborts the process at once, losing the original panic message and
            every other destructor's cleanup. An `assert!` that "cannot fail" in `drop`
            turns a recoverable bug into a crash.
        """,
        example="""
            impl Drop for Pool {
                fn drop(&mut self) {
                    assert_eq!(self.in_use, 0, "connections leaked");
                }
            }
        """,
        instead="""
            impl Drop for Pool {
                fn drop(&mut self) {
                    if self.in_use != 0 {
                        eprintln!("warning: {} connections still in use at drop", self.in_use);
                    }
                }
            }
        """,
        references="""
            - [std::ops::Drop: panics](https://doc.rust-lang.org/std/ops/trait.Drop.html#panics)
            - [std::thread::panicking](https://doc.rust-lang.org/std/thread/fn.panicking.html)
        """,
    ),
)
