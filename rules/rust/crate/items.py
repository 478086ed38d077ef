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
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

from tree_sitter import Node

from rules.model import pickled_as_call
from rules.rust import cfg
from rules.rust.context import (
    DROP_TRAITS,
    Excused,
    FileContext,
    attributed_item,
    attributes,
    is_drop_trait,
)
from rules.rust.locals import binding_of
from rules.rust.parsing import bare_method_call, field_text, matches, text, type_name

Module = tuple[str, ...]  # inline module names inside one file, outermost first
# the callees that may land in the crate, by kind (see `Call`); a method call
# is captured by its receiver, whose type `_receiver` reads where it can
_CALLS = """
(call_expression function: (identifier) @free)
(call_expression function: (scoped_identifier) @path arguments: (arguments) @arguments)
(call_expression function: (field_expression
  value: [
    (self) (identifier) (field_expression)
    (reference_expression) (parenthesized_expression) (unary_expression)
    (call_expression)
  ] @receiver
  field: (field_identifier) @method))
"""
# how far `_receiver` follows fields (`self.a.b.c.m()`) and locals (`let b = a;`)
MAX_FIELDS = 4
_MAX_LOCALS = 3
# calls that return their receiver's value, or one its methods see (`Arc::clone`)
_SAME_VALUE = frozenset({"clone", "as_ref", "as_mut", "borrow", "borrow_mut", "deref"})
# associated functions that return `Self` (`Default::default`; clippy's
# `new_ret_no_self` holds `new` to it), possibly in a Result or an Option
_CONSTRUCTORS = frozenset({"new", "default"})
_UNWRAPS = frozenset({"unwrap", "expect"})
_WORD = re.compile(r"\w+")
SOME = "?"  # in `Receiver.fields`: the value inside the `Option` before it
LOCKED = "&"  # in `Receiver.fields`: the value a guard of the lock or cell before it gives
ELEMENT = "[]"  # in `Receiver.fields`: an element of the `Vec` (`VecDeque`, array) before it
# how a `for` loop takes the elements of a collection field: `&self.v`, `self.v.iter()`
_ITERATES = frozenset({"iter", "iter_mut", "into_iter", "drain"})
# what a lock or cell field is declared as: its guard's methods are its value's
_LOCKS = frozenset({"Mutex", "RwLock", "RefCell", "ReentrantMutex"})
# how a guard is taken (an `unwrap` or `expect` of a std lock's result may follow)
_GUARDS = frozenset({"lock", "read", "write", "borrow", "borrow_mut"})
_LOCK_CRATES = ("std::", "core::", "parking_lot::", "lock_api::", "spin::")
_COLLECTIONS = frozenset({"Vec", "VecDeque"})
# what `if let Some(c) = self.client.take()` may unwrap: the field's Option itself
_SAME_OPTION = frozenset({"take", "as_ref", "as_mut", "as_deref", "as_deref_mut", "clone"})
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
        "expression_statement",  # `some_macro!(..);` at item level
        "macro_definition",
        "use_declaration",
    }
)
_EXTERNAL = frozenset({"std", "core", "alloc"})
# wrappers a method call on a field sees through (auto-deref)
_DEREF = frozenset({"Box", "Arc", "Rc", "ManuallyDrop", "Pin"})
# every byte but the newline becomes a space (see `_macro_items`)
_BLANK = bytes(10 if byte == 10 else 32 for byte in range(256))
_TYPE_WORD = re.compile(r"\b[A-Z]\w*")
_CFG_ATTRIBUTE = re.compile(rb"#\[\s*cfg\s*\(")
_MACRO_FN = re.compile(r"\bfn\s+(\$?\w+)")
_PATH_ATTR = re.compile(r'^#\[\s*path\s*=\s*"([^"]*)"\s*\]$')


