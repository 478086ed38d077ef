"""detached-spawn: an async task spawned outside Drop whose JoinHandle is dropped."""

from __future__ import annotations

from collections.abc import Iterator

from rules.docs import page
from rules.model import ASYNC_NOT_DETACHED, Hit, Rule
from rules.rust.context import FileContext
from rules.rust.spawn_owners import (
    drives_returned_pair,
    reports_through_channel,
    spawns_own_parameter,
)
from rules.rust.spawns import classify_spawn, handle_discarded, spawn_calls
from rules.rust.syntax import outside_drop


def check(ctx: FileContext) -> Iterator[Hit]:
    for call in outside_drop(ctx, spawn_calls(ctx)):
        spawn = classify_spawn(ctx, call)
        if spawn is None or spawn.family != "task" or not handle_discarded(ctx, call):
            continue
        if spawns_own_parameter(ctx, call):
            continue  # an executor adapter: its caller chose to detach
        message = f"the `JoinHandle` of `{spawn.name}` is dropped: the task is detached"
        if reports_through_channel(ctx, call):
            message = f"{message}, though it reports back through a channel"
            yield Hit(call, message, at_most="notice")
        elif drives_returned_pair(ctx, call):
            message = f"{message}, driven by the half of its pair that the function returns"
            yield Hit(call, message, at_most="notice")
        else:
            yield Hit(call, message)


RULE = Rule(
    id="detached-spawn",
    label="the `JoinHandle` is dropped",
    help="keep the `JoinHandle` and await it, or spawn on an awaited `JoinSet`/`TaskTracker`",
    severity="warning",
    checklist=(ASYNC_NOT_DETACHED,),
    message="the `JoinHandle` of a spawned task is dropped: the task is detached",
    needles=(b"spawn",),
    check=check,
    docs=page(
        what="""
            Flags an async task spawned outside `Drop` whose `JoinHandle` is thrown away:
            `tokio::spawn`, `tokio::task::spawn`, `spawn_local`, `Handle::spawn` /
            `handle.spawn(..)` / `rt.spawn(..)` (and async-std's `task::spawn`) as an
            expression statement, under `let _ =`, or bound to a name (`let _task = ..`)
            that is never used again. A handle that is awaited, joined, stored, pushed,
            returned (also as an arm of the function's tail `match` or `if`, as tokio's
            tests pick `ls.spawn_local(task)` or `rt.spawn(task)`) or passed on is kept; a
            `spawn` method whose receiver is no runtime, handle or tracker (a pool's own
            `spawn` returning `()`) is not a task spawn; spawning on a `TaskTracker` or `JoinSet` is
            tracked. Threads (`std::thread::spawn`) and `spawn_blocking` are left alone
            outside `Drop`: fire-and-forget is their usual, deliberate use. Test code is
            checked too: a detached task in a test outlives the assertion it should feed.
            Inside `Drop`, `drop-detached-spawn` reports instead.

            Deliberately not flagged: an executor adapter that spawns the future it was
            given, as is or boxed/pinned (hyper's `Exec::execute(&self, fut)` calling
            `tokio::task::spawn(fut)`, quinn's `impl Runtime for TokioRuntime { fn
            spawn(&self, future) { tokio::spawn(future); } }`). Detaching is the
            adapter's contract; the decision is its caller's, and `drop-detached-spawn`
            still reports the adapter's spawn when `Drop` reaches it.

            Only a notice, because someone still answers for the task: a spawned future
            that takes a channel's sending half along (reqwest's per-request
            `tokio::spawn(forward(req_fut, req_tx))`, or an `async move` block calling
            `tx.send(..)`) reports its result back; a worker taken from a tuple whose
            other half the function returns (tower's `let (service, worker) =
            Self::pair(..); tokio::spawn(worker); service`) lives as long as that half's
            channel. Their errors and panics are still lost at shutdown, so they are not
            silenced altogether.
        """,
        why="""
            Dropping a `JoinHandle` detaches the task: nothing learns whether it finished,
            its errors and panics vanish (a panic only reaches whoever awaits the handle),
            and at shutdown it is cancelled wherever it stands. A spawned task that matters
            needs an owner: keep the handle and await it, or spawn it on a `TaskTracker` or
            `JoinSet` that shutdown waits for. `let _ = tokio::spawn(..)` silences the
            `#[must_use]` hint but not the problem (compare clippy's
            `let_underscore_future`).
        """,
        example="""
            async fn accept(listener: TcpListener) -> io::Result<()> {
                loop {
                    let (socket, _) = listener.accept().await?;
                    tokio::spawn(handle_connection(socket));
                }
            }
        """,
        instead="""
            async fn accept(listener: TcpListener, tracker: TaskTracker) -> io::Result<()> {
                loop {
                    let (socket, _) = listener.accept().await?;
                    tracker.spawn(handle_connection(socket));
                }
                // at shutdown: tracker.close(); tracker.wait().await;
            }
        """,
        references="""
            - [tokio::task::JoinHandle: dropping detaches the task](https://docs.rs/tokio/latest/tokio/task/struct.JoinHandle.html)
            - [tokio_util::task::TaskTracker](https://docs.rs/tokio-util/latest/tokio_util/task/task_tracker/struct.TaskTracker.html)
            - [tokio::task::JoinSet](https://docs.rs/tokio/latest/tokio/task/struct.JoinSet.html)
            - [Tokio: graceful shutdown](https://tokio.rs/tokio/topics/shutdown)
            - [clippy: let_underscore_future](https://rust-lang.github.io/rust-clippy/master/index.html#let_underscore_future)
        """,
    ),
)
