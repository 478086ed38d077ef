"""`--format text`: rustc's and clippy's layout, for people at a terminal.

    error[drop-unwrap]: `unwrap`/`expect` in `Drop`: a panic while unwinding aborts the process
     --> src/guard.rs:4:23
      |
    4 |         self.x.take().unwrap();
      |                       ^^^^^^ can panic while unwinding
      |
      = help: handle the error (`if let Err(e) = ..` and log it) instead of panicking
      = note: `dropsafe explain drop-unwrap` has the full page and the fix pattern

Every line of the span is shown (a long one: its first and last lines around a
`...`), a multi-line span bracketed in the margin as rustc does; a line over
140 characters shows 140 of them around the span, `...` where it is cut. Tabs show as
four spaces, as in rustc, so the marks line up; undecodable bytes were already
replaced when the lines were read. Colours are rustc's, and only when
`Style` says so (the CLI decides: `--color`, a terminal, `NO_COLOR`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from bot.formats.rules import describe
from rules.model import SEVERITIES, Finding

if TYPE_CHECKING:
    from bot.scan import ScanResult

# At most this many lines of a span are shown: the first HEAD and the last ones.
MAX_SPAN_LINES, HEAD = 6, 3
# A longer line shows MAX_WIDTH characters of itself from WINDOW_LEFT before
# the span, rustc's default width (140 columns) and its ellipsis
MAX_WIDTH, WINDOW_LEFT, ELLIPSIS = 140, 40, "..."
TAB = 4  # rustc shows a tab as four spaces
LEVEL_COLOURS = {"error": "31", "warning": "33", "notice": "32"}
BLUE = "34"


@dataclass(frozen=True)
class Style:
    """ANSI colours (SGR codes, as rustc and cargo print them), or none."""

    colour: bool = False

    def paint(self, text: str, code: str, bold: bool = True) -> str:
        if not self.colour or not text:
            return text
        return f"\x1b[{'1;' if bold else ''}{code}m{text}\x1b[0m"

    def bold(self, text: str) -> str:
        return f"\x1b[1m{text}\x1b[0m" if self.colour and text else text


def shown_lines(finding: Finding) -> list[int]:
    """The line numbers of the finding's span that the text format prints."""
    end = max(finding.end_line, finding.line)
    if end - finding.line < MAX_SPAN_LINES:
        return list(range(finding.line, end + 1))
    tail = MAX_SPAN_LINES - HEAD
    return [*range(finding.line, finding.line + HEAD), *range(end - tail + 1, end + 1)]


def render(result: ScanResult, style: Style | None = None) -> Iterator[str]:
    style = style or Style()
    for finding in result.findings:
        yield diagnostic(finding, result.lines, style) + "\n"
    for report in result.skipped:
        level = style.paint("warning", LEVEL_COLOURS["warning"])
        yield f"{level}{style.bold(f': skipped: {report.skipped}')}\n"
        yield f" {style.paint('-->', BLUE)} {report.path}\n\n"
    yield summary(result, style) + "\n"


def diagnostic(
    finding: Finding, lines: Mapping[tuple[str, int], str], style: Style | None = None
) -> str:
    """One finding in rustc's layout; the source lines are the ones in `lines`."""
    style = style or Style()
    info = describe(finding)
    colour = LEVEL_COLOURS[finding.severity]
    location = f"{finding.path}:{finding.line}:{finding.column}"
    shown = {
        n: lines[(finding.path, n)] for n in shown_lines(finding) if (finding.path, n) in lines
    }
    finding, shown = _windowed(finding, shown)
    width = len(str(max(shown, default=finding.line)))
    gutter = " " * width
    heading = style.paint(f"{finding.severity}[{finding.rule}]", colour)
    out = [
        f"{heading}{style.bold(': ' + finding.message)}",
        f"{gutter}{style.paint('-->', BLUE)} {location}",
    ]
    if shown:
        bar = style.paint(gutter + " |", BLUE)
        out.append(bar)
        previous = min(shown) - 1
        for n, (margin, marks) in _marks(finding, shown, info.label).items():
            if n != previous + 1:
                out.append(style.paint("...", BLUE))
            previous = n
            source = shown[n].expandtabs(TAB)
            out.append(f"{style.paint(f'{n:>{width}} |', BLUE)} {margin}{source}".rstrip())
            if marks:
                out.append(f"{bar} {style.paint(marks, colour)}")
        out.append(bar)
    notes = [("help", info.help)] if info.help else []
    if finding.chain:
        indent = "\n" + " " * (width + len(" = note: "))
        steps = "".join(f"{indent}{step.path}:{step.line}: {step.label}" for step in finding.chain)
        notes.append(("note", f"reached from `Drop` through{steps}"))
    if info.docs:
        more = "the full page and the fix pattern" if info.fix else "the full page"
        notes.append(("note", f"`dropsafe explain {finding.rule}` has {more}"))
    for kind, text in notes:
        out.append(f"{gutter} {style.paint('=', BLUE)} {style.bold(kind + ':')} {text}")
    return "\n".join(out) + "\n"


