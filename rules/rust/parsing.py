"""One tree-sitter-rust language, parser and query cache per process.

Building a Language, Parser or Query is costly; analyses reuse them and make a
fresh QueryCursor each time (cursors carry per-run state).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from functools import cache

import tree_sitter_rust
from tree_sitter import Language, Node, Parser, Query, QueryCursor, Tree

LANGUAGE = Language(tree_sitter_rust.language())
_PARSER = Parser(LANGUAGE)


def parse(source: bytes) -> Tree:
    return _PARSER.parse(source)


@cache
def query(text: str) -> Query:
    """A compiled query; the text is the cache key, so rules may inline theirs."""
    return Query(LANGUAGE, text)


def captures(query_text: str, node: Node) -> dict[str, list[Node]]:
    return QueryCursor(query(query_text)).captures(node)


def matches(query_text: str, node: Node) -> list[tuple[int, dict[str, list[Node]]]]:
    return QueryCursor(query(query_text)).matches(node)


def text(node: Node | None) -> str:
    """The node's source text ('' for a missing node); bytes that are not
    UTF-8 read as U+FFFD, so any file can be analysed."""
    return (node.text or b"").decode("utf-8", "replace") if node is not None else ""


def field_text(node: Node, field: str) -> str:
    """The text of `node`'s child `field` ('' when it has none)."""
    return text(node.child_by_field_name(field))


def column(source: bytes, byte: int) -> int:
    """The 1-based column of `byte` in characters, as editors and GitHub count them."""
    line_start = source.rfind(b"\n", 0, byte) + 1
    return len(source[line_start:byte].decode("utf-8", "replace")) + 1


def unparenthesized(node: Node | None) -> Node | None:
    """`((x))` -> `x`."""
    while node is not None and node.type == "parenthesized_expression":
        node = node.named_children[-1] if node.named_children else None
    return node


def type_name(node: Node) -> str:
    """`W<T>` -> `W`, `crate::a::Guard` -> `Guard`: the name methods hang off."""
    while node.type in {"generic_type", "scoped_type_identifier"}:
        inner = node.child_by_field_name("type" if node.type == "generic_type" else "name")
        if inner is None:
            break
        node = inner
    return text(node)


def walk(node: Node) -> Iterator[Node]:
    """Every named descendant of `node` (itself included), pre-order, without
    recursion: deeply nested code must not hit Python's recursion limit."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.named_children))


def lineage(node: Node, top: Node) -> Iterator[tuple[Node, Node]]:
    """(child, parent) for each ancestor of `node` below `top`, innermost
    first: the parent and which of its parts leads to `node` (the branch of
    an `if`, the body of a closure)."""
    child = node
    for parent in ancestors(node, top):
        yield child, parent
        child = parent


def enclosing(node: Node, root: Node, types: Collection[str]) -> Node | None:
    """The innermost ancestor of `node` (`root` included) of one of `types`."""
    return next((a for a in ancestors(node, root) if a.type in types), None)


def ancestors(node: Node, root: Node) -> list[Node]:
    """`node`'s ancestors, innermost first. Found by descending from `root`:
    `Node.parent` walks from the root itself, so climbing parent by parent
    costs depth squared on deeply nested code."""
    path: list[Node] = []
    current: Node | None = root
    while current is not None and current != node:
        path.append(current)
        current = current.child_with_descendant(node)
    path.reverse()
    return path
