"""Small syntax questions several rules ask, answered over tree-sitter nodes."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator

from tree_sitter import Node

from rules.context import DropScope, FileContext
from rules.parsing import captures


def in_drop(
    ctx: FileContext,
    query_text: str,
    capture: str,
    scopes: Iterable[DropScope] | None = None,
) -> Iterator[tuple[Node, DropScope]]:
    """Nodes captured as `capture` inside every function Drop reaches (or the
    given `scopes`), with the scope they were found in (for the "reached from
    Drop ... via" message)."""
    for scope in ctx.drop_scopes if scopes is None else scopes:
        body = scope.function.child_by_field_name("body")
        if body is not None:
            for node in captures(query_text, body).get(capture, []):
                yield node, scope


def outside_drop(ctx: FileContext, nodes: list[Node]) -> Iterator[Node]:
    """The nodes that no Drop scope holds (those are the Drop rules' business)."""
    for node in nodes:
        if ctx.drop_scope_of(node) is None:
            yield node


def with_scope(message: str, scope: DropScope) -> str:
    return message + scope.describe()


def macro_name(macro: Node) -> str:
    """`std::panic!(..)` -> `panic`."""
    name = macro.child_by_field_name("macro")
    if name is not None and name.type == "scoped_identifier":
        name = name.child_by_field_name("name")
    return (name.text or b"").decode("utf-8", "replace") if name is not None else ""


def method_calls(ctx: FileContext, names: Collection[str]) -> Iterator[tuple[Node, Node]]:
    """(method name, call) of each call `receiver.name(..)` for the given names."""
    for name in ctx.occurrences(names, {"field_identifier"}):
        access = name.parent
        call = access.parent if access is not None else None
        if (
            access is not None
            and call is not None
            and access.type == "field_expression"
            and call.type == "call_expression"
            and call.child_by_field_name("function") == access
        ):
            yield name, call


def macro_calls(ctx: FileContext, names: Collection[str]) -> Iterator[Node]:
    """`name!(..)` invocations (`std::name!` too) of the given macro names."""
    for name in ctx.occurrences(names, {"identifier"}):
        node = name.parent
        if node is not None and node.type == "scoped_identifier":
            node = node.parent
        if node is not None and node.type == "macro_invocation":
            yield node