@pickled_as_call
@dataclass(frozen=True, slots=True)
class Receiver:
    """What a method is called on, as far as the calling function says:
    `self` (`type` empty) or a value of the type `type` names in the caller's
    module (`Self` included: a local `let c: Arc<Client>`, `Client::new(..)`,
    a parameter `c: &Client`), then its fields `fields` in turn
    (`self.inner.conn` is `Receiver((), ("inner", "conn"))`); `SOME` after
    a field declared `Option<T>` is the `T` inside (`if let Some(c) =
    self.client.take()`: `("client", SOME)`), `LOCKED` after a field declared
    `Mutex<T>`, `RwLock<T>` or `RefCell<T>` the `T` its guard gives
    (`self.inner.lock().unwrap().close()`: `("inner", LOCKED)`), `ELEMENT`
    after a field declared `Vec<T>`, `VecDeque<T>` or `[T; N]` one of its
    elements (`for c in &self.clients { c.close() }`: `("clients", ELEMENT)`)."""

    type: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()


@pickled_as_call
@dataclass(frozen=True, slots=True)
class Call:
    """A call a function makes that may land in the crate.

    `kind` is `path` (`f(..)`, `a::b::f(..)`, `Type::f(..)`, `Self::f(..)`,
    `Trait::f(..)`; `segments` is the path) or `method` (`x.m(..)`:
    `(m,)`). `receiver` is what a method is called on, and for a path call
    what its first argument is (`Trait::m(self)`, `<T as Trait>::m(..)`,
    whose `segments` are the trait's path and `m`), when known. `excused`
    holds the keys of the Drop rules' excuses under which this call site
    does not run in Drop (on a thread of its own, only when not unwinding);
    `code` is the line's text, kept for calls in `fn drop` only (a finding
    may anchor there)."""

    kind: str
    segments: tuple[str, ...]
    line: int
    column: int  # 0 except in `fn drop`
    excused: frozenset[str] = frozenset()
    code: str = ""
    receiver: Receiver | None = None


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
    cfg: str = ""  # its `#[cfg]` predicates and those of the impl and modules around it

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
    cfg: str = ""


@pickled_as_call
@dataclass(frozen=True, slots=True)
class TypeDecl:
    """A struct, enum, union or trait; `fields` maps a struct's field names
    (`0`, `1` for tuple structs) to their declared type's path, wrappers a
    method call sees through removed (`Arc<pool::Inner>` -> `pool::Inner`);
    for the fields `options` names, declared `Option<T>`, it is `T`'s."""

    module: Module
    name: str
    kind: str
    fields: tuple[tuple[str, tuple[str, ...]], ...] = ()
    options: tuple[str, ...] = ()
    cfg: str = ""
    locks: tuple[str, ...] = ()  # fields declared `Mutex<T>` (`RwLock`, `RefCell`): `T`'s path
    elements: tuple[str, ...] = ()  # fields declared `Vec<T>` (`VecDeque`, `[T; N]`): `T`'s
    methods: tuple[str, ...] = ()  # a trait's methods, with a body or without


@pickled_as_call
@dataclass(frozen=True, slots=True)
class ImplDecl:
    """`impl trait for owner` in `module` (simple names, as `Function`'s):
    a trait's default methods are the type's even when the impl writes none.
    For `impl Deref`, `target` is the path of its `type Target` (as
    `type_path` reads it): a field or method `owner` lacks is looked up there."""

    module: Module
    owner: str
    trait: str
    target: tuple[str, ...] = ()


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
    impls: tuple[ImplDecl, ...] = ()
    # (macro, type-like name) for each name an item-level macro invocation mentions
    # (`shutdown_impl!(Handle)`): it may write methods for it that no item shows; and
    # (macro, fn name) for the `fn`s each `macro_rules!` of the file writes (`*`: `fn $x`)
    macro_types: frozenset[tuple[str, str]] = frozenset()
    macro_fns: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True, slots=True)
