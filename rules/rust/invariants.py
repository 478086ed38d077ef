"""`unwrap`s that cannot fail, read off the syntax.

An `Option` that the code has just proved to be `Some` does not panic when
unwrapped: real crates are full of them, and a maintainer will not take a
finding for one. Each proof recognised here is a shape a reader checks at a
glance:

- a guard on the same expression: `if x.is_some() { x.unwrap() }`, or an
  earlier `if x.is_none() { return; }` / `if let None = x { return }` /
  `let Some(..) = x else { return }` in an enclosing block;
- `take()` on a local that was bound to `Some(..)`;
- the field invariant: `self.f.take().unwrap()` (or `as_ref`/`as_mut`) where
  every struct literal of the type in the file sets `f: Some(..)` and only
  `fn drop` takes the field (`take`, `replace`, assignment).

Anything less certain (a guard on another expression, a field also taken
elsewhere, a type built in another file) is not proof.
"""

from __future__ import annotations

from tree_sitter import Node

from rules.rust.context import DropImpl, FileContext
from rules.rust.locals import binding_of
from rules.rust.parsing import (
    bare_method_call,
    diverges,
    earlier_statements,
    exit_condition,
    field_text,
    lineage,
    matches,
    text,
    type_name,
    unparenthesized,
)

# methods that read an Option in place (the unwrap's receiver is `x.<m>()`)
_VIEWS = frozenset({"as_ref", "as_mut", "as_deref", "as_deref_mut", "take"})
# methods that empty an Option field
_EMPTYING = frozenset({"take", "replace", "insert", "get_or_insert_with"})
# methods whose value is an `Option` (`Result` has none of these names but
# `as_ref`/`as_mut`, rare before an unwrap), and adapters that keep it one
_OPTION_METHODS = frozenset(
    {
        "take",
        "as_ref",
        "as_mut",
        "as_deref",
        "as_deref_mut",
        "get",
        "get_mut",
        "pop",
        "pop_back",
        "pop_front",
        "first",
        "last",
        "front",
        "back",
        "next",
        "peek",
        "upgrade",
        "raw_os_error",
        "find",
        "position",
        "checked_sub",
        "checked_add",
    }
)
_OPTION_ADAPTERS = frozenset({"map", "and_then", "filter", "cloned", "copied", "or"})
_STRUCT_LITERALS = "(struct_expression name: (_) @name body: (field_initializer_list) @fields)"


def cannot_fail(ctx: FileContext, unwrap_call: Node, impl_type: str | None = None) -> bool:
    """True when the `Option` that `unwrap_call` (`<recv>.unwrap()` or
    `.expect(..)`) unwraps is proved `Some` by one of the module's shapes.
    `impl_type` is the type whose impl holds the call, for the field invariant."""
    function = unwrap_call.child_by_field_name("function")
    receiver = unparenthesized(function.child_by_field_name("value") if function else None)
    if receiver is None:
        return False
    option, view = _option_of(receiver)
    key = _key(option)
    if key is None:
        return False
    if _guarded(ctx, unwrap_call, key):
        return True
    if view == "take" and option.type == "identifier" and _bound_to_some(ctx, option):
        return True
    owners = ctx.drop_impls_of(impl_type)
    return bool(owners) and _field_invariant(ctx, option, owners[0])


def unwraps_option(ctx: FileContext, unwrap_call: Node) -> bool:
    """`<recv>.unwrap()` where `recv` is plainly an `Option`: the value of
    `take()`, `get(..)`, `pop()`, `as_ref()` and the like, possibly through
    `map`/`and_then`/`filter`, or of a call to a function the file declares
    returning `Option<..>` (every `fn` of that name: `N::take_next(..)`,
    `self.next_key()`). Unwrapping it asserts the code's own invariant, as
    `assert!` does; a `Result` is an operation that failed."""
    function = unwrap_call.child_by_field_name("function")
    receiver = unparenthesized(function.child_by_field_name("value") if function else None)
    while receiver is not None and receiver.type == "call_expression":
        callee = receiver.child_by_field_name("function")
        if callee is not None and callee.type == "scoped_identifier":
            return _declared_option(ctx, field_text(callee, "name"))
        if callee is None or callee.type != "field_expression":
            return False
        method = field_text(callee, "field")
        if method in _OPTION_METHODS:
            return True
        if method not in _OPTION_ADAPTERS:
            return _declared_option(ctx, method)
        receiver = unparenthesized(callee.child_by_field_name("value"))
    return False


def _declared_option(ctx: FileContext, name: str) -> bool:
    """The file declares `fn name` (a trait's signature counts), and every
    such declaration returns `Option<..>`."""
    declarations = [
        parent
        for node in ctx.occurrences((name,), {"identifier"})
        if (parent := ctx.parent(node)) is not None
        and parent.type in {"function_item", "function_signature_item"}
        and parent.child_by_field_name("name") == node
    ]
    return bool(declarations) and all(
        (returned := fn.child_by_field_name("return_type")) is not None
        and returned.type == "generic_type"
        and type_name(returned) == "Option"
        for fn in declarations
    )


def _option_of(receiver: Node) -> tuple[Node, str]:
    """`x.as_ref()` -> (x, 'as_ref'); `x` -> (x, '')."""
    view = bare_method_call(receiver)
    return view if view is not None and view[1] in _VIEWS else (receiver, "")


def _key(option: Node) -> str | None:
    """The expression's text when it is a plain place (`x`, `self.a.b`)."""
    node: Node | None = option
    while node is not None and node.type == "field_expression":
        node = node.child_by_field_name("value")
    if node is None or node.type not in {"identifier", "self"}:
        return None
    return "".join(text(option).split())


