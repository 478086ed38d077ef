"""drop-panic: panicking macros in Drop."""

from __future__ import annotations

import re
from collections.abc import Iterator

from tree_sitter import Node

from rules.docs import page
from rules.fixes import SAFE_DROP
from rules.model import NEVER_PANICS, UNWIND_SAFE, Hit, Rule, Severity
from rules.rust.context import FileContext
from rules.rust.excuses import drop_excuse
from rules.rust.parsing import (
    ancestors,
    earlier_statements,
    exit_condition,
    lineage,
    text,
    unparenthesized,
    walk,
)
from rules.rust.spawns import cannot_abort
from rules.rust.syntax import in_drop, macro_name

# `debug_assert*!` is left out: release builds compile it away
PANIC_MACROS = """
(macro_invocation macro: [
  (identifier) @name
  (scoped_identifier name: (identifier) @name)
] (#any-of? @name "panic" "unreachable" "todo" "unimplemented" "assert" "assert_eq"
  "assert_ne")) @macro
"""
# the code asserting its own invariants: it fails only when the program is
# already broken, so a notice rather than an error
ASSERTIONS = frozenset({"assert", "assert_eq", "assert_ne", "unreachable"})
_CFG_NAME = re.compile(r"\((\w+)\)")  # `cfg!(name)`, spaces removed
# the `cfg` names that select a platform rather than a checking build
_PLATFORMS = frozenset({"unix", "windows"})
_OOM = re.compile(r"\bOOM\b|out of memory", re.IGNORECASE)
_OS_ERROR = re.compile(r"\blast_os_error\s*\(|\bGetLastError\s*\(|\berrno\s*\(")
_CURRENT_THREAD = re.compile(r"(?:[\w:]+::)?(?:thread_id\(\)|current\(\)\.id\(\))")


def check(ctx: FileContext) -> Iterator[Hit]:
    for macro, scope in in_drop(ctx, PANIC_MACROS, "macro", _excused):
        name = macro_name(macro)
        message = f"`{name}!` in `Drop`: a panic while unwinding aborts the process"
        asserts = (
            (name in ASSERTIONS and not _reports_os_error(macro))
            or _impossible_arm(macro)
            or _debug_only(macro, ctx.root)
            or _reports_oom(macro)
            or _wrong_thread(macro, ctx.root)
        )
        at_most: Severity | None = "notice" if asserts else None
        yield Hit(macro, message, scope=scope, at_most=at_most)


def _wrong_thread(macro: Node, root: Node) -> bool:
    """The panic's `if` compares the thread a value belongs to with the current
    one (glib's `ThreadGuard`: `if self.thread_id != thread_id() { panic!(..) }`):
    it reports a value moved to the wrong thread, which would be unsound, as
    `assert!` would; not a cleanup that failed."""
    for child, parent in lineage(macro, root):
        if parent.type in {"function_item", "closure_expression"}:
            return False
        if parent.type == "if_expression":
            condition = parent.child_by_field_name("condition")
            return child == parent.child_by_field_name("consequence") and _compares_thread(
                unparenthesized(condition)
            )
    return False


def _compares_thread(condition: Node | None) -> bool:
    """`a != thread_id()`, `thread::current().id() == b`: one side is the current thread."""
    if condition is None or condition.type != "binary_expression":
        return False
    operator = condition.child_by_field_name("operator")
    if operator is None or operator.type not in {"==", "!="}:
        return False
    sides = (condition.child_by_field_name("left"), condition.child_by_field_name("right"))
    return any(
        side is not None and _CURRENT_THREAD.fullmatch("".join(text(side).split()))
        for side in sides
    )


def _impossible_arm(macro: Node) -> bool:
    """`Err(TryRecvError::Empty) => panic!("can't be empty")`: a `panic!` that
    is the whole value of an unguarded match arm whose pattern binds nothing
    usable (`_`, `_right`, `None`, `Slot::Empty { .. }`) is an `unreachable!`
    in other words. `Err(e) => panic!("{e}")` handles a failure."""
    arm = macro.parent
    if arm is not None and arm.type == "block" and arm.named_child_count == 1:
        arm = arm.parent
    if arm is None or arm.type != "match_arm":
        return False
    pattern = arm.child_by_field_name("pattern")
    if pattern is None or pattern.child_by_field_name("condition") is not None:
        return False
    return not any(_binds(node) for node in walk(pattern))


