"""drop-self-join: Drop joins a thread that may be the one running the drop.

A type whose `drop` joins its worker thread is fine while one owner drops it
from outside. Once the value is shared (`Arc<T>`, `Weak<T>`), the last
reference may be released by the worker itself: a callback, a log call, a task
finishing there. `JoinHandle::join` on the current thread then fails with
EDEADLK and std panics "failed to join thread: Resource deadlock avoided", or,
with a channel in between, the thread waits for itself forever.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from tree_sitter import Node

from rules.docs import page
from rules.model import NEVER_PANICS, Hit, Rule
from rules.rust.bindings import origin, short_text
from rules.rust.context import FileContext
from rules.rust.parsing import enclosing, lineage, matches, type_name
from rules.rust.syntax import calls_query, drop_excuse, in_drop

JOIN_CALLS = calls_query("join")
PANIC = '"failed to join thread: Resource deadlock avoided"'
_THREAD_TYPE = re.compile(r"(?<![\w:])(std::)?(thread::)?JoinHandle\b|thread::")
_TASK_TYPE = re.compile(r"tokio|async_std|task::")
_THREAD_NAME = re.compile(r"thread|worker|handle|join", re.I)
_SPAWNED_HERE = re.compile(r"(^|::)spawn(_scoped)?$")
_CURRENT_ID = re.compile(r"current\s*\(\s*\)\s*\.\s*id\s*\(\s*\)")
_STRUCT_FIELDS = """
(struct_item name: (type_identifier) @name
  body: (field_declaration_list (field_declaration type: (_) @type)))