def _guarded(ctx: FileContext, call: Node, key: str) -> bool:
    """`call` sits in `if <key>.is_some() { .. }`, or follows an early exit
    taken when `<key>` is None, in the same function."""
    for child, parent in lineage(call, ctx.root):
        if parent.type in {"function_item", "closure_expression"}:
            return False
        if (
            parent.type == "if_expression"
            and child == parent.child_by_field_name("consequence")
            and _tests(parent.child_by_field_name("condition"), key, "is_some")
        ):
            return True
        if parent.type == "block" and _exits_earlier_when_none(child, key):
            return True
    return False


def _exits_earlier_when_none(statement: Node, key: str) -> bool:
    return any(_exit_when_none(node, key) for node in earlier_statements(statement))


def _exit_when_none(node: Node, key: str) -> bool:
    """`if key.is_none() { return }`, `if let None = key { return }`,
    `let Some(..) = key else { return }` (any diverging block)."""
    if node.type == "let_declaration":
        value = node.child_by_field_name("value")
        pattern = node.child_by_field_name("pattern")
        return (
            diverges(node.child_by_field_name("alternative"))
            and value is not None
            and _same(value, key)
            and pattern is not None
            and pattern.type == "tuple_struct_pattern"
            and field_text(pattern, "type") == "Some"
        )
    condition = exit_condition(node)
    if condition is not None and condition.type == "let_condition":
        value = condition.child_by_field_name("value")
        pattern = condition.child_by_field_name("pattern")
        return value is not None and _same(value, key) and text(pattern) == "None"
    return _tests(condition, key, "is_none")


def _tests(condition: Node | None, key: str, method: str) -> bool:
    """`condition` is `<key>.<method>()` (or `.. && <key>.<method>()`)."""
    condition = unparenthesized(condition)
    if condition is None:
        return False
    if condition.type == "binary_expression" and text(
        condition.child_by_field_name("operator")
    ) == ("&&" if method == "is_some" else "||"):
        return _tests(condition.child_by_field_name("left"), key, method) or _tests(
            condition.child_by_field_name("right"), key, method
        )
    function = (
        condition.child_by_field_name("function") if condition.type == "call_expression" else None
    )
    return (
        function is not None
        and function.type == "field_expression"
        and field_text(function, "field") == method
        and _same(function.child_by_field_name("value"), key)
    )


def _same(node: Node | None, key: str) -> bool:
    node = unparenthesized(node)
    if node is not None and node.type == "reference_expression":
        node = node.named_children[-1] if node.named_children else None
    return node is not None and "".join(text(node).split()) == key


def _bound_to_some(ctx: FileContext, local: Node) -> bool:
    """`let mut f = Some(..);` is the local's binding."""
    binding = binding_of(local, ctx.root)
    value = binding.value if binding is not None else None
    return (
        value is not None
        and value.type == "call_expression"
        and text(value.child_by_field_name("function")) == "Some"
    )


def _field_invariant(ctx: FileContext, option: Node, owner: DropImpl) -> bool:
    """`self.f` where every literal of the Drop type in this file sets
    `f: Some(..)` and nothing but its `fn drop` empties the field."""
    if option.type != "field_expression" or text(option.child_by_field_name("value")) != "self":
        return False
    name = field_text(option, "field")
    literals = ctx.memo(_struct_literals).get(owner.type_name, [])
    if not literals or not all(_sets_some(ctx, fields, name) for fields in literals):
        return False
    drop_fn = owner.drop_fn
    for access in ctx.occurrences((name,), {"field_identifier"}):
        parent = access.parent
        if parent is None or parent.type != "field_expression" or not _empties(parent):
            continue
        in_drop = drop_fn is not None and drop_fn.start_byte <= parent.start_byte < drop_fn.end_byte
        if not in_drop and _may_be(ctx, parent, owner.type_name):
            return False
    return True


def _may_be(ctx: FileContext, access: Node, type_name_: str) -> bool:
    """Whether `x.f` may be the field of `type_name_`: `self.f` only in that
    type's own impls; any other receiver may be a value of it."""
    if text(access.child_by_field_name("value")) != "self":
        return True
    impl = next((a for _, a in lineage(access, ctx.root) if a.type == "impl_item"), None)
    target = impl.child_by_field_name("type") if impl is not None else None
    return target is None or type_name(target) == type_name_


def _struct_literals(ctx: FileContext) -> dict[str, list[Node]]:
    """Type name -> the field lists of its struct literals (`Self { .. }`
    counted for the type of the enclosing impl)."""
    found: dict[str, list[Node]] = {}
    if b"{" not in ctx.source:
        return found
    for _, match in matches(_STRUCT_LITERALS, ctx.root):
        name = type_name(match["name"][0])
        if name == "Self":
            impl = next(
                (a for _, a in lineage(match["name"][0], ctx.root) if a.type == "impl_item"), None
            )
            target = impl.child_by_field_name("type") if impl is not None else None
            if target is None:
                continue
            name = type_name(target)
        found.setdefault(name, []).append(match["fields"][0])
    return found


def _sets_some(ctx: FileContext, fields: Node, name: str) -> bool:
    for initializer in fields.named_children:
        if initializer.type == "field_initializer" and field_text(initializer, "field") == name:
            value = initializer.child_by_field_name("value")
            return (
                value is not None
                and value.type == "call_expression"
                and field_text(value, "function") == "Some"
            )
    return False  # shorthand, `..base` or missing: not proof


def _empties(access: Node) -> bool:
    """`<access>.take()`, `.replace(..)`, or `<access> = ..`."""
    parent = access.parent
    if parent is None:
        return False
    if parent.type == "assignment_expression" and parent.child_by_field_name("left") == access:
        return True
    if parent.type == "field_expression" and field_text(parent, "field") in _EMPTYING:
        return parent.parent is not None and parent.parent.type == "call_expression"
    return False
