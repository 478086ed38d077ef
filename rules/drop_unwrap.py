"""drop-unwrap: `.unwrap()` / `.expect(..)` in Drop."""

from __future__ import annotations

import re
from collections.abc import Iterator

from tree_sitter import Node

from rules.docs import page
from rules.fixes import SAFE_DROP
from rules.model import NO_UNWRAP, UNWIND_SAFE, Hit, Rule, Severity
from rules.rust.bindings import origin
from rules.rust.context import FileContext
from rules.rust.invariants import cannot_fail, unwraps_option
from rules.rust.parsing import bare_method_call, text, unparenthesized
from rules.rust.poisoning import ACQUIRE, unpoisonable
from rules.rust.spawns import cannot_abort
from rules.rust.syntax import in_drop

UNWRAP_CALLS = """
(call_expression
  function: (field_expression field: (field_identifier) @method
    (#any-of? @method "unwrap" "expect"))) @call
"""


# calls whose `Err` comes from the world rather than from the program's own
# state: files, sockets, processes, another thread's panic, the OS refusing a
# thread. Their unwrap in `Drop` fails in any deployment, so it is an error.
FROM_OUTSIDE = frozenset(
    {
        # files and directories
        "flush", "write_all", "write_fmt", "sync_all", "sync_data", "set_len", "remove_file",
        "remove_dir", "remove_dir_all", "rename", "copy", "create_dir", "create_dir_all",
        "read_exact", "read_to_end", "read_to_string", "metadata", "canonicalize",
        # sockets and processes
        "shutdown", "connect", "bind", "accept", "send_to", "recv_from", "kill", "wait",
        "try_wait", "wait_with_output",
        # threads: `join` is `Err` when the thread panicked, `Builder::spawn` when the OS says no
        "join", "spawn",
    }
)  # fmt: skip


WRITE_MACROS = frozenset({"write", "writeln", "std::write", "std::writeln"})
_IN_MEMORY = re.compile(r"(?<![\w:])(?:std::string::|alloc::string::)?String\b|\bFormatter\b")


def check(ctx: FileContext) -> Iterator[Hit]:
    for method, scope in in_drop(ctx, UNWRAP_CALLS, "method", cannot_abort):
        call = method.parent.parent if method.parent is not None else None
        if call is None or cannot_fail(ctx, call, scope.impl_type):
            continue
        locked = _locked(call)
        field = unpoisonable(ctx, locked) if locked is not None else None
        if field is not None:
            message = (
                f"`{ctx.text(method)}` of a lock in `Drop` that cannot be poisoned: "
                f"nothing that can panic runs while `{field}` is held"
            )
            yield Hit(method, message, scope=scope, at_most="notice")
            continue
        if locked is not None:
            message = (
                f"`{ctx.text(method)}` of a lock in `Drop` panics when the lock is poisoned "
                "(a panic while it was held): mid-unwind that aborts the process"
            )
            yield Hit(method, message, scope=scope, at_most="warning")
            continue
        message = f"`{ctx.text(method)}` in `Drop`: a panic while unwinding aborts the process"
        outside = _fails_from_outside(ctx, call) and not unwraps_option(ctx, call)
        at_most: Severity | None = None if outside else "notice"
        yield Hit(method, message, scope=scope, at_most=at_most)


def _fails_from_outside(ctx: FileContext, call: Node) -> bool:
    """`file.flush().unwrap()`, `handle.join().expect(..)`, `fs::remove_file(p).unwrap()`,
    `writeln!(out, ..).expect(..)` (a `write_fmt`): what is unwrapped is the result of a
    call `FROM_OUTSIDE` names, writing to something other than a `String` or a
    `fmt::Formatter` (`fmt::Write`: indicatif formats its bar into a `String`)."""
    function = call.child_by_field_name("function")
    receiver = unparenthesized(function.child_by_field_name("value") if function else None)
    if receiver is not None and receiver.type == "macro_invocation":
        if text(receiver.child_by_field_name("macro") or receiver) not in WRITE_MACROS:
            return False
        arguments = next((c for c in receiver.named_children if c.type == "token_tree"), None)
        target = arguments.named_children[0] if arguments and arguments.named_children else None
        return target is None or not _in_memory(ctx, target)
    callee = receiver.child_by_field_name("function") if receiver is not None else None
    if receiver is None or receiver.type != "call_expression" or callee is None:
        return False
    name = callee.child_by_field_name("field" if callee.type == "field_expression" else "name")
    named = name if callee.type in {"field_expression", "scoped_identifier"} else callee
    if named is None or text(named) not in FROM_OUTSIDE:
        return False
    target = callee.child_by_field_name("value") if callee.type == "field_expression" else None
    return text(named) != "write_fmt" or target is None or not _in_memory(ctx, target)


