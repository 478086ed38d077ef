"""The rules a report refers to, each described once.

Findings name their rule by id; the JSON `rules` object, SARIF's
`tool.driver.rules` and the text format's `= help:` line look the rule up here.
An id outside the catalogue (the engine's `unknown-allow-id` notice) is
described from its first finding, so every id a report uses resolves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rules.catalogue import RULES
from rules.model import Finding, FixPattern, Severity


@dataclass(frozen=True, slots=True)
class RuleInfo:
    id: str
    severity: Severity  # the default; a finding carries the one configured
    summary: str
    label: str = ""
    help: str = ""
    docs: str = ""
    fix: FixPattern | None = None
    checklist: tuple[str, ...] = ()


CATALOGUE: dict[str, RuleInfo] = {
    rule.id: RuleInfo(
        rule.id,
        rule.severity,
        rule.message,
        rule.label,
        rule.help,
        rule.docs,
        rule.fix,
        rule.checklist,
    )
    for rule in RULES
}


def describe(finding: Finding) -> RuleInfo:
    """The catalogue's description of the finding's rule, else one made from the finding."""
    return CATALOGUE.get(finding.rule) or RuleInfo(finding.rule, finding.severity, finding.message)


def referenced(findings: Iterable[Finding], everything: bool = False) -> list[RuleInfo]:
    """The rules `findings` refer to (all of the catalogue when `everything`), in
    catalogue order, then ids outside it in order of appearance."""
    found: dict[str, RuleInfo] = dict(CATALOGUE) if everything else {}
    for finding in findings:
        if finding.rule not in found:
            found[finding.rule] = describe(finding)
    order = {rule_id: n for n, rule_id in enumerate(CATALOGUE)}
    return sorted(found.values(), key=lambda info: order.get(info.id, len(order)))