class _Frame:
    container: Node
    module: Module
    test: bool
    owner: str | None = None
    trait: str | None = None
    in_trait: bool = False
    cfg: str = ""


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
        self.impls: list[ImplDecl] = []  # trait impls
        self.macro_types: set[tuple[str, str]] = set()
        self.macro_fns: set[tuple[str, str]] = set()
        self.drops: list[tuple[str, Node]] = []  # (type name, fn drop)
        # the functions Drop rules look at (`in_drop`): none until the crate
        # model says which ones Drop reaches; `asked` notes that a rule looked
        self.wanted: frozenset[int] = frozenset()
        self.asked = False
        # each function's enclosing one (-1: none), once a Drop impl in a body nests them
        self._outer: list[int] | None = None
        self._cfgs = _item_cfgs(ctx)
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
            frame = _Frame(impl.impl, host.module, host.test, impl.type_name, "Drop", cfg=host.cfg)
            self._function(drop, frame)
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
        if kind == "expression_statement":
            inner = node.named_children[0] if node.named_child_count else None
            if inner is None or inner.type != "macro_invocation":
                return
            node, kind = inner, inner.type
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
            within = self._cfg(frame, node)
            stack.append(_Frame(body, frame.module, frame.test, owner, trait_name, cfg=within))
            if trait_name is not None:
                deref = _deref_target(ctx, body) if trait_name == "Deref" else ()
                self.impls.append(ImplDecl(frame.module, owner, trait_name, deref))
            if trait_name in DROP_TRAITS and is_drop_trait(ctx.resolve(ctx.text(trait))):
                drop = _fn_named(body, "drop")
                if drop is not None:
                    self.drops.append((owner, drop))
        elif kind == "trait_item":
            body, name = node.child_by_field_name("body"), field_text(node, "name")
            within = self._cfg(frame, node)
            methods = _trait_methods(body) if body is not None else ()
            self.types.append(TypeDecl(frame.module, name, "trait", cfg=within, methods=methods))
            if body is not None:
                stack.append(_Frame(body, frame.module, frame.test, name, None, True, within))
        elif kind == "mod_item":
            name = field_text(node, "name")
            test = frame.test or ctx.is_test(node)
            body = node.child_by_field_name("body")
            if body is None:
                self.mods.append(ModDecl(name, frame.module, _path_attribute(ctx, node), test))
            else:
                self.inline.append(((*frame.module, name), test))
                stack.append(_Frame(body, (*frame.module, name), test, cfg=self._cfg(frame, node)))
        elif kind in {"struct_item", "enum_item", "union_item"}:
            fields, wrapped = _fields(ctx, node) if kind == "struct_item" else ((), {})
            name = field_text(node, "name")
            within = self._cfg(frame, node)
            self.types.append(
                TypeDecl(
                    frame.module,
                    name,
                    kind,
                    fields,
                    wrapped.get(SOME, ()),
                    within,
                    locks=wrapped.get(LOCKED, ()),
                    elements=wrapped.get(ELEMENT, ()),
                )
            )
        elif kind == "macro_invocation" and self._expand:
            macro = field_text(node, "macro").rsplit("::", 1)[-1]
            self.macro_types.update((macro, word) for word in _TYPE_WORD.findall(ctx.text(node)))
            part = _macro_items(ctx, node)
            if part is not None:
                self.parts.append((part, frame.module, frame.test or ctx.is_test(node)))
        elif kind == "macro_definition":
            name = field_text(node, "name")
            written = _MACRO_FN.findall(ctx.text(node))
            self.macro_fns.update((name, "*" if fn.startswith("$") else fn) for fn in written)
        elif kind == "use_declaration":
            argument = node.child_by_field_name("argument")
            if argument is not None:
                self.uses.extend(_uses(ctx, argument, frame.module, self._cfg(frame, node)))

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
                cfg=self._cfg(frame, node),
            )
        )

    def _cfg(self, frame: _Frame, item: Node) -> str:
        """The cfg predicates `item` is compiled under: its own and its frame's."""
        return cfg.joined(frame.cfg, self._cfgs.get(item.start_byte, ""))

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
            impls=tuple(self.impls),
            macro_types=frozenset(self.macro_types),
            macro_fns=frozenset(self.macro_fns),
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
        seen: set[tuple[str, tuple[str, ...], Receiver | None, frozenset[str]]] = set()
        for _, match in matches(_CALLS, function):
            inside = next(iter(match.values()))[0]  # any node of the call will do
            if self.index_of(inside) != index:
                continue  # in a nested `fn` (counted as the outer one's) or elsewhere
            shaped = _shape(ctx, match, function, owner is not None)
            if shaped is None:
                continue
            kind, segments, name, receiver = shaped
            if "free" in match and _local_callable(ctx, name, function):
                continue  # `let f = || ..; f()` calls the closure, not a `fn f`
            excused = frozenset(key for key, excuse in possible if excuse(ctx, name, function))
            line = name.start_point[0] + 1
            if in_drop:
                lines, byte = ctx.lines, name.start_byte
                at, code = lines.column(byte), lines.code(lines.start(byte))
                yield Call(kind, segments, line, at, excused, code, receiver)
            elif (kind, segments, receiver, excused) not in seen:
                seen.add((kind, segments, receiver, excused))
                yield Call(kind, segments, line, 0, excused, receiver=receiver)


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


