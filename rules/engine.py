"""The engine: source bytes and touched lines in, findings out.

Pure: no files, no network, no clock. The CLI and the App build `SourceFile`s
(with the touched lines their scope mode gives) and call `analyze`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tree_sitter import Node

from rules.catalogue import RULE_IDS, RULES
from rules.config import Settings
from rules.model import Finding, Hit, Rule, Severity
from rules.rust.context import FileContext, is_test_path
from rules.rust.parsing import captures, column, text
from rules.suppress import Allowances, find_allowances

# Parsing stays fast well past this, but a multi-megabyte .rs file is generated
# code nobody reviews by hand; skipping it (with a notice) bounds a review.
MAX_SOURCE_BYTES = 4 * 1024 * 1024
UNKNOWN_ALLOW = "unknown-allow-id"
_CODE_LIMIT = 200
_NAMES = "[(identifier) (type_identifier)] @name"


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: str
    source: bytes
    touched: frozenset[int] | None = None  # 1-based lines that count; None: every line


@dataclass(frozen=True, slots=True)
class DropImplInfo:
    """One `impl Drop for T`, for the App's per-impl checklist table."""

    type_name: str
    line: int
    end_line: int
    touched: bool


@dataclass(frozen=True, slots=True)
class FileReport:
    path: str
    findings: tuple[Finding, ...]
    suppressed: int = 0
    out_of_scope: int = 0
    skipped: str | None = None
    drop_impls: tuple[DropImplInfo, ...] = ()


def analyze_files(
    files: Iterable[SourceFile], settings: Settings | None = None
) -> list[FileReport]:
    """Analyse several files of one change in this process: the test files
    first, so the names they mention reach the others (`analyze_test_file`)."""
    files = list(files)
    tested = {
        n: analyze_test_file(f, settings) for n, f in enumerate(files) if is_test_path(f.path)
    }
    names = frozenset[str]().union(*(found for _, found in tested.values()))
    return [
        tested[n][0] if n in tested else analyze(f, settings, names) for n, f in enumerate(files)
    ]


def analyze(
    file: SourceFile,
    settings: Settings | None = None,
    test_names: frozenset[str] = frozenset(),
) -> FileReport:
    """The file's report; `test_names` are the names test files elsewhere in
    the change mention: a Drop type named there counts as tested."""
    return _analyze(file, settings or Settings(), test_names)[0]


def analyze_test_file(
    file: SourceFile, settings: Settings | None = None
) -> tuple[FileReport, frozenset[str]]:
    """A test file's report and the names it mentions (the `test_names` of the
    other files), from one parse. Its own analysis needs no names from
    elsewhere: drop-untested does not look at test code."""
    report, ctx = _analyze(file, settings or Settings(), frozenset())
    if ctx is None or not ctx.test_file:
        return report, frozenset()
    return report, frozenset(map(text, captures(_NAMES, ctx.root).get("name", [])))


def _analyze(
    file: SourceFile, settings: Settings, test_names: frozenset[str]
) -> tuple[FileReport, FileContext | None]:
    if len(file.source) > MAX_SOURCE_BYTES:
        size = len(file.source) / (1024 * 1024)
        limit = MAX_SOURCE_BYTES // (1024 * 1024)
        skipped = f"{size:.1f} MB is over the {limit} MB limit"
        return FileReport(file.path, (), skipped=skipped), None
    ctx = FileContext(file.path, file.source, test_names)
    allowances = find_allowances(file.source, ctx.root, RULE_IDS)
    collector = _Collector(ctx, file.touched, allowances)
    present: dict[bytes, bool] = {}
    for rule in RULES:
        severity = _effective_severity(rule, settings)
        if severity is None or not _mentions_any(file.source, rule.needles, present):
            continue
        for hit in rule.check(ctx):
            if rule.production_only and ctx.is_test(hit.node):
                continue
            collector.add(rule, severity, hit)
    for unknown in allowances.unknown:
        collector.add_unknown_allow(unknown.rule_id, unknown.line, unknown.column)
    report = FileReport(
        path=file.path,
        findings=tuple(sorted(collector.findings.values(), key=_order)),
        suppressed=collector.suppressed,
        out_of_scope=collector.out_of_scope,
        drop_impls=tuple(_drop_impl_info(ctx, file.touched)),
    )
    return report, ctx


