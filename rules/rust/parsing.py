"""One tree-sitter-rust language, parser and query cache per process.

Building a Language, Parser or Query is costly; analyses reuse them and make a
fresh QueryCursor each time (cursors carry per-run state).
"""

from __future__ import annotations

import bisect
import itertools
import re
from array import array
from collections.abc import Collection, Iterable, Iterator
from functools import cache, cached_property

import tree_sitter_rust
from tree_sitter import Language, Node, Parser, Query, QueryCursor, Tree

LANGUAGE = Language(tree_sitter_rust.language())
_PARSER = Parser(LANGUAGE)
_UNDECODED = re.compile("[\udc80-\udcff]")  # surrogateescape's stand-ins for bad bytes
_PART = 4096  # see `node_texts`
_NEWLINE = re.compile(b"\n")
_STRIDE = 1024  # bytes between the checkpoints of `Lines.column`
CODE_LIMIT = 200  # characters of `Lines.code`
_DEEP = 200  # see `is_deep`


def parse(source: bytes) -> Tree:
    """The tree of `source`. Bytes that are not UTF-8 are parsed as DEL: the
    same length, so every offset holds, and tree-sitter would read them as
    U+FFFD anyway; but query predicates (`#eq?`, `#match?`) decode node
    text strictly and would raise on them."""
    try:
        source.decode("utf-8")
    except UnicodeDecodeError:
        text = _UNDECODED.sub("\x7f", source.decode("utf-8", "surrogateescape"))
        source = text.encode("utf-8")
    return _PARSER.parse(source)


@cache
def query(text: str) -> Query:
    """A compiled query; the text is the cache key, so rules may inline theirs."""
    return Query(LANGUAGE, text)


def captures(query_text: str, node: Node) -> dict[str, list[Node]]:
    return QueryCursor(query(query_text)).captures(node)


def node_texts(types: Collection[str], node: Node) -> set[str]:
    """The texts of the nodes of `types` in `node`'s subtree.

    One query over the whole tree would do, but tree-sitter's query cursor
    costs time quadratic in a node's number of children, and error recovery
    makes nodes with hundreds of thousands (unclosed brackets, garbage). So
    the subtree is cut into parts of at most `_PART` nodes, each queried on
    its own; the nodes above them (few: each has more than `_PART`
    descendants) are looked at one by one."""
    names = query("[" + " ".join(f"({kind})" for kind in sorted(types)) + "] @node")
    cursor = QueryCursor(names)
    found: set[str] = set()
    large = [node]
    while large:
        current = large.pop()
        if current.type in types:
            found.add(text(current))
        for child in current.children:
            if child.descendant_count > _PART:
                large.append(child)
            else:
                found.update(map(text, cursor.captures(child).get("node", [])))
    return found


def matches(query_text: str, node: Node) -> list[tuple[int, dict[str, list[Node]]]]:
    return QueryCursor(query(query_text)).matches(node)


def text(node: Node | None) -> str:
    """The node's source text ('' for a missing node); bytes that are not
    UTF-8 read as DEL (see `parse`), so any file can be analysed."""
    return (node.text or b"").decode("utf-8", "replace") if node is not None else ""


def field_text(node: Node, field: str) -> str:
    """The text of `node`'s child `field` ('' when it has none)."""
    return text(node.child_by_field_name(field))


