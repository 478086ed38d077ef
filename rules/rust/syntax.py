"""Small syntax questions several rules ask, answered over tree-sitter nodes."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator
from functools import cache

from tree_sitter import Node, QueryCursor

from rules.rust.context import DropScope, Excused, FileContext
from rules.rust.crate.items import summary_functions
from rules.rust.excuses import EXCUSES, drop_excuse, excused_in, key_of
from rules.rust.parsing import (
    Nesting,
    captures,
    earlier_statements,
    exit_condition,
    lineage,
    query,
    text,
    unparenthesized,
)

# the names a query's `#any-of?` / `#eq?` predicate allows (see `_captured`)
_WORDS = re.compile(r'#(?:any-of|eq)\?\s+@\w+((?:\s+"\w+")+)\)')


def in_drop(
    ctx: FileContext, query_text: str, capture: str, excused: Excused | None = None
) -> Iterator[tuple[Node, DropScope]]:
    """Nodes captured as `capture` in the functions Drop reaches, each with its
    function as a `DropScope`. Which functions those are is the crate model's
    answer (`rules.rust.crate`), across files: the engine first runs every
    rule with none wanted (noting which rules ask), then the rules that asked
    on the functions Drop reaches, and names the chain of calls. So a rule
    that finds its nodes here follows Drop across files with nothing to do.

    `excused(ctx, node, function)` is the rule's excuse (code on a thread of
    its own, or run only when not unwinding), declared with `drop_excuse`:
    excused nodes are left out, and so are functions reached only through
    excused call sites."""
    needles: tuple[bytes, ...] = ()
    if excused is not None:
        declared = EXCUSES.get(key_of(excused))
        if declared is None:
            raise ValueError(f"{key_of(excused)} is not declared with @drop_excuse")
        needles = declared[1]
    functions = summary_functions(ctx)
    functions.asked = True
    if not functions.wanted:
        return
    nested: dict[int, Nesting] = {}
    for node in _captured(ctx, query_text, capture):
        index = functions.index_of(node)
        if index is None or index not in functions.wanted:
            continue
        function = functions.nodes[index]
        if index not in nested:
            nested[index] = _nested_fns(ctx, function)
        if next(nested[index].holding(node), None) is not None:
            continue  # runs when that `fn` is called (an `extern "C"` callback), not here
        if excused is None or not excused_in(ctx, excused, needles, node, function):
            yield node, DropScope(function, excused)


def _nested_fns(ctx: FileContext, function: Node) -> Nesting:
    """The `fn` items written inside `function`'s body, found by their keyword."""
    body = function.child_by_field_name("body")
    if body is None:
        return Nesting(())
    within = [(body.start_byte, body.end_byte)]
    return Nesting(ctx.holders(("fn",), ("fn",), ("function_item",), within))


def _captured(ctx: FileContext, query_text: str, capture: str) -> list[Node]:
    """`capture` nodes of the query in the wanted functions. When the query
    names the words it matches (`#any-of?`, `#eq?`), only the places those
    words occur are searched, each from its function down."""
    functions = summary_functions(ctx)
    words = _query_words(query_text)
    if words is None:
        nodes = (functions.nodes[index] for index in sorted(functions.wanted))
        return [found for node in nodes for found in captures(query_text, node).get(capture, [])]
    found: dict[tuple[int, int, str], Node] = {}
    cursor = QueryCursor(query(query_text))
    bodies = [functions.nodes[index] for index in sorted(functions.wanted)]
    spans = [(body.start_byte, body.end_byte) for body in bodies]
    for name in ctx.occurrences(words, within=spans):
        index = functions.index_of(name)
        if index is None or index not in functions.wanted:
            continue
        cursor.set_byte_range(name.start_byte, name.end_byte)
        for node in cursor.captures(functions.nodes[index]).get(capture, []):
            found.setdefault((node.start_byte, node.end_byte, node.type), node)
    return sorted(found.values(), key=lambda node: node.start_byte)


@cache
def _query_words(query_text: str) -> tuple[str, ...] | None:
    """The names a query's one text predicate allows, None when it has none."""
    matched = _WORDS.findall(query_text)
    if len(matched) != 1 or query_text.count("(#") != 1:
        return None
    return tuple(word.strip('"') for word in matched[0].split())


def outside_drop(ctx: FileContext, nodes: Iterable[Node]) -> Iterator[Node]:
    """The nodes outside every `fn drop` of the file (those are the Drop rules'
    business; the engine also drops a finding a Drop rule reports at the same
    place in a function Drop reaches, see `Rule.supersedes`)."""
    bodies = Nesting(impl.drop_fn for impl in ctx.drop_impls if impl.drop_fn is not None)
    for node in nodes:
        if next(bodies.holding(node), None) is None:
            yield node


def macro_name(macro: Node) -> str:
    """`std::panic!(..)` -> `panic`."""
    name = macro.child_by_field_name("macro")
    if name is not None and name.type == "scoped_identifier":
        name = name.child_by_field_name("name")
    return text(name)


def method_calls(ctx: FileContext, names: Collection[str]) -> Iterator[tuple[Node, Node]]:
    """(method name, call) of each call `receiver.name(..)` for the given names."""
    for name in ctx.occurrences(names, {"field_identifier"}):
        call = call_named(ctx, name)
        if call is not None:
            yield name, call