def _in_memory(ctx: FileContext, target: Node) -> bool:
    """What `write!`/`write_fmt` writes to is a `String` or a `fmt::Formatter`."""
    return origin(ctx, target).type_matches(_IN_MEMORY)


def _locked(call: Node) -> Node | None:
    """`m` of `m.lock().unwrap()`, `rw.read().expect(..)`: the `Err` is poisoning."""
    function = call.child_by_field_name("function")
    receiver = unparenthesized(function.child_by_field_name("value") if function else None)
    locking = bare_method_call(receiver)
    return locking[0] if locking is not None and locking[1] in ACQUIRE else None


RULE = Rule(
    only_in_drop=True,
    id="drop-unwrap",
    label="can panic while unwinding",
    help="handle the error (`if let Err(e) = ..` and log it) instead of panicking",
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

            The severity says how sure the panic is. An error is the unwrap of what fails
            from outside the program: a file or socket operation (`flush`, `write_all`,
            `sync_all`, `remove_file`, `shutdown`, ...), a process's `wait` or `kill`,
            a thread's `join` (`Err` when the thread panicked) or `Builder::spawn`. Any
            other unwrap is a notice: whether a channel's `send`, a header parse or a
            protocol encode can fail depends on invariants the code keeps but does not
            show (on 66 real crates most such unwraps in `Drop` could not fail), so it
            is worth a look, not a failed check. Unwrapping a plain `Option`
            (`x.take().unwrap()`, `v.pop().unwrap()`, `cell.get().expect(..)`, a call to
            a function the file declares returning `Option`) is a notice too: it asserts
            the code's own invariant, as `assert!` does. `m.lock().unwrap()` (also
            `.read()`/`.write()`) is a warning: it panics only when another thread
            panicked while holding the lock, yet in
            `Drop` that second panic aborts the process
            (`unwrap_or_else(PoisonError::into_inner)` keeps going; parking_lot locks do
            not poison). It is a notice when the lock can never be poisoned because nothing
            that can panic ever runs while it is held: the lock is a field (`self.x`,
            `self.a.x`, `m` after `let m = &self.x;`) of a struct the file declares (the
            owner is read off `self`'s impl and the declared types of fields and variables),
            every struct of the file declaring a field of that name gives it a std
            `Mutex`/`RwLock` type without any `pub`, the file declares no `mod x;` (whose
            file would see the field), and every place the file names the field is a
            critical section it can bound: a `let` guard held to the end of its block or an
            unconditional `drop(guard)`, used only in place or handed to a condvar's `wait*`
            (which gives it back), or a temporary held to the end of its statement. Those
            sections may run only field reads and assignments, literals, comparisons, bit
            operations, shifts and divisions by constants, control flow,
            `Option`/`Vec`/`VecDeque`/map methods that do not panic (`push`, `pop`, `take`,
            `replace`, `len`, `clear`, `get`, `insert` and `remove` on a map, ...), atomics,
            `Condvar::notify_*` (not a channel's `send`, which may wake a task), `drop`,
            `mem::replace`/`take`/`swap`, constructors, the unwrap of the lock's own
            acquisition or `wait` (it fails only when already poisoned) or of another lock
            that is never poisoned, and functions of the file whose every body passes the
            same test. Anything else counts as a possible panic: a closure or a waker's
            `wake()`, an index, arithmetic, a macro, `?`, `.await`, an FFI call, a guard
            handed to a function or returned, the lock handed anywhere. A read guard of an
            `RwLock` does not poison it, so only write sections count.

            Not flagged: code that runs only while the thread is not already panicking
            (`if !std::thread::panicking() { .. }`, the `else` of
            `if std::thread::panicking() { .. }`, what follows
            `if std::thread::panicking() { return; }`), where a panic cannot abort; and
            code in a closure or `async` block handed to a spawn (`std::thread::spawn`,
            `tokio::spawn`, `spawn_blocking`, a tracker's `spawn`), which runs on that
            thread or task, where a panic ends only it; code in the closure of a one-time
            initialiser (`OnceCell::get_or_init`, `Once::call_once`), which runs when the
            value is first needed, not in Drop. A closure given to an iterator
            adapter (`for_each`, `map(..).collect()`, `retain`, `filter`) runs inside `drop`
            and is flagged like the code around it.

            An `Option` the code has proved `Some` is not flagged either: inside
            `if x.is_some() { .. }`, after `if x.is_none() { return; }`,
            `if let None = x { return }` or `let Some(..) = x else { return }`, `take()` on
            a local bound to `Some(..)`, and the field invariant of tokio's and
            async-process's guards (`self.inner.take().unwrap()` where every constructor in
            the file sets `inner: Some(..)` and only `fn drop` takes it, as in tokio's
            `Reaper::drop`).
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