def _local_callable(ctx: FileContext, name: Node, function: Node) -> bool:
    """`name` is bound in `function` (a closure in a `let`, a parameter)."""
    return _named_twice(ctx, name, function) and binding_of(name, function) is not None


def _named_twice(ctx: FileContext, name: Node, function: Node) -> bool:
    """`name`'s word occurs in `function` more than once: else nothing in it
    binds the name, and `binding_of` need not climb the tree to say so."""
    word = name.text or b""
    return ctx.source.count(word, function.start_byte, function.end_byte) >= 2


Shaped = tuple[str, tuple[str, ...], Node, Receiver | None]  # Call's kind, segments, receiver


def _shape(
    ctx: FileContext, match: dict[str, list[Node]], function: Node, in_impl: bool
) -> Shaped | None:
    """(kind, segments, the called name's node, receiver) of a matched call,
    or None for calls that cannot land in the crate (constructors, `std::..`,
    a method on a value of unknown type)."""
    if "free" in match:
        node = match["free"][0]
        text = ctx.text(node)
        return None if text[:1].isupper() else ("path", (text,), node, None)
    if "path" in match:
        return _path_call(ctx, match["path"][0], match["arguments"][0], function, in_impl)
    name = match["method"][0]
    receiver = _receiver(ctx, match["receiver"][0], function, in_impl)
    return None if receiver is None else ("method", (ctx.text(name),), name, receiver)


def _path_call(
    ctx: FileContext, path: Node, arguments: Node, function: Node, in_impl: bool
) -> Shaped | None:
    """`a::b::f(..)`, `Trait::m(x, ..)` (with `x` as the receiver when its
    type is known), `<T as Trait>::m(..)` (T the receiver), `<T>::m(..)`."""
    called, qualifier = path.child_by_field_name("name"), path.child_by_field_name("path")
    if called is None:
        return None
    name = ctx.text(called)
    if not name or name[:1].isupper():
        return None
    if qualifier is not None and qualifier.type == "bracketed_type":
        inner = qualifier.named_children[0] if qualifier.named_children else None
        if inner is not None and inner.type == "qualified_type":
            base, trait = inner.child_by_field_name("type"), inner.child_by_field_name("alias")
            base_path, trait_path = _named_type(ctx, base), _named_type(ctx, trait)
            if not base_path or not trait_path:
                return None
            return "path", (*trait_path, name), called, Receiver(base_path)
        base_path = _named_type(ctx, inner)
        return ("path", (*base_path, name), called, None) if base_path else None
    segments = tuple(_PATH_NOISE.sub("", ctx.text(path)).removeprefix("::").split("::"))
    if segments[0] in _EXTERNAL:
        return None
    receiver = None
    if len(segments) > 1 and arguments.named_child_count:
        receiver = _receiver(ctx, arguments.named_children[0], function, in_impl)
    return "path", segments, called, receiver


