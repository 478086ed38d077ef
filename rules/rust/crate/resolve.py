"""Phase 4: scopes and conservative name resolution over the whole crate.

Each module's scope holds what it declares (functions, child modules,
types) and what its `use` declarations import (explicit names first, then
globs, as rustc orders them). A call resolves to a function of the crate only
when exactly one candidate remains: two globs offering the same name, two
types sharing a name, a method several `impl`s define, a trait called by its
path, a receiver whose type the crate does not declare: each is "unknown",
and unknown means no edge, never a guess.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from rules.rust.crate.crates import Crate, Placement
from rules.rust.crate.items import Call, FileItems, Function, TypeDecl

FnRef = tuple[int, int]  # (file index, function index)
ModuleKey = tuple[int, tuple[str, ...]]  # (crate index, module path)
# what a name stands for: ("fn", FnRef), ("module", ModuleKey), ("type", (crate, name))
Definition = tuple[str, Any]
_USE_DEPTH = 8
_SKIPPED_METHODS = frozenset({"clone"})


@dataclass(slots=True)
class _Scope:
    functions: dict[str, list[FnRef]] = field(default_factory=lambda: defaultdict(list))
    modules: dict[str, ModuleKey] = field(default_factory=dict)
    types: dict[str, list[TypeDecl]] = field(default_factory=lambda: defaultdict(list))
    uses: dict[str, list[tuple[str, ...]]] = field(default_factory=lambda: defaultdict(list))
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
        # (crate, type name, method name) -> methods; (crate, type) -> traits it implements
        self.methods: dict[tuple[int, str, str], list[FnRef]] = defaultdict(list)
        self.defaults: dict[tuple[int, str, str], list[FnRef]] = defaultdict(list)
        self.traits_of: dict[tuple[int, str], set[str]] = defaultdict(set)
        self.types: dict[tuple[int, str], list[TypeDecl]] = defaultdict(list)
        self.lib_of: dict[str, int] = {}  # package name -> its library crate
        # each function's calls, filled in as reach asks for them (see `CrateModel`)
        self.calls: dict[FnRef, tuple[Call, ...]] = {}
        self._memo: dict[tuple[FnRef, int], FnRef | None] = {}
        self._placed = {(placement.crate, placement.module) for placement in placements}
        self._type_module: dict[int, ModuleKey] = {}  # id(TypeDecl) -> its module
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
                scope.uses[use.alias].append(use.path)
        for declared in file.types:
            key = key_of(declared.module)
            self.scopes[key].types[declared.name].append(declared)
            self._type_module[id(declared)] = key
            if declared.kind != "trait":
                self.types[(crate, declared.name)].append(declared)
        for fn_index, function in enumerate(file.functions):
            ref = (file_index, fn_index)
            if function.owner is None:
                self.scopes[key_of(function.module)].functions[function.name].append(ref)
            elif function.in_trait:
                self.defaults[(crate, function.owner, function.name)].append(ref)
            else:
                self.methods[(crate, function.owner, function.name)].append(ref)
                if function.trait is not None:
                    self.traits_of[(crate, function.owner)].add(function.trait)

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
        module = self.module_of(ref)
        crate = module[0]
        if call.kind == "self":
            if function.owner is None:
                return None
            found = self._method(crate, function.owner, call.segments[0], function.in_trait)
            return found if found is not None else self._sibling_method(ref, call.segments[0])
        if call.kind == "field":
            field_name, method = call.segments
            if function.owner is None or function.in_trait or method in _SKIPPED_METHODS:
                return None
            return self._field_method(crate, function.owner, field_name, method)
        return self._path(module, call.segments, function)

    def _method(self, crate: int, owner: str, name: str, in_trait: bool = False) -> FnRef | None:
        """`owner::name` or `self.name()` on a value of type `owner`."""
        if in_trait:
            return _only(self.defaults.get((crate, owner, name), []))
        if len(self.types.get((crate, owner), [])) > 1:
            return None  # two types of that name: whose impl is it?
        found = self.methods.get((crate, owner, name), [])
        if found:
            return _only(found)
        defaults = [
            ref
            for trait in self.traits_of.get((crate, owner), ())
            for ref in self.defaults.get((crate, trait, name), [])
        ]
        return _only(defaults)

    def _sibling_method(self, ref: FnRef, name: str) -> FnRef | None:
        """`self.name()` where the crate has two types named like the caller's:
        an inherent `impl` of that name in the caller's own module is the one
        (mpsc's and oneshot's `Receiver` each call their own `close`)."""
        function = self.function(ref)
        if function.in_trait or function.owner is None:
            return None
        module = self.module_of(ref)
        near = [
            candidate
            for candidate in self.methods.get((module[0], function.owner, name), [])
            if self.module_of(candidate) == module
        ]
        return _only(near)

    def _field_method(self, crate: int, owner: str, field_name: str, method: str) -> FnRef | None:
        structs = self.types.get((crate, owner), [])
        if len(structs) != 1:
            return None
        (struct,) = structs
        declared = dict(struct.fields).get(field_name)
        if declared is None:
            return None
        module = self._type_module.get(id(struct))
        if module is None:
            return None
        target = self._lookup_path(module, declared, "type")
        if target is None or target[0] != "type":
            return None
        type_crate, type_name = target[1]
        return self._method(type_crate, type_name, method)

    def _path(
        self, module: ModuleKey, segments: tuple[str, ...], function: Function
    ) -> FnRef | None:
        if segments[0] == "Self":
            if function.owner is None or len(segments) != 2:
                return None
            return self._method(module[0], function.owner, segments[1], function.in_trait)
        if len(segments) == 1:
            found = self._lookup(module, segments[0], "value", 0)
            return found[1] if found is not None and found[0] == "fn" else None
        owner = self._lookup_path(module, segments[:-1], "type")
        if owner is None:
            return None
        kind, value = owner
        if kind == "module":
            found = self._lookup(value, segments[-1], "value", 0)
            return found[1] if found is not None and found[0] == "fn" else None
        if kind == "type":
            type_crate, type_name = value
            return self._method(type_crate, type_name, segments[-1])
        return None

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

    def _lookup(self, module: ModuleKey, name: str, want: str, depth: int) -> Definition | None:
        """One name in one module's scope: declared, else imported by name,
        else by exactly one glob; None when unknown or ambiguous."""
        if depth > _USE_DEPTH:
            return None
        scope = self.scopes.get(module)
        if scope is None:
            return None
        declared = self._declared(module, scope, name, want)
        if declared is not None:
            return declared if declared != ("ambiguous", None) else None
        if name in scope.uses:
            found = {self._lookup_path(module, path, want, depth + 1) for path in scope.uses[name]}
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
            functions = scope.functions.get(name, [])
            if len(functions) > 1:
                return ("ambiguous", None)
            return ("fn", functions[0]) if functions else None
        if name in scope.modules:
            return ("module", scope.modules[name])
        types = scope.types.get(name, [])
        if len(types) > 1:
            return ("ambiguous", None)
        if types:
            return None if types[0].kind == "trait" else ("type", (module[0], name))
        return None

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


def _only(found: Sequence[FnRef]) -> FnRef | None:
    return found[0] if len(found) == 1 else None
