"""Where a value comes from, read off the syntax: a cheap stand-in for types.

Rules that must tell a tokio runtime handle from a `TaskTracker`, a
`JoinHandle` from a database transaction, or a `std::process::Child` from a
channel have no type checker. They follow a receiver back through method
chains, `let` bindings, `if let`/`match`/`for` patterns, closure parameters and
the file's struct field declarations, and collect two kinds of clues: names
(variables, fields, methods) and types (declared types, constructor paths such
as `Handle::current`). Callers match those clues against their own patterns,
types first because a declared type is stronger evidence than a name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tree_sitter import Node

from rules.rust.context import FileContext
from rules.rust.locals import Binding, binding_of, call_of_argument
from rules.rust.parsing import enclosing, matches, type_name

FIELD_TYPES = "(field_declaration name: (field_identifier) @name type: (_) @type)"
TUPLE_STRUCTS = """
(struct_item name: (type_identifier) @name body: (ordered_field_declaration_list) @fields)
"""
_DECLARING = ("struct", "union")
_STRUCT_ITEMS = frozenset({"struct_item", "union_item"})
_TRANSPARENT = frozenset(
    {"parenthesized_expression", "try_expression", "reference_expression", "await_expression"}
)


@dataclass(slots=True)
class Origin:
    """Clues about what an expression is: `names` and `types`, nearest first.
    `declared` holds the declared types (of bindings and fields) as written,
    generic arguments kept (`Arc<dyn Runtime>`): what the value is wrapped in
    and whether it is a trait object."""

    names: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    declared: list[str] = field(default_factory=list)

    def type_matches(self, pattern: re.Pattern[str]) -> bool:
        return any(pattern.search(text) for text in self.types)

    def name_matches(self, pattern: re.Pattern[str]) -> bool:
        return any(pattern.search(text) for text in self.names)


def field_types(ctx: FileContext) -> dict[str, str]:
    """Struct field name -> declared type text, over the whole file (the first
    declaration of a name wins: fields of one file rarely reuse a name with
    an unrelated type, and a wrong guess only costs a missed finding)."""
    return ctx.memo(_declared_field_types)


def _declared_field_types(ctx: FileContext) -> dict[str, str]:
    types: dict[str, str] = {}
    for struct in ctx.memo(_struct_items):
        for _, match in matches(FIELD_TYPES, struct):
            types.setdefault(ctx.text(match["name"][0]), ctx.text(match["type"][0]))
    return types


def _struct_items(ctx: FileContext) -> list[Node]:
    """Every `struct` and `union` item, found from its keyword: a query over
    the whole tree would visit every expression of the file to find them."""
    return ctx.holders(_DECLARING, _DECLARING, _STRUCT_ITEMS)


def tuple_field_type(ctx: FileContext, access: Node) -> str | None:
    """The declared type of `self.0` (`struct Guard(Runtime)`): the field of
    the tuple struct whose impl holds the access. Other receivers: None."""
    value, field = access.child_by_field_name("value"), access.child_by_field_name("field")
    if value is None or value.type != "self" or field is None or field.type != "integer_literal":
        return None
    impl = enclosing(access, ctx.root, {"impl_item"})
    target = impl.child_by_field_name("type") if impl is not None else None
    if target is None:
        return None
    types = ctx.memo(_tuple_struct_fields).get(type_name(target), [])
    index = int(ctx.text(field)) if ctx.text(field).isdigit() else len(types)
    return types[index] if index < len(types) else None


def _tuple_struct_fields(ctx: FileContext) -> dict[str, list[str]]:
    """Tuple struct name -> its field types, in order."""
    found: dict[str, list[str]] = {}
    structs = ctx.memo(_struct_items)
    matched = (match for item in structs for _, match in matches(TUPLE_STRUCTS, item))
    for match in matched:
        fields = match["fields"][0]
        types = [ctx.text(t) for t in fields.children_by_field_name("type")]
        found.setdefault(ctx.text(match["name"][0]), types)
    return found


def origin(ctx: FileContext, expr: Node, depth: int = 4) -> Origin:
    """Clues about `expr`, following receivers, bindings and field types back
    at most `depth` bindings (enough for `let c = x.take(); c.m()` chains)."""
    found = Origin()
    fields = field_types(ctx)
    node: Node | None = expr
    while node is not None:
        kind = node.type
        if kind in _TRANSPARENT:
            node = node.named_children[-1] if node.named_children else None
        elif kind == "index_expression":
            node = node.named_children[0] if node.named_children else None
        elif kind == "call_expression":
            function = node.child_by_field_name("function")
            if function is not None and function.type == "field_expression":
                method = function.child_by_field_name("field")
                if method is not None:
                    found.names.append(ctx.text(method))
                node = function.child_by_field_name("value")
            else:
                if function is not None:
                    found.types.append(ctx.resolve(ctx.text(function)))
                node = None
        elif kind == "field_expression":
            name = node.child_by_field_name("field")
            if name is not None:
                found.names.append(ctx.text(name))
                declared = fields.get(ctx.text(name)) or tuple_field_type(ctx, node)
                if declared is not None:
                    found.types.append(declared)
                    found.declared.append(declared)
            node = node.child_by_field_name("value")
        elif kind == "identifier":
            found.names.append(ctx.text(node))
            binding = binding_of(node, ctx.root) if depth > 0 else None
            node = _follow(ctx, binding, found)
            depth -= 1
        else:
            node = None
    return found


def short_text(ctx: FileContext, node: Node, limit: int = 40) -> str | None:
    """The node's code with whitespace removed, or None when it is too long
    to read well in a one-line message."""
    text = "".join(ctx.text(node).split())
    return text if len(text) <= limit else None


def _follow(ctx: FileContext, binding: Binding | None, found: Origin) -> Node | None:
    """Record a binding's declared type and return the expression to follow."""
    if binding is None:
        return None
    if binding.type is not None:
        found.types.append(ctx.resolve(ctx.text(binding.type)))
        found.declared.append(ctx.text(binding.type))
    if binding.closure is not None:
        # `x.take().map(|h| ..)`: h comes from the receiver of the call the
        # closure is an argument of; `thread::scope(|s| ..)`: from that path.
        call = call_of_argument(binding.closure)
        if call is None:
            return None
        function = call.child_by_field_name("function")
        if function is not None and function.type == "field_expression":
            return function.child_by_field_name("value")
        if function is not None:
            found.types.append(ctx.resolve(ctx.text(function)))
        return None
    return binding.value