def _receiver(
    ctx: FileContext, value: Node, function: Node, in_impl: bool, depth: int = 0
) -> Receiver | None:
    """What the expression `value` is, as a `Receiver`: `self` and its fields
    (at most `MAX_FIELDS` deep), or a local or parameter whose type the
    function says (`_local`); None for anything else (a call's result, a
    temporary), whose type only a type checker knows."""
    fields: list[str] = []
    node = _inside(ctx, value)
    guarded = _guarded(ctx, node)
    if guarded is not None:
        fields.append(LOCKED)
        node = guarded
    while node.type == "field_expression":
        field, inner = node.child_by_field_name("field"), node.child_by_field_name("value")
        if field is None or inner is None or len(fields) == MAX_FIELDS:
            return None
        fields.append(ctx.text(field))
        node = _inside(ctx, inner)
    fields.reverse()
    if node.type == "self":
        return Receiver((), tuple(fields)) if in_impl and fields[:1] != [LOCKED] else None
    if node.type != "identifier" or depth >= _MAX_LOCALS or not _named_twice(ctx, node, function):
        return None  # a name the function does not bind (a static) is not a local
    base = _local(ctx, node, function, in_impl, depth + 1)
    if base is None or len(base.fields) + len(fields) > MAX_FIELDS:
        return None
    combined = (*base.fields, *fields)
    return Receiver(base.type, combined) if combined[:1] != (LOCKED,) else None


def _guarded(ctx: FileContext, node: Node) -> Node | None:
    """`x` of `x.lock().unwrap()`, `x.write().expect(..)`, `x.lock()` (parking_lot),
    `x.borrow_mut()`: what the guard is taken from; None for anything else."""
    unwrapped = _called_on(node, _UNWRAPS)
    taken = bare_method_call(_inside(ctx, unwrapped) if unwrapped is not None else node)
    return _inside(ctx, taken[0]) if taken is not None and taken[1] in _GUARDS else None


def _called_on(node: Node, methods: Collection[str]) -> Node | None:
    """`x` of `x.m(..)` for one of `methods`, whatever its arguments (`expect(..)`,
    `drain(..)`); `bare_method_call` is the one for calls without."""
    function = node.child_by_field_name("function") if node.type == "call_expression" else None
    if function is None or function.type != "field_expression":
        return None
    return (
        function.child_by_field_name("value") if field_text(function, "field") in methods else None
    )


def _local(
    ctx: FileContext, name: Node, function: Node, in_impl: bool, depth: int
) -> Receiver | None:
    """A variable bound by a `let` or as a parameter to one name (not taken
    apart by a pattern): its declared type (not one of the function's type
    parameters), else what its value is (`_value`)."""
    binding = binding_of(name, function)
    pattern = binding.pattern if binding is not None else None
    if binding is not None and pattern is None and binding.value is not None:
        return _element(ctx, binding.value, function, in_impl, depth)  # a `for` loop's
    if binding is None or pattern is None:
        return None
    if pattern.type == "tuple_struct_pattern":  # `Some(c)`, from an `Option` field
        if binding.value is None or binding.type is not None or not _some(ctx, pattern):
            return None
        return _unwrapped(ctx, binding.value, function, in_impl, depth)
    if pattern.type != "identifier":
        return None
    if binding.type is not None:
        path = type_path(ctx, binding.type)
        if not path or (len(path) == 1 and _type_parameter(ctx, function, path[0])):
            return None
        return Receiver(path)
    return _value(ctx, binding.value, function, in_impl, depth) if binding.value else None


def _element(
    ctx: FileContext, iterated: Node, function: Node, in_impl: bool, depth: int
) -> Receiver | None:
    """An element of what a `for` loop iterates: a collection field (`&self.v`,
    `&mut self.v`, `self.v.iter()`, `self.v.drain(..)`), bound whole to one
    name (`for c in ..`, `for &c in ..`; not taken apart by a pattern)."""
    loop = iterated.parent
    pattern = loop.child_by_field_name("pattern") if loop is not None else None
    while pattern is not None and pattern.type in {"reference_pattern", "mut_pattern"}:
        pattern = pattern.named_children[-1] if pattern.named_children else None
    if pattern is None or pattern.type != "identifier":
        return None
    inner = _called_on(_inside(ctx, iterated), _ITERATES)
    base = _receiver(ctx, inner if inner is not None else iterated, function, in_impl, depth)
    if base is None or not base.fields or base.fields[-1] in (SOME, LOCKED, ELEMENT):
        return None
    return Receiver(base.type, (*base.fields, ELEMENT)) if len(base.fields) < MAX_FIELDS else None


