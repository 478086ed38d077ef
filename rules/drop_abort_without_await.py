"""drop-abort-without-await: aborting a task in Drop without waiting for it."""

from __future__ import annotations

import re
from collections.abc import Iterator

from tree_sitter import Node

from rules.docs import page
from rules.fixes import SAFE_DROP
from rules.model import RESOURCES_RELEASED, Hit, Rule
from rules.rust.bindings import origin, short_text
from rules.rust.context import FileContext
from rules.rust.parsing import field_text
from rules.rust.syntax import calls_query, in_drop

# a bare `abort()` is captured too, and has no receiver to be a task
ABORT_CALLS = calls_query("abort")
_TASK_TYPE = re.compile(r"\b(JoinHandle|AbortHandle)\b|spawn")
_TASK_NAME = re.compile(r"handle|task|join|worker|abort", re.I)
_TASK_OWNERS = frozenset({"JoinHandle", "AbortHandle"})


def check(ctx: FileContext) -> Iterator[Hit]:
    for call, scope in in_drop(ctx, ABORT_CALLS, "call"):
        function = call.child_by_field_name("function")
        if function is None or _abort_guard(scope.function):
            continue
        if function.type == "scoped_identifier":
            owner = ctx.resolve(ctx.text(function)).split("::")[-2:-1]
            if not owner or owner[0] not in _TASK_OWNERS:
                continue
            name = f"{owner[0]}::abort"
        else:
            receiver = function.child_by_field_name("value")
            if receiver is None or not is_task(ctx, receiver):
                continue
            if _awaited_later(ctx, call, receiver, scope.function):
                continue
            name = f"{short_text(ctx, function) or 'abort'}()"
        message = (
            f"`{name}` in `Drop` does not wait for the task: it stops at its next"
            " `.await`, and what it holds is released later"
        )
        yield Hit(call, message, scope=scope)


def _abort_guard(function: Node) -> bool:
    """`fn drop` whose body is one call, the abort: an abort-on-drop
    guard (tokio-util's `AbortGuard`, `JoinSet`'s drain-and-abort), whose
    owner chose cancelling without waiting; nothing after it assumes the task
    has stopped."""
    body = function.child_by_field_name("body")
    statements = [
        child
        for child in (body.named_children if body is not None else [])
        if child.type not in {"line_comment", "block_comment"}
    ]
    if field_text(function, "name") != "drop" or len(statements) != 1:
        return False
    statement = statements[0]
    if statement.type == "expression_statement" and statement.named_children:
        statement = statement.named_children[0]
    return statement.type == "call_expression"


def is_task(ctx: FileContext, receiver: Node) -> bool:
    """Whether `.abort()` is called on a tokio task handle. A type decides when
    one is known (a struct field's or a `let`'s declared type, or the call that
    built the value): `JoinHandle`/`AbortHandle` or a spawn call yes, anything
    else (`Transaction`, `Upload`) no. Without a type the names along the way
    decide: `handle`, `task`, `join`, `worker`, `abort` in any of them."""
    clues = origin(ctx, receiver)
    if clues.types:
        return clues.type_matches(_TASK_TYPE)
    return clues.name_matches(_TASK_NAME)


def _awaited_later(ctx: FileContext, call: Node, receiver: Node, function: Node) -> bool:
    """`h.abort(); block_on(h)` / `h.await`: the rule's own fix, waiting for
    the cancelled task, applied in the same function."""
    later = ctx.source[call.end_byte : function.end_byte].decode("utf-8", "replace")
    name = re.escape("".join(ctx.text(receiver).split()))
    waited = rf"block_on\w*\(\s*(&\s*(mut\s+)?)?{name}\b|\b{name}\s*\.await\b"
    return re.search(waited, later) is not None


RULE = Rule(
    only_in_drop=True,
    id="drop-abort-without-await",
    label="the task stops later, not here",
    help="wait for the aborted task to end (safe-Drop pattern), or add an `async fn close(self)`",
    severity="warning",
    checklist=(RESOURCES_RELEASED,),
    message="`abort()` in `Drop` does not wait for the task to stop",
    needles=(b"abort",),
    check=check,
    fix=SAFE_DROP,
    docs=page(
        what="""
            Flags `.abort()` on a tokio task handle inside `fn drop` of an `impl Drop` (and
            in functions of the same file that `drop` reaches): `self.handle.abort()`,
            `task.abort()` after `if let Some(task) = self.task.take()`, `h.abort()` in a
            loop over handles, `self.task.take().map(|h| h.abort())`, `JoinHandle::abort(&h)`
            and `AbortHandle::abort`. The receiver counts as a task handle when its declared
            type (struct field, `let`, parameter) or the call that built it says
            `JoinHandle`/`AbortHandle`/spawn, or, with no type in the file, when a name on
            the way mentions handle, task, join, worker or abort. `std::process::abort()` and
            `.abort()` on other types (a transaction, an upload) are not flagged, nor an
            abort followed in the same function by waiting for that handle. Nor an
            abort-on-drop guard, a `fn drop` whose whole body is the abort
            (`impl Drop for AbortGuard { fn drop(&mut self) { self.0.abort(); } }` in
            tokio-util, tokio's `JoinSet` draining its handles with
            `self.inner.drain(|h| h.abort())`): cancelling without waiting is what its
            owner asked for, and nothing in `drop` assumes the task has stopped.
        """,
        why="""
            `abort` only requests cancellation. The task stops the next time it reaches an
            `.await`, on some runtime thread, after `drop` has returned: until then it still
            holds its sockets, locks, files and child processes, and whatever it was doing
            half-way is left half-done. Code after the drop that expects the resource free
            (a port to rebind, a file to remove, a container to restart) races the dying
            task, and when the runtime is already shutting down the task may never be
            polled again at all.
        """,
        example="""
            impl Drop for ContainerLifecycleGuard {
                fn drop(&mut self) {
                    if let Some(task) = self.health_check_task.take() {
                        task.abort();
                    }
                }
            }
        """,
        instead="""
            impl ContainerLifecycleGuard {
                pub async fn close(mut self) {
                    if let Some(task) = self.health_check_task.take() {
                        task.abort();
                        let _ = task.await; // returns once the task has really stopped
                    }
                }
            }

            impl Drop for ContainerLifecycleGuard {
                fn drop(&mut self) {
                    if let Some(task) = self.health_check_task.take() {
                        task.abort();
                        // wait with the safe-Drop pattern (bounded), never with a bare block_on
                        let _ = block_on_cleanup(task, CLEANUP_LIMIT);
                    }
                }
            }
        """,
        references="""
            - [tokio::task::JoinHandle::abort](https://docs.rs/tokio/latest/tokio/task/struct.JoinHandle.html#method.abort)
            - [tokio::task::AbortHandle](https://docs.rs/tokio/latest/tokio/task/struct.AbortHandle.html)
            - [tokio::task: cancellation](https://docs.rs/tokio/latest/tokio/task/index.html#cancellation)
            - [Tokio: graceful shutdown](https://tokio.rs/tokio/topics/shutdown)
        """,
    ),
)
