"""Can this lock be poisoned? Only if something that can panic runs while it is held.

A std `Mutex` or `RwLock` is poisoned by a panic while one of its guards is
alive (for an `RwLock`, a write guard): `m.lock().unwrap()` panics only then.
When no critical section of the lock can panic, the lock is never poisoned
and the unwrap cannot fail. This module answers that question where every
critical section is in view, and says "unknown" (None) everywhere else.

In view means: the lock is a field (`self.x`, `self.a.x`, or `m` after
`let m = &self.x;`) of a struct this file declares (the owner read off
`self`'s impl and the declared types of fields and variables: `self.conn.inner`
may be another file's struct's `inner`), every declaration of that field name
in the file is a struct field of a std lock type with no `pub` of any kind,
and the file hands none of its modules to another file (`mod x;`), so the
field's every use is in this file. Each place the file names the field must then be bounded:

1. Sites. A field name is a declaration, an initialiser (`x: Mutex::new(..)`),
   a poison-free access (`get_mut`, `into_inner`, `is_poisoned`), an alias
   (`let m = &self.x;`, whose uses must all be acquisitions), or an
   acquisition (`.lock()`, `.read()`, `.write()`); anything else (the field
   handed to a function, cloned, named in a macro) is unbounded.
2. Critical sections. A guard bound by `let g = ..` is held from that
   statement to the end of its block, or to an unconditional `drop(g);` in
   it; it may only be used in place (`g.push(..)`, `*g = ..`, `&g`), dropped,
   or handed to a condvar's `wait*` (which gives it back: assigned to `g`
   again, or bound by a `let` that is a guard in turn). A temporary guard is
   held to the end of its statement (to the end of the block when
   `let r = &*m.lock()..` extends it, through the block's statement when it
   is a block's tail), and must be used in place. A guard returned, stored
   or passed to a function is unbounded.
3. Panics. A section can panic unless all of it is on an allow-list: paths,
   literals, field reads and assignments, comparisons and the operators that
   cannot overflow (shifts and divisions by a constant too), control flow,
   the methods `SAFE_METHODS` names (`Option`, `Vec`, maps, atomics,
   `Condvar::notify_*`; not a channel `send`, which may wake a task), `drop`,
   `mem::replace/take/swap`,
   constructors (`Some(..)`, `Kind::Variant(..)`), the unwrap of this lock's
   own acquisition or `wait` (it panics only when the lock is already
   poisoned) or of another lock this module clears, and a call to a function
   of this file (not a trait's) when every `fn` of that name in the file
   passes the same test. Anything else can panic: a closure, a waker's
   `wake()`, an index, arithmetic, a macro, `?`, `.await`, FFI, a trait
   method. (Destructors that assignments and `drop` run are not followed.)
   An `RwLock`'s read sections do not count: a reader's panic does not
   poison it.

Everything is found by searching the field's and the guards' names
(`FileContext.occurrences`); each statement and each function is judged once
per lock, so the cost is linear in the file.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from tree_sitter import Node

from rules.rust.bindings import origin
from rules.rust.context import FileContext
from rules.rust.guards import handed_value
from rules.rust.locals import binding_of
from rules.rust.parsing import (
    bare_method_call,
    enclosing,
    field_text,
    text,
    type_name,
    unparenthesized,
)

ACQUIRE = frozenset({"lock", "read", "write"})
# Condvar's waits take the guard and give it back (the closure runs under the lock)
_WAITS = frozenset({"wait", "wait_while", "wait_timeout", "wait_timeout_while", "wait_timeout_ms"})
_UNWRAPS = frozenset({"unwrap", "expect"})
# a field access that takes no lock (`&mut self` proves there is no other user)
_UNLOCKED = frozenset({"get_mut", "into_inner", "is_poisoned", "clear_poison"})
# methods that cannot panic, whatever std type has them (`insert`/`remove` only on maps)
SAFE_METHODS = frozenset(
    {
        # Option, Vec, VecDeque, maps, sets, slices
        "push", "pop", "push_back", "push_front", "pop_back", "pop_front", "take", "replace",
        "is_some", "is_none", "is_ok", "is_err", "ok", "err", "len", "is_empty", "clear",
        "get", "get_mut", "contains_key", "first", "last", "peek", "as_ref", "as_mut",
        "as_deref", "as_deref_mut", "truncate", "unwrap_or", "iter", "iter_mut", "keys",
        "values",
        # atomics (the orderings are the programmer's, checked the first time they run)
        "load", "store", "swap", "compare_exchange", "compare_exchange_weak",
        "compare_and_swap", "fetch_add", "fetch_sub", "fetch_and", "fetch_or", "fetch_xor",
        "fetch_nand", "fetch_max", "fetch_min",
        # integers that wrap or saturate instead of overflowing
        "wrapping_add", "wrapping_sub", "wrapping_mul", "saturating_add", "saturating_sub",
        "saturating_mul", "checked_add", "checked_sub", "checked_mul", "overflowing_add",
        "overflowing_sub",
        # Condvar, Thread, a channel's `try_recv` (a `send` may wake a waker: not here)
        "notify_one", "notify_all", "unpark", "try_recv",
    }
)  # fmt: skip
_MAP_METHODS = frozenset({"insert", "remove"})  # `Vec::insert(i, ..)` panics out of bounds
_MAP_TYPE = re.compile(r"\b(Hash|BTree|Index)(Map|Set)\b")
# paths that cannot panic, after `std::`/`core::`/`alloc::`
_SAFE_PATHS = frozenset(
    {
        "drop", "mem::drop", "mem::replace", "mem::take", "mem::swap", "ptr::null",
        "ptr::null_mut", "Box::new", "Arc::new", "Arc::clone", "Rc::new", "Rc::clone",
        "Vec::new", "VecDeque::new", "HashMap::new", "HashSet::new", "BTreeMap::new",
        "String::new",
    }
)  # fmt: skip
_DROPS = frozenset({"drop", "mem::drop"})
# methods of std's traits and callables: the file's `fn` of that name is not
# the one a call on a waker, a closure or another type's value runs
_TRAIT_METHODS = frozenset(
    {
        "wake", "wake_by_ref", "call", "call_mut", "call_once", "clone", "next", "poll",
        "poll_next", "fmt", "eq", "ne", "cmp", "partial_cmp", "hash", "deref", "deref_mut",
        "borrow", "borrow_mut", "into", "from", "try_into", "try_from", "default", "drop",
        "write", "read", "flush", "extend", "index", "index_mut",
    }
)  # fmt: skip
# `<` and `>` are comparisons; `<<`, `>>` and arithmetic overflow (a panic in debug builds)
_SAFE_OPERATORS = frozenset({"==", "!=", "<", ">", "<=", ">=", "&&", "||", "&", "|", "^"})
_SAFE_ASSIGNMENTS = frozenset({"&=", "|=", "^="})
# overflow only for some right operands, which rustc rejects when they are constant
_BY_CONSTANT = frozenset({">>", "<<", "/", "%", ">>=", "<<=", "/=", "%="})
_CONSTANT_NAME = re.compile(r"^(?:[A-Za-z_]\w*::)*[A-Z][A-Z0-9_]*$")
# nodes that run nothing
_INERT = frozenset(
    {
        "identifier", "self", "field_identifier", "scoped_identifier", "integer_literal",
        "float_literal", "string_literal", "raw_string_literal", "char_literal",
        "boolean_literal", "unit_expression", "line_comment", "block_comment",
        "attribute_item", "empty_statement", "label",
        # items written inside a body run only when called
        "use_declaration", "function_item", "const_item", "static_item", "struct_item",
        "enum_item", "impl_item",
    }
)  # fmt: skip
# nodes that run what their parts run (the parts that are code, by field)
_PARTS: dict[str, tuple[str, ...] | None] = {
    "let_declaration": ("value", "alternative"),
    "let_condition": ("value",),
    "closure_expression": ("body",),
    "type_cast_expression": ("value",),
    "field_initializer": ("value",),
    "struct_expression": ("body",),
    "match_arm": ("pattern", "value"),
    "match_pattern": ("condition",),
    **dict.fromkeys(
        (
            "block", "expression_statement", "parenthesized_expression", "reference_expression",
            "field_expression", "assignment_expression", "if_expression", "else_clause",
            "let_chain", "match_expression", "match_block", "while_expression",
            "loop_expression", "break_expression", "continue_expression", "return_expression",
            "tuple_expression", "array_expression", "field_initializer_list",
            "shorthand_field_initializer", "base_field_initializer", "unsafe_block",
            "arguments",
        ),
        None,  # every named child
    ),
}  # fmt: skip
_STD_LOCK = re.compile(
    r"^(?:(?:(?:std|alloc)::)?(?:sync::)?Arc<)?((?:(?:std|alloc)::)?(?:sync::)?(Mutex|RwLock))<"
)
_INTO_INNER = re.compile(r"^\|(\w+)\|\1\.into_inner\(\)$")
_HOPS = 8  # calls into the file's functions followed from a critical section
_SMART_POINTER = re.compile(r"(?:(?:std|alloc)::)?(?:sync::|rc::|boxed::)?(?:Arc|Rc|Box)<")


@dataclass(slots=True)
class _Lock:
    """One lock field being judged: its acquisitions, and what has been read
    of its sections, each once (statement -> can panic; a block -> the index
    of the first statement from each one that can panic, its `drop(g);`
    statements; a block and a name -> the unsafe uses)."""

    ctx: FileContext
    read_only: frozenset[str]  # acquisitions that cannot poison it (`read` of an RwLock)
    # its acquisition calls, and those of other locks that are never poisoned
    acquisitions: set[int] = field(default_factory=set)
    statements: dict[int, bool] = field(default_factory=dict)
    blocks: dict[int, tuple[list[int], list[int]]] = field(default_factory=dict)
    drops: dict[int, dict[str, list[Node]]] = field(default_factory=dict)
    uses: dict[tuple[int, str], list[int]] = field(default_factory=dict)
    rebound: list[Node] = field(default_factory=list)  # `let g2 = cv.wait(g)..;` to judge
    seen: set[int] = field(default_factory=set)


def unpoisonable(ctx: FileContext, receiver: Node) -> str | None:
    """The field `receiver` (of `receiver.lock()`) names when that lock can
    never be poisoned (see the module's page); None when it may be or when
    the file does not show every critical section of it."""
    name = _field_of(ctx, receiver)
    if name is None:
        return None
    verdicts: dict[str, bool] = ctx.memo(_lock_verdicts)
    if name not in verdicts:
        verdicts[name] = False  # while judging it, its own sections are no proof
        verdicts[name] = _never_poisoned(ctx, name)
    return name if verdicts[name] else None


def _lock_verdicts(ctx: FileContext) -> dict[str, bool]:
    return {}


def _field_of(ctx: FileContext, receiver: Node) -> str | None:
    """`self.a.x` -> `x`; `m` bound by `let m = &self.x;` -> `x`."""
    access = unparenthesized(receiver)
    if access is not None and access.type == "identifier":
        binding = binding_of(access, ctx.root)
        if binding is None or binding.pattern is None or binding.pattern.type != "identifier":
            return None
        value = binding.value
        if value is None or value.type != "reference_expression":
            return None
        access = unparenthesized(value.child_by_field_name("value"))
    if access is None or access.type != "field_expression":
        return None
    name = access.child_by_field_name("field")
    if name is None or name.type != "field_identifier":
        return None
    owner = _type_of(ctx, access.child_by_field_name("value"))
    fields = ctx.memo(_struct_fields).get(owner or "", {})
    return text(name) if text(name) in fields else None


def _type_of(ctx: FileContext, value: Node | None, depth: int = 4) -> str | None:
    """The struct `value` is, when the file shows it: `self` in an `impl T`,
    a field of such a struct declared with a type of this file (through `&`,
    `Arc`, `Rc`, `Box`), a variable declared with one; None otherwise (then
    `value.x` may be another file's struct's field of the same name)."""
    value = unparenthesized(value)
    if value is None or depth == 0:
        return None
    if value.type == "self":
        impl = enclosing(value, ctx.root, {"impl_item"})
        target = impl.child_by_field_name("type") if impl is not None else None
        return type_name(target) if target is not None else None
    if value.type == "field_expression":
        owner = _type_of(ctx, value.child_by_field_name("value"), depth - 1)
        declared = ctx.memo(_struct_fields).get(owner or "", {}).get(field_text(value, "field"))
        return _named_type(declared) if declared is not None else None
    if value.type == "identifier":
        binding = binding_of(value, ctx.root)
        written = binding.type if binding is not None else None
        return _named_type(text(written)) if written is not None else None
    return None


def _named_type(declared: str) -> str:
    """`&Arc<WorkerData>` -> `WorkerData`, `Box<a::Node<T>>` -> `Node`."""
    rest = re.sub(r"\s+|&|'\w+|\bmut\b|\bdyn\b", "", declared)
    while (wrapped := _SMART_POINTER.match(rest)) is not None:
        rest = rest[wrapped.end() :]
    path = re.match(r"[\w:]*", rest)
    return path.group().rsplit("::", 1)[-1] if path is not None else ""


def _struct_fields(ctx: FileContext) -> dict[str, dict[str, str]]:
    """Struct name -> its named fields' declared types, for this file's structs."""
    found: dict[str, dict[str, str]] = {}
    for struct in ctx.holders(("struct",), ("struct",), {"struct_item"}):
        fields = found.setdefault(field_text(struct, "name"), {})
        body = struct.child_by_field_name("body")
        for declaration in body.named_children if body is not None else []:
            name, declared = (declaration.child_by_field_name(f) for f in ("name", "type"))
            if declaration.type == "field_declaration" and name is not None:
                fields[text(name)] = text(declared)
    return found


def _never_poisoned(ctx: FileContext, name: str) -> bool:
    """Every naming of the field `name` in the file is bounded (1.), and no
    critical section of it can panic (2., 3.)."""
    kinds = _declared_locks(ctx, name)
    if not kinds or _hands_modules_out(ctx):
        return False
    read_only = frozenset({"read"}) if kinds == {"RwLock"} else frozenset()
    lock = _Lock(ctx, read_only)
    sites: list[Node] = []
    namings = {"field_identifier", "shorthand_field_identifier", "identifier"}
    for node in ctx.occurrences((name,), namings):
        above = ctx.parent(node)
        if node.type == "identifier" and above is not None and above.type != "token_tree":
            continue  # a variable or a function of that name, not the field
        found = _sites_of(ctx, node)  # a macro's tokens (`println!("{:?}", self.x)`): None
        if found is None:
            return False
        sites.extend(found)
    for call in sites:
        lock.acquisitions.add(call.id)
    if not all(_section_is_safe(lock, call) for call in sites):
        return False
    while lock.rebound:  # guards a condvar's `wait*` gave back to a new `let`
        if not _guard_is_safe(lock, lock.rebound.pop()):
            return False
    return True


def _declared_locks(ctx: FileContext, name: str) -> set[str]:
    """`{"Mutex"}`, `{"RwLock"}` (or both) when every struct field of this
    file named `name` is a private std lock (`Arc`-wrapped or not); else empty."""
    kinds: set[str] = set()
    for node in ctx.occurrences((name,), {"field_identifier"}):
        declaration = ctx.parent(node)
        if declaration is None or declaration.type != "field_declaration":
            continue
        declared = declaration.child_by_field_name("type")
        visible = any(child.type == "visibility_modifier" for child in declaration.children)
        matched = _STD_LOCK.match(re.sub(r"\s+", "", text(declared)))
        if visible or matched is None or not _is_std(ctx, matched.group(1), matched.group(2)):
            return set()
        kinds.add(matched.group(2))
    return kinds


def _is_std(ctx: FileContext, path: str, kind: str) -> bool:
    """`Mutex` means std's unless imported from elsewhere or declared here."""
    resolved = ctx.resolve(path)
    if resolved == kind:
        return kind not in ctx.memo(_declared_types)
    return resolved.removeprefix("std::").removeprefix("alloc::") == f"sync::{kind}"


def _declared_types(ctx: FileContext) -> set[str]:
    """Names of the structs, enums, unions and traits this file declares, and
    of the types it implements methods for."""
    keywords = ("struct", "enum", "union", "trait")
    items = ctx.holders(
        keywords, keywords, {"struct_item", "enum_item", "union_item", "trait_item"}
    )
    names = {field_text(item, "name") for item in items}
    for impl in ctx.holders(("impl",), ("impl",), {"impl_item"}):
        target = impl.child_by_field_name("type")
        if target is not None:
            names.add(type_name(target))
    return names


def _hands_modules_out(ctx: FileContext) -> bool:
    """A `mod x;` outside test code: private fields are visible in that file."""
    for module in ctx.holders(("mod",), ("mod",), {"mod_item"}):
        if module.child_by_field_name("body") is None and not ctx.is_test(module):
            return True
    return False


def _sites_of(ctx: FileContext, name: Node) -> list[Node] | None:
    """The acquisitions one naming of the field leads to ([] for a
    declaration, an initialiser or an unlocked access), None when it is a use
    that cannot be bounded."""
    above = ctx.parent(name)
    if above is None:
        return None
    if above.type in {"field_declaration", "field_initializer"}:
        return (
            []
            if above.child_by_field_name("name" if above.type[-1] == "n" else "field") == name
            else None
        )
    if above.type != "field_expression" or above.child_by_field_name("field") != name:
        return None
    acquired = _acquisition(ctx, above)
    if acquired is not None:
        return [acquired] if acquired.type == "call_expression" else []
    holder = ctx.parent(above)
    let = ctx.parent(holder) if holder is not None else None
    if (
        holder is None
        or holder.type != "reference_expression"
        or let is None
        or let.type != "let_declaration"
        or let.child_by_field_name("value") != holder
    ):
        return None
    return _alias_sites(ctx, let)


def _acquisition(ctx: FileContext, lock: Node) -> Node | None:
    """The call when `lock` is the receiver of `.lock()`/`.read()`/`.write()`,
    the method's name node for an unlocked access (`get_mut`), else None."""
    method = ctx.parent(lock)
    call = ctx.parent(method) if method is not None else None
    if method is None or method.type != "field_expression" or call is None:
        return None
    if call.type != "call_expression" or call.child_by_field_name("function") != method:
        return None
    called = field_text(method, "field")
    arguments = call.child_by_field_name("arguments")
    if called in _UNLOCKED:
        return method
    if called in ACQUIRE and arguments is not None and arguments.named_child_count == 0:
        return call
    return None


def _alias_sites(ctx: FileContext, let: Node) -> list[Node] | None:
    """`let m = &self.x;`: every later use of `m` in its block must lock it."""
    pattern = let.child_by_field_name("pattern")
    block = ctx.parent(let)
    if pattern is None or pattern.type != "identifier" or block is None:
        return None
    sites = []
    for use in ctx.occurrences((text(pattern),), {"identifier"}, [(let.end_byte, block.end_byte)]):
        acquired = _acquisition(ctx, use)
        if acquired is None or acquired.type != "call_expression":
            return None
        sites.append(acquired)
    return sites


# -- critical sections --------------------------------------------------------


def _section_is_safe(lock: _Lock, call: Node) -> bool:
    """Nothing that can panic runs while the guard `call` acquires is held."""
    if field_text(call.child_by_field_name("function") or call, "field") in lock.read_only:
        return True
    ctx = lock.ctx
    value = handed_value(call)
    holder = ctx.parent(value)
    if holder is None:
        return False
    if holder.type == "let_declaration" and holder.child_by_field_name("value") == value:
        return _guard_is_safe(lock, holder)
    if not _used_in_place(ctx, value, holder):
        return False
    statement, extended = _statement_of(ctx, value)
    if statement is None:
        return False
    if extended:
        return _statements_are_safe(lock, statement, None)
    return not _can_panic(lock, statement)


def _used_in_place(ctx: FileContext, value: Node, holder: Node) -> bool:
    """The guard (or an expression yielding it) is read where it stands,
    dropped or discarded: not moved into something that outlives the statement."""
    if holder.type == "field_expression":
        return holder.child_by_field_name("value") == value
    if holder.type == "unary_expression":
        return text(holder.children[0]) == "*"
    if holder.type in {"reference_expression", "expression_statement"}:
        return True
    if holder.type == "arguments":
        return _is_drop_call(ctx, ctx.parent(holder))
    if holder.type == "let_declaration":  # `let _ = m.lock()`
        pattern = holder.child_by_field_name("pattern")
        return pattern is not None and text(pattern) == "_"
    return False


def _statement_of(ctx: FileContext, node: Node) -> tuple[Node | None, bool]:
    """The statement a temporary in `node` lives to the end of, and whether a
    `let` extends it to the end of the block (`let r = &*m.lock().unwrap();`).
    A block's tail expression keeps its temporaries to the end of the
    statement holding the block; a function's or closure's body ends them."""
    referenced = False
    current = node
    while True:
        above = ctx.parent(current)
        if above is None or above.type in {"function_item", "closure_expression"}:
            return current, False
        if above.type == "reference_expression":
            referenced = True
        if above.type == "block":
            if current.type in {"expression_statement", "let_declaration"}:
                extended = current.type == "let_declaration" and referenced
                return current, extended
            owner = ctx.parent(above)
            if owner is None or owner.type in {"function_item", "closure_expression"}:
                return current, False
        current = above


def _guard_is_safe(lock: _Lock, let: Node) -> bool:
    """`let g = m.lock()..;`: its section, and every use of `g` in it, are safe."""
    ctx = lock.ctx
    pattern = let.child_by_field_name("pattern")
    block = ctx.parent(let)
    if pattern is None or block is None or block.type != "block":
        return False
    if text(pattern) == "_":
        return not _can_panic(lock, let)
    if pattern.type != "identifier":
        return False
    name = text(pattern)
    drops = _drops(lock, block).get(name, [])
    later = bisect.bisect_left(drops, let.end_byte, key=lambda statement: statement.start_byte)
    end = drops[later] if later < len(drops) else None
    if not _statements_are_safe(lock, let, end):
        return False
    last = end.end_byte if end is not None else block.end_byte
    unsafe = _unsafe_uses(lock, block, name)
    return bisect.bisect_left(unsafe, let.end_byte) == bisect.bisect_right(unsafe, last)


def _drops(lock: _Lock, block: Node) -> dict[str, list[Node]]:
    """The statements `drop(g);` of a block, by the name dropped, in order:
    each ends that guard's section. Read once per block."""
    if block.id not in lock.drops:
        found: dict[str, list[Node]] = {}
        for statement in block.named_children:
            call = statement.named_children[0] if statement.type == "expression_statement" else None
            if call is None or call.type != "call_expression":
                continue
            function, arguments = (call.child_by_field_name(f) for f in ("function", "arguments"))
            moved = arguments.named_children if arguments is not None else []
            if _drop_path(text(function)) and len(moved) == 1 and moved[0].type == "identifier":
                found.setdefault(text(moved[0]), []).append(statement)
        lock.drops[block.id] = found
    return lock.drops[block.id]


def _unsafe_uses(lock: _Lock, block: Node, name: str) -> list[int]:
    """Where `name` is used in the block other than as a guard may be (see
    `_guard_use_is_safe`), in order. Read once per block and name."""
    key = (block.id, name)
    if key not in lock.uses:
        uses = lock.ctx.occurrences((name,), {"identifier"}, [(block.start_byte, block.end_byte)])
        lock.uses[key] = [use.start_byte for use in uses if not _guard_use_is_safe(lock, use, name)]
    return lock.uses[key]


def _guard_use_is_safe(lock: _Lock, use: Node, name: str) -> bool:
    """`g` is read in place, re-assigned, dropped, or handed to a condvar's
    `wait*` as its first argument, whose result goes back into `g` or into
    a new guard whose own section is safe."""
    ctx = lock.ctx
    holder = ctx.parent(use)
    if holder is None:
        return False
    if holder.type == "index_expression" or _used_in_place(ctx, use, holder):
        return True
    if holder.type == "let_declaration" and holder.child_by_field_name("pattern") == use:
        return True  # a new variable of that name (the guard is still held)
    if holder.type == "assignment_expression":
        return holder.child_by_field_name("left") == use
    if holder.type != "arguments" or holder.named_children[0] != use:
        return False
    call = ctx.parent(holder)
    function = call.child_by_field_name("function") if call is not None else None
    if call is None or function is None or function.type != "field_expression":
        return False
    if field_text(function, "field") not in _WAITS:
        return False
    value = handed_value(call)
    target = ctx.parent(value)
    if target is None:
        return False
    if target.type == "assignment_expression":
        left = target.child_by_field_name("left")
        return target.child_by_field_name("right") == value and text(left) == name
    if target.type == "let_declaration" and target.child_by_field_name("value") == value:
        if target.id not in lock.seen:  # judged once all uses of its name are read
            lock.seen.add(target.id)
            lock.rebound.append(target)
        return True
    return target.type == "expression_statement"


def _statements_are_safe(lock: _Lock, first: Node, last: Node | None) -> bool:
    """The statements of one block from `first` to `last` (its end when None)
    cannot panic. Each block's statements are judged once for the lock."""
    block = lock.ctx.parent(first)
    if block is None:
        return False
    if block.id not in lock.blocks:
        lock.blocks[block.id] = _first_panics(lock, block.named_children)
    starts, firsts = lock.blocks[block.id]
    start = bisect.bisect_left(starts, first.start_byte)
    stop = bisect.bisect_left(starts, last.start_byte) if last is not None else len(starts) - 1
    return firsts[start] > stop


def _first_panics(lock: _Lock, statements: list[Node]) -> tuple[list[int], list[int]]:
    """The statements' start bytes and, for each, the index of the first one
    from it that can panic (`len(statements)` when none does)."""
    firsts = [len(statements)] * (len(statements) + 1)
    for index in range(len(statements) - 1, -1, -1):
        panics = _can_panic(lock, statements[index])
        firsts[index] = index if panics else firsts[index + 1]
    return [statement.start_byte for statement in statements], firsts[: len(statements)]


# -- what can panic -----------------------------------------------------------


def _can_panic(lock: _Lock, node: Node, hops: int = 0) -> bool:
    """True unless everything `node` runs is on the allow-list (module page);
    the lock's own acquisitions and their unwraps are exempt."""
    known = lock.statements.get(node.id)
    if known is not None:
        return known
    stack = [node]
    panics = False
    while stack and not panics:
        current = stack.pop()
        parts = _runs(lock, current, hops)
        if parts is None:
            panics = True
        else:
            stack.extend(parts)
    lock.statements[node.id] = panics
    return panics


def _runs(lock: _Lock, node: Node, hops: int) -> list[Node] | None:
    """The parts of `node` that run code, or None when `node` itself may panic."""
    kind = node.type
    if kind in _INERT:
        return []
    if kind in _PARTS:
        names = _PARTS[kind]
        if names is None:
            return node.named_children
        return [part for name in names if (part := node.child_by_field_name(name)) is not None]
    if kind == "unary_expression":
        operand = node.named_children[-1] if node.named_children else None
        sign = text(node.children[0]) if node.children else ""
        if sign in {"!", "*"} or (operand is not None and operand.type.endswith("literal")):
            return node.named_children
        return None
    if kind in {"binary_expression", "compound_assignment_expr"}:
        operator = text(node.child_by_field_name("operator"))
        right = node.child_by_field_name("right")
        if operator in _SAFE_OPERATORS or operator in _SAFE_ASSIGNMENTS:
            return node.named_children
        if operator in _BY_CONSTANT and right is not None and _constant(right):
            return node.named_children  # `val >> (BITS / 2)`, `n / 2`
        if kind == "binary_expression" and _constant(node):
            return []  # `BITS / 2`: rustc rejects a constant that overflows
        return None
    if kind == "call_expression":
        return _call_runs(lock, node, hops)
    return None


def _constant(node: Node) -> bool:
    """An expression of integer literals and `CONSTANTS` (`BITS / 2`)."""
    node = unparenthesized(node) or node
    if node.type == "integer_literal":
        return True
    if node.type in {"identifier", "scoped_identifier"}:
        return _CONSTANT_NAME.match(text(node)) is not None
    if node.type == "binary_expression":
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        return left is not None and right is not None and _constant(left) and _constant(right)
    return False


def _call_runs(lock: _Lock, call: Node, hops: int) -> list[Node] | None:
    function = call.child_by_field_name("function")
    arguments = call.child_by_field_name("arguments")
    args = arguments.named_children if arguments is not None else []
    if function is None:
        return None
    if function.type == "field_expression":
        receiver = function.child_by_field_name("value")
        method = field_text(function, "field")
        parts = [receiver, *args] if receiver is not None else args
        if _own(lock, call, method, receiver):
            return [receiver] if method == "unwrap_or_else" and receiver is not None else parts
        if method in SAFE_METHODS:
            return parts
        if method in _MAP_METHODS and receiver is not None:
            return parts if _is_map(lock, receiver) else None
        if method in _WAITS and args and _is_guard(lock, args[0]):
            return [receiver, *args[1:]] if receiver is not None else args[1:]
        if method in _TRAIT_METHODS:
            return None
        return parts if _declared_safe(lock.ctx, method, hops) else None
    if function.type == "generic_function":
        function = function.child_by_field_name("function") or function
    if function.type not in {"identifier", "scoped_identifier"}:
        return None  # `(self.create)()`, `callbacks[i]()`
    path = re.sub(r"\s+", "", text(function))
    last = path.rsplit("::", 1)[-1]
    ctx = lock.ctx
    if _safe_path(ctx.resolve(path)) or last[:1].isupper():
        return args
    if function.type == "identifier" and binding_of(function, ctx.root) is not None:
        return None  # a local closure or fn pointer
    if _in_this_file(ctx, path) and _declared_safe(ctx, last, hops):
        return args
    return None


def _own(lock: _Lock, call: Node, method: str, receiver: Node | None) -> bool:
    """This lock's acquisition, or the unwrap of it or of a `wait*` on its
    guard (which panics only when the lock is already poisoned), or of
    another lock that is never poisoned; or taking its guard from the
    `PoisonError` (which never panics)."""
    if call.id in lock.acquisitions:
        return True
    inner = unparenthesized(receiver)
    if inner is None or inner.type != "call_expression":
        return False
    if method == "unwrap_or_else" and inner.id in lock.acquisitions:
        return _recovers(call)
    if method not in _UNWRAPS:
        return False
    if inner.id in lock.acquisitions:
        return True
    other = bare_method_call(inner)
    if other is not None and other[1] in ACQUIRE and unpoisonable(lock.ctx, other[0]):
        lock.acquisitions.add(inner.id)  # another lock that is never poisoned either
        return True
    waited = inner.child_by_field_name("function")
    arguments = inner.child_by_field_name("arguments")
    first = arguments.named_children[0] if arguments and arguments.named_children else None
    return (
        waited is not None
        and waited.type == "field_expression"
        and field_text(waited, "field") in _WAITS
        and first is not None
        and _is_guard(lock, first)
    )


def _recovers(call: Node) -> bool:
    """`.unwrap_or_else(PoisonError::into_inner)`, `.unwrap_or_else(|e| e.into_inner())`:
    the guard of a poisoned lock, taken anyway."""
    arguments = call.child_by_field_name("arguments")
    handler = arguments.named_children if arguments is not None else []
    written = re.sub(r"\s+", "", text(handler[0])) if len(handler) == 1 else ""
    return written.endswith("PoisonError::into_inner") or _INTO_INNER.match(written) is not None


def _is_guard(lock: _Lock, name: Node, depth: int = 4) -> bool:
    """`name` is bound by `let` to a guard of this lock: its acquisition, or
    what a condvar's `wait*` gave back for such a guard (through unwraps)."""
    binding = binding_of(name, lock.ctx.root) if name.type == "identifier" else None
    value = binding.value if binding is not None and binding.pattern is not None else None
    while value is not None and value.type == "call_expression" and depth > 0:
        if value.id in lock.acquisitions:
            return True
        function = value.child_by_field_name("function")
        if function is None or function.type != "field_expression":
            return False
        method = field_text(function, "field")
        arguments = value.child_by_field_name("arguments")
        if method in _WAITS and arguments is not None and arguments.named_children:
            return _is_guard(lock, arguments.named_children[0], depth - 1)
        if method not in _UNWRAPS:
            return False
        value = unparenthesized(function.child_by_field_name("value"))
        depth -= 1
    return False


def _is_map(lock: _Lock, receiver: Node) -> bool:
    """The receiver is declared a map or a set (`insert`/`remove` cannot panic)."""
    return any(_MAP_TYPE.search(declared) for declared in origin(lock.ctx, receiver).declared)


def _safe_path(resolved: str) -> bool:
    for prefix in ("std::", "core::", "alloc::"):
        resolved = resolved.removeprefix(prefix)
    return resolved in _SAFE_PATHS


def _drop_path(path: str) -> bool:
    for prefix in ("std::", "core::"):
        path = path.removeprefix(prefix)
    return path in _DROPS


def _is_drop_call(ctx: FileContext, call: Node | None) -> bool:
    function = call.child_by_field_name("function") if call is not None else None
    return function is not None and _drop_path(ctx.resolve(text(function)))


def _in_this_file(ctx: FileContext, path: str) -> bool:
    """`f`, `Self::f`, `self::f`, `T::f` for a type this file declares: a
    function the file may hold (not `ffi::close`, not another crate's)."""
    head = path.rpartition("::")[0]
    if not head:
        return path not in ctx.imports
    if "::" in head:
        return False
    return head in {"Self", "self"} or head in ctx.memo(_declared_types)


# -- the file's functions ----------------------------------------------------


def _declared_safe(ctx: FileContext, name: str, hops: int) -> bool:
    """Every `fn name` of this file (outside test code) is declared with a
    body, none as a trait's signature or in a trait's impl, and none can panic. A call reaching
    back into a function being judged counts as a panic (recursion)."""
    if hops >= _HOPS:
        return False
    judged: dict[str, bool] = ctx.memo(_function_verdicts)
    if name not in judged:
        judged[name] = False  # while judging it, a call back to it is no proof
        judged[name] = _functions_are_safe(ctx, name, hops)
    return judged[name]


def _function_verdicts(ctx: FileContext) -> dict[str, bool]:
    return {}


def _functions_are_safe(ctx: FileContext, name: str, hops: int) -> bool:
    bodies = []
    for node in ctx.occurrences((name,), {"identifier"}):
        item = ctx.parent(node)
        if item is None or item.child_by_field_name("name") != node:
            continue
        if item.type == "function_signature_item":
            return False
        if item.type == "function_item" and not ctx.is_test(item):
            body = item.child_by_field_name("body")
            if body is None or _implements_a_trait(ctx, item):
                return False  # other impls of the trait, elsewhere, may be the one called
            bodies.append(body)
    unlocked = _Lock(ctx, frozenset())  # a callee's own locks are not exempt
    return bool(bodies) and not any(_can_panic(unlocked, body, hops + 1) for body in bodies)


def _implements_a_trait(ctx: FileContext, function: Node) -> bool:
    """`fn` of an `impl Trait for T`."""
    body = ctx.parent(function)
    impl = ctx.parent(body) if body is not None and body.type == "declaration_list" else None
    return (
        impl is not None
        and impl.type == "impl_item"
        and impl.child_by_field_name("trait") is not None
    )