def _some(ctx: FileContext, pattern: Node) -> bool:
    """`pattern` is `Some(name)`."""
    parts = pattern.named_children
    return len(parts) == 2 and ctx.text(parts[0]) == "Some" and parts[1].type == "identifier"


def _unwrapped(
    ctx: FileContext, value: Node, function: Node, in_impl: bool, depth: int
) -> Receiver | None:
    """What `Some(c)` takes from `value`: the inside of an `Option` field
    (`self.client.take()`, `&self.client`, `self.client.as_ref()`)."""
    node = _inside(ctx, value)
    callee = node.child_by_field_name("function") if node.type == "call_expression" else None
    if callee is not None and callee.type == "field_expression":
        method, inner = callee.child_by_field_name("field"), callee.child_by_field_name("value")
        if method is None or inner is None or ctx.text(method) not in _SAME_OPTION:
            return None
        node = inner
    base = _receiver(ctx, node, function, in_impl, depth)
    if base is None or not base.fields or base.fields[-1] == SOME:
        return None  # `Some(c)` of what is already the inside: an Option of an Option?
    return Receiver(base.type, (*base.fields, SOME)) if len(base.fields) < MAX_FIELDS else None


def _value(
    ctx: FileContext, value: Node, function: Node, in_impl: bool, depth: int
) -> Receiver | None:
    """What a `let` binds: `Type::new(..)` or `Type::default()` (`?`,
    `.unwrap()` or `.expect(..)` after it), `Type { .. }`, `Arc::new(x)`,
    a lock's guard (`self.inner.lock().unwrap()`), or the same value as
    another receiver (`self.client.clone()`, `Arc::clone(&self.client)`,
    `&self.inner`, another local)."""
    node = _inside(ctx, value)
    if node.type == "try_expression" and node.named_children:
        return _constructed(ctx, _inside(ctx, node.named_children[0]), function, in_impl, depth)
    if node.type == "struct_expression":
        path = _named_type(ctx, node.child_by_field_name("name"))
        return Receiver(path) if path else None
    if node.type == "call_expression":
        if _guarded(ctx, node) is not None:  # `let g = self.inner.lock().unwrap();`
            return _receiver(ctx, node, function, in_impl, depth)
        callee = node.child_by_field_name("function")
        if callee is not None and callee.type == "field_expression":
            method, inner = callee.child_by_field_name("field"), callee.child_by_field_name("value")
            if method is None or inner is None:
                return None
            if ctx.text(method) in _SAME_VALUE:
                return _receiver(ctx, inner, function, in_impl, depth)
            if ctx.text(method) in _UNWRAPS:
                return _constructed(ctx, _inside(ctx, inner), function, in_impl, depth)
            return None
        return _constructed(ctx, node, function, in_impl, depth)
    return _receiver(ctx, node, function, in_impl, depth)


def _constructed(
    ctx: FileContext, call: Node, function: Node, in_impl: bool, depth: int
) -> Receiver | None:
    """The type `Type::new(..)`/`Type::default()` makes; through `Arc::new(x)`
    (a wrapper a method call sees through) and `Arc::clone(&x)`, what `x` is."""
    callee = call.child_by_field_name("function") if call.type == "call_expression" else None
    arguments = call.child_by_field_name("arguments")
    if callee is None or callee.type != "scoped_identifier" or arguments is None:
        return None
    segments = tuple(_PATH_NOISE.sub("", ctx.text(callee)).removeprefix("::").split("::"))
    if len(segments) < 2 or segments[-1] not in {*_CONSTRUCTORS, "clone"}:
        return None
    first = arguments.named_children[0] if arguments.named_child_count else None
    if segments[-2] in _DEREF:
        return _value(ctx, first, function, in_impl, depth) if first is not None else None
    if segments[-1] == "clone" or segments[0] in _EXTERNAL:
        return None
    if len(segments) == 2 and _type_parameter(ctx, function, segments[0]):
        return None  # `T::default()` of a type parameter `T`
    return Receiver(segments[:-1])


