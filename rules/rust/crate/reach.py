"""Phase 5: what each `fn drop` reaches, breadth first over resolved calls.

Every `impl Drop` (and `PinnedDrop`) of the crate is a root; the search
follows only calls the resolver is certain of, at most `MAX_DEPTH` calls deep,
visiting each function once (cycles are cut, and a function reached from two
roots keeps its shortest chain). A rule's excuse (code on a thread of its own,
or run only when not unwinding) removes the call sites it excuses, so there is
one reach per excuse.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from rules.rust.crate.resolve import FnRef, Resolver

MAX_DEPTH = 8


@dataclass(frozen=True, slots=True)
class Step:
    """A call on the way from `fn drop`: where it is and what it calls."""

    path: str
    line: int
    column: int
    label: str
    code: str


@dataclass(frozen=True, slots=True)
class Reached:
    """How a function is reached: from the `fn drop` of `Drop for owner` at
    `path:line`, through `calls` (empty for `fn drop` itself)."""

    owner: str
    path: str
    line: int
    item: str
    calls: tuple[Step, ...]


def reach(
    resolver: Resolver, roots: list[FnRef], excuse: str | None, limit: int | None = None
) -> dict[FnRef, Reached]:
    """Each function reached from `roots` without a call site `excuse`
    covers, and how; only calls already in `resolver.calls` are followed.
    With `limit`, the search stops once it has found that many functions."""
    found: dict[FnRef, Reached] = {}
    queue: deque[tuple[FnRef, Reached]] = deque()
    for ref in roots:
        drop = resolver.function(ref)
        path = resolver.items[ref[0]].path
        owner = resolver.drop_owners[ref]
        queue.append((ref, Reached(owner, path, drop.line, drop.item, ())))
    while queue:
        ref, how = queue.popleft()
        if ref in found:
            continue
        found[ref] = how
        if limit is not None and len(found) >= limit:
            break
        if len(how.calls) >= MAX_DEPTH:
            continue
        path = resolver.items[ref[0]].path
        for index, call in enumerate(resolver.calls.get(ref, ())):
            if excuse is not None and excuse in call.excused:
                continue
            callee = resolver.callee(ref, index)
            if callee is None or callee in found:
                continue
            step = Step(path, call.line, call.column, resolver.label(callee), call.code)
            queue.append(
                (callee, Reached(how.owner, how.path, how.line, how.item, (*how.calls, step)))
            )
    return found


def gather_calls(
    resolver: Resolver, roots: list[FnRef], fetch: Callable[[list[FnRef]], None]
) -> None:
    """Ask `fetch` for the calls of every function reach may follow, level by
    level from `roots` (at most `MAX_DEPTH` + 1 requests): only functions Drop
    reaches ever have their calls read. Excuses only remove edges, so what
    reach finds under any excuse is among these."""
    seen: set[FnRef] = set()
    frontier = set(roots)
    for _ in range(MAX_DEPTH):
        fetch(sorted(ref for ref in frontier if ref not in resolver.calls))
        seen |= frontier
        following = set()
        for ref in frontier:
            for index in range(len(resolver.calls.get(ref, ()))):
                callee = resolver.callee(ref, index)
                if callee is not None and callee not in seen:
                    following.add(callee)
        if not following:
            return
        frontier = following
