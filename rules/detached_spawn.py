"""detached-spawn: an async task spawned outside Drop whose JoinHandle is dropped."""

from __future__ import annotations

from collections.abc import Iterator

from rules.docs import page
from rules.model import ASYNC_NOT_DETACHED, Hit, Rule
from rules.rust.context import FileContext
from rules.rust.spawns import classify_spawn, handle_discarded, spawn_calls
from rules.rust.syntax import outside_drop


def check(ctx: FileContext) -> Iterator[Hit]:
    for call in outside_drop(ctx, spawn_calls(ctx)):
        spawn = classify_spawn(ctx, call)
        if spawn is not None and spawn.family == "task" and handle_discarded(ctx, call):
            yield Hit(call, f"the `JoinHandle` of `{spawn.name}` is dropped: the task is detached")


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
