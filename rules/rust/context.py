"""What rules need to know about one parsed file, computed lazily.

A rule asks the context questions ("is this node test code?", "which functions
does Drop reach?", "what does `task::spawn` name?") instead of re-deriving the
answers; each answer is computed at most once per file and only when some rule
asks, so files without `impl Drop` never pay for the call graph.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar, cast

from tree_sitter import Node, Tree

from rules.rust import cfg
from rules.rust.parsing import (
    Ancestry,
    Lines,
    Nesting,
    ancestors,
    field_text,
    is_deep,
    parse,
    type_name,
)
from rules.rust.parsing import text as node_text

T = TypeVar("T")
# (context, a node, the function holding it) -> True when the rule excuses the
# node, e.g. code on a thread of its own; module-level functions, so that the
# scopes reached without excused calls are computed once per file for each
Excused = Callable[["FileContext", Node, Node], bool]
TEST_DIRS = frozenset({"tests", "benches", "examples"})
_TEST_ATTR = re.compile(r"^#\[\s*(?:[A-Za-z_]\w*\s*::\s*)*test\b")
ITEM_TYPES = frozenset(
    {
        "function_item",
        "impl_item",
        "mod_item",
        "trait_item",
        "struct_item",
        "enum_item",
        "const_item",
        "static_item",
        "macro_definition",
    }
)

# the items `item_path` names by keyword and name (impls get their own label)
_ITEM_KEYWORDS = {"function_item": "fn", "mod_item": "mod", "trait_item": "trait"}
_LABELLED = frozenset({*_ITEM_KEYWORDS, "impl_item"})
_ITEM_WORDS = ("fn", "impl", "mod", "trait")  # each the keyword of one of them
_ATTRIBUTE_PARTS = frozenset({"token_tree", "attribute", "scoped_identifier"})
NAME_TYPES = frozenset({"identifier", "field_identifier", "type_identifier"})
_NAMING = frozenset({"identifier", "type_identifier"})  # how code names a type or value
# `impl Drop` and pin-project's `#[pinned_drop] impl PinnedDrop`
DROP_TRAITS = frozenset({"Drop", "PinnedDrop"})


def is_test_path(path: str) -> bool:
    """Files under tests/, benches/ or examples/ are test code as a whole."""
    return any(part in TEST_DIRS for part in path.replace("\\", "/").split("/")[:-1])


def is_drop_trait(resolved: str) -> bool:
    """`Drop`, `std::ops::Drop`, `PinnedDrop`, `pin_project::pinned_drop::PinnedDrop`."""
    last = resolved.rsplit("::", 1)[-1]
    if last not in DROP_TRAITS or "::" not in resolved:
        return last in DROP_TRAITS
    return resolved.endswith("ops::Drop") or "pin_project" in resolved


@dataclass(frozen=True, slots=True)
class DropImpl:
    """An `impl Drop for T` and its `fn drop` (None for a malformed impl)."""

    type_name: str
    impl: Node
    drop_fn: Node | None


@dataclass(frozen=True, slots=True)
class DropScope:
    """A function a Drop rule looks at as if it ran in Drop, and the rule's
    excuse. Whether Drop reaches it is the crate model's question
    (`rules.rust.crate`): the engine keeps the rule's hit only then."""

    function: Node
    excused: Excused | None = None

    @property
    def impl_type(self) -> str | None:
        """The type whose `impl` holds the function (for `fn drop`: the type
        being dropped), None for a free function."""
        body = self.function.parent
        impl = body.parent if body is not None and body.type == "declaration_list" else None
        target = impl.child_by_field_name("type") if impl is not None else None
        if impl is None or impl.type != "impl_item" or target is None:
            return None
        return type_name(target)


