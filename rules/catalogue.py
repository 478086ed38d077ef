"""The rule catalogue, in DESIGN.md's order: one module per rule."""

from __future__ import annotations

from rules import (
    detached_spawn,
    drop_abort_without_await,
    drop_block_on,
    drop_blocking_call,
    drop_detached_spawn,
    drop_panic,
    drop_runtime_context,
    drop_self_join,
    drop_untested,
    drop_unwrap,
    lock_across_await,
    mem_forget,
    nested_locks,
    panic_in_production,
    temp_path_unguarded,
    unwrap_in_production,
)
from rules.model import Rule

RULES: tuple[Rule, ...] = (
    drop_detached_spawn.RULE,
    drop_block_on.RULE,
    drop_runtime_context.RULE,
    drop_unwrap.RULE,
    drop_panic.RULE,
    drop_abort_without_await.RULE,
    drop_blocking_call.RULE,
    drop_self_join.RULE,
    drop_untested.RULE,
    temp_path_unguarded.RULE,
    detached_spawn.RULE,
    mem_forget.RULE,
    lock_across_await.RULE,
    nested_locks.RULE,
    unwrap_in_production.RULE,
    panic_in_production.RULE,
)
RULE_IDS: frozenset[str] = frozenset(rule.id for rule in RULES)
_BY_ID = {rule.id: rule for rule in RULES}


def rule_by_id(rule_id: str) -> Rule | None:
    return _BY_ID.get(rule_id)


def scope_notes(rule: Rule) -> str:
    """What code the rule looks at, for `dropsafe explain`: Drop rules follow
    calls through the crate; no rule reports test code by default."""
    notes = []
    if rule.id.startswith("drop-") and rule.id != "drop-untested":
        notes.append(
            "In `Drop` means `fn drop` of an `impl Drop` (or pin-project's `PinnedDrop`, also"
            " inside item-producing macros) and every function of the crate it reaches through"
            " calls the crate model resolves for certain: free functions through `use` and"
            " module paths, `self.m()`, `self.field.m()` (the field's declared type),"
            " `Type::f()` and `Self::f()`, across files, at most 8 calls deep. An ambiguous call"
            " (two candidates, a trait object, an unknown receiver) is not followed. A finding"
            " in a reached function names the chain; when it lies in another file than"
            " `fn drop`, it is reported at the call in `fn drop` too."
        )
    tested = (
        "drop-untested reads test code (a test naming the type counts) but reports only"
        " `impl Drop`s of production code."
        if rule.id == "drop-untested"
        else "Test code is not reported"
    )
    notes.append(
        f"{tested}: `#[cfg(test)]` items and `#[test]` functions, files declared by"
        " `#[cfg(test)] mod tests;`, the tests/, benches/ and examples/ targets, and"
        " packages used only as dev-dependencies. `tests = true` in `.github/dropsafe.toml`"
        " reports test code too."
    )
    return "## Scope\n" + "\n\n".join(notes) + "\n"


def markdown_table() -> str:
    """The README's rule table (`dropsafe rules --markdown`), generated so the
    README cannot drift from the rules' own declarations."""
    rows = ["| rule | default | checklist item | fires on |", "| --- | --- | --- | --- |"]
    for rule in RULES:
        checklist = ", ".join(rule.checklist) or "—"
        rows.append(f"| `{rule.id}` | {rule.severity} | {checklist} | {rule.message} |")
    return "\n".join(rows) + "\n"