def _binds(node: Node) -> bool:
    """Whether a pattern's node binds a name the arm could use: `e` in
    `Err(e)`, `a` in `Foo { a, .. }`, `b` in `Foo { a: b }`. Not a path
    (`Err`, `Kind::Empty`, `Slot::Full { .. }`), nor a constant or unit
    variant (`None`, `MAX`: capitalised, as rustc expects of them), nor a
    name that says it is unused (`_right`)."""
    if node.type == "shorthand_field_identifier":
        return not text(node).startswith("_")
    if node.type != "identifier" or _names_a_path(node):
        return False
    name = text(node)
    return not name.startswith("_") and not name[:1].isupper()


def _names_a_path(identifier: Node) -> bool:
    """`Kind`/`Empty` in `Kind::Empty`, `Slot` in `Slot::Empty { .. }`, `Err`
    in `Err(..)`: not bindings."""
    parent = identifier.parent
    if parent is None:
        return False
    if parent.type in {"scoped_identifier", "scoped_type_identifier"}:
        return True
    return (
        parent.type == "tuple_struct_pattern" and parent.child_by_field_name("type") == identifier
    )


def _debug_only(macro: Node, root: Node) -> bool:
    """The panic follows `if !cfg!(name) { return; }` in its function: an
    invariant check compiled in only for debugging (futures-timer's
    `Heap::assert_consistent`), as `debug_assert!` is. A platform or feature
    test (`cfg!(unix)`, `cfg!(feature = "std")`) gates real code."""
    for child, parent in lineage(macro, root):
        if parent.type in {"function_item", "closure_expression"}:
            return False
        if parent.type == "block" and any(
            _unless_debug_cfg(exit_condition(statement)) for statement in earlier_statements(child)
        ):
            return True
    return False


def _unless_debug_cfg(condition: Node | None) -> bool:
    """`!cfg!(name)`, one name that is not a platform (`cfg!(unix)`); a
    feature or target test (`cfg!(feature = "std")`) gates real code."""
    condition = unparenthesized(condition)
    if condition is None or condition.type != "unary_expression" or text(condition)[:1] != "!":
        return False
    test = unparenthesized(condition.named_children[-1] if condition.named_children else None)
    if test is None or test.type != "macro_invocation" or macro_name(test) != "cfg":
        return False
    name = _CFG_NAME.fullmatch("".join(text(test)[len("cfg!") :].split()))
    return name is not None and name[1] not in _PLATFORMS


def _reports_os_error(macro: Node) -> bool:
    """The assertion's message names the OS's error (`assert!(libc::munmap(..) == 0,
    "unmap failed: {}", io::Error::last_os_error())`, memmap's `MmapInner::drop`):
    it checks a system call, which fails from outside, not the code's invariant."""
    return _OS_ERROR.search(text(macro)) is not None


def _reports_oom(macro: Node) -> bool:
    """The panic's message says the failure is running out of memory
    (`panic!("Cannot disable watch tracking (OOM?)")`): Rust aborts the
    process on allocation failure anyway (`handle_alloc_error`), so a panic
    that aborts in its place changes nothing a maintainer would fix."""
    return any(node.type == "string_literal" and _OOM.search(text(node)) for node in walk(macro))


@drop_excuse(b"panic", b"spawn")
def _excused(ctx: FileContext, node: Node, function: Node) -> bool:
    """Where a panic cannot abort (`cannot_abort`), or panicking on purpose:
    in a drop bomb or in the abort helper that arms one."""
    return function.start_byte in ctx.memo(_deliberate_panics) or cannot_abort(ctx, node, function)


def _deliberate_panics(ctx: FileContext) -> frozenset[int]:
    """Start bytes of the functions whose panics are their purpose: the `fn
    drop` of a drop bomb (its whole body is one `panic!`: dropping the value
    is the bug it reports, or the second panic that aborts on purpose) and a
    function that arms a bomb of its own (`fn abort() -> ! { struct Bomb; impl
    Drop for Bomb {..} let _b = Bomb; panic!(..) }`)."""
    found: set[int] = set()
    for owner in ctx.drop_impls:
        if owner.drop_fn is None or not _only_panics(ctx, owner.drop_fn):
            continue
        found.add(owner.drop_fn.start_byte)
        helper = next(
            (a for a in ancestors(owner.impl, ctx.root) if a.type == "function_item"), None
        )
        if helper is not None:
            found.add(helper.start_byte)
    return frozenset(found)


