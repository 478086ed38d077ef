"""lock-across-await: a lock guard bound by `let` still held at a later `.await`."""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from tree_sitter import Node

from rules.docs import page
from rules.model import PERFORMANCE, Hit, Rule, Severity
from rules.rust.context import FileContext
from rules.rust.guards import NEEDLES, Acquisition, Guard, locks, runs_inline, temporary_extent
from rules.rust.parsing import captures

# `join!`/`select!` await their operands without a `.await` token of their own
AWAIT_POINTS = """
(await_expression "await" @await)
(macro_invocation macro: [
  (identifier) @await
  (scoped_identifier name: (identifier) @await)
] (#any-of? @await "join" "try_join" "select"))
"""


def check(ctx: FileContext) -> Iterator[Hit]:
    held: dict[int, tuple[Node, list[Guard]]] = {}
    awaits_by_block: dict[int, list[Node]] = {}
    for guard in locks(ctx).guards:
        key = guard.block.start_byte
        if key not in awaits_by_block:
            found = captures(AWAIT_POINTS, guard.block).get("await", [])
            awaits_by_block[key] = sorted(found, key=lambda n: n.start_byte)
        awaits = awaits_by_block[key]
        after = bisect.bisect_left(awaits, guard.binding.end_byte, key=lambda a: a.start_byte)
        candidates = (awaits[n] for n in range(after, len(awaits)) if guard.held_at(awaits[n]))
        point = next(candidates, None)
        if point is not None:
            held.setdefault(point.start_byte, (point, []))[1].append(guard)
    for point, guards in held.values():
        # an async lock's guard (`m.lock().await`) is made to cross awaits: the
        # contention it costs is worth a notice, not the warning a blocking
        # lock's guard gets (clippy's await_holding_lock draws the same line)
        only_async = all(_awaited(guard.acquisition.call) for guard in guards)
        yield Hit(point, _message(guards, point), at_most="notice" if only_async else None)
    for point, value, acquisition in _temporaries_held(ctx):
        if point.start_byte not in held:
            at_most: Severity | None = "notice" if _awaited(acquisition.call) else None
            yield Hit(point, _temporary_message(value, point), at_most=at_most)


def _temporaries_held(ctx: FileContext) -> Iterator[tuple[Node, Node, Acquisition]]:
    """(first await point, the guard's expression, its acquisition) for each temporary guard
    that lives on to an `.await` after it: `m.lock().unwrap().len()` as an
    argument of an awaited call, `m.lock().await.refresh().await`."""
    for acquisition in locks(ctx).acquisitions:
        extent = temporary_extent(acquisition)
        if extent is None:
            continue
        scope, value = extent
        points = captures(AWAIT_POINTS, scope).get("await", [])
        later = [p for p in points if p.start_byte >= value.end_byte and runs_inline(p, scope)]
        if later:
            yield min(later, key=lambda p: p.start_byte), value, acquisition


def _temporary_message(value: Node, point: Node) -> str:
    what = "this `.await`" if point.type == "await" else f"this `{FileContext.text(point)}!`"
    code = " ".join(FileContext.text(value).split())
    shown = f"`{code}`" if len(code) <= 50 else "a temporary lock guard"
    return (
        f"{shown} (line {value.start_point[0] + 1}) is a temporary guard that lives to the"
        f" end of the statement: it is held across {what}"
    )


def _awaited(call: Node) -> bool:
    parent = call.parent
    while parent is not None and parent.type == "parenthesized_expression":
        parent = parent.parent
    return parent is not None and parent.type == "await_expression"


def _message(guards: list[Guard], point: Node) -> str:
    what = "this `.await`" if point.type == "await" else f"this `{FileContext.text(point)}!`"
    names = " and ".join(f"`{g.name}` (line {g.line})" for g in guards)
    verb = "is" if len(guards) == 1 else "are"
    return f"{names} {verb} held across {what}"


RULE = Rule(
    id="lock-across-await",
    label="the guard is still held at this `.await`",
    help="drop the guard before the `.await` (end its block, `drop(guard)`), or use an async lock",
    severity="warning",
    checklist=(PERFORMANCE,),
    message="a lock guard is held across an `.await`",
    needles=NEEDLES,
    check=check,
    docs=page(
        what="""
            Flags the first `.await` (or `join!`/`try_join!`/`select!`) reached while a lock
            guard is still alive: a value of `.lock()`, `.read()` or `.write()` (no arguments;
            through `.await`, `?`, `.unwrap()`, `.expect(..)`, or a `match` whose arm hands
            the guard on) bound by `let` to a name, `_guard` included, or by `if let` /
            `while let` for their body. The message names the guard and the line it was
            taken on. `ptr.read()` on a raw pointer is not a lock.

            A guard that is never bound is a temporary: it lives to the end of its
            statement (through the body of an `if let`/`while let`, and through a whole
            `match`, whose scrutinee holds it), so `self.state.lock().await.refresh().await`
            and `send(m.lock().unwrap().len()).await` hold the lock across the later `.await`;
            the message names the guard's expression and line.

            Not held: a temporary whose statement has no later await
            (`m.lock().await.len()`, `let n = m.lock().unwrap().len();`, an `if` condition),
            a lock future handed to a call (`timeout(d, m.lock())`: the callee decides),
            `let _ = m.lock()` (dropped at once), a guard moved into `drop(guard)` before the
            await, a guard whose block ended. Awaits inside a closure or an `async` block that
            is not awaited on the spot run later, so they do not count; `async { .. }.await`
            runs in place, so its awaits do. Shadowing a guard with a new `let` does not drop
            it: it stays held to the end of its block.

            A guard of an async lock (acquired with `.await`: `tokio::sync::Mutex`,
            `async_lock::RwLock`) is reported as a notice: such locks are made to be held
            across awaits, as in tokio's own `File::sync_all`, which holds its state lock
            while the in-flight write completes; only the contention is worth knowing.
        """,
        why="""
            With `std::sync::Mutex`/`RwLock` (or `parking_lot`) the guard blocks the executor
            thread's other tasks from taking the lock; a task that needs the lock and runs on
            the same thread deadlocks, and the future is not `Send`, so `tokio::spawn` refuses
            it. `tokio::sync::Mutex` guards are made to cross awaits, but every task that wants
            the lock waits for the whole I/O in between: contention and latency spikes under
            load, and the deadlock risk of holding a lock while waiting on something that may
            itself need it. Copy what you need out of the guard and release it before awaiting.
        """,
        example="""
            async fn flush(&self) -> io::Result<()> {
                let mut pending = self.pending.lock().unwrap(); // std::sync::Mutex
                self.sink.write_all(&pending).await?;
                pending.clear();
                Ok(())
            }
        """,
        instead="""
            async fn flush(&self) -> io::Result<()> {
                let batch = std::mem::take(&mut *self.pending.lock().unwrap());
                self.sink.write_all(&batch).await
            }
        """,
        references="""
            - [clippy: await_holding_lock](https://rust-lang.github.io/rust-clippy/master/index.html#await_holding_lock)
            - [tokio::sync::Mutex: which kind of mutex should you use?](https://docs.rs/tokio/latest/tokio/sync/struct.Mutex.html#which-kind-of-mutex-should-you-use)
            - [Tokio tutorial: holding a MutexGuard across an .await](https://tokio.rs/tokio/tutorial/shared-state#holding-a-mutexguard-across-an-await)
        """,
    ),
)