class Lines:
    """One source's lines: where the line holding a byte starts and ends, a
    byte's column, a line's code, each in time that does not grow with the
    line's length.

    Searching back for the newline and decoding the line's prefix for each
    finding is quadratic on one long line holding thousands of findings (a
    generated chain of calls). So the line starts are found once (then
    bisected); an ASCII source counts columns by subtraction; any other
    counts characters from the nearest of checkpoints placed every `_STRIDE`
    bytes where UTF-8 decoding may be cut without changing what it gives."""

    def __init__(self, source: bytes) -> None:
        self.source = source
        self._ascii = source.isascii()
        self._marks: list[int] = []  # checkpoints: byte offsets, ascending
        self._counts: list[int] = []  # characters before each checkpoint
        self._codes: dict[int, str] = {}

    @cached_property
    def _starts(self) -> array[int]:
        """The offset of each line's first byte (a file of newlines makes
        millions: an array keeps them at 8 bytes each)."""
        return array("q", itertools.chain([0], (m.end() for m in _NEWLINE.finditer(self.source))))

    def number(self, byte: int) -> int:
        """The 1-based line of `byte` (a newline belongs to the line it ends)."""
        return bisect.bisect_right(self._starts, byte)

    def start(self, byte: int) -> int:
        """The offset of the first byte of `byte`'s line."""
        return self._starts[self.number(byte) - 1]

    def end(self, byte: int) -> int:
        """The offset of the newline that ends `byte`'s line (the source's
        length on a last line without one)."""
        following = self.number(byte)
        return self._starts[following] - 1 if following < len(self._starts) else len(self.source)

    def line_start(self, number: int) -> int:
        """The offset of the first byte of 1-based line `number`."""
        return self._starts[number - 1]

    def count(self) -> int:
        """How many lines there are (text after the last newline is one, even empty)."""
        return len(self._starts)

    def column(self, byte: int) -> int:
        """The 1-based column of `byte` in characters, as editors and GitHub
        count them: one more than the characters its line's bytes before it
        decode to (undecodable bytes as U+FFFD)."""
        start = self.start(byte)
        if self._ascii:
            return byte - start + 1
        return self._characters(byte) - self._characters(start) + 1

    def code(self, start: int) -> str:
        """The text from `start` to the end of its line, whitespace collapsed,
        at most `CODE_LIMIT` characters: what a fingerprint compares, stable
        when code above it moves. Only as much of the line is decoded as
        those characters need."""
        if start not in self._codes:
            end = self.end(start)
            window = 4 * CODE_LIMIT
            while True:
                stop = min(end, start + window)
                while not _splittable(self.source, stop):
                    stop += 1  # cut where decoding the part gives a prefix of the whole
                text = " ".join(self.source[start:stop].decode("utf-8", "replace").split())
                if stop >= end or len(text) >= CODE_LIMIT:
                    break
                window *= 2
            self._codes[start] = text[:CODE_LIMIT]
        return self._codes[start]

    def _characters(self, byte: int) -> int:
        """`len(source[:byte].decode("utf-8", "replace"))`, from the checkpoint before `byte`."""
        if not self._marks:
            self._place_marks()
        k = bisect.bisect_right(self._marks, byte) - 1
        mark = self._marks[k]
        return self._counts[k] + len(self.source[mark:byte].decode("utf-8", "replace"))

    def _place_marks(self) -> None:
        source, marks, counts = self.source, [0], [0]
        while marks[-1] < len(source):
            end = min(marks[-1] + _STRIDE, len(source))
            while not _splittable(source, end):
                end += 1
            counts.append(counts[-1] + len(source[marks[-1] : end].decode("utf-8", "replace")))
            marks.append(end)
        self._marks, self._counts = marks, counts


def _splittable(source: bytes, at: int) -> bool:
    """Decoding `source[:at]` and `source[at:]` apart (errors replaced) gives
    what decoding `source` whole gives: the decoder holds no unfinished
    character at `at`. It can hold one only when a lead byte
    (0xC0 or more) stands in the 3 bytes before `at` and `at` is a
    continuation byte (0x80-0xBF) that might finish it; any other byte ends
    it the same way the end of input does (one U+FFFD either way)."""
    if at >= len(source) or not 0x80 <= source[at] < 0xC0:
        return True
    return max(source[max(0, at - 3) : at], default=0) < 0xC0


def unparenthesized(node: Node | None) -> Node | None:
    """`((x))` -> `x`."""
    while node is not None and node.type == "parenthesized_expression":
        node = node.named_children[-1] if node.named_children else None
    return node


def earlier_statements(statement: Node) -> Iterator[Node]:
    """The statements before `statement` in its block, nearest first, each as its expression
    (`if .. {}` rather than the statement wrapping it): where guards that return early sit."""
    sibling = statement.prev_named_sibling
    while sibling is not None:
        if sibling.type != "expression_statement":
            yield sibling
        elif sibling.named_children:
            yield sibling.named_children[0]
        sibling = sibling.prev_named_sibling


def exit_condition(statement: Node) -> Node | None:
    """The condition of `if <condition> { ..; return }` (no `else`; the block
    may end in `continue` or `break` instead): the code after it in its block
    runs only when the condition is false. None for any other statement."""
    if statement.type != "if_expression" or statement.child_by_field_name("alternative"):
        return None
    if not diverges(statement.child_by_field_name("consequence")):
        return None
    return statement.child_by_field_name("condition")


def diverges(block: Node | None) -> bool:
    """The block ends in `return`, `continue` or `break`."""
    last = block.named_children[-1] if block is not None and block.named_children else None
    if last is not None and last.type == "expression_statement" and last.named_children:
        last = last.named_children[0]
    return last is not None and last.type in {
        "return_expression",
        "continue_expression",
        "break_expression",
    }


def bare_method_call(node: Node | None) -> tuple[Node, str] | None:
    """`recv.name()` (no arguments) -> (recv, "name"); None for anything else."""
    if node is None or node.type != "call_expression":
        return None
    function = node.child_by_field_name("function")
    arguments = node.child_by_field_name("arguments")
    if function is None or function.type != "field_expression":
        return None
    if arguments is None or arguments.named_child_count:
        return None
    receiver = function.child_by_field_name("value")
    return (receiver, field_text(function, "field")) if receiver is not None else None


def type_name(node: Node) -> str:
    """`W<T>` -> `W`, `crate::a::Guard` -> `Guard`: the name methods hang off."""
    while node.type in {"generic_type", "scoped_type_identifier"}:
        inner = node.child_by_field_name("type" if node.type == "generic_type" else "name")
        if inner is None:
            break
        node = inner
    return text(node)


