"""Phase 4: scopes and conservative name resolution over the whole crate.

Each module's scope holds what it declares (functions, child modules,
types, traits) and what its `use` declarations import (explicit names first,
then globs, as rustc orders them). A type is known by its path (`TypeKey`:
crate, module, name), so two types named `Inner` in two modules each keep
their methods: an `impl` block's type is looked up from the impl's module,
and so is each field's declared type. A method call resolves from what the
caller knows of its receiver (`items.Receiver`: `self`, its fields, a local
or parameter of a named type) to that type's methods, then to the default
methods of the traits it implements.

A call resolves to a function of the crate only when exactly one candidate
remains: two globs offering the same name, two types sharing a name where
the impl's own cannot be told, a method several `impl`s define, a trait
method called with no known receiver that an impl overrides, a receiver
whose type the crate does not declare: each is "unknown", and unknown means
no edge, never a guess. Candidates written under opposite `#[cfg]`s (cfg
twins) leave the one the crate's default build compiles (`rules.rust.cfg`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

from rules.rust import cfg
from rules.rust.crate.crates import Crate, Placement
from rules.rust.crate.items import (
    ELEMENT,
    LOCKED,
    SOME,
    Call,
    FileItems,
    Function,
    Receiver,
    TypeDecl,
)

FnRef = tuple[int, int]  # (file index, function index)
ModuleKey = tuple[int, tuple[str, ...]]  # (crate index, module path)
# a struct, enum, union or trait: (crate, module path, name); the module is
# None for a type the crate model does not see declared (inside a macro),
# known by its name alone
TypeKey = tuple[int, tuple[str, ...] | None, str]
# what a name stands for: ("fn", FnRef), ("module", ModuleKey), ("type" or "trait", TypeKey)
Definition = tuple[str, Any]
_T = TypeVar("_T")
_USE_DEPTH = 8
_DEREFS = 2  # `Deref::Target`s a field or method lookup follows in turn
# the methods of std traits a type commonly implements: one of them does not stop a method
# call from auto-dereferencing to a `Deref::Target`'s method of another name
_STD_TRAIT_METHODS = {
    "Clone": frozenset({"clone", "clone_from"}),
    "Debug": frozenset({"fmt"}),
    "Display": frozenset({"fmt", "to_string"}),
    "Deref": frozenset({"deref"}),
    "DerefMut": frozenset({"deref_mut"}),
    "Drop": frozenset({"drop"}),
    "PinnedDrop": frozenset({"drop"}),
    "Default": frozenset({"default"}),
    "PartialEq": frozenset({"eq", "ne"}),
    "Eq": frozenset(),
    "Hash": frozenset({"hash"}),
    "PartialOrd": frozenset({"partial_cmp", "lt", "le", "gt", "ge"}),
    "Ord": frozenset({"cmp", "max", "min", "clamp"}),
    "From": frozenset({"from"}),
    "AsRef": frozenset({"as_ref"}),
    "AsMut": frozenset({"as_mut"}),
    "Borrow": frozenset({"borrow"}),
    "Send": frozenset(),
    "Sync": frozenset(),
    "Unpin": frozenset(),
    "Copy": frozenset(),
    "Error": frozenset({"source", "description", "cause"}),
    "Future": frozenset({"poll"}),
    "Write": frozenset(
        {"write", "write_all", "write_vectored", "write_all_vectored", "flush", "write_fmt"}
        | {"by_ref", "is_write_vectored"}
    ),
    "Read": frozenset(
        {"read", "read_exact", "read_to_end", "read_to_string", "read_vectored", "read_buf"}
        | {"by_ref", "bytes", "chain", "take", "is_read_vectored", "read_buf_exact"}
    ),
    "Seek": frozenset({"seek", "rewind", "stream_len", "stream_position", "seek_relative"}),
}
_SKIPPED_METHODS = frozenset({"clone"})


@dataclass(slots=True)
class _Scope:
    functions: dict[str, list[FnRef]] = field(default_factory=lambda: defaultdict(list))
    modules: dict[str, ModuleKey] = field(default_factory=dict)
    types: dict[str, list[TypeDecl]] = field(default_factory=lambda: defaultdict(list))
    # each imported name's paths, with the cfg predicates of the `use`
    uses: dict[str, list[tuple[tuple[str, ...], str]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    globs: list[tuple[str, ...]] = field(default_factory=list)


class Resolver:
    """Answers "which function of the crate does this call reach?"."""

    def __init__(
        self, items: Sequence[FileItems], crates: Sequence[Crate], placements: Sequence[Placement]
    ) -> None:
        self.items = items
        self.crates = crates
        self.placements = placements
        self.scopes: dict[ModuleKey, _Scope] = defaultdict(_Scope)
        # impl methods by (crate, the impl's type's name, method name); the
        # same by (trait name, method name) for trait impls; default methods
        # by (trait, method name); trait impls by (crate, type's name)
        self.methods: dict[tuple[int, str, str], list[FnRef]] = defaultdict(list)
        self.trait_methods: dict[tuple[str, str], list[FnRef]] = defaultdict(list)
        self.defaults: dict[tuple[TypeKey, str], list[FnRef]] = defaultdict(list)
        self.impls: dict[tuple[int, str], list[tuple[ModuleKey, str]]] = defaultdict(list)
        # `impl Deref` blocks by (crate, the impl's type's name): its module and `Target`'s path
        self.derefs: dict[tuple[int, str], list[tuple[ModuleKey, tuple[str, ...]]]] = defaultdict(
            list
        )
        # the types (not traits) of each name in a crate, and each one's declarations
        self.types: dict[tuple[int, str], list[TypeKey]] = defaultdict(list)
        self.declared: dict[TypeKey, list[TypeDecl]] = defaultdict(list)
        self.lib_of: dict[str, int] = {}  # package name -> its library crate
        # what may give a type a method no item of the crate shows: the method names of
        # the crate's traits (a blanket impl), types an item-level macro names, per crate
        self.trait_method_names: set[str] = set()
        self.macros_naming: dict[tuple[int, str], set[str]] = defaultdict(set)
        self.macro_fns: dict[tuple[int, str], set[str]] = defaultdict(set)
        # each function's calls, filled in as reach asks for them (see `CrateModel`)
        self.calls: dict[FnRef, tuple[Call, ...]] = {}
        self._memo: dict[tuple[FnRef, int], FnRef | None] = {}
        self._named: dict[tuple[ModuleKey, str], Definition | None] = {}
        # (module, name, want, depth) -> `_lookup`'s answer: globs re-exporting
        # globs ask the same questions again on every branch
        self._looked_up: dict[tuple[ModuleKey, str, str, int], Definition | None] = {}
        self._placed = {(placement.crate, placement.module) for placement in placements}
        for index, crate in enumerate(crates):
            package = crate.package
            if package is not None and package.lib == crate.root:
                self.lib_of[package.name] = index
        for file_index, file in enumerate(items):
            self._index_file(file_index, file)

    @cached_property
    def drop_owners(self) -> dict[FnRef, str]:
        """Each `fn drop`'s dropped type, by function (the first impl's, should
        two claim one): looked up per root, where a scan of the file's impl
        Drop blocks per root is quadratic in a file with thousands of them."""
        owners: dict[FnRef, str] = {}
        for file_index, file in enumerate(self.items):
            for root in file.drops:
                owners.setdefault((file_index, root.function), root.type_name)
        return owners

    def _index_file(self, file_index: int, file: FileItems) -> None:
        placement = self.placements[file_index]
        crate, base = placement.crate, placement.module
        keys: dict[tuple[str, ...], ModuleKey] = {(): (crate, base)}

        def key_of(module: tuple[str, ...]) -> ModuleKey:
            if module not in keys:
                keys[module] = (crate, (*base, *module))
            return keys[module]

        for module, _ in file.inline:
            self.scopes[key_of(module[:-1])].modules[module[-1]] = key_of(module)
        for decl in file.mods:
            child = self._child_file_module(crate, base, decl.module, decl.name)
            if child is not None:
                self.scopes[key_of(decl.module)].modules[decl.name] = child
        for use in file.uses:
            scope = self.scopes[key_of(use.module)]
            if use.alias == "*":
                scope.globs.append(use.path)
            else:
                scope.uses[use.alias].append((use.path, use.cfg))
        for macro, word in file.macro_types:
            self.macros_naming[(crate, word)].add(macro)
        for macro, fn in file.macro_fns:
            self.macro_fns[(crate, macro)].add(fn)
        for declared in file.types:
            self.trait_method_names.update(declared.methods)
            home = key_of(declared.module)
            self.scopes[home].types[declared.name].append(declared)
            type_key: TypeKey = (crate, home[1], declared.name)
            self.declared[type_key].append(declared)
            if declared.kind != "trait":
                self.types[(crate, declared.name)].append(type_key)
        for impl in file.impls:
            self.impls[(crate, impl.owner)].append((key_of(impl.module), impl.trait))
            if impl.target:
                self.derefs[(crate, impl.owner)].append((key_of(impl.module), impl.target))
        for fn_index, function in enumerate(file.functions):
            ref = (file_index, fn_index)
            if function.owner is None:
                self.scopes[key_of(function.module)].functions[function.name].append(ref)
            elif function.in_trait:
                trait = (crate, key_of(function.module)[1], function.owner)
                self.defaults[(trait, function.name)].append(ref)
            else:
                self.methods[(crate, function.owner, function.name)].append(ref)
                if function.trait is not None:
                    self.trait_methods[(function.trait, function.name)].append(ref)

    def _child_file_module(
        self, crate: int, base: tuple[str, ...], inline: tuple[str, ...], name: str
    ) -> ModuleKey | None:
        wanted = (*base, *inline, name)
        return (crate, wanted) if (crate, wanted) in self._placed else None

    # -- calls ----------------------------------------------------------------

    def callee(self, ref: FnRef, call_index: int) -> FnRef | None:
        """The function call number `call_index` of function `ref` reaches, if certain."""
        key = (ref, call_index)
        if key not in self._memo:
            self._memo[key] = self._callee(ref, self.calls[ref][call_index])
        return self._memo[key]

    def function(self, ref: FnRef) -> Function:
        return self.items[ref[0]].functions[ref[1]]

    def label(self, ref: FnRef) -> str:
        """How a chain names a function: `Pool::close`, `cleanup::shutdown`."""
        function = self.function(ref)
        if function.owner is not None:
            return function.label
        return "::".join((*self.module_of(ref)[1], function.name))

    def module_of(self, ref: FnRef) -> ModuleKey:
        placement = self.placements[ref[0]]
        return placement.crate, (*placement.module, *self.function(ref).module)

    def _callee(self, ref: FnRef, call: Call) -> FnRef | None:
        function = self.function(ref)
        if call.kind == "method":
            (name,) = call.segments
            receiver = call.receiver
            if receiver is None or name in _SKIPPED_METHODS:
                return None
            if function.in_trait and receiver == Receiver():
                return _only(self.defaults.get((self._trait_of(ref), name), []))
            owner = self._receiver_type(ref, receiver)
            return self._method(owner, name) if owner is not None else None
        return self._path(ref, call)

    def _path(self, ref: FnRef, call: Call) -> FnRef | None:
        function, module, segments = self.function(ref), self.module_of(ref), call.segments
        if segments[0] == "Self":
            if function.owner is None or len(segments) != 2:
                return None
            if function.in_trait:
                return _only(self.defaults.get((self._trait_of(ref), segments[1]), []))
            owner = self._self_type(ref)
            return self._method(owner, segments[1]) if owner is not None else None
        if len(segments) == 1:
            found = self._lookup(module, segments[0], "value", 0)
            return found[1] if found is not None and found[0] == "fn" else None
        prefix = self._lookup_path(module, segments[:-1], "type")
        if prefix is None:
            return None
        kind, value = prefix
        if kind == "module":
            found = self._lookup(value, segments[-1], "value", 0)
            return found[1] if found is not None and found[0] == "fn" else None
        if kind == "type":
            return self._method(value, segments[-1])
        if kind == "trait":
            return self._trait_call(ref, value, segments[-1], call.receiver)
        return None

    def _trait_call(
        self, ref: FnRef, trait: TypeKey, name: str, receiver: Receiver | None
    ) -> FnRef | None:
        """`Trait::name(x, ..)` or `<T as Trait>::name(..)`: the implementation
        for the receiver's type when it is known; otherwise (a trait object,
        a generic) the trait's default method, when no impl in the crate
        overrides it: whatever the type, that default is what runs."""
        owner = self._receiver_type(ref, receiver) if receiver is not None else None
        if owner is not None:
            return self._method(owner, name, trait)
        default = _only(self.defaults.get((trait, name), []))
        impls = self.trait_methods.get((trait[2], name), [])
        overridden = any(self._implements(method, trait) is not False for method in impls)
        return None if overridden else default

    def _method(
        self, owner: TypeKey, name: str, trait: TypeKey | None = None, derefs: int = 0
    ) -> FnRef | None:
        """`name` called on a value of type `owner` (of `trait` only, when
        given): the one method an `impl` of that type defines, else the one
        default method of the traits it implements, else (auto-deref) the
        method of its `Deref::Target`."""
        crate, _, type_name = owner
        shared = self._shared(owner)
        found = []
        for method in self.methods.get((crate, type_name, name), []):
            impl = self._impl_type(self.module_of(method), type_name)
            if impl is None and shared:
                return None  # whose impl is it?
            implements = self._implements(method, trait) if trait is not None else True
            if implements is None:
                return None  # an impl of a trait of that name: which trait?
            if impl in (owner, None) and implements:
                found.append(method)
        if found:
            return _only(self._compiled(crate, found, lambda ref: self.function(ref).cfg))
        traits = self._traits_of(owner) if trait is None else {trait}
        defaults = [d for t in traits for d in self.defaults.get((t, name), [])]
        if defaults or trait is not None or derefs >= _DEREFS or self._may_have(owner, name):
            return _only(defaults)
        target = self._deref_target(owner)
        return self._method(target, name, derefs=derefs + 1) if target is not None else None

    def _shared(self, owner: TypeKey) -> bool:
        """Other types of the crate are named like `owner`: an impl whose type
        cannot be looked up may be theirs."""
        named = len(self.types.get((owner[0], owner[2]), []))
        return named > (0 if owner[1] is None else 1)

    def _implements(self, method: FnRef, trait: TypeKey) -> bool | None:
        """`method` is defined in an impl of `trait`; None when the impl names
        a trait of that name its module cannot look up (it may be another)."""
        function = self.function(method)
        if function.trait != trait[2]:
            return False
        found = self._named_in(self.module_of(method), function.trait)
        return None if found is None else found == ("trait", trait)

    def _traits_of(self, owner: TypeKey) -> set[TypeKey]:
        """The traits of the crate `impl Trait for owner` blocks name."""
        crate, _, type_name = owner
        shared = self._shared(owner)
        traits = set()
        for module, trait_name in self.impls.get((crate, type_name), []):
            if self._impl_for(owner, module, shared):
                found = self._named_in(module, trait_name)
                if found is not None and found[0] == "trait":
                    traits.add(found[1])
        return traits

    def _impl_for(self, owner: TypeKey, module: ModuleKey, shared: bool) -> bool:
        """An `impl` of `owner`'s name written in `module` is `owner`'s: the module
        names `owner` by it, or names no type by it and no other type of the crate
        is called so (`shared`, `_shared(owner)`)."""
        impl = self._impl_type(module, owner[2])
        return impl == owner or (impl is None and not shared)

    def _impl_type(self, module: ModuleKey, type_name: str) -> TypeKey | None:
        """The type `impl type_name` in `module` is for, if the module names one."""
        found = self._named_in(module, type_name)
        return found[1] if found is not None and found[0] == "type" else None

    def _self_type(self, ref: FnRef) -> TypeKey | None:
        """The type of `self` in method `ref`: its impl's type, looked up
        from the impl's module; else the crate's one type of that name, or
        one the crate does not see declared."""
        function = self.function(ref)
        if function.owner is None or function.in_trait:
            return None
        module = self.module_of(ref)
        found = self._impl_type(module, function.owner)
        if found is not None:
            return found
        named = self.types.get((module[0], function.owner), [])
        if len(named) > 1:
            return None
        return named[0] if named else (module[0], None, function.owner)

    def _trait_of(self, ref: FnRef) -> TypeKey:
        """The trait whose default method `ref` is."""
        crate, module = self.module_of(ref)
        return crate, module, self.function(ref).owner or ""

    def _receiver_type(self, ref: FnRef, receiver: Receiver) -> TypeKey | None:
        """The type of what `receiver` describes in function `ref`: `self`'s
        or a named type, then each field's declared type in turn."""
        if not receiver.type or receiver.type == ("Self",):
            owner = self._self_type(ref)
        else:
            found = self._lookup_path(self.module_of(ref), receiver.type, "type")
            owner = found[1] if found is not None and found[0] == "type" else None
        fields = receiver.fields
        for position, name in enumerate(fields):
            if owner is None:
                return None
            if name not in _INSIDE:
                via = fields[position + 1] if position + 1 < len(fields) else ""
                owner = self._field_type(owner, name, via if via in _INSIDE else "")
        return owner

    def _field_type(self, owner: TypeKey, name: str, via: str) -> TypeKey | None:
        """The type of field `name` of `owner`; of the `T` inside when the
        field is declared `Option<T>` (only `via` `SOME`: an Option's own
        methods are not `T`'s), `Mutex<T>`, `RwLock<T>`, `RefCell<T>` (only
        `via` `LOCKED`, through a guard), `Vec<T>` (only `via` `ELEMENT`)."""
        for _ in range(_DEREFS + 1):
            declared = self.declared.get(owner, [])
            if len(declared) != 1 or owner[1] is None:
                return None
            fields = dict(declared[0].fields)
            if name in fields:
                if _wrapping(declared[0], name) != via:
                    return None
                found = self._lookup_path((owner[0], owner[1]), fields[name], "type")
                return found[1] if found is not None and found[0] == "type" else None
            target = self._deref_target(owner)  # auto-deref: a field of its `Target`
            if target is None:
                return None
            owner = target
        return None

    def _may_have(self, owner: TypeKey, name: str) -> bool:
        """`owner` may have a method `name` the crate model cannot see, which
        rustc would pick before auto-deref: from a trait outside the crate it
        implements (unless that is a std trait known not to have it), a trait
        of the crate (a blanket `impl<T> Tr for T`), or a macro naming it."""
        crate, _, type_name = owner
        if name in self.trait_method_names:
            return True
        for macro in self.macros_naming.get((crate, type_name), ()):
            written = self.macro_fns.get((crate, macro))  # None: a macro from elsewhere
            if written is None or name in written or "*" in written:
                return True
        for module, trait_name in self.impls.get((crate, type_name), []):
            found = self._named_in(module, trait_name)
            if found is None or found[0] != "trait":  # a trait outside the crate
                known = _STD_TRAIT_METHODS.get(trait_name)
                if known is None or name in known:
                    return True
        return False

    def _deref_target(self, owner: TypeKey) -> TypeKey | None:
        """The `Target` of the crate's one `impl Deref for owner`, if the crate declares it."""
        crate, _, type_name = owner
        shared = self._shared(owner)
        targets = {
            self._lookup_path(module, path, "type")
            for module, path in self.derefs.get((crate, type_name), [])
            if self._impl_for(owner, module, shared)
        }
        found = targets.pop() if len(targets) == 1 else None
        return found[1] if found is not None and found[0] == "type" else None

    # -- names ----------------------------------------------------------------

    def _lookup_path(
        self, module: ModuleKey, segments: Sequence[str], want: str, depth: int = 0
    ) -> Definition | None:
        """What `a::b::c` names from `module` (a module or a type for `want`
        "type", a function for "value")."""
        current: Definition | None = ("module", module)
        for position, segment in enumerate(segments):
            if current is None or current[0] != "module":
                return None
            here: ModuleKey = current[1]
            last = position == len(segments) - 1
            if segment == "crate" and position == 0:
                current = ("module", (here[0], ()))
            elif segment == "self" and position == 0:
                current = ("module", here)
            elif segment == "super" and (position == 0 or segments[position - 1] == "super"):
                if not here[1]:
                    return None
                current = ("module", (here[0], here[1][:-1]))
            else:
                current = self._lookup(here, segment, want if last else "type", depth)
                if current is None and position == 0:
                    current = self._extern(here[0], segment)
        return current

    def _named_in(self, module: ModuleKey, name: str) -> Definition | None:
        """The type, trait or module `name` stands for in `module` (memoised:
        every impl of a type asks)."""
        key = (module, name)
        if key not in self._named:
            self._named[key] = self._lookup(module, name, "type", 0)
        return self._named[key]

    def _lookup(self, module: ModuleKey, name: str, want: str, depth: int) -> Definition | None:
        """One name in one module's scope: declared, else imported by name,
        else by exactly one glob; None when unknown or ambiguous (memoised:
        without it, modules that glob-import each other make the search grow
        with the number of globs to the power of the depth)."""
        key = (module, name, want, depth)
        if key not in self._looked_up:
            self._looked_up[key] = self._search(module, name, want, depth)
        return self._looked_up[key]

    def _search(self, module: ModuleKey, name: str, want: str, depth: int) -> Definition | None:
        if depth > _USE_DEPTH:
            return None
        scope = self.scopes.get(module)
        if scope is None:
            return None
        declared = self._declared(module, scope, name, want)
        if declared is not None:
            return declared if declared != ("ambiguous", None) else None
        if name in scope.uses:
            paths = self._compiled(module[0], scope.uses[name], lambda use: use[1])
            found = {self._lookup_path(module, path, want, depth + 1) for path, _ in paths}
            found.discard(None)
            return found.pop() if len(found) == 1 else None
        globbed = set()
        for path in scope.globs:
            target = self._lookup_path(module, path, "type", depth + 1)
            if target is not None and target[0] == "module":
                globbed.add(self._lookup(target[1], name, want, depth + 1))
        globbed.discard(None)
        return globbed.pop() if len(globbed) == 1 else None

    def _declared(
        self, module: ModuleKey, scope: _Scope, name: str, want: str
    ) -> Definition | None:
        if want == "value":
            functions = self._compiled(
                module[0], scope.functions.get(name, []), lambda ref: self.function(ref).cfg
            )
            if len(functions) > 1:
                return ("ambiguous", None)
            return ("fn", functions[0]) if functions else None
        if name in scope.modules:
            return ("module", scope.modules[name])
        types = self._compiled(module[0], scope.types.get(name, []), lambda decl: decl.cfg)
        if len(types) > 1:
            return ("ambiguous", None)
        if types:
            return ("trait" if types[0].kind == "trait" else "type", (*module, name))
        return None

    def _compiled(
        self, crate: int, candidates: list[_T], predicates: Callable[[_T], str]
    ) -> list[_T]:
        """Of several `candidates` for one name, those `crate`'s default build may
        compile (`cfg`): cfg twins leave one. One candidate is kept as it is."""
        if len(candidates) < 2:
            return candidates
        package = self.crates[crate].package
        features = package.features if package is not None else None
        return [c for c in candidates if cfg.compiled(predicates(c), features) is not False]

    def _extern(self, crate: int, name: str) -> Definition | None:
        """A dependency's library when it is among the crates analysed."""
        package = self.crates[crate].package
        if package is None:
            return None
        dependency = package.dependencies.get(name)
        if dependency is None and package.name.replace("-", "_") == name:
            dependency = package.name  # a binary naming its own library
        target = self.lib_of.get(dependency) if dependency is not None else None
        return ("module", (target, ())) if target is not None else None


_INSIDE = (SOME, LOCKED, ELEMENT)


def _wrapping(declared: TypeDecl, name: str) -> str:
    """How field `name` wraps its type (`items._wrapped`): what a receiver must say to reach it."""
    if name in declared.options:
        return SOME
    if name in declared.locks:
        return LOCKED
    return ELEMENT if name in declared.elements else ""


def _only(found: Sequence[FnRef]) -> FnRef | None:
    return found[0] if len(found) == 1 else None
