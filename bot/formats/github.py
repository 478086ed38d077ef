"""`--format github`: GitHub Actions workflow commands, one annotation per finding.

    ::error file=src/guard.rs,line=3,endLine=3,col=45,endColumn=54,title=dropsafe(drop-unwrap)::...

Escaping follows @actions/core's `issueCommand`: in the message `%`, CR and LF
are percent-encoded; in property values `:` and `,` are too, since they delimit.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from rules.model import Finding

if TYPE_CHECKING:
    from bot.scan import ScanResult

COMMANDS = {"error": "error", "warning": "warning", "notice": "notice"}


def render(result: ScanResult) -> Iterator[str]:
    for finding in result.findings:
        yield annotation(finding) + "\n"
    for report in result.skipped:
        yield command("warning", f"skipped: {report.skipped}", file=report.path, title="dropsafe")
        yield "\n"


def annotation(finding: Finding) -> str:
    properties = {"file": finding.path, "line": str(finding.line)}
    if finding.end_line > finding.line:
        # GitHub takes columns only for a single-line annotation.
        properties["endLine"] = str(finding.end_line)
    else:
        properties |= {"endLine": str(finding.line), "col": str(finding.column)}
        if finding.end_column > finding.column:
            properties["endColumn"] = str(finding.end_column)
    properties["title"] = f"dropsafe({finding.rule})"
    return command(COMMANDS[finding.severity], finding.message, **properties)


def command(name: str, message: str, **properties: str) -> str:
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
    head = f"::{name} {props}" if props else f"::{name}"
    return f"{head}::{escape_data(message)}"


def escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")