class Nesting:
    """Some nodes of one tree (any two nest or are disjoint), and for a byte
    range the innermost of them that holds it, by bisection: asking node by
    node for enclosing blocks or items costs the depth of the tree each time."""

    def __init__(self, nodes: Iterable[Node]) -> None:
        spans = sorted(
            {(n.start_byte, -n.end_byte): n for n in nodes if n.end_byte > n.start_byte}.items()
        )
        self.nodes = [node for _, node in spans]
        self.parents: list[int | None] = []
        # after each position, the innermost node holding it (None: none does)
        self._positions: list[int] = []
        self._innermost: list[int | None] = []
        stack: list[int] = []
        for index, node in enumerate(self.nodes):
            self._close(stack, node.start_byte)
            self.parents.append(stack[-1] if stack else None)
            stack.append(index)
            self._mark(node.start_byte, index)
        self._close(stack, None)

    def _close(self, stack: list[int], before: int | None) -> None:
        while stack and (before is None or self.nodes[stack[-1]].end_byte <= before):
            end = self.nodes[stack.pop()].end_byte
            self._mark(end, stack[-1] if stack else None)

    def _mark(self, position: int, innermost: int | None) -> None:
        self._positions.append(position)
        self._innermost.append(innermost)

    def holding(self, node: Node) -> Iterator[Node]:
        """The nodes that hold `node` (itself included when it is one), innermost first."""
        at = bisect.bisect_right(self._positions, node.start_byte) - 1
        index = self._innermost[at] if at >= 0 else None
        while index is not None:
            if self.nodes[index].end_byte >= node.end_byte:
                yield self.nodes[index]
            index = self.parents[index]


class Ancestry:
    """Every node's parent, and the leaves by span, recorded in one walk of a
    deep tree (see `is_deep`).

    tree-sitter keeps no parent pointers: `Node.parent` and
    `descendant_for_byte_range` descend from the root, so on a tree thousands
    of levels deep (a chain of 8,000 `.unwrap()`, 4,000 nested spawns) asking
    them once per name costs the depth each time, and the file's time grows
    with its square. One walk makes both answers a dictionary look-up."""

    def __init__(self, root: Node) -> None:
        self._parents: dict[int, Node] = {}
        self._leaves: dict[tuple[int, int], Node] = {}
        cursor = root.walk()
        path = [root]
        while True:
            if cursor.goto_first_child():
                self._enter(path, cursor.node)
                continue
            leaf = path[-1]
            self._leaves[leaf.start_byte, leaf.end_byte] = leaf
            while not cursor.goto_next_sibling():
                if not cursor.goto_parent():
                    return
                path.pop()
            path.pop()
            self._enter(path, cursor.node)

    def _enter(self, path: list[Node], node: Node | None) -> None:
        assert node is not None  # the cursor stands on a node
        self._parents[node.id] = path[-1]
        path.append(node)

    def parent(self, node: Node) -> Node | None:
        return self._parents.get(node.id)

    def leaf(self, start: int, end: int) -> Node | None:
        """The innermost leaf spanning exactly `start..end`, if any."""
        return self._leaves.get((start, end))


def is_deep(root: Node, limit: int = _DEEP, samples: int = 128) -> bool:
    """Whether some node of the tree lies deeper than `limit` (hand-written
    code stays well under a hundred levels). Decided from `samples` nodes
    spread evenly over the tree in pre-order, each reached from the root in
    C: a deep region of the tree either gets a sample or is small."""
    count = root.descendant_count
    step = max(1, count // samples)
    cursor = root.walk()
    for index in range(0, count, step):
        cursor.goto_descendant(index)
        if cursor.depth > limit:
            return True
    return False


def walk(node: Node) -> Iterator[Node]:
    """Every named descendant of `node` (itself included), pre-order, without
    recursion: deeply nested code must not hit Python's recursion limit."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.named_children))


def lineage(node: Node, top: Node) -> Iterator[tuple[Node, Node]]:
    """(child, parent) for each ancestor of `node` below `top`, innermost
    first: the parent and which of its parts leads to `node` (the branch of
    an `if`, the body of a closure)."""
    child = node
    for parent in ancestors(node, top):
        yield child, parent
        child = parent


def enclosing(node: Node, root: Node, types: Collection[str]) -> Node | None:
    """The innermost ancestor of `node` (`root` included) of one of `types`."""
    return next((a for a in ancestors(node, root) if a.type in types), None)


def ancestors(node: Node, root: Node) -> list[Node]:
    """`node`'s ancestors, innermost first. Found by descending from `root`:
    `Node.parent` walks from the root itself, so climbing parent by parent
    costs depth squared on deeply nested code."""
    path: list[Node] = []
    current: Node | None = root
    while current is not None and current != node:
        path.append(current)
        current = current.child_with_descendant(node)
    path.reverse()
    return path