def _only_panics(ctx: FileContext, function: Node) -> bool:
    body = function.child_by_field_name("body")
    statements = [
        child
        for child in (body.named_children if body is not None else [])
        if child.type not in {"line_comment", "block_comment"}
    ]
    if len(statements) != 1:
        return False
    statement = statements[0]
    if statement.type == "expression_statement" and statement.named_children:
        statement = statement.named_children[0]
    return statement.type == "macro_invocation" and macro_name(statement) == "panic"


RULE = Rule(
    only_in_drop=True,
    reached_at_most="warning",
    id="drop-panic",
    label="panics in `Drop`",
    help="log the failure instead of panicking",
    severity="error",
    checklist=(NEVER_PANICS, UNWIND_SAFE),
    message="panicking macro in `Drop`: a panic while unwinding aborts the process",
    needles=(b"panic!", b"unreachable!", b"todo!", b"unimplemented!", b"assert"),
    supersedes="panic-in-production",
    check=check,
    fix=SAFE_DROP,
    docs=page(
        what="""
            Flags `panic!`, `todo!` and `unimplemented!` inside `fn drop` of an
            `impl Drop`, and in every function of the same file that `drop` reaches
            through calls. `assert!`, `assert_eq!`, `assert_ne!` and `unreachable!` are
            reported as notices only: they check the code's own invariants and fail only
            when the program is already broken (unless the message names the OS's error,
            `io::Error::last_os_error()`: then the assertion checks a system call, as
            memmap's `assert!(munmap(..) == 0, ..)` in `Drop` does, an error); so is a
            `panic!` that is the whole arm of a `match` whose pattern binds nothing usable
            (tokio's broadcast `Receiver::drop`:
            `Err(TryRecvError::Empty) => panic!("unexpected empty broadcast channel")`;
            futures-timer's heap: `SlabSlot::Empty { .. } => panic!()`,
            `(None, Some(_right)) => panic!("not possible")`), a panic that follows
            `if !cfg!(name) { return; }` (futures-timer's `Heap::assert_consistent`: a
            check compiled in only for debugging, like `debug_assert!`; a platform or
            feature test such as `cfg!(unix)` or `cfg!(feature = "..")` does not count),
            and a panic whose message says the process ran out of memory (dbus's
            `panic!("Cannot disable watch tracking (OOM?)")`: Rust aborts on allocation
            failure anyway), and a panic on a value dropped on another thread than its
            own (glib's `ThreadGuard`: `if self.thread_id != thread_id() { panic!(..) }`,
            the unsoundness check `assert!` would make). A panic `drop` reaches only
            through calls is at most a warning: reach does not follow branches, and the
            called function may panic only on a path this `drop` never takes.

            Not flagged: code that runs only while the thread is not already panicking
            (`if !std::thread::panicking() { .. }`, the `else` of
            `if std::thread::panicking() { .. }`, what follows
            `if std::thread::panicking() { return; }`, or of `break` or `continue` in a
            loop), where a panic cannot abort; and
            code in a closure or `async` block handed to a spawn (`std::thread::spawn`,
            `tokio::spawn`, `spawn_blocking`, a tracker's `spawn`), which runs on that
            thread or task, where a panic ends only it;
            `debug_assert!` and its kin, which release builds remove; a drop bomb, a
            `fn drop` whose whole body is one `panic!` (crossbeam's
            `SelectedOperation` panics when dropped without completing the operation),
            and an abort helper that arms one (futures' and async-task's
            `fn abort(..) -> ! { struct Bomb; impl Drop for Bomb { fn drop(&mut self) {
            panic!(..) } } let _bomb = Bomb; panic!(..) }`): those panics are the point.
            A closure given to an iterator adapter (`for_each`, `map(..).collect()`,
            `retain`, `filter`) runs inside `drop` and is flagged like the code around it.
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
