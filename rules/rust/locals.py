"""Which binder introduced a variable, read off the syntax alone.

A pure walk from an identifier up to its function: `let`, parameters, `for`,
`if let`/`while let` and `match` patterns. It needs no file context, so the
file context itself can ask whether a called name is a local (a closure) rather
than a function.
"""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node

from rules.rust.parsing import lineage, walk


@dataclass(frozen=True, slots=True)
class Binding:
    """What introduced a variable: the bound value (None for parameters), its
    declared type, the closure when it is a closure parameter, and the
    pattern that takes the value (or the parameter) apart: `c` in `let c =
    ..`, `Some(c)` in `if let Some(c) = ..` or a `match` arm (None for a
    `for`, whose pattern takes each item of the value)."""

    value: Node | None
    type: Node | None = None
    closure: Node | None = None
    pattern: Node | None = None


def binding_of(identifier: Node, root: Node) -> Binding | None:
    """The nearest binder of `identifier` between it and its function: an
    earlier `let` of an enclosing block, a closure or fn parameter, a `for`,
    `if let`/`while let` or `match` arm pattern. Shadowing inside patterns is
    ignored; the search never leaves the enclosing function (`root` is any
    node holding it, the tree's root will do)."""
    name = identifier.text or b""
    for child, parent in lineage(identifier, root):
        found = _binder(parent, child, name)
        if found is not None or parent.type == "function_item":
            return found
    return None


def _binder(parent: Node, child: Node, name: bytes) -> Binding | None:
    """The binding of `name` that `parent` introduces for its part `child`."""
    kind = parent.type
    if kind == "block":
        sibling = child.prev_named_sibling
        while sibling is not None:
            if sibling.type == "let_declaration":
                pattern = sibling.child_by_field_name("pattern")
                if binds(pattern, name):
                    value, declared = (sibling.child_by_field_name(f) for f in ("value", "type"))
                    return Binding(value, declared, pattern=pattern)
            sibling = sibling.prev_named_sibling
    elif kind == "closure_expression":
        for param in _children(parent.child_by_field_name("parameters")):
            pattern = param.child_by_field_name("pattern") if param.type == "parameter" else param
            if binds(pattern, name):
                return Binding(None, param.child_by_field_name("type"), parent, pattern)
    elif kind == "function_item":
        for param in _children(parent.child_by_field_name("parameters")):
            pattern = param.child_by_field_name("pattern") if param.type == "parameter" else None
            if binds(pattern, name):
                return Binding(None, param.child_by_field_name("type"), pattern=pattern)
    elif kind == "for_expression" and child == parent.child_by_field_name("body"):
        if binds(parent.child_by_field_name("pattern"), name):
            return Binding(parent.child_by_field_name("value"))
    elif kind in {"if_expression", "while_expression"}:
        condition = parent.child_by_field_name("condition")
        if (
            condition is not None
            and condition.type == "let_condition"
            and child not in (condition, parent.child_by_field_name("alternative"))
        ):
            pattern = condition.child_by_field_name("pattern")
            if binds(pattern, name):
                return Binding(condition.child_by_field_name("value"), pattern=pattern)
    elif kind == "match_arm" and binds(parent.child_by_field_name("pattern"), name):
        match = parent.parent.parent if parent.parent is not None else None
        arm = parent.child_by_field_name("pattern")
        pattern = arm.named_children[0] if arm is not None and arm.named_children else None
        return Binding(match.child_by_field_name("value") if match else None, pattern=pattern)
    return None


def call_of_argument(node: Node) -> Node | None:
    """The call that has `node` as one of its arguments, if any."""
    arguments = node.parent
    if arguments is not None and arguments.type == "arguments":
        return arguments.parent
    return None


def binds(pattern: Node | None, name: bytes) -> bool:
    """`pattern` binds the variable `name` (anywhere inside it: `Ok(g)`, `(a, g)`)."""
    if pattern is None:
        return False
    if pattern.type == "identifier":
        return pattern.text == name
    return any(node.type == "identifier" and node.text == name for node in walk(pattern))


def _children(node: Node | None) -> list[Node]:
    return node.named_children if node is not None else []
