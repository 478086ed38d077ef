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


def markdown_table() -> str:
    """The README's rule table (`dropsafe rules --markdown`), generated so the
    README cannot drift from the rules' own declarations."""
    rows = ["| rule | default | checklist item | fires on |", "| --- | --- | --- | --- |"]
    for rule in RULES:
        checklist = ", ".join(rule.checklist) or "—"
        rows.append(f"| `{rule.id}` | {rule.severity} | {checklist} | {rule.message} |")
    return "\n".join(rows) + "\n"
