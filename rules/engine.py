"""The engine: source bytes and touched lines in, findings out.

Pure: no files, no network, no clock. The CLI and the App build `SourceFile`s
(with the touched lines their scope mode gives) and call `analyze`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from tree_sitter import Node

from rules.catalogue import RULE_IDS, RULES
from rules.config import Settings
from rules.model import ChainStep, Finding, Hit, Rule, Severity, capped
from rules.rust.context import FileContext, is_test_path
from rules.rust.crate import CrateModel, FileItems, Reached, summary_functions
from rules.rust.excuses import EXCUSES, key_of
from rules.rust.parsing import captures, column, text
from rules.rust.syntax import macro_name
from rules.suppress import Allowances, find_allowances

# Parsing stays fast well past this, but a multi-megabyte .rs file is generated
# code nobody reviews by hand; skipping it (with a notice) bounds a review.
MAX_SOURCE_BYTES = 4 * 1024 * 1024
UNKNOWN_ALLOW = "unknown-allow-id"
_CODE_LIMIT = 200
_NAMES = "[(identifier) (type_identifier)] @name"
_SUPERSEDES = {rule.id: rule.supersedes for rule in RULES if rule.supersedes is not None}


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


@dataclass(frozen=True, slots=True)
class Hazard:
    """A Drop rule's finding in function `function` of a file, as if that
    function ran in Drop (`rules.rust.syntax.in_drop`): reported only where
    the crate model finds `fn drop` reaching it without the rule's `excuse`.
    `label` names it at the end of a chain; `allowed`: an allow comment
    silences it."""

    function: int
    excuse: str | None
    finding: Finding
    label: str
    allowed: bool


@dataclass(frozen=True, slots=True)
class FilePart:
    """One file analysed on its own, before the crate is known: its report
    (every finding that needs no crate), its item summary and Drop hazards,
    its allow comments and touched lines (for findings placed there later),
    and the names a test file mentions (drop-untested). Plain data, so a
    process-pool worker can send it back."""

    report: FileReport
    touched: frozenset[int] | None = None
    items: FileItems | None = None
    hazards: tuple[Hazard, ...] = ()
    allowances: Allowances | None = None
    names: frozenset[str] = frozenset()


def analyze_files(
    files: Iterable[SourceFile],
    settings: Settings | None = None,
    manifests: Mapping[str, str] | None = None,
) -> list[FileReport]:
    """Analyse the files of one or more crates in this process. `manifests`
    maps the path of each `Cargo.toml` (same coordinates as the files' paths)
    to its text; without one a file is a crate of its own. Test files go
    first, so the names they mention reach the others (drop-untested)."""
    files = list(files)
    parts = {n: analyze_part(f, settings) for n, f in enumerate(files) if is_test_path(f.path)}
    names = frozenset[str]().union(*(part.names for part in parts.values()))
    for n, file in enumerate(files):
        if n not in parts:
            parts[n] = analyze_part(file, settings, names)
    return link([parts[n] for n in range(len(files))], settings, manifests)


def analyze(
    file: SourceFile,
    settings: Settings | None = None,
    test_names: frozenset[str] = frozenset(),
) -> FileReport:
    """The report of one file taken as a crate of its own; `test_names` are
    the names test files elsewhere mention: a Drop type named there counts as
    tested."""
    return link([analyze_part(file, settings, test_names)], settings)[0]


def over_size_limit(size: int) -> str | None:
    """Why a file of `size` bytes is not analysed, or None when it is small enough."""
    if size <= MAX_SOURCE_BYTES:
        return None
    return f"{size / 2**20:.1f} MB is over the {MAX_SOURCE_BYTES // 2**20} MB limit"


def analyze_part(
    file: SourceFile,
    settings: Settings | None = None,
    test_names: frozenset[str] = frozenset(),
) -> FilePart:
    """A file's part of a crate analysis (see `FilePart`), from one parse."""
    settings = settings or Settings()
    skipped = over_size_limit(len(file.source))
    if skipped is not None:
        return FilePart(FileReport(file.path, (), skipped=skipped), file.touched)
    ctx = FileContext(file.path, file.source, test_names)
    allowances = find_allowances(file.source, ctx.root, RULE_IDS)
    collector = _Collector(ctx, file.touched, allowances)
    functions = summary_functions(ctx)
    hazards: list[Hazard] = []
    present: dict[bytes, bool] = {}
    for rule in RULES:
        severity = _effective_severity(rule, settings)
        if severity is None or not _mentions_any(file.source, rule.needles, present):
            continue
        for hit in rule.check(ctx):
            if not settings.tests and ctx.is_test(hit.node):
                continue
            if hit.scope is None:
                collector.add(rule, severity, hit)
                continue
            index = functions.index_of(hit.scope.function)
            if index is not None:
                finding = collector.finding(rule, severity, hit)
                allowed = allowances.allows(rule.id, finding.line)
                label = _label(ctx, hit.node)
                hazards.append(
                    Hazard(
                        index,
                        key_of(hit.scope.excused) if hit.scope.excused else None,
                        finding,
                        label,
                        allowed,
                    )
                )
    for unknown in allowances.unknown:
        collector.add_unknown_allow(unknown.rule_id, unknown.line, unknown.column)
    report = FileReport(
        path=file.path,
        findings=tuple(collector.findings.values()),
        suppressed=collector.suppressed,
        out_of_scope=collector.out_of_scope,
        drop_impls=tuple(_drop_impl_info(ctx, file.touched)),
    )
    names = (
        frozenset(map(text, captures(_NAMES, ctx.root).get("name", [])))
        if ctx.test_file
        else frozenset()
    )
    items = functions.items(list(EXCUSES.items()))
    return FilePart(report, file.touched, items, tuple(hazards), allowances, names)


def link(
    parts: Sequence[FilePart],
    settings: Settings | None = None,
    manifests: Mapping[str, str] | None = None,
) -> list[FileReport]:
    """The reports of files analysed apart, once their crates are known:
    test code (a test target, a `#[cfg(test)] mod tests;` file) is left out
    unless the settings ask for it, and each Drop hazard is reported where
    `fn drop` reaches it (see `_Reacher`). Reports in the order of `parts`."""
    settings = settings or Settings()
    analysed = [n for n, part in enumerate(parts) if part.items is not None]
    model = CrateModel([parts[n].items for n in analysed], manifests or {})  # type: ignore[misc]
    linked = [_Linked(part) for part in parts]
    by_path = {entry.part.report.path: entry for entry in linked}
    for position, n in enumerate(analysed):
        if model.is_test_file(position) and not settings.tests:
            linked[n].findings.clear()
            continue
        for hazard in parts[n].hazards:
            how = model.reached(hazard.excuse, settings.tests).get((position, hazard.function))
            if how is not None:
                _place_hazard(linked[n], by_path, hazard, how)
    return [entry.report() for entry in linked]


class _Linked:
    """A file's report being completed by `link`."""

    def __init__(self, part: FilePart) -> None:
        self.part = part
        self.findings = {(f.rule, f.line, f.column): f for f in part.report.findings}
        self.suppressed = part.report.suppressed
        self.out_of_scope = part.report.out_of_scope

    def add(self, finding: Finding, allowed: bool) -> None:
        touched = self.part.touched
        if allowed:
            self.suppressed += 1
        elif touched is not None and finding.line not in touched:
            self.out_of_scope += 1
        else:
            self.findings.setdefault((finding.rule, finding.line, finding.column), finding)
            superseded = _SUPERSEDES.get(finding.rule)
            if superseded is not None:
                self.findings.pop((superseded, finding.line, finding.column), None)

    def report(self) -> FileReport:
        base = self.part.report
        return FileReport(
            path=base.path,
            findings=tuple(sorted(self.findings.values(), key=_order)),
            suppressed=self.suppressed,
            out_of_scope=self.out_of_scope,
            skipped=base.skipped,
            drop_impls=base.drop_impls,
        )


def _place_hazard(
    entry: _Linked, by_path: Mapping[str, _Linked], hazard: Hazard, how: Reached
) -> None:
    """Report a reached hazard at its own line and, when it lies in another
    file than `fn drop`, at the call in `fn drop` that leads to it too (a
    pull request may touch either); both name the chain."""
    finding = hazard.finding
    if not how.calls:
        entry.add(finding, hazard.allowed)
        return
    via = " -> ".join(step.label for step in how.calls)
    reached = f" (reached from Drop for {how.owner} via {via})"
    chain = (
        ChainStep(how.path, how.line, f"Drop for {how.owner}"),
        *(ChainStep(step.path, step.line, step.label) for step in how.calls),
        ChainStep(finding.path, finding.line, hazard.label),
    )
    entry.add(replace(finding, message=finding.message + reached, chain=chain), hazard.allowed)
    if finding.path == how.path:
        return
    first = how.calls[0]
    root = by_path[how.path]
    allowances = root.part.allowances
    at_call = replace(
        finding,
        path=first.path,
        line=first.line,
        end_line=first.line,
        column=first.column,
        end_column=first.column,
        message=f"{finding.message} at {finding.path}:{finding.line}{reached}",
        item=how.item,
        code=first.code,
        chain=chain,
    )
    allowed = allowances is not None and allowances.allows(finding.rule, first.line)
    root.add(at_call, allowed)


def _label(ctx: FileContext, node: Node) -> str:
    """How a chain's last step names the hazard: `unwrap()`, `panic!`, the call."""
    if node.type in {"field_identifier", "identifier"}:
        return f"{ctx.text(node)}()"
    if node.type == "macro_invocation":
        return f"{macro_name(node)}!"
    function = node.child_by_field_name("function") if node.type == "call_expression" else None
    if function is not None:
        node = function
        return f"{ctx.text(function).split(chr(10), 1)[0].strip()[:60]}()"
    first = ctx.text(node).split("\n", 1)[0].strip()
    return first if len(first) <= 60 else first[:57] + "..."


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
        finding = self.finding(rule, severity, hit, anchor)
        self.findings.setdefault((rule.id, finding.line, finding.column), finding)

    def finding(
        self, rule: Rule, severity: Severity, hit: Hit, anchor: tuple[int, int] | None = None
    ) -> Finding:
        """The finding `hit` makes, anchored at `anchor` (default: its node's start)."""
        node = hit.node
        line = node.start_point[0] + 1
        start_line, start_column = anchor or (line, column(self.ctx.source, node.start_byte))
        spans_node = start_line == line and not hit.whole  # else a point (a whole item)
        return Finding(
            rule=rule.id,
            severity=capped(severity, hit.at_most),
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