"""
_SHARED_SELF = re.compile(r"\b(Arc|Weak)\s*<\s*Self\b|\bArc::new\(\s*Self\b")


def check(ctx: FileContext) -> Iterator[Hit]:
    shared: dict[str, bool] = {}
    for call, scope in in_drop(ctx, JOIN_CALLS, "call", compares_thread_ids):
        owner = scope.impl_type
        if owner is None:
            continue
        if owner not in shared:
            shared[owner] = _shared(ctx, owner)
        if not shared[owner] or not _joins_stored_thread(ctx, call):
            continue
        callee = call.child_by_field_name("function")
        name = (short_text(ctx, callee) if callee is not None else None) or "join"
        message = (
            f"`{name}()` in `Drop` of `{owner}`, which is shared: when the last reference is"
            f" dropped on that thread, `join` panics ({PANIC}) or deadlocks; compare"
            " `handle.thread().id()` with `std::thread::current().id()` first"
        )
        yield Hit(call, message, scope=scope)


@drop_excuse(b"current")
def compares_thread_ids(ctx: FileContext, node: Node, function: Node) -> bool:
    """The join runs only when the current thread is not the joined one: in an
    `if`/`else` whose condition compares `thread::current().id()`, or after
    such an `if` that returns."""
    for child, parent in lineage(node, function):
        if parent.type in {"if_expression", "match_arm"} and child != parent.child_by_field_name(
            "condition"
        ):
            part = "condition" if parent.type == "if_expression" else "pattern"
            guard = parent.child_by_field_name(part)
            if guard is not None and _CURRENT_ID.search(ctx.text(guard)):
                return True
        if parent.type == "block":
            sibling = child.prev_named_sibling
            while sibling is not None:
                text = ctx.text(sibling)
                if _CURRENT_ID.search(text) and "return" in text:
                    return True
                sibling = sibling.prev_named_sibling
    return False


def _joins_stored_thread(ctx: FileContext, call: Node) -> bool:
    """`h.join()` with no arguments on a std `JoinHandle` kept in the value (a
    field, `self.worker.take()`), not one spawned in this function (which is
    never the current thread) and not a slice or string `join`."""
    callee = call.child_by_field_name("function")
    arguments = call.child_by_field_name("arguments")
    if callee is None or callee.type != "field_expression" or arguments is None:
        return False
    if arguments.named_child_count:
        return False
    receiver = callee.child_by_field_name("value")
    if receiver is None:
        return False
    clues = origin(ctx, receiver)
    if clues.type_matches(_TASK_TYPE) or any(_SPAWNED_HERE.search(t) for t in clues.types):
        return False
    if "spawn" in clues.names or "spawn_scoped" in clues.names:
        return False
    return clues.type_matches(_THREAD_TYPE) or (
        not clues.types and clues.name_matches(_THREAD_NAME)
    )


def _shared(ctx: FileContext, owner: str) -> bool:
    """The file shares `owner` between threads: `Arc<Owner>`, `Weak<Owner>`,
    `Arc::new(Owner ..)`, `Arc<Self>` / `Arc::new(Self ..)` in its impls, or
    the same for a struct with an `Owner` field (the value dropped with it)."""
    if _shared_directly(ctx, owner):
        return True
    return any(holder != owner and _shared_directly(ctx, holder) for holder in _holders(ctx, owner))


def _shared_directly(ctx: FileContext, owner: str) -> bool:
    name = re.escape(owner)
    text = ctx.source.decode("utf-8", "replace")
    if re.search(rf"\b(Arc|Weak)\s*<\s*(\w+::)*{name}\b|\bArc::new\(\s*{name}\b", text):
        return True
    return any(_SHARED_SELF.search(ctx.text(impl)) for impl in _impls_of(ctx, owner))


def _holders(ctx: FileContext, owner: str) -> Iterator[str]:
    """Structs of the file with a field whose type names `owner`."""
    word = re.compile(rf"\b{re.escape(owner)}\b")
    for _, match in matches(_STRUCT_FIELDS, ctx.root):
        if word.search(ctx.text(match["type"][0])):
            yield ctx.text(match["name"][0])


def _impls_of(ctx: FileContext, owner: str) -> Iterator[Node]:
    for name in ctx.occurrences((owner,), {"type_identifier"}):
        impl = enclosing(name, ctx.root, {"impl_item"})
        target = impl.child_by_field_name("type") if impl is not None else None
        if impl is not None and target is not None and type_name(target) == owner:
            yield impl


RULE = Rule(
    only_in_drop=True,
    id="drop-self-join",
    label="may join the current thread",
    help="skip the join when `thread::current().id()` is the worker's own id",
    severity="warning",
    checklist=(NEVER_PANICS,),
    message="`Drop` of a shared value joins a thread that may be the current one",
    needles=(b"join",),
    check=check,
    docs=page(
        what="""
            Flags `handle.join()` on a `std::thread::JoinHandle` kept in the value
            (`self.worker.take()`, a field) inside `fn drop` of an `impl Drop` (and in
            functions of the same file that `drop` reaches), when the file shares that type
            between threads (`Arc<T>`, `Weak<T>`, `Arc::new(T { .. })`, `Arc<Self>`, or one of
            these for a struct holding a `T` field): then the last reference can be released
            on the worker thread itself.

            Quiet: a join guarded by comparing the thread's id with the current one
            (`if handle.thread().id() != std::thread::current().id() { handle.join() }`, or an
            early `return` when they are equal); a thread spawned in the same function
            (never the current one); `join` with arguments (slices, strings); a type the file
            never shares (the book's `ThreadPool`, dropped by its one owner).
        """,
        why="""
            A worker that holds a clone of its owner (to log, to call back, to reschedule
            itself) may end up holding the last one. Its `drop` then runs on the worker and
            joins the worker: pthread refuses with EDEADLK and std panics "failed to join
            thread: Resource deadlock avoided" (os error 35 on Linux, 11 on macOS), which
            aborts the process when the thread is already unwinding; designs that signal the
            worker over a channel and wait for an answer hang instead. Loggers (slog-async),
            I/O services (conflux) and runtimes (databend) have all shipped this bug.
        """,
        example="""
            impl Drop for Inner {
                fn drop(&mut self) {
                    let _ = self.shutdown_tx.send(());
                    if let Some(worker) = self.worker.take() {
                        let _ = worker.join();
                    }
                }
            }
        """,
        instead="""
            impl Drop for Inner {
                fn drop(&mut self) {
                    let _ = self.shutdown_tx.send(());
                    if let Some(worker) = self.worker.take() {
                        // dropped by the worker itself: it is already on its way out
                        if worker.thread().id() != std::thread::current().id() {
                            let _ = worker.join();
                        }
                    }
                }
            }
        """,
        references="""
            - [std::thread::JoinHandle::join](https://doc.rust-lang.org/std/thread/struct.JoinHandle.html#method.join)
            - [slog-rs/async#12: do not join() when dropping from the worker thread](https://github.com/slog-rs/async/pull/12)
            - [pthread_join: EDEADLK](https://man7.org/linux/man-pages/man3/pthread_join.3.html)
        """,
    ),
)