def _inside(ctx: FileContext, node: Node) -> Node:
    """`node` without the parentheses, `&`/`&mut` and `*` around it (a method
    call sees through them)."""
    while node.named_children and (
        node.type in {"parenthesized_expression", "reference_expression"}
        or (node.type == "unary_expression" and ctx.source[node.start_byte] == 0x2A)  # `*`
    ):
        node = node.named_children[-1]
    return node


def _type_parameter(ctx: FileContext, function: Node, name: str) -> bool:
    """`name` is a type parameter of `function` (`fn f<C: Tr>(c: &C)`) or of
    the `impl` or `trait` around it (`impl<C: Tr> Pool<C>`)."""
    body = ctx.parent(function)
    around = ctx.parent(body) if body is not None and body.type == "declaration_list" else None
    for item in (function, around):
        parameters = item.child_by_field_name("type_parameters") if item is not None else None
        if parameters is not None and name in _WORD.findall(ctx.text(parameters)):
            return True
    return False


def _named_type(ctx: FileContext, node: Node | None) -> tuple[str, ...]:
    """The path a type names, generics dropped (`a::Client<T>` -> `a::Client`),
    seeing through nothing: empty for references, tuples, `dyn`."""
    if node is not None and node.type == "generic_type":
        node = node.child_by_field_name("type")
    if node is None or node.type not in {"type_identifier", "scoped_type_identifier", "identifier"}:
        return ()
    return tuple(_PATH_NOISE.sub("", ctx.text(node)).removeprefix("::").split("::"))


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
        impls=(*file.impls, *(replace(i, module=(*module, *i.module)) for i in part.impls)),
        macro_types=file.macro_types | part.macro_types,
        macro_fns=file.macro_fns | part.macro_fns,
    )


def _item_cfgs(ctx: FileContext) -> dict[int, str]:
    """The `#[cfg(..)]` predicates written on the file's items, by the start
    byte of the item they apply to (several joined)."""
    found: dict[int, str] = {}
    for _, attribute in attributes(ctx.root, ctx.source, _CFG_ATTRIBUTE):
        asked = cfg.predicate(ctx.text(attribute))
        item = attributed_item(attribute) if asked is not None else None
        if asked is not None and item is not None:
            found[item.start_byte] = cfg.joined(found.get(item.start_byte, ""), asked)
    return found


def _trait_methods(body: Node) -> tuple[str, ...]:
    """The names of the methods a trait declares, with a default body or without."""
    return tuple(
        field_text(child, "name")
        for child in body.named_children
        if child.type in {"function_item", "function_signature_item"}
    )


def _deref_target(ctx: FileContext, body: Node) -> tuple[str, ...]:
    """The path of `type Target = ..;` in an `impl Deref` body, if the crate can name it."""
    for child in body.named_children:
        declared = child.child_by_field_name("type") if child.type == "type_item" else None
        if declared is not None and field_text(child, "name") == "Target":
            return type_path(ctx, declared)
    return ()


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