def _mentions_any(source: bytes, needles: tuple[bytes, ...], seen: dict[bytes, bool]) -> bool:
    """The rule family pre-check; rules share needles, so each is searched once."""
    for needle in needles:
        if needle not in seen:
            seen[needle] = needle in source
        if seen[needle]:
            return True
    return not needles


def _effective_severity(rule: Rule, settings: Settings) -> Severity | None:
    # load_settings admits only off|notice|warning|error, so this is a Severity
    return settings.severity_of(rule.id, rule.severity)  # type: ignore[return-value]


def _order(finding: Finding) -> tuple[int, int, str]:
    return finding.line, finding.column, finding.rule


class _Collector:
    """Turns hits into findings, applying allow comments and the touched lines."""

    def __init__(
        self, ctx: FileContext, touched: frozenset[int] | None, allowances: Allowances
    ) -> None:
        self.ctx = ctx
        self.touched = touched
        self.allowances = allowances
        self.findings: dict[tuple[str, int, int], Finding] = {}
        self.suppressed = 0
        self.out_of_scope = 0

    def add(self, rule: Rule, severity: Severity, hit: Hit) -> None:
        node = hit.node
        line = node.start_point[0] + 1
        if self.allowances.allows(rule.id, line):
            self.suppressed += 1
            return
        anchor = self._anchor(node, hit.whole)
        if anchor is None:
            self.out_of_scope += 1
            return
        start_line, start_column = anchor
        spans_node = start_line == line and not hit.whole  # else a point (a whole item)
        finding = Finding(
            rule=rule.id,
            severity=severity,
            path=self.ctx.path,
            line=start_line,
            end_line=node.end_point[0] + 1 if spans_node else start_line,
            column=start_column,
            end_column=column(self.ctx.source, node.end_byte) if spans_node else start_column,
            message=hit.message or rule.message,
            fix=rule.fix.markdown if rule.fix else None,
            item=self.ctx.item_path(node),
            code=self._line_code(node, hit.whole),
        )
        self.findings.setdefault((rule.id, finding.line, finding.column), finding)

    def add_unknown_allow(self, rule_id: str, line: int, column: int) -> None:
        if self.touched is not None and line not in self.touched:
            self.out_of_scope += 1
            return
        finding = Finding(
            rule=UNKNOWN_ALLOW,
            severity="notice",
            path=self.ctx.path,
            line=line,
            end_line=line,
            column=column,
            end_column=column,
            message=f"`dropsafe:allow` names unknown rule `{rule_id}`",
            code=f"dropsafe:allow({rule_id})",
        )
        self.findings.setdefault((UNKNOWN_ALLOW, line, column), finding)

    def _anchor(self, node: Node, whole: bool) -> tuple[int, int] | None:
        """(line, column) to report at, or None when the finding is out of scope."""
        line = node.start_point[0] + 1
        if self.touched is None or line in self.touched:
            return line, column(self.ctx.source, node.start_byte)
        if not whole:
            return None
        inside = [n for n in self.touched if line <= n <= node.end_point[0] + 1]
        return (min(inside), 1) if inside else None

    def _line_code(self, node: Node, whole: bool) -> str:
        """The anchor's source line, whitespace collapsed (the whole node's first
        line for whole-item findings): stable when code above it moves."""
        source = self.ctx.source
        start = node.start_byte if whole else source.rfind(b"\n", 0, node.start_byte) + 1
        end = source.find(b"\n", node.start_byte)
        text = source[start : end if end >= 0 else len(source)].decode("utf-8", "replace")
        return " ".join(text.split())[:_CODE_LIMIT]


def _drop_impl_info(ctx: FileContext, touched: frozenset[int] | None) -> Iterable[DropImplInfo]:
    for impl in ctx.drop_impls:
        start, end = impl.impl.start_point[0] + 1, impl.impl.end_point[0] + 1
        hit = touched is None or any(start <= n <= end for n in touched)
        yield DropImplInfo(impl.type_name, start, end, hit)
