"""`--format sarif`: a SARIF 2.1.0 log that GitHub code scanning accepts.

Code scanning tracks an alert across pushes by `partialFingerprints`; ours
hashes the rule, the path, the enclosing item and the normalized code, never
the line, so an alert survives code moving above it. Identical findings in one
item are told apart by an occurrence number, as CodeQL does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING
from urllib.parse import quote

from bot import version
from bot.formats.jsonstream import ITEMS, dump
from bot.formats.rules import RuleInfo, referenced
from rules.docs import section
from rules.model import Finding

if TYPE_CHECKING:
    from bot.scan import ScanResult

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT = "dropsafe/v1"
LEVELS = {"error": "error", "warning": "warning", "notice": "note"}


def render(result: ScanResult) -> Iterator[str]:
    """The log, its results written one a line as they are made (see `jsonstream`)."""
    rules = referenced(result.findings, everything=True)
    return dump(_log(result, rules, ITEMS), _results(result.findings, rules))


def sarif_log(result: ScanResult) -> dict[str, object]:
    """The whole log as one object, for callers that want it in memory."""
    rules = referenced(result.findings, everything=True)
    return _log(result, rules, list(_results(result.findings, rules)))


def _log(result: ScanResult, rules: list[RuleInfo], results: object) -> dict[str, object]:
    notifications = [
        {
            "level": "warning",
            "message": {"text": f"skipped: {report.skipped}"},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri(report.path)}}}],
        }
        for report in result.skipped
    ]
    driver = {"name": "dropsafe", "version": version(), "rules": list(map(rule_descriptor, rules))}
    run = {
        "tool": {"driver": driver},
        "invocations": [{"executionSuccessful": True, "toolExecutionNotifications": notifications}],
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}


def rule_descriptor(rule: RuleInfo) -> dict[str, object]:
    """The rule's SARIF reportingDescriptor: its docs page and fix pattern, once, as help."""
    descriptor: dict[str, object] = {
        "id": rule.id,
        "shortDescription": {"text": rule.summary},
        "defaultConfiguration": {"level": LEVELS[rule.severity]},
    }
    if rule.docs:
        markdown = rule.docs if rule.fix is None else f"{rule.docs}\n{rule.fix.markdown}"
        fix = f"Fix: {rule.help}\n\n" if rule.help else ""
        descriptor |= {
            "fullDescription": {"text": section(rule.docs, "What it does") or rule.summary},
            "help": {"text": fix + rule.docs, "markdown": fix + markdown},
            "properties": {"tags": ["drop-safety", *rule.checklist]},
        }
    return descriptor


def uri(path: str) -> str:
    """A relative URI reference for a "/"-separated path (absolute ones become file: URIs).

    Undecodable bytes of a file name (kept as surrogates by `os.fsdecode`) are
    percent-encoded as the bytes they were."""
    quoted = quote(path, errors="surrogateescape")
    return "file://" + quoted if path.startswith("/") else quoted


def _results(findings: Iterable[Finding], rules: list[RuleInfo]) -> Iterator[dict[str, object]]:
    index = {info.id: n for n, info in enumerate(rules)}
    occurrences: Counter[str] = Counter()
    for finding in findings:
        key = finding.fingerprint()
        occurrences[key] += 1
        result: dict[str, object] = {
            "ruleId": finding.rule,
            "ruleIndex": index[finding.rule],
            "level": LEVELS[finding.severity],
            "message": {"text": finding.message},
            "locations": [_location(finding.path, _region(finding))],
            "partialFingerprints": {FINGERPRINT: f"{key}:{occurrences[key]}"},
        }
        if finding.chain:
            result["codeFlows"] = [_code_flow(finding)]
        yield result


def _code_flow(finding: Finding) -> dict[str, object]:
    """The calls from `fn drop` to the finding, as SARIF's thread flow, ending at the finding."""
    steps = [
        {
            "location": {
                **_location(step.path, {"startLine": step.line}),
                "message": {"text": step.label},
            }
        }
        for step in finding.chain
    ]
    last = finding.chain[-1]
    if (last.path, last.line) != (finding.path, finding.line):
        steps.append({"location": _location(finding.path, _region(finding))})
    return {"threadFlows": [{"locations": steps}]}


def _location(path: str, region: dict[str, int]) -> dict[str, object]:
    return {"physicalLocation": {"artifactLocation": {"uri": uri(path)}, "region": region}}


def _region(finding: Finding) -> dict[str, int]:
    region = {"startLine": finding.line, "startColumn": finding.column}
    end_line = max(finding.end_line, finding.line)
    region["endLine"] = end_line
    # SARIF's endColumn is exclusive; without one the region runs to the end of the line.
    if end_line > finding.line or finding.end_column > finding.column:
        region["endColumn"] = finding.end_column
    return region