def calls_query(*names: str) -> str:
    """A query capturing as `@call` each call whose callee ends in one of
    `names` (`f(..)`, `a::f(..)`, `x.f(..)`), the name itself as `@name`."""
    quoted = " ".join(f'"{name}"' for name in names)
    return f"""
(call_expression function: [
  (identifier) @name
  (scoped_identifier name: (identifier) @name)
  (field_expression field: (field_identifier) @name)
] (#any-of? @name {quoted})) @call
"""


def call_named(ctx: FileContext, name: Node) -> Node | None:
    """The call whose callee ends in `name` (`f(..)`, `a::f(..)`, `x.f(..)`)."""
    callee = name
    parent = ctx.parent(name)
    if parent is not None and parent.type in {"scoped_identifier", "field_expression"}:
        field = "name" if parent.type == "scoped_identifier" else "field"
        if parent.child_by_field_name(field) != name:
            return None
        callee = parent
    call = ctx.parent(callee)
    if call is None or call.type != "call_expression":
        return None
    return call if call.child_by_field_name("function") == callee else None


def macro_calls(ctx: FileContext, names: Collection[str]) -> Iterator[Node]:
    """`name!(..)` invocations (`std::name!` too) of the given macro names."""
    for name in ctx.occurrences(names, {"identifier"}):
        node = ctx.parent(name)
        if node is not None and node.type == "scoped_identifier":
            node = ctx.parent(node)
        if node is not None and node.type == "macro_invocation":
            yield node


# one-time initialisers: their closure runs once, when the value is first needed
ONCE_INITS = frozenset(
    {
        "get_or_init",
        "get_or_init_blocking",
        "get_or_try_init",
        "get_or_try_init_blocking",
        "call_once",
        "call_once_force",
    }
)


@drop_excuse(b"init", b"call_once")
def in_one_time_init(ctx: FileContext, node: Node, function: Node) -> bool:
    """True when `node` sits in the closure given to a one-time initialiser
    (`OnceCell::get_or_init`, `Once::call_once`, ..): it runs once, the first
    time the value is needed, and a value being dropped needed it before (a
    global reactor that `Timer::drop` looks up already exists)."""
    for child, parent in lineage(node, function):
        if child.type == "closure_expression" and parent.type == "arguments":
            call = parent.parent
            callee = call.child_by_field_name("function") if call is not None else None
            if callee is not None and text(callee).rsplit(".", 1)[-1].strip() in ONCE_INITS:
                return True
    return False


@drop_excuse(b"panicking")
def runs_only_when_not_panicking(ctx: FileContext, node: Node, function: Node) -> bool:
    """True when `node` runs only while the thread is not unwinding, so a panic
    there cannot abort the process: in `if !thread::panicking() { .. }` (also
    `&& ..`), in the `else` of `if thread::panicking() { .. }`, or after
    `if thread::panicking() { return; }` in an enclosing block. The excuse of
    drop-panic and drop-unwrap (see `in_drop`)."""
    return _runs_only_when(ctx, node, function, panicking=False)


def runs_only_when_panicking(ctx: FileContext, node: Node, function: Node) -> bool:
    """The mirror of `runs_only_when_not_panicking`: `node` runs only while the
    thread unwinds (a pool's sentinel starting a replacement worker)."""
    return _runs_only_when(ctx, node, function, panicking=True)


def _runs_only_when(ctx: FileContext, node: Node, function: Node, panicking: bool) -> bool:
    if not ctx.mentions(b"panicking"):
        return False
    for child, parent in lineage(node, function):
        if parent.type == "if_expression":
            condition = parent.child_by_field_name("condition")
            if child == parent.child_by_field_name("consequence") and _implies(
                ctx, condition, panicking
            ):
                return True
            if child == parent.child_by_field_name("alternative") and _implies(
                ctx, condition, panicking, negated=True
            ):
                return True
        elif parent.type == "block" and _left_unless(ctx, child, panicking):
            return True
    return False


def _implies(
    ctx: FileContext, condition: Node | None, panicking: bool, negated: bool = False
) -> bool:
    """Whether `condition` holding (failing, when `negated`) implies that
    `thread::panicking()` returns `panicking`. Both sides of a holding `&&`
    hold, both sides of a failing `||` fail: either side may decide."""
    condition = unparenthesized(condition)
    if condition is None:
        return False
    if condition.type == "unary_expression" and ctx.text(condition).startswith("!"):
        inner = condition.named_children[-1] if condition.named_children else None
        return _implies(ctx, inner, panicking, not negated)
    if condition.type == "binary_expression":
        operator = condition.child_by_field_name("operator")
        joins = "||" if negated else "&&"
        if operator is not None and operator.type == joins:
            sides = (condition.child_by_field_name("left"), condition.child_by_field_name("right"))
            return any(_implies(ctx, side, panicking, negated) for side in sides)
        return False
    if condition.type == "call_expression" and _is_panicking_call(ctx, condition):
        return panicking != negated
    return False


def _is_panicking_call(ctx: FileContext, call: Node) -> bool:
    function = call.child_by_field_name("function")
    return function is not None and ctx.resolve(ctx.text(function)).endswith("thread::panicking")


def _left_unless(ctx: FileContext, statement: Node, panicking: bool) -> bool:
    """An earlier statement of `statement`'s block is `if thread::panicking() {
    return; }` (no `else`; or `continue`, `break`), or for `panicking` its
    negation: what follows runs only when the thread is (not) panicking."""
    return any(
        _implies(ctx, exit_condition(guard), panicking=not panicking)
        for guard in earlier_statements(statement)
    )