class FileContext:
    """One file's source, tree and lazily computed facts about it."""

    def __init__(self, path: str, source: bytes) -> None:
        self.path = path
        self.source = source
        self.tree: Tree = parse(source)
        self.root = self.tree.root_node
        self.test_file = is_test_path(path)
        self._memo: dict[Callable[[FileContext], Any], Any] = {}
        self._mentioned: dict[bytes, bool] = {}
        self._paths_asked = 0  # item_path calls (see `_items`)

    def memo(self, compute: Callable[[FileContext], T]) -> T:
        """`compute(self)`, once per file: facts several rules share (lock
        guards, field types) are derived by the first rule that asks."""
        if compute not in self._memo:
            self._memo[compute] = compute(self)
        return cast(T, self._memo[compute])

    def remember(self, compute: Callable[[FileContext], T], value: T) -> None:
        """Set what `memo(compute)` answers (a fact made with more than `self`)."""
        self._memo[compute] = value

    # -- tree ---------------------------------------------------------------

    @cached_property
    def _ancestry(self) -> Ancestry | None:
        """Parents recorded in one walk, for a deep tree only (see `Ancestry`)."""
        return Ancestry(self.root) if is_deep(self.root) else None

    def parent(self, node: Node) -> Node | None:
        """`node.parent`, in constant time on deep trees too."""
        ancestry = self._ancestry
        return ancestry.parent(node) if ancestry is not None else node.parent

    def _spanning(self, start: int, end: int) -> Node | None:
        """The innermost node spanning `start..end` when one spans it exactly
        (else None, or some node that does not)."""
        ancestry = self._ancestry
        if ancestry is not None:
            return ancestry.leaf(start, end)
        return self.root.descendant_for_byte_range(start, end)

    # -- text -------------------------------------------------------------

    text = staticmethod(node_text)

    @cached_property
    def lines(self) -> Lines:
        """The source's line starts, columns and line code (see `Lines`)."""
        return Lines(self.source)

    def mentions(self, word: bytes) -> bool:
        """`word in self.source`, searched once per file: checks that run per
        node must not rescan the file each time."""
        if word not in self._mentioned:
            self._mentioned[word] = word in self.source
        return self._mentioned[word]

    def occurrences(
        self,
        names: Collection[str],
        types: Collection[str] = NAME_TYPES,
        within: Sequence[tuple[int, int]] | None = None,
    ) -> list[Node]:
        """The nodes of the given types spelled exactly as one of `names`
        (only those inside one of the byte ranges `within`, when given).

        Found by searching the bytes and asking the tree what stands there:
        a query would visit every node of the file, and rules only care about a
        few names (`spawn`, `unwrap`, `Drop`), so this is what keeps all rules
        together cheaper than parsing itself. Names in comments and strings are
        not nodes of these types, so they drop out.
        """
        spans = within if within is not None else ((0, len(self.source)),)
        found = [node for name in names for node in self._spelled(name.encode(), spans, types)]
        found.sort(key=lambda node: node.start_byte)
        return found

    def holders(
        self,
        names: Collection[str],
        name_types: Collection[str],
        types: Collection[str],
        within: Sequence[tuple[int, int]] | None = None,
    ) -> list[Node]:
        """The nodes of `types` right above an occurrence of one of `names`
        (`occurrences` with `name_types`), in order: items found by their
        keyword, calls by their method's name, without walking the tree."""
        above = (self.parent(node) for node in self.occurrences(names, name_types, within))
        return [node for node in above if node is not None and node.type in types]

    def _spelled(
        self, word: bytes, spans: Iterable[tuple[int, int]], types: Collection[str]
    ) -> Iterator[Node]:
        """The nodes of `types` spelled `word` inside `spans`, in order."""
        source = self.source
        for low, high in spans:
            start = source.find(word, low, high)
            while start >= 0:
                end = start + len(word)
                if not (_is_word_byte(source, start - 1) or _is_word_byte(source, end)):
                    node = self._spanning(start, end)
                    if (
                        node is not None
                        and node.type in types
                        and node.start_byte == start
                        and node.end_byte == end
                    ):
                        yield node
                start = source.find(word, end, high)

    # -- test code ----------------------------------------------------------

    @cached_property
    def _test_ranges(self) -> tuple[list[int], list[int]]:
        """Sorted, non-overlapping byte ranges of test items (starts, ends)."""
        spans: list[tuple[int, int]] = []
        for attr in self._test_attributes():
            text = self.text(attr)
            if attr.type == "inner_attribute_item":
                owner = self.parent(attr)
                if _cfg_requires_test(text) and owner is not None:
                    spans.append((owner.start_byte, owner.end_byte))
            elif _cfg_requires_test(text) or _TEST_ATTR.match(text):
                item = attributed_item(attr)
                if item is not None:
                    spans.append((attr.start_byte, item.end_byte))
        spans.sort()
        starts: list[int] = []
        ends: list[int] = []
        for start, end in spans:
            if ends and start <= ends[-1]:
                ends[-1] = max(ends[-1], end)
            else:
                starts.append(start)
                ends.append(end)
        return starts, ends

    def _test_attributes(self) -> Iterator[Node]:
        """Attributes that mention `test`, each once."""
        seen: set[int] = set()
        for name in self.occurrences(("test",)):
            node = self.parent(name)
            while node is not None and node.type in _ATTRIBUTE_PARTS:
                node = self.parent(node)
            if (
                node is not None
                and node.type in {"attribute_item", "inner_attribute_item"}
                and node.start_byte not in seen
            ):
                seen.add(node.start_byte)
                yield node

    def named_in_test_code(self, names: Collection[str], whole_file: bool = False) -> set[str]:
        """Those of `names` that test code of this file (all of it with
        `whole_file`: a module compiled only for tests) spells as a name node
        (not in a string or a comment); each search stops at the first."""
        whole = self.test_file or whole_file
        starts, ends = ([0], [len(self.source)]) if whole else self._test_ranges
        spans = list(zip(starts, ends, strict=True))
        if len(names) * len(spans) <= _SEARCHES:  # a search per name, each stopping at its first
            return {
                name
                for name in names
                if next(self._spelled(name.encode(), spans, _NAMING), None) is not None
            }
        wanted = {name.encode() for name in names}  # many: one pass over the test code's words
        found: set[bytes] = set()
        for start, end in spans:
            for word in _WORD.finditer(self.source, start, end):
                if word.group() in wanted and word.group() not in found:
                    node = self._spanning(word.start(), word.end())
                    if node is None or (node.start_byte, node.end_byte) != word.span():
                        continue
                    if node.type in _NAMING:
                        found.add(word.group())
        return {word.decode() for word in found}

    def is_test(self, node: Node) -> bool:
        """Test code per DESIGN.md: test files, `#[cfg(test)]` items, `#[..test]` fns."""
        if self.test_file:
            return True
        starts, ends = self._test_ranges
        index = bisect.bisect_right(starts, node.start_byte) - 1
        return index >= 0 and node.end_byte <= ends[index]

    # -- names --------------------------------------------------------------

    @cached_property
    def imports(self) -> dict[str, str]:
        """`use` aliases: local name -> full path (`task` -> `tokio::task`)."""
        aliases: dict[str, str] = {}
        for keyword in self.occurrences(("use",), {"use"}):
            declaration = self.parent(keyword)
            tree = declaration.child_by_field_name("argument") if declaration is not None else None
            if tree is None:
                continue
            pending: list[tuple[str, Node]] = [("", tree)]
            while pending:
                prefix, node = pending.pop()
                kind = node.type
                if kind in {"identifier", "scoped_identifier", "crate", "super"}:
                    full = _join(prefix, self.text(node))
                    aliases[full.rsplit("::", 1)[-1]] = full
                elif kind == "self" and prefix:
                    aliases[prefix.rsplit("::", 1)[-1]] = prefix
                elif kind == "use_as_clause":
                    path, alias = (
                        node.child_by_field_name("path"),
                        node.child_by_field_name("alias"),
                    )
                    if path is not None and alias is not None:
                        aliases[self.text(alias)] = _join(prefix, self.text(path))
                elif kind == "scoped_use_list":
                    path, items = node.child_by_field_name("path"), node.child_by_field_name("list")
                    inner = _join(prefix, self.text(path)) if path is not None else prefix
                    if items is not None:
                        pending.extend((inner, child) for child in items.named_children)
                elif kind == "use_list":
                    pending.extend((prefix, child) for child in node.named_children)
        return aliases

    def resolve(self, path: str) -> str:
        """Expand a path's first segment through `use` (`task::spawn` ->
        `tokio::task::spawn`); generic arguments and spaces are dropped."""
        path = re.sub(r"\s+|::<.*?>|<.*?>", "", path).removeprefix("::")
        head, sep, rest = path.partition("::")
        full = self.imports.get(head)
        if full is None or full == head:
            return path
        return full + sep + rest

    # -- Drop ---------------------------------------------------------------

    @cached_property
    def drop_impls(self) -> list[DropImpl]:
        """`impl Drop for T` (any spelling of the trait path) and pin-project's
        `impl PinnedDrop for T`; `fn drop` of any other trait or of an inherent
        impl is not Drop."""
        found: list[DropImpl] = []
        for name in self.occurrences(DROP_TRAITS, {"type_identifier"}):
            above = self.parent(name)
            trait = above if above and above.type == "scoped_type_identifier" else name
            impl = self.parent(trait)
            if (
                impl is None
                or impl.type != "impl_item"
                or impl.child_by_field_name("trait") != trait
                or impl.child_by_field_name("body") is None
                or impl.child_by_field_name("type") is None
            ):
                continue
            if not is_drop_trait(self.resolve(self.text(trait))):
                continue
            body = impl.child_by_field_name("body")
            target = impl.child_by_field_name("type")
            assert body is not None and target is not None
            drop_fn = next(
                (
                    child
                    for child in body.named_children
                    if child.type == "function_item" and field_text(child, "name") == "drop"
                ),
                None,
            )
            found.append(DropImpl(type_name(target), impl, drop_fn))
        return found

    def drop_impls_of(self, name: str | None) -> list[DropImpl]:
        """The `drop_impls` of the type `name`, in file order: rules ask per
        hit, and a file may hold thousands of impls."""
        return self._drop_impls_by_type.get(name, []) if name is not None else []

    @cached_property
    def _drop_impls_by_type(self) -> dict[str, list[DropImpl]]:
        found: dict[str, list[DropImpl]] = {}
        for impl in self.drop_impls:
            found.setdefault(impl.type_name, []).append(impl)
        return found

    # -- items --------------------------------------------------------------

    def item_path(self, node: Node) -> str:
        """Enclosing items, outermost first (`impl Drop for G > fn drop`): part
        of the line-independent fingerprint the App dedups comments with."""
        self._paths_asked += 1
        if self._paths_asked <= _CLIMBS and self._ancestry is None:
            holding: Iterable[Node] = (a for a in ancestors(node, self.root) if a.type in _LABELLED)
        else:
            holding = self._items.holding(node)
        parts = [self._item_label(item) for item in holding if item != node]
        return " > ".join(reversed(parts))

    @cached_property
    def _items(self) -> Nesting:
        """The items `item_path` names, found by their keywords, for a deep
        tree (where climbing costs the depth each time) or a file with many
        findings (where one search for the keywords costs less than a climb
        per finding); a few findings climb the tree instead (`_CLIMBS`)."""
        return Nesting(self.holders(_ITEM_WORDS, _ITEM_WORDS, _LABELLED))

    def _item_label(self, item: Node) -> str:
        if item.type == "impl_item":
            return self._impl_label(item)
        return f"{_ITEM_KEYWORDS[item.type]} {field_text(item, 'name')}"

    def _impl_label(self, impl: Node) -> str:
        target = impl.child_by_field_name("type")
        trait = impl.child_by_field_name("trait")
        name = type_name(target) if target is not None else "?"
        return f"impl {self.text(trait)} for {name}" if trait is not None else f"impl {name}"