def _windowed(finding: Finding, shown: dict[int, str]) -> tuple[Finding, dict[int, str]]:
    """The shown lines with any longer than `MAX_WIDTH` characters cut to a
    window around the span's end on it, `...` on each cut side, as rustc
    trims long lines; and the finding with its columns moved to match.

    Printing a 100,000-character line whole under each of the thousands of
    findings it can hold would make gigabytes of text out of it."""
    first, last = finding.line, max(finding.end_line, finding.line)
    column, end_column = finding.column, finding.end_column
    for n, line in shown.items():
        if len(line) <= MAX_WIDTH:
            continue
        anchor = column if n == first else end_column if n == last else 1
        start = max(0, min(anchor - 1 - WINDOW_LEFT, len(line) - MAX_WIDTH))
        window = line[start : start + MAX_WIDTH]
        head = ELLIPSIS if start else ""
        tail = ELLIPSIS if start + MAX_WIDTH < len(line) else ""
        shown[n] = head + window + tail
        moved = len(head) - start
        if n == first:
            column += moved
            if last == first:
                end_column = min(end_column + moved, len(head) + len(window) + 1)
        elif n == last:
            end_column = min(end_column + moved, len(head) + len(window) + 1)
    return replace(finding, column=max(column, 1), end_column=max(end_column, 1)), shown


def _marks(finding: Finding, lines: Mapping[int, str], label: str) -> dict[int, tuple[str, str]]:
    """For each shown line, in order: the margin before its source and the marks under it.

    One line: carets under the span. Several: rustc's bracket, `/` (or a `_`
    line to the start column) on the first line, `|` down the margin, and
    `|___^` to the last column on the last line; the label follows the marks.
    """
    first, last = min(lines), max(lines)
    tail = f" {label}" if label else ""
    start = _display_column(lines[first], finding.column)
    if first == last:
        text = lines[first].expandtabs(TAB).rstrip()
        end = (
            len(text)
            if finding.end_line > first
            else _display_column(lines[first], finding.end_column)
        )
        return {first: ("", " " * start + "^" * max(1, end - start) + tail)}
    marks = {n: ("| ", "") for n in sorted(lines)}
    if lines[first].expandtabs(TAB)[:start].strip():
        marks[first] = ("  ", " " + "_" * (start + 1) + "^")
    else:
        marks[first] = ("/ ", "")
    end = _display_column(lines[last], finding.end_column)
    marks[last] = ("| ", "|" + "_" * max(0, end) + "^" + tail)
    return marks


def _display_column(source_line: str, column: int) -> int:
    """The 0-based place of 1-based character `column` once tabs are expanded
    (past the end of the line, as far past as the column says)."""
    prefix = source_line[: max(0, column - 1)]
    return len(prefix.expandtabs(TAB)) + max(0, column - 1 - len(prefix))


def summary(result: ScanResult, style: Style | None = None) -> str:
    """cargo's closing line: the findings per severity, the files, and
    everything left out and why. Its level is the worst finding's."""
    style = style or Style()
    findings = result.findings
    files = _count(result.analysed, "file")
    if not findings:
        line = f"{style.bold('dropsafe')}: no findings in {files}"
    else:
        by_severity = Counter(finding.severity for finding in findings)
        worst = next(s for s in reversed(SEVERITIES) if by_severity[s])
        levels = ", ".join(
            _count(by_severity[s], s) for s in reversed(SEVERITIES) if by_severity[s]
        )
        head = style.paint(worst, LEVEL_COLOURS[worst])
        line = f"{head}: {_count(len(findings), 'finding')} ({levels}) in {files}"
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
