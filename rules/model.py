"""The engine's vocabulary: severities, findings and the rule declaration.

Everything here is plain data so the CLI, the App and the tests can share it
without knowing how a rule looks at Rust syntax.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from tree_sitter import Node

    from rules.rust.context import DropScope, FileContext

Severity = Literal["error", "warning", "notice"]
_Class = TypeVar("_Class", bound=type)
SEVERITIES: tuple[Severity, ...] = ("notice", "warning", "error")
RANK: dict[str, int] = {name: rank for rank, name in enumerate(SEVERITIES)}


def pickled_as_call(cls: _Class) -> _Class:
    """Pickle a slotted dataclass as a call of its constructor with its fields.

    Python 3.11 pickles `@dataclass(slots=True)` through a `__getstate__` and
    `__setstate__` that look `dataclasses.fields()` up for every instance; the
    item summaries and findings pool workers send back (tens of thousands of
    them on a large tree) took the parent longer to unpickle than linking the
    crates. Every field must be an `__init__` parameter, in declaration order."""
    names = [f.name for f in fields(cls)]
    if not names or not all(f.init for f in fields(cls)):
        raise TypeError(f"{cls.__name__}: every field must be an __init__ parameter")
    values = attrgetter(*names) if len(names) > 1 else lambda self: (getattr(self, names[0]),)

    def __reduce__(self: Any) -> tuple[type, tuple[object, ...]]:
        return cls, values(self)

    cls.__reduce__ = __reduce__  # type: ignore[assignment]
    return cls


def capped(severity: Severity, cap: Severity | None) -> Severity:
    """`severity`, lowered to `cap` when the cap is lower."""
    return cap if cap is not None and RANK[cap] < RANK[severity] else severity


def at_least(severity: str, level: str) -> bool:
    """True when `severity` reaches `level` (`never` is never reached)."""
    return level != "never" and RANK[severity] >= RANK[level]


@pickled_as_call
@dataclass(frozen=True, slots=True)
class ChainStep:
    """One place on the way from `fn drop` to a finding: the call (or the
    `fn drop` itself) at `path:line`, and a label such as `Drop for Pool`,
    `cleanup::shutdown` or `Handle::current()`."""

    path: str
    line: int
    label: str

    def to_json(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "label": self.label}


def render_chain(chain: Iterable[ChainStep], quote: str = "") -> str:
    """The chain on one line, `Drop for Pool → cleanup::shutdown → Handle::current()`;
    `quote="`"` marks each label as code for Markdown."""
    return " → ".join(f"{quote}{step.label}{quote}" for step in chain)


@pickled_as_call
@dataclass(frozen=True, slots=True)
class Finding:
    """One problem on one place of one file.

    `item` (the enclosing item, e.g. `impl Drop for Guard > fn drop`) and `code`
    (the anchor line with whitespace collapsed) do not depend on line numbers:
    the App builds its dedup fingerprint from them so a finding that only moved
    is recognised.
    """

    rule: str
    severity: Severity
    path: str
    line: int
    end_line: int
    column: int
    end_column: int
    message: str
    fix: str | None = None
    item: str = ""
    code: str = ""
    # from `fn drop` to here, for findings reached from Drop (empty otherwise)
    chain: tuple[ChainStep, ...] = ()

    def fingerprint(self, occurrence: int = 0) -> str:
        """sha256 (hex) of rule, path, item and code: no line numbers, so a
        finding that only moved keeps it. `occurrence` tells apart identical
        findings in one item; the first hashes like a lone finding."""
        parts = [self.rule, self.path, self.item, self.code]
        if occurrence:
            parts.append(str(occurrence))
        return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogateescape")).hexdigest()

    def to_json(self) -> dict[str, object]:
        """The public JSON shape of DESIGN.md (1-based lines and columns). The
        fix pattern is the rule's, so JSON carries it once, under `rules`."""
        return {
            "rule": self.rule,
            "severity": self.severity,
            "path": self.path,
            "line": self.line,
            "end_line": self.end_line,
            "column": self.column,
            "message": self.message,
            "chain": [step.to_json() for step in self.chain],
        }


@dataclass(frozen=True, slots=True)
class Hit:
    """What a rule's check reports: the node to anchor on and, optionally, a
    message that replaces the rule's default one (e.g. naming the call path).

    `whole` marks a finding about the whole node (an `impl Drop`): it is in
    scope when any of the node's lines is touched, not just its first one.
    `scope` marks a Drop rule's hit (from `rules.rust.syntax.in_drop`): the
    engine reports it only when the crate model finds `fn drop` reaching the
    scope's function, with the chain of calls that leads there.
    `at_most` caps the finding's severity below the rule's (configured) one,
    for a lesser form of the hazard: `assert!` in Drop fails only when the
    code's own invariant is already broken, a poisoned-lock `unwrap` only
    after another panic.
    """

    node: Node
    message: str | None = None
    whole: bool = False
    scope: DropScope | None = None
    at_most: Severity | None = None


Check = Callable[["FileContext"], Iterable[Hit]]

# Appendix A of the audit that started the project: the per-`impl Drop`
# checklist the App's summary renders, and that each rule serves items of.
NEVER_PANICS = "Never panics"
NO_UNWRAP = "No unwrap/expect calls"
ASYNC_NOT_DETACHED = "Async cleanup not detached"
RESOURCES_RELEASED = "Resources tracked and released"
ERROR_PATHS = "Error paths covered"
TESTED = "Test coverage exists"
PERFORMANCE = "Performance acceptable"
UNWIND_SAFE = "Unwind safety considered"
CHECKLIST: tuple[str, ...] = (
    NEVER_PANICS,
    NO_UNWRAP,
    ASYNC_NOT_DETACHED,
    RESOURCES_RELEASED,
    ERROR_PATHS,
    TESTED,
    PERFORMANCE,
    UNWIND_SAFE,
)


@dataclass(frozen=True, slots=True)
class FixPattern:
    """A Markdown fix pattern shipped in `rules/fixes/<name>.md`."""

    name: str
    title: str
    markdown: str


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of the catalogue, declared once in `rules/<rule_id_snake>.py`.

    `docs` is the user-facing page (What it does / Why is this bad? / Example /
    Use instead / References); `dropsafe explain`, review comments and README
    tables are generated from it. `label` is the few words the text format
    prints under the carets and `help` the one-line fix (clippy's `help:`).
    `needles` is a cheap literal pre-check: when
    none of them occurs in a file's bytes the rule is not run on it. A Drop
    rule `supersedes` the rule that reports the same code outside Drop
    (`drop-unwrap` over `unwrap-in-production`): where both fire on one place
    that Drop reaches, only the Drop rule's finding is kept. A rule whose
    every hit comes from `rules.rust.syntax.in_drop` says so (`only_in_drop`):
    the engine then leaves it out of a file's first pass (no needle search,
    no run) and runs it only where the crate model says Drop reaches.
    `reached_at_most` caps what it finds in a function `fn drop` reaches only
    through calls: reach does not follow branches, so a panic in a callee may
    sit on a path this `drop` never takes.

    No rule reports test, bench or example code unless the settings ask for
    it (`tests = true`); drop-untested reads tests, but reports production code.
    """

    id: str
    severity: Severity
    checklist: tuple[str, ...]
    message: str
    docs: str
    check: Check
    needles: tuple[bytes, ...]
    fix: FixPattern | None = None
    supersedes: str | None = None
    label: str = ""
    help: str = ""
    only_in_drop: bool = False
    reached_at_most: Severity | None = None
