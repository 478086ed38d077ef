"""drop-detached-spawn: a task or thread spawned in Drop whose handle is dropped."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from rules.docs import page
from rules.fixes import SAFE_DROP
from rules.model import ASYNC_NOT_DETACHED, Hit, Rule, Severity
from rules.rust.context import FileContext
from rules.rust.excuses import drop_excuse
from rules.rust.spawns import SPAWN_CALLS, classify_spawn, handle_discarded
from rules.rust.syntax import in_drop, in_one_time_init, runs_only_when_panicking


def check(ctx: FileContext) -> Iterator[Hit]:
    for call, scope in in_drop(ctx, SPAWN_CALLS, "call", not_on_drop):
        spawn = classify_spawn(ctx, call)
        if spawn is None or spawn.family == "scoped" or not handle_discarded(ctx, call):
            continue
        message = f"detached `{spawn.name}` in `Drop`: the cleanup may never run"
        # A detached thread runs to completion unless the process exits first;
        # a detached task is cancelled whenever its runtime shuts down.
        at_most: Severity | None = "warning" if spawn.family == "thread" else None
        yield Hit(call, message, scope=scope, at_most=at_most)


@drop_excuse(b"init", b"call_once", b"panicking")
def not_on_drop(ctx: FileContext, node: Node, function: Node) -> bool:
    """Started when the value is first needed (`in_one_time_init`), or only
    while the thread unwinds: a pool's sentinel starting a replacement worker
    (threadpool's, rusty_pool's `Sentinel::drop`), detached on purpose."""
    return in_one_time_init(ctx, node, function) or runs_only_when_panicking(ctx, node, function)


RULE = Rule(
    only_in_drop=True,
    id="drop-detached-spawn",
    label="spawned and detached: nobody waits for it",
    help="run the cleanup to completion (safe-Drop pattern), or add an `async fn close(self)`",
    severity="error",
    checklist=(ASYNC_NOT_DETACHED,),
    message="detached spawn in `Drop`: the cleanup may never run",
    needles=(b"spawn",),
    supersedes="detached-spawn",
    check=check,
    fix=SAFE_DROP,
    docs=page(
        what="""
            Flags a task or thread spawned inside `fn drop` of an `impl Drop` (or in a
            function of the same file that `drop` reaches through calls) whose handle is
            thrown away: `tokio::spawn`, `tokio::task::spawn`, `spawn_local`,
            `spawn_blocking`, `Handle::spawn` / `handle.spawn(..)` / `rt.spawn(..)`,
            `std::thread::spawn` and `thread::Builder::spawn`, however they are imported.
            Thrown away means an expression statement, `let _ =`, a binding that is never
            used again, `drop(..)`, or the value of a block nobody reads. A handle that is
            joined, awaited, pushed into a collection, stored in a field, returned or passed
            on is kept. Spawning on a `TaskTracker` or `JoinSet` (judged by the receiver's
            constructor, declared type or name) is tracked, not detached, and so are scoped
            threads (`std::thread::scope`), which are joined when the scope ends.

            Severity by form: a detached tokio or async-std task (also `spawn_blocking`)
            is an error: it is cancelled wherever it stands when the runtime shuts down,
            which is exactly when values are dropped. A detached std thread
            (`std::thread::spawn`, `thread::Builder::spawn`) is at most a warning: it runs
            to completion unless the process exits first, and spawning one from `Drop` is
            sometimes the point.

            Not flagged: a spawn in the closure of a one-time initialiser
            (`OnceCell::get_or_init`, `Once::call_once`): it runs when the value is first
            needed, not when one is dropped. Nor a spawn that runs only while the thread
            unwinds (inside `if std::thread::panicking() { .. }`, or reached only from
            there): threadpool's and rusty_pool's `Sentinel::drop` start a replacement
            worker thread when a worker panics; that thread is the pool's, detached on
            purpose, not cleanup that may not run. async-io's `Timer::drop` looks up the global
            reactor, whose initialiser starts the driver thread; by then it exists.
        """,
        why="""
            `drop` returns as soon as the spawn call does. The cleanup then races the rest
            of the program: when the runtime shuts down or `main` returns first, a detached
            tokio task is cancelled at its next `.await` and a detached thread is killed with
            the process, so the container is never stopped, the registration never removed.
            Nobody sees its errors or panics either, and with no runtime on the dropping
            thread `tokio::spawn` itself panics inside `drop`.
        """,
        example="""
            impl Drop for ContainerGuard {
                fn drop(&mut self) {
                    let environment = self.environment.clone();
                    let container_id = self.container_id.clone();
                    tokio::spawn(async move {
                        let _ = environment.unregister_container(&container_id).await;
                    });
                }
            }
        """,
        instead="""
            impl ContainerGuard {
                /// The primary path: owners await the cleanup.
                pub async fn close(mut self) -> Result<()> {
                    self.closed = true;
                    self.environment.unregister_container(&self.container_id).await
                }
            }

            impl Drop for ContainerGuard {
                fn drop(&mut self) {
                    if !self.closed {
                        // the fallback: run the cleanup to completion (see the safe-Drop
                        // pattern for choosing how by runtime context), never detached
                        run_cleanup_blocking(self.environment.clone(), self.container_id.clone());
                    }
                }
            }
        """,
        references="""
            - [tokio::task::JoinHandle: dropping detaches the task](https://docs.rs/tokio/latest/tokio/task/struct.JoinHandle.html)
            - [tokio::spawn](https://docs.rs/tokio/latest/tokio/task/fn.spawn.html)
            - [tokio_util::task::TaskTracker](https://docs.rs/tokio-util/latest/tokio_util/task/task_tracker/struct.TaskTracker.html)
            - [std::thread::JoinHandle: dropping detaches the thread](https://doc.rust-lang.org/std/thread/struct.JoinHandle.html)
            - [clippy: let_underscore_future](https://rust-lang.github.io/rust-clippy/master/index.html#let_underscore_future)
        """,
    ),
)
