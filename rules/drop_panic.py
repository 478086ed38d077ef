"""drop-panic: panicking macros in Drop."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from rules.docs import page
from rules.fixes import SAFE_DROP
from rules.model import NEVER_PANICS, UNWIND_SAFE, Hit, Rule, Severity
from rules.rust.context import FileContext
from rules.rust.excuses import drop_excuse
from rules.rust.parsing import ancestors, walk
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


def check(ctx: FileContext) -> Iterator[Hit]:
    for macro, scope in in_drop(ctx, PANIC_MACROS, "macro", _excused):
        name = macro_name(macro)
        message = f"`{name}!` in `Drop`: a panic while unwinding aborts the process"
        asserts = name in ASSERTIONS or _impossible_arm(macro)
        at_most: Severity | None = "notice" if asserts else None
        yield Hit(macro, message, scope=scope, at_most=at_most)


def _impossible_arm(macro: Node) -> bool:
    """`Err(TryRecvError::Empty) => panic!("can't be empty")`: a `panic!` that
    is the whole value of a match arm whose pattern binds nothing is an
    `unreachable!` in other words. `Err(e) => panic!("{e}")` handles a failure."""
    arm = macro.parent
    if arm is not None and arm.type == "block" and arm.named_child_count == 1:
        arm = arm.parent
    if arm is None or arm.type != "match_arm":
        return False
    pattern = arm.child_by_field_name("pattern")
    return pattern is not None and not any(
        node.type == "identifier" and not _names_a_path(node) for node in walk(pattern)
    )


def _names_a_path(identifier: Node) -> bool:
    """`Kind`/`Empty` in `Kind::Empty`, `Err` in `Err(..)`: not bindings."""
    parent = identifier.parent
    if parent is None:
        return False
    if parent.type == "scoped_identifier":
        return True
    return (
        parent.type == "tuple_struct_pattern" and parent.child_by_field_name("type") == identifier
    )


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
            when the program is already broken; so is a `panic!` that is the whole arm of a
            `match` whose pattern binds nothing (tokio's broadcast `Receiver::drop`:
            `Err(TryRecvError::Empty) => panic!("unexpected empty broadcast channel")`).

            Not flagged: code that runs only while the thread is not already panicking
            (`if !std::thread::panicking() { .. }`, the `else` of
            `if std::thread::panicking() { .. }`, what follows
            `if std::thread::panicking() { return; }`), where a panic cannot abort; and
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
