"""The excuses Drop rules give `in_drop`, declared once so the engine knows them all.

An excuse says where a Drop rule's hazard cannot happen even inside Drop (a
closure run on a thread of its own, code that runs only when not unwinding).
It must hold at call sites too: a helper called only from an excused place is
not in Drop for that rule. Each file's worker marks every call site with the
keys of the excuses that cover it, so reach across files honours them; for
that the engine needs every excuse up front, hence this registry, filled as
the rule modules are imported.
"""

from __future__ import annotations

from collections.abc import Callable

from tree_sitter import Node

from rules.rust.context import Excused, FileContext

# every excuse a Drop rule gives `in_drop`, by key, with the words one of which
# a function must contain for the excuse to apply there: the engine marks each
# call site with the excuses that cover it, so reach across files honours them
EXCUSES: dict[str, tuple[Excused, tuple[bytes, ...]]] = {}


def drop_excuse(*needles: bytes) -> Callable[[Excused], Excused]:
    """Declare a Drop rule's excuse (a decorator) and the words (`b"spawn"`,
    `b"panicking"`) without which it never applies: `in_drop` accepts only
    declared excuses, and asks one only in functions holding a word."""

    def declare(excuse: Excused) -> Excused:
        EXCUSES[key_of(excuse)] = (excuse, needles)
        return excuse

    return declare


def excused_in(
    ctx: FileContext, excuse: Excused, needles: tuple[bytes, ...], node: Node, function: Node
) -> bool:
    """`excuse(ctx, node, function)`, skipped where the function lacks its words."""
    key = (function.start_byte, function.end_byte, needles)
    mentions = ctx.memo(_mentions)
    if key not in mentions:  # once per function, not once per hit in it
        mentions[key] = any(ctx.source.find(n, key[0], key[1]) >= 0 for n in needles)
    return mentions[key] and excuse(ctx, node, function)


def _mentions(ctx: FileContext) -> dict[tuple[int, int, tuple[bytes, ...]], bool]:
    """Per file: whether a function's bytes hold one of an excuse's words."""
    return {}


def key_of(excuse: Excused) -> str:
    return f"{excuse.__module__}.{excuse.__qualname__}"
