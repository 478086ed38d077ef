"""`--format sarif`: a SARIF 2.1.0 log that GitHub code scanning accepts.

Code scanning tracks an alert across pushes by `partialFingerprints`; ours
hashes the rule, the path, the enclosing item and the normalized code, never
the line, so an alert survives code moving above it. Identical findings in one
item are told apart by an occurrence number, as CodeQL does.
"""

from __future__ import annotations

import json
from collections import Counter
from importlib import metadata
from typing import TYPE_CHECKING
from urllib.parse import quote

from rules.catalogue import RULES
from rules.docs import section
from rules.model import Finding, Rule

if TYPE_CHECKING:
    from bot.scan import ScanResult

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT = "dropsafe/v1"
LEVELS = {"error": "error", "warning": "warning", "notice": "note"}


def render(result: ScanResult) -> str:
    return json.dumps(sarif_log(result), indent=2, ensure_ascii=False) + "\n"


def sarif_log(result: ScanResult) -> dict[str, object]:
    findings = result.findings
    descriptors = [rule_descriptor(rule) for rule in RULES]
    index = {rule.id: n for n, rule in enumerate(RULES)}
    for finding in findings:  # e.g. the engine's unknown-allow-id notice
        if finding.rule not in index:
            index[finding.rule] = len(descriptors)
            descriptors.append(_ad_hoc_descriptor(finding))
    notifications = [
        {
            "level": "note",
            "message": {"text": f"skipped: {report.skipped}"},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri(report.path)}}}],
        }
        for report in result.skipped
    ]
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {"name": "dropsafe", "version": _version(), "rules": descriptors}
                },
                "invocations": [
                    {"executionSuccessful": True, "toolExecutionNotifications": notifications}
                ],
                "columnKind": "unicodeCodePoints",
                "results": _results(findings, index),
            }
        ],
    }


def rule_descriptor(rule: Rule) -> dict[str, object]:
    """The rule's SARIF reportingDescriptor: its docs page (and fix pattern) as help."""
    help_markdown = rule.docs if rule.fix is None else f"{rule.docs}\n{rule.fix.markdown}"
    return {
        "id": rule.id,
        "shortDescription": {"text": rule.message},
        "fullDescription": {"text": section(rule.docs, "What it does") or rule.message},
        "help": {"text": help_markdown, "markdown": help_markdown},
        "defaultConfiguration": {"level": LEVELS[rule.severity]},
        "properties": {"tags": ["drop-safety", *rule.checklist]},
    }


def uri(path: str) -> str:
    """A relative URI reference for a "/"-separated path (absolute ones become file: URIs).

    Undecodable bytes of a file name (kept as surrogates by `os.fsdecode`) are
    percent-encoded as the bytes they were."""
    quoted = quote(path, errors="surrogateescape")
    return "file://" + quoted if path.startswith("/") else quoted


def _results(findings: list[Finding], index: dict[str, int]) -> list[dict[str, object]]:
    occurrences: Counter[str] = Counter()
    results = []
    for finding in findings:
        key = finding.fingerprint()
        occurrences[key] += 1
        results.append(
            {
                "ruleId": finding.rule,
                "ruleIndex": index[finding.rule],
                "level": LEVELS[finding.severity],
                "message": {"text": finding.message},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": uri(finding.path)},
                            "region": _region(finding),
                        }
                    }
                ],
                "partialFingerprints": {FINGERPRINT: f"{key}:{occurrences[key]}"},
            }
        )
    return results


def _region(finding: Finding) -> dict[str, int]:
    region = {"startLine": finding.line, "startColumn": finding.column}
    end_line = max(finding.end_line, finding.line)
    region["endLine"] = end_line
    # SARIF's endColumn is exclusive; without one the region runs to the end of the line.
    if end_line > finding.line or finding.end_column > finding.column:
        region["endColumn"] = finding.end_column
    return region


def _ad_hoc_descriptor(finding: Finding) -> dict[str, object]:
    return {
        "id": finding.rule,
        "shortDescription": {"text": finding.message},
        "defaultConfiguration": {"level": LEVELS[finding.severity]},
    }


def _version() -> str:
    try:
        return metadata.version("dropsafe")
    except metadata.PackageNotFoundError:
        return "0+unknown"
