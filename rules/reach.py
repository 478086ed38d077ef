"""Drop scopes reached only through call sites that a rule does not excuse.

`FileContext.drop_scopes` follows every call out of `drop`. Some rules excuse
code by where it runs: `block_on` inside `block_in_place(..)` or on a thread
spawned for it is fine, and so is a helper that is only *called* from there
(`Err(_) => run_on_own_runtime(fut)`). Those rules walk the same call graph
again, skipping the call sites their predicate excuses, and get their own
scopes with their own call paths for the messages.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

from tree_sitter import Node

from rules.context import DropScope, FileContext
from rules.parsing import captures

# (node, the function holding it) -> True when code there is excused.
Excused = Callable[[Node, Node], bool]

CALLEES = """
(call_expression function: [
  (identifier) @name
  (field_expression value: (self) field: (field_identifier) @name)
  (scoped_identifier name: (identifier) @name)
])
"""


def reached(ctx: FileContext, excused: Excused) -> list[DropScope]:
    """The Drop scopes reachable from each `fn drop` through calls that
    `excused` does not excuse, breadth first (shortest paths), each once.
    Callees are matched by name among the framework's own Drop scopes, so
    this never reaches more than `ctx.drop_scopes` does."""
    scopes = ctx.drop_scopes
    helpers: dict[str, list[DropScope]] = {}
    for scope in scopes:
        if scope.via:
            helpers.setdefault(_name(scope.function), []).append(scope)
    if not helpers:
        return list(scopes)
    found: list[DropScope] = []
    seen: set[int] = set()
    queue = deque(scope for scope in scopes if not scope.via)
    while queue:
        scope = queue.popleft()
        if scope.function.start_byte in seen:
            continue
        seen.add(scope.function.start_byte)
        found.append(scope)
        body = scope.function.child_by_field_name("body")
        if body is None:
            continue
        for name in captures(CALLEES, body).get("name", []):
            targets = helpers.get(ctx.text(name), [])
            if not targets or excused(name, scope.function):
                continue
            for target in targets:
                if target.function.start_byte not in seen:
                    via = (*scope.via, ctx.text(name))
                    queue.append(DropScope(target.function, scope.owner, via))
    return found


def in_scopes(
    scopes: list[DropScope], query_text: str, capture: str
) -> Iterator[tuple[Node, DropScope]]:
    """Like `rules.syntax.in_drop`, over a rule's own list of scopes."""
    for scope in scopes:
        body = scope.function.child_by_field_name("body")
        if body is not None:
            for node in captures(query_text, body).get(capture, []):
                yield node, scope


def _name(function: Node) -> str:
    name = function.child_by_field_name("name")
    return (name.text or b"").decode("utf-8", "replace") if name is not None else ""