def _fields(
    ctx: FileContext, struct: Node
) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], dict[str, tuple[str, ...]]]:
    """A struct's `TypeDecl.fields`, and the names of those that wrap their type,
    by how a receiver reaches inside (`SOME`: `options`, `LOCKED`: `locks`,
    `ELEMENT`: `elements`)."""
    body = struct.child_by_field_name("body")
    if body is None:
        return (), {}
    found: list[tuple[str, Node]] = []
    if body.type == "field_declaration_list":
        for field in body.named_children:
            named, declared = field.child_by_field_name("name"), field.child_by_field_name("type")
            if field.type == "field_declaration" and named is not None and declared is not None:
                found.append((ctx.text(named), declared))
    elif body.type == "ordered_field_declaration_list":
        found.extend((str(n), t) for n, t in enumerate(body.children_by_field_name("type")))
    fields: list[tuple[str, tuple[str, ...]]] = []
    wrapped: dict[str, list[str]] = {}
    for name, declared in found:
        how, inner = _wrapped(ctx, declared)
        path = type_path(ctx, inner if inner is not None else declared)
        if path:
            fields.append((name, path))
            if how:
                wrapped.setdefault(how, []).append(name)
    return tuple(fields), {how: tuple(names) for how, names in wrapped.items()}


def _wrapped(ctx: FileContext, declared: Node) -> tuple[str, Node | None]:
    """How a field's declared type wraps the type its methods are read from,
    and that type: `Option<T>`, a lock or cell (`Arc<Mutex<T>>`), a collection
    (`Vec<T>`, `[T; N]`); ("", None) for a plain type."""
    inside = _argument_of(declared, {"Option"})
    if inside is not None:
        return SOME, inside
    beneath = _beneath_derefs(declared)
    locked = _lock_of(ctx, beneath)
    if locked is not None:
        return LOCKED, locked
    element = _argument_of(beneath, _COLLECTIONS)
    if element is None and beneath is not None and beneath.type == "array_type":
        element = beneath.child_by_field_name("element")
    return (ELEMENT, element) if element is not None else ("", None)


def _argument_of(declared: Node | None, wrappers: Collection[str]) -> Node | None:
    """`T` of a type written `W<T>` for one of the `wrappers` (`Option<T>`, `Mutex<T>`)."""
    if declared is None or declared.type != "generic_type":
        return None
    base, arguments = (
        declared.child_by_field_name("type"),
        declared.child_by_field_name("type_arguments"),
    )
    if base is None or text(base).rsplit("::", 1)[-1] not in wrappers or arguments is None:
        return None
    return next(iter(arguments.named_children), None)


def _lock_of(ctx: FileContext, declared: Node | None) -> Node | None:
    """`T` of `Mutex<T>` (`RwLock`, `RefCell`) as std, parking_lot or spin
    spell them, not a crate's own `Mutex` (quinn's, whose `lock` is a method
    of the crate)."""
    locked = _argument_of(declared, _LOCKS)
    base = declared.child_by_field_name("type") if declared is not None else None
    if locked is None or base is None or not ctx.resolve(text(base)).startswith(_LOCK_CRATES):
        return None
    return locked


def _beneath_derefs(declared: Node) -> Node | None:
    """`Mutex<T>` of `Arc<Mutex<T>>` or `Rc<RefCell<T>>`: beneath what method calls see through."""
    while True:
        wrapped = _argument_of(declared, _DEREF)
        if wrapped is None:
            return declared
        declared = wrapped


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


def _uses(ctx: FileContext, tree: Node, module: Module, within: str) -> Iterator[Use]:
    """The names one `use` tree imports (`a::{b, c as d, e::*, self}`), under cfg `within`."""
    pending: list[tuple[tuple[str, ...], Node]] = [((), tree)]
    while pending:
        prefix, node = pending.pop()
        kind = node.type
        if kind in {"identifier", "scoped_identifier", "crate", "super", "self"}:
            path = (*prefix, *_segments(ctx, node))
            if kind == "self" and prefix:
                yield Use(module, prefix, prefix[-1], within)
            elif path and path[-1] not in {"self", "super", "crate"}:
                yield Use(module, path, path[-1], within)
        elif kind == "use_as_clause":
            original, alias = node.child_by_field_name("path"), node.child_by_field_name("alias")
            if original is not None and alias is not None and ctx.text(alias) != "_":
                yield Use(module, (*prefix, *_segments(ctx, original)), ctx.text(alias), within)
        elif kind == "use_wildcard":
            star = node.named_children[0] if node.named_children else None
            yield Use(module, (*prefix, *(_segments(ctx, star) if star else ())), "*", within)
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
