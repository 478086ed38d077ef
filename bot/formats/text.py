"""`--format text`: rustc-like, for people at a terminal.

    src/guard.rs:3:45: error[drop-unwrap]: `.unwrap()` in Drop ...
      3 |     fn drop(&mut self) { self.x.take().unwrap(); }
        |                                         ^^^^^^^^^

The caret line copies the tabs of the source line so it lines up whatever the
tab width; undecodable bytes were already replaced when the line was read.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from rules.model import SEVERITIES, Finding

if TYPE_CHECKING:
    from bot.scan import ScanResult


def render(result: ScanResult) -> str:
    blocks = [finding_block(f, result.lines.get((f.path, f.line))) for f in result.findings]
    return "".join(block + "\n" for block in blocks) + summary(result) + "\n"


def finding_block(finding: Finding, source_line: str | None) -> str:
    """The heading line of one finding, then its source line with a caret under it."""
    heading = (
        f"{finding.path}:{finding.line}:{finding.column}: "
        f"{finding.severity}[{finding.rule}]: {finding.message}"
    )
    if source_line is None:
        return heading + "\n"
    gutter = " " * len(str(finding.line))
    return (
        f"{heading}\n {finding.line} | {source_line}\n {gutter} | {caret(source_line, finding)}\n"
    )


def caret(source_line: str, finding: Finding) -> str:
    """Carets under the finding's columns (1-based characters; end column exclusive)."""
    start = finding.column - 1
    indent = "".join("\t" if char == "\t" else " " for char in source_line[:start])
    indent += " " * (start - len(indent))
    end = finding.end_column - 1 if finding.end_line == finding.line else len(source_line)
    width = max(1, min(end, len(source_line)) - start)
    return indent + "^" * width


def summary(result: ScanResult) -> str:
    """One line: files, findings per severity, and everything left out and why."""
    findings = result.findings
    files = _count(len(result.reports), "file")
    if not findings:
        line = f"dropsafe: no findings in {files}"
    else:
        by_severity = Counter(finding.severity for finding in findings)
        levels = ", ".join(
            _count(by_severity[s], s) for s in reversed(SEVERITIES) if by_severity[s]
        )
        line = f"dropsafe: {_count(len(findings), 'finding')} ({levels}) in {files}"
    suppressed = sum(report.suppressed for report in result.reports)
    out_of_scope = sum(report.out_of_scope for report in result.reports)
    notes = [
        f"{suppressed} suppressed" if suppressed else "",
        f"{out_of_scope} outside the touched lines" if out_of_scope else "",
        f"{_count(len(result.skipped), 'file')} skipped" if result.skipped else "",
    ]
    kept = [note for note in notes if note]
    return line + ("; " + "; ".join(kept) if kept else "")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