_SEARCHES = 64  # names x test ranges searched one by one before one pass over the words pays
_CLIMBS = 32  # item paths found by climbing a shallow tree before the keyword search pays
_WORD = re.compile(rb"[A-Za-z0-9_]+")
_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def words_among(source: bytes, names: Collection[str]) -> set[str]:
    """Those of `names` that occur in `source` as whole words, in code,
    comments or strings alike: what `named_in_test_code` may find, without
    a tree."""
    wanted = {name.encode() for name in names}
    return {word.decode() for word in wanted.intersection(_WORD.findall(source))}


def _is_word_byte(source: bytes, index: int) -> bool:
    return 0 <= index < len(source) and source[index] in _WORD_BYTES


def _cfg_requires_test(attribute: str) -> bool:
    """True when a `#[cfg(..)]` attribute compiles its item only under test:
    `test`, `all(test, not(loom))`, `any(all(test, unix), test)`; not
    `not(test)`, `any(test, feature = "std")`, `feature = "test-util"`."""
    asked = cfg.predicate(attribute)
    return asked is not None and cfg.compiled(asked, None) is False


def attributes(
    root: Node, source: bytes, pattern: re.Pattern[bytes]
) -> Iterator[tuple[re.Match[bytes], Node]]:
    """The attributes (`#[..]` or `#![..]`) that `pattern`, searched in the
    bytes, finds where they start, each with its match: a search costs
    nothing in a file without one, and a match in a comment or a string is
    no attribute."""
    for match in pattern.finditer(source):
        mark = root.descendant_for_byte_range(match.start(), match.start() + 1)
        attribute = mark.parent if mark is not None else None
        if attribute is not None and attribute.type in {"attribute_item", "inner_attribute_item"}:
            yield match, attribute


def attributed_item(attr: Node) -> Node | None:
    """The item an outer attribute applies to: the next sibling that is not
    another attribute or a comment."""
    sibling = attr.next_named_sibling
    while sibling is not None and sibling.type in {
        "attribute_item",
        "line_comment",
        "block_comment",
    }:
        sibling = sibling.next_named_sibling
    return sibling


def _join(prefix: str, path: str) -> str:
    return f"{prefix}::{path}" if prefix else path
