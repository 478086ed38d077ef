"""Small syntax questions several rules ask, answered over tree-sitter nodes."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from rules.context import DropScope, FileContext
from rules.parsing import captures


def in_drop(ctx: FileContext, query_text: str, capture: str) -> Iterator[tuple[Node, DropScope]]:
    """Nodes captured as `capture` inside every function Drop reaches, with the
    scope they were found in (for the "reached from Drop ... via" message)."""
    for scope in ctx.drop_scopes:
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
