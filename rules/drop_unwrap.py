"""drop-unwrap: `.unwrap()` / `.expect(..)` in Drop."""

from __future__ import annotations

from collections.abc import Iterator

from rules.docs import page
from rules.fixes import SAFE_DROP
from rules.model import NO_UNWRAP, UNWIND_SAFE, Hit, Rule
from rules.rust.context import FileContext
from rules.rust.spawns import cannot_abort
from rules.rust.syntax import in_drop

UNWRAP_CALLS = """
(call_expression
  function: (field_expression field: (field_identifier) @method
    (#any-of? @method "unwrap" "expect"))) @call
"""


def check(ctx: FileContext) -> Iterator[Hit]:
    for method, scope in in_drop(ctx, UNWRAP_CALLS, "method", cannot_abort):
        message = f"`{ctx.text(method)}` in `Drop`: a panic while unwinding aborts the process"
        yield Hit(method, message, scope=scope)


RULE = Rule(
    id="drop-unwrap",
    severity="error",
    checklist=(NO_UNWRAP, UNWIND_SAFE),
    message="`unwrap`/`expect` in `Drop`: a panic while unwinding aborts the process",
    needles=(b"unwrap", b"expect"),
    supersedes="unwrap-in-production",
    check=check,
    fix=SAFE_DROP,
    docs=page(
        what="""
            Flags `.unwrap()` and `.expect(..)` inside `fn drop` of an `impl Drop`, and in
            every function of the same file that `drop` reaches through calls.

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
            `drop` also runs while a thread unwinds from an earlier panic. A second panic
            during unwinding aborts the whole process: no more destructors, no error
            message from the first panic's handler, no graceful shutdown. Cleanup code
            must treat every failure as something to log, not to panic on.
        """,
        example="""
            impl Drop for Connection {
                fn drop(&mut self) {
                    self.socket.shutdown(Shutdown::Both).unwrap();
                }
            }
        """,
        instead="""
            impl Drop for Connection {
                fn drop(&mut self) {
                    if let Err(e) = self.socket.shutdown(Shutdown::Both) {
                        eprintln!("warning: failed to shut down socket: {e}");
                    }
                }
            }
        """,
        references="""
            - [std::ops::Drop: panics](https://doc.rust-lang.org/std/ops/trait.Drop.html#panics)
            - [Rustonomicon: unwinding](https://doc.rust-lang.org/nomicon/unwinding.html)
        """,
    ),
)
