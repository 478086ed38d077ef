"""Phase 1: one file's item summary, read off the tree the engine already parsed.

The summary is plain, picklable data (a process-pool worker sends it back to
the parent, which builds the crate model without seeing any syntax): the
file's functions with the calls each makes, its `mod` declarations, `use`
declarations, type declarations with their fields, and its `impl Drop` /
`impl PinnedDrop` blocks. Only items are walked (the file, inline modules,
`impl` and `trait` bodies), never expressions: calls come from one query.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

from tree_sitter import Node

from rules.model import pickled_as_call
from rules.rust.context import DROP_TRAITS, Excused, FileContext, is_drop_trait
from rules.rust.locals import binding_of
from rules.rust.parsing import captures, field_text, type_name

Module = tuple[str, ...]  # inline module names inside one file, outermost first
# the callees that may land in the crate, by kind (see `Call`); for
# `self.field.m(..)` the field is captured and the method found from it
_CALLS = """
(call_expression function: [
  (identifier) @free
  (scoped_identifier) @path
  (field_expression value: (self) field: (field_identifier) @self)
  (field_expression
    value: (field_expression value: (self) field: [(field_identifier) (integer_literal)] @field))
])
"""
_PATH_NOISE = re.compile(r"\s+|::<.*?>|<.*?>")
# a single name: no spaces, generics or `::` to strip (`_segments`' fast path)
_ONE_SEGMENT = frozenset({"identifier", "type_identifier", "crate", "super", "self"})
# the node kinds `FileFunctions._item` reads; the walk skips every other one
_ITEM_KINDS = frozenset(
    {
        "function_item",
        "impl_item",
        "trait_item",
        "mod_item",
        "struct_item",
        "enum_item",
        "union_item",
        "macro_invocation",
        "use_declaration",
    }
)
_EXTERNAL = frozenset({"std", "core", "alloc"})
# wrappers a method call on a field sees through (auto-deref)
_DEREF = frozenset({"Box", "Arc", "Rc", "ManuallyDrop", "Pin"})
# every byte but the newline becomes a space (see `_macro_items`)
_BLANK = bytes(10 if byte == 10 else 32 for byte in range(256))
_PATH_ATTR = re.compile(r'^#\[\s*path\s*=\s*"([^"]*)"\s*\]$')


@pickled_as_call
@dataclass(frozen=True, slots=True)
class Call:
    """A call a function makes that may land in the crate.

    `kind` is `path` (`f(..)`, `a::b::f(..)`, `Type::f(..)`, `Self::f(..)`;
    `segments` is the path), `self` (`self.m(..)`: `(m,)`) or `field`
    (`self.field.m(..)`: `(field, m)`). `excused` holds the keys of the Drop
    rules' excuses under which this call site does not run in Drop (on a
    thread of its own, only when not unwinding); `code` is the line's text,
    kept for calls in `fn drop` only (a finding may anchor there)."""

    kind: str
    segments: tuple[str, ...]
    line: int
    column: int  # 0 except in `fn drop`
    excused: frozenset[str] = frozenset()
    code: str = ""


@pickled_as_call
@dataclass(frozen=True, slots=True)
class Function:
    """A `fn` with a body: free (`owner` None), in an `impl` of `owner`
    (`trait` set for trait impls), or a trait's default method (`owner` the
    trait, `in_trait`)."""

    name: str
    module: Module
    owner: str | None
    trait: str | None
    in_trait: bool
    line: int
    start: int
    end: int
    item: str  # `impl Drop for T > fn drop` for `fn drop`s (a finding may anchor there), else ""
    test: bool

    @property
    def label(self) -> str:
        """`Pool::close`, `shutdown`: how a chain names it (the module is added by the crate)."""
        return f"{self.owner}::{self.name}" if self.owner else self.name


@pickled_as_call
@dataclass(frozen=True, slots=True)
class ModDecl:
    """`mod name;` in `module` of the file, with its `#[path]` and cfg(test)."""

    name: str
    module: Module
    path: str | None
    test: bool


@pickled_as_call
@dataclass(frozen=True, slots=True)
class Use:
    """One imported name of a `use` in `module`: `alias` is the local name
    (`*` for a glob), `path` the segments it stands for."""

    module: Module
    path: tuple[str, ...]
    alias: str


@pickled_as_call
@dataclass(frozen=True, slots=True)
class TypeDecl:
    """A struct, enum, union or trait; `fields` maps a struct's field names
    (`0`, `1` for tuple structs) to their declared type's path, wrappers a
    method call sees through removed (`Arc<pool::Inner>` -> `pool::Inner`)."""

    module: Module
    name: str
    kind: str
    fields: tuple[tuple[str, tuple[str, ...]], ...] = ()


@pickled_as_call
@dataclass(frozen=True, slots=True)
class DropRoot:
    """An `impl Drop for T` (or pin-project's `PinnedDrop`) and its `fn drop`."""

    type_name: str
    function: int  # index into FileItems.functions
    test: bool


@pickled_as_call
@dataclass(frozen=True, slots=True)
class FileItems:
    path: str
    functions: tuple[Function, ...]
    mods: tuple[ModDecl, ...]
    inline: tuple[tuple[Module, bool], ...]  # inline modules, and whether cfg(test)
    uses: tuple[Use, ...]
    types: tuple[TypeDecl, ...]
    drops: tuple[DropRoot, ...]


@dataclass(frozen=True, slots=True)
class _Frame:
    container: Node
    module: Module
    test: bool
    owner: str | None = None
    trait: str | None = None
    in_trait: bool = False


class FileFunctions:
    """The item walk of one file, before calls are read: functions sorted by
    position, so a node finds its function by bisection. A `fn` nested in
    another belongs to the outer one, except a `fn drop` of an `impl Drop`
    written in a body (`_drops_in_bodies`), which is a function of its own.

    Items written inside an item-level macro invocation (`pin_project! {
    impl PinnedDrop for X { .. } }`, `some_macro! { impl Drop for Y { .. } }`)
    are a token tree to the parser. When one holds `impl` and `Drop`, its
    contents are parsed as items, alone in a copy of the file where every
    other byte is a space (lines and columns stay those of the file), and
    become `parts`: their functions follow the file's own in `FileItems`."""

    def __init__(self, ctx: FileContext, expand: bool = True) -> None:
        self.ctx = ctx
        self._expand = expand
        # (the part, the module and cfg(test) of the invocation)
        self.parts: list[tuple[FileFunctions, Module, bool]] = []
        self.nodes: list[Node] = []
        self.functions: list[Function] = []
        self.mods: list[ModDecl] = []
        self.inline: list[tuple[Module, bool]] = []
        self.uses: list[Use] = []
        self.types: list[TypeDecl] = []
        self.drops: list[tuple[str, Node]] = []  # (type name, fn drop)
        # the functions Drop rules look at (`in_drop`): none until the crate
        # model says which ones Drop reaches; `asked` notes that a rule looked
        self.wanted: frozenset[int] = frozenset()
        self.asked = False
        # each function's enclosing one (-1: none), once a Drop impl in a body nests them
        self._outer: list[int] | None = None
        self._walk()
        self._sort()
        if self._drops_in_bodies():
            self._sort()
            self._outer = _enclosing(self.nodes)

    def _sort(self) -> None:
        order = sorted(range(len(self.nodes)), key=lambda n: self.nodes[n].start_byte)
        self.nodes = [self.nodes[n] for n in order]
        self.functions = [self.functions[n] for n in order]
        self._starts = [node.start_byte for node in self.nodes]

    def index_of(self, node: Node) -> int | None:
        """The index of the innermost function holding `node`, if any."""
        index = bisect.bisect_right(self._starts, node.start_byte) - 1
        while index >= 0:
            if node.end_byte <= self.nodes[index].end_byte:
                return index
            if self._outer is None:
                return None
            index = self._outer[index]
        return None

    def _drops_in_bodies(self) -> bool:
        """Index the `impl Drop` blocks written inside a function's body (a
        guard type declared where it is used, a test's own Drop type), which
        the walk over items does not enter: the file context found every impl
        Drop by its name already. Each `fn drop` takes the module and test
        classification of the function around it; the calls and hazards inside
        it are its own, not the enclosing function's. Whether any was added."""
        known = {drop.start_byte for _, drop in self.drops}
        added = False
        for impl in self.ctx.drop_impls:
            drop = impl.drop_fn
            outer = self.index_of(drop) if drop is not None else None
            if drop is None or drop.start_byte in known or outer is None:
                continue  # an item the walk saw, or outside any function (a `const` block)
            host = self.functions[outer]
            self._function(drop, _Frame(impl.impl, host.module, host.test, impl.type_name, "Drop"))
            self.drops.append((impl.type_name, drop))
            added = True
        return added

    def _walk(self) -> None:
        ctx = self.ctx
        stack = [_Frame(ctx.root, (), False)]
        while stack:
            frame = stack.pop()
            for child in frame.container.named_children:
                self._item(child, frame, stack)

    def _item(self, node: Node, frame: _Frame, stack: list[_Frame]) -> None:
        kind = node.type
        if kind not in _ITEM_KINDS:
            return  # comments, attributes, consts, statics: most of what the walk meets
        ctx = self.ctx
        if kind == "function_item":
            if node.child_by_field_name("body") is not None:
                self._function(node, frame)
        elif kind == "impl_item":
            body, target = node.child_by_field_name("body"), node.child_by_field_name("type")
            if body is None or target is None:
                return
            trait = node.child_by_field_name("trait")
            owner, trait_name = type_name(target), type_name(trait) if trait else None
            stack.append(_Frame(body, frame.module, frame.test, owner, trait_name))
            if trait_name in DROP_TRAITS and is_drop_trait(ctx.resolve(ctx.text(trait))):
                drop = _fn_named(body, "drop")
                if drop is not None:
                    self.drops.append((owner, drop))
        elif kind == "trait_item":
            body, name = node.child_by_field_name("body"), field_text(node, "name")
            self.types.append(TypeDecl(frame.module, name, "trait"))
            if body is not None:
                stack.append(_Frame(body, frame.module, frame.test, name, None, True))
        elif kind == "mod_item":
            name = field_text(node, "name")
            test = frame.test or ctx.is_test(node)
            body = node.child_by_field_name("body")
            if body is None:
                self.mods.append(ModDecl(name, frame.module, _path_attribute(ctx, node), test))
            else:
                self.inline.append(((*frame.module, name), test))
                stack.append(_Frame(body, (*frame.module, name), test))
        elif kind in {"struct_item", "enum_item", "union_item"}:
            fields = _fields(ctx, node) if kind == "struct_item" else ()
            self.types.append(TypeDecl(frame.module, field_text(node, "name"), kind, fields))
        elif kind == "macro_invocation" and self._expand:
            part = _macro_items(ctx, node)
            if part is not None:
                self.parts.append((part, frame.module, frame.test or ctx.is_test(node)))
        elif kind == "use_declaration":
            argument = node.child_by_field_name("argument")
            if argument is not None:
                self.uses.extend(_uses(ctx, argument, frame.module))

    def _function(self, node: Node, frame: _Frame) -> None:
        ctx = self.ctx
        line = node.start_point[0] + 1
        self.nodes.append(node)
        self.functions.append(
            Function(
                name=field_text(node, "name"),
                module=frame.module,
                owner=frame.owner,
                trait=frame.trait,
                in_trait=frame.in_trait,
                line=line,
                start=node.start_byte,
                end=node.end_byte,
                item="",
                test=frame.test or ctx.is_test(node),
            )
        )

    def items(self) -> FileItems:
        """The summary; each function's calls come later, on demand (`calls_of`)."""
        ctx = self.ctx
        drops = {drop.start_byte: owner for owner, drop in self.drops}
        functions = list(self.functions)
        roots = []
        for index, node in enumerate(self.nodes):
            if node.start_byte in drops:
                item = ctx.item_path(node.child_by_field_name("body") or node)
                functions[index] = replace(functions[index], item=item)
                roots.append(DropRoot(drops[node.start_byte], index, functions[index].test))
        own = FileItems(
            path=ctx.path,
            functions=tuple(functions),
            mods=tuple(self.mods),
            inline=tuple(self.inline),
            uses=tuple(self.uses),
            types=tuple(self.types),
            drops=tuple(roots),
        )
        for part, module, test in self.parts:
            own = _merged(own, part.items(), module, test)
        return own

    def spans(self) -> Iterator[tuple[FileFunctions, int]]:
        """This walk and each macro part, with the index its functions start at."""
        offset = 0
        for functions in (self, *(part for part, _, _ in self.parts)):
            yield functions, offset
            offset += len(functions.functions)

    def calls_of(
        self,
        indices: Iterable[int],
        excuses: Sequence[tuple[str, tuple[Excused, tuple[bytes, ...]]]],
    ) -> dict[int, tuple[Call, ...]]:
        """The calls of the given functions that may land in the crate, each
        marked with the `excuses` (key, (excuse, words)) that cover it. A call
        the function already makes to the same path under the same excuses
        adds nothing to reach, and is left out (except in `fn drop`, where a
        finding may anchor on each)."""
        found: dict[int, tuple[Call, ...]] = {}
        wanted = set(indices)
        for functions, offset in self.spans():
            drops = {drop.start_byte for _, drop in functions.drops}
            for index in range(offset, offset + len(functions.functions)):
                if index in wanted:
                    found[index] = tuple(functions._calls(index - offset, excuses, drops))
        return found

    def _calls(
        self,
        index: int,
        excuses: Sequence[tuple[str, tuple[Excused, tuple[bytes, ...]]]],
        drops: set[int],
    ) -> Iterator[Call]:
        ctx = self.ctx
        source = ctx.source
        function, owner = self.nodes[index], self.functions[index].owner
        start, end = function.start_byte, function.end_byte
        in_drop = start in drops
        possible = [
            (key, excuse)
            for key, (excuse, needles) in excuses
            if any(source.find(needle, start, end) >= 0 for needle in needles)
        ]
        seen: set[tuple[str, tuple[str, ...], frozenset[str]]] = set()
        for kind, nodes in captures(_CALLS, function).items():
            if kind in {"self", "field"} and owner is None:
                continue
            for node in nodes:
                if self.index_of(node) != index:
                    continue  # in a nested `fn` (counted as the outer one's) or elsewhere
                shaped = _shape(ctx, kind, node)
                if shaped is None:
                    continue
                segments, name = shaped
                if kind == "free" and _local_callable(source, name, function):
                    continue  # `let f = || ..; f()` calls the closure, not a `fn f`
                excused = frozenset(key for key, excuse in possible if excuse(ctx, name, function))
                shape = "path" if kind in {"free", "path"} else kind
                line = name.start_point[0] + 1
                if in_drop:
                    lines, byte = ctx.lines, name.start_byte
                    at, code = lines.column(byte), lines.code(lines.start(byte))
                    yield Call(shape, segments, line, at, excused, code)
                elif (shape, segments, excused) not in seen:
                    seen.add((shape, segments, excused))
                    yield Call(shape, segments, line, 0, excused)


def _enclosing(nodes: Sequence[Node]) -> list[int]:
    """For nodes sorted by start (any two nest or are disjoint), the index of
    the innermost one holding each (-1: none)."""
    outer: list[int] = []
    open_: list[int] = []
    for node in nodes:
        while open_ and nodes[open_[-1]].end_byte <= node.start_byte:
            open_.pop()
        outer.append(open_[-1] if open_ else -1)
        open_.append(len(outer) - 1)
    return outer


def _local_callable(source: bytes, name: Node, function: Node) -> bool:
    """`name` is bound in `function` (a closure in a `let`, a parameter): only
    asked when the name occurs in the function more than once."""
    word = name.text or b""
    if source.count(word, function.start_byte, function.end_byte) < 2:
        return False
    return binding_of(name, function) is not None


def _shape(ctx: FileContext, kind: str, node: Node) -> tuple[tuple[str, ...], Node] | None:
    """(segments, the called name's node) of a captured callee, or None for
    calls that cannot land in the crate (constructors, `std::..`)."""
    if kind == "free":
        text = ctx.text(node)
        return None if text[:1].isupper() else ((text,), node)
    if kind == "path":
        text = _PATH_NOISE.sub("", ctx.text(node)).removeprefix("::")
        segments = tuple(text.split("::"))
        if text.startswith("<") or not segments[-1] or segments[-1][:1].isupper():
            return None
        if segments[0] in _EXTERNAL:
            return None
        called = node.child_by_field_name("name")
        return (segments, called) if called is not None else None
    if kind == "field":
        access = node.parent
        method = access.parent if access is not None else None
        name = method.child_by_field_name("field") if method is not None else None
        return ((ctx.text(node), ctx.text(name)), name) if name is not None else None
    return (ctx.text(node),), node


def _macro_items(ctx: FileContext, invocation: Node) -> FileFunctions | None:
    """The items inside `name! { .. }` when they may hold a Drop impl (see `FileFunctions`)."""
    tree = invocation.named_children[-1] if invocation.named_children else None
    if tree is None or tree.type != "token_tree":
        return None
    inside = ctx.source[tree.start_byte + 1 : tree.end_byte - 1]
    if b"impl" not in inside or b"Drop" not in inside:
        return None
    source = ctx.source
    masked = (
        source[: tree.start_byte + 1].translate(_BLANK)
        + inside
        + source[tree.end_byte - 1 :].translate(_BLANK)
    )
    part_ctx = FileContext(ctx.path, masked)
    part = FileFunctions(part_ctx, expand=False)
    part_ctx.remember(FileFunctions, part)
    return part


def _merged(file: FileItems, part: FileItems, module: Module, test: bool) -> FileItems:
    """`file` with a macro part's items appended, placed in the invocation's module."""
    offset = len(file.functions)
    return FileItems(
        path=file.path,
        functions=(
            *file.functions,
            *(replace(f, module=(*module, *f.module), test=test or f.test) for f in part.functions),
        ),
        mods=(*file.mods, *(replace(m, module=(*module, *m.module)) for m in part.mods)),
        inline=(*file.inline, *(((*module, *m), test or t) for m, t in part.inline)),
        uses=(*file.uses, *(replace(u, module=(*module, *u.module)) for u in part.uses)),
        types=(*file.types, *(replace(t, module=(*module, *t.module)) for t in part.types)),
        drops=(
            *file.drops,
            *(replace(d, function=d.function + offset, test=test or d.test) for d in part.drops),
        ),
    )


def _fn_named(body: Node, name: str) -> Node | None:
    return next(
        (
            child
            for child in body.named_children
            if child.type == "function_item" and field_text(child, "name") == name
        ),
        None,
    )


def _path_attribute(ctx: FileContext, item: Node) -> str | None:
    """The `#[path = "..."]` on an item, if any."""
    sibling = item.prev_named_sibling
    while sibling is not None and sibling.type in {
        "attribute_item",
        "line_comment",
        "block_comment",
    }:
        found = _PATH_ATTR.match(ctx.text(sibling)) if sibling.type == "attribute_item" else None
        if found:
            return found.group(1)
        sibling = sibling.prev_named_sibling
    return None


def _fields(ctx: FileContext, struct: Node) -> tuple[tuple[str, tuple[str, ...]], ...]:
    body = struct.child_by_field_name("body")
    if body is None:
        return ()
    found = []
    if body.type == "field_declaration_list":
        for field in body.named_children:
            name, declared = field.child_by_field_name("name"), field.child_by_field_name("type")
            if field.type == "field_declaration" and name is not None and declared is not None:
                found.append((ctx.text(name), type_path(ctx, declared)))
    elif body.type == "ordered_field_declaration_list":
        declared_types = body.children_by_field_name("type")
        found.extend((str(n), type_path(ctx, t)) for n, t in enumerate(declared_types))
    return tuple((name, path) for name, path in found if path)


def type_path(ctx: FileContext, node: Node) -> tuple[str, ...]:
    """The path of the type a method call on a value of type `node` looks in:
    through references and `Box`/`Arc`/`Rc`/`Pin`/`ManuallyDrop`; empty for
    what the crate cannot name (generics' `dyn`, tuples, arrays)."""
    while True:
        if node.type in {"reference_type", "pointer_type"}:
            inner = node.child_by_field_name("type")
        elif node.type == "generic_type":
            base = node.child_by_field_name("type")
            arguments = node.child_by_field_name("type_arguments")
            if base is None or type_name(base) not in _DEREF or arguments is None:
                inner = base
            else:
                inner = next(iter(arguments.named_children), None)
        else:
            break
        if inner is None:
            return ()
        node = inner
    if node.type not in {"type_identifier", "scoped_type_identifier"}:
        return ()
    return tuple(_PATH_NOISE.sub("", ctx.text(node)).removeprefix("::").split("::"))


def _uses(ctx: FileContext, tree: Node, module: Module) -> Iterator[Use]:
    """The names one `use` tree imports (`a::{b, c as d, e::*, self}`)."""
    pending: list[tuple[tuple[str, ...], Node]] = [((), tree)]
    while pending:
        prefix, node = pending.pop()
        kind = node.type
        if kind in {"identifier", "scoped_identifier", "crate", "super", "self"}:
            path = (*prefix, *_segments(ctx, node))
            if kind == "self" and prefix:
                yield Use(module, prefix, prefix[-1])
            elif path and path[-1] not in {"self", "super", "crate"}:
                yield Use(module, path, path[-1])
        elif kind == "use_as_clause":
            original, alias = node.child_by_field_name("path"), node.child_by_field_name("alias")
            if original is not None and alias is not None and ctx.text(alias) != "_":
                yield Use(module, (*prefix, *_segments(ctx, original)), ctx.text(alias))
        elif kind == "use_wildcard":
            star = node.named_children[0] if node.named_children else None
            yield Use(module, (*prefix, *(_segments(ctx, star) if star else ())), "*")
        elif kind == "scoped_use_list":
            head, items = node.child_by_field_name("path"), node.child_by_field_name("list")
            inner = (*prefix, *_segments(ctx, head)) if head is not None else prefix
            if items is not None:
                pending.extend((inner, child) for child in items.named_children)
        elif kind == "use_list":
            pending.extend((prefix, child) for child in node.named_children)


def _segments(ctx: FileContext, node: Node) -> tuple[str, ...]:
    if node.type in _ONE_SEGMENT:
        text = ctx.text(node)
        return (text,) if text else ()
    text = _PATH_NOISE.sub("", ctx.text(node)).removeprefix("::")
    return tuple(part for part in text.split("::") if part)


def summary_functions(ctx: FileContext) -> FileFunctions:
    """The file's item walk, once per file (`ctx.memo(summary_functions)`)."""
    return ctx.memo(FileFunctions)


__all__ = [
    "Call",
    "DropRoot",
    "FileFunctions",
    "FileItems",
    "Function",
    "ModDecl",
    "Module",
    "TypeDecl",
    "Use",
    "summary_functions",
    "type_path",
]
