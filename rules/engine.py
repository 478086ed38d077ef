"""The engine: source bytes and touched lines in, findings out.

Pure: no files, no network, no clock. The CLI and the App build `SourceFile`s
(with the touched lines their scope mode gives) and call `analyze`.
"""

from __future__ import annotations

import heapq
import posixpath
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from tree_sitter import Node

from rules.catalogue import RULE_IDS, RULES
from rules.config import Settings
from rules.model import ChainStep, Finding, Hit, Rule, Severity, capped, pickled_as_call
from rules.rust.context import FileContext, is_test_path, words_among
from rules.rust.crate import Call, CrateModel, FileItems, FnRef, Reached, summary_functions
from rules.rust.excuses import EXCUSES, key_of
from rules.rust.parsing import node_texts
from rules.rust.syntax import macro_name
from rules.suppress import ALLOW_MARK, Allowances, find_allowances

# Parsing stays fast well past this, but a multi-megabyte .rs file is generated
# code nobody reviews by hand; skipping it (with a notice) bounds a review.
MAX_SOURCE_BYTES = 4 * 1024 * 1024
UNKNOWN_ALLOW = "unknown-allow-id"
_NAMES = frozenset({"identifier", "type_identifier"})
Span = tuple[int, int, int, int]  # line, column, end line, end column (1-based)
_TEST_MODULE_FILES = frozenset({"tests.rs", "test.rs"})
_UNTESTED = "drop-untested"
_SUPERSEDES = {rule.id: rule.supersedes for rule in RULES if rule.supersedes is not None}
_REACHED_AT_MOST = {rule.id: rule.reached_at_most for rule in RULES if rule.reached_at_most}


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: str
    source: bytes
    touched: frozenset[int] | None = None  # 1-based lines that count; None: every line


@pickled_as_call
@dataclass(frozen=True, slots=True)
class DropImplInfo:
    """One `impl Drop for T`, for the App's per-impl checklist table."""

    type_name: str
    line: int
    end_line: int
    touched: bool


@pickled_as_call
@dataclass(frozen=True, slots=True)
class FileReport:
    path: str
    findings: tuple[Finding, ...]
    suppressed: int = 0
    out_of_scope: int = 0
    skipped: str | None = None
    drop_impls: tuple[DropImplInfo, ...] = ()


@pickled_as_call
@dataclass(frozen=True, slots=True)
class Hazard:
    """A Drop rule's finding in function `function` of a file, found when the
    crate model asked about that function (`rules.rust.syntax.in_drop`); it is
    reported where `fn drop` reaches the function without the rule's `excuse`
    covering a call on the way. `label` names it at the end of a chain;
    `allowed`: an allow comment silences it."""

    function: int
    excuse: str | None
    finding: Finding
    label: str
    allowed: bool


@pickled_as_call
@dataclass(frozen=True, slots=True)
class FilePart:
    """One file analysed on its own, before its crate is known: its report
    (every finding that needs no crate), item summary, allow comments and
    touched lines (for findings placed there later). Plain data: a pool
    worker sends it back. `items` is None for a file not analysed: skipped,
    or test code set aside (`Analysis.add`)."""

    report: FileReport
    touched: frozenset[int] | None = None
    items: FileItems | None = None
    allowances: Allowances | None = None
    # what linking would ask, answered up front (`analyze_part`); None: ask `Details`
    calls: Mapping[int, tuple[Call, ...]] | None = None
    hazards: tuple[Hazard, ...] | None = None
    names: frozenset[str] = frozenset()  # every name a test file spells (`Details.named`)


class Details(Protocol):
    """What linking asks of whoever holds the parsed files (this process's
    `Analysis`, or the workers of a pool), by file path and function index."""

    def calls(
        self, wanted: Mapping[str, list[int]]
    ) -> Mapping[str, Mapping[int, tuple[Call, ...]]]:
        """Each function's calls (`FileFunctions.calls_of`)."""
        ...

    def hazards(self, wanted: Mapping[str, list[int]]) -> Mapping[str, list[Hazard]]:
        """What the Drop rules find in those functions."""
        ...

    def named(self, paths: Collection[str], names: Collection[str]) -> set[str]:
        """Those of `names` that one of the files (each taken as test code as
        a whole) spells as a name: in code, not in a comment or a string."""
        ...


@dataclass(slots=True)
class _Parsed:
    ctx: FileContext
    collector: _Collector
    drop_rules: list[tuple[Rule, Severity]]
    touched: frozenset[int] | None


class Analysis:
    """Files analysed in this process, kept parsed until their crates are
    linked: each is parsed once, its syntax asked again only for the
    functions Drop reaches (`Details`)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self._files: dict[str, _Parsed] = {}
        self._aside: dict[str, bytes] = {}  # test files not analysed (`add`)

    def add(self, file: SourceFile) -> FilePart:
        """The file's part (see `FilePart`).

        A test, bench or example file is set aside unparsed when the settings
        leave test code out: nothing in it is reported, and production code
        cannot call into it. Only drop-untested reads it, to learn which Drop
        types it names (`named`), and that is answered from its bytes, parsed
        only when one of the names occurs in them."""
        skipped = over_size_limit(len(file.source))
        if skipped is not None:
            return FilePart(FileReport(file.path, (), skipped=skipped), file.touched)
        settings = self.settings
        if not settings.tests and is_test_path(file.path) and ALLOW_MARK not in file.source:
            self._aside[file.path] = file.source
            return FilePart(FileReport(file.path, ()), file.touched)
        ctx = FileContext(file.path, file.source)
        allowances = find_allowances(file.source, ctx.root, RULE_IDS)
        collector = _Collector(ctx, file.touched, allowances)
        functions = summary_functions(ctx)
        drop_rules: list[tuple[Rule, Severity]] = []
        present: dict[bytes, bool] = {}
        for rule in RULES:
            severity = _effective_severity(rule, settings)
            if severity is not None and rule.only_in_drop:
                drop_rules.append((rule, severity))  # its needles are looked for in `_hazards`
                continue
            if severity is None or not _mentions_any(file.source, rule.needles, present):
                continue
            functions.asked = False
            for hit in rule.check(ctx):
                if settings.tests or not ctx.is_test(hit.node):
                    collector.add(rule, severity, hit)
            if functions.asked:
                drop_rules.append((rule, severity))
        for unknown in allowances.unknown:
            collector.add_unknown_allow(unknown.rule_id, unknown.line, unknown.column)
        report = FileReport(
            path=file.path,
            findings=tuple(collector.findings.values()),
            suppressed=collector.suppressed,
            out_of_scope=collector.out_of_scope,
            drop_impls=tuple(_drop_impl_info(ctx, file.touched)),
        )
        # functions inside item-producing macros count too: a file whose every
        # item sits in `cfg_io_source! { .. }` still has its calls asked for
        if functions.nodes or functions.parts or _may_be_tests_module(file.path):
            self._files[file.path] = _Parsed(ctx, collector, drop_rules, file.touched)
        return FilePart(report, file.touched, functions.items(), allowances)

    def calls(self, wanted: Mapping[str, list[int]]) -> dict[str, dict[int, tuple[Call, ...]]]:
        excuses = list(EXCUSES.items())
        return {
            path: summary_functions(self._files[path].ctx).calls_of(indices, excuses)
            for path, indices in wanted.items()
        }

    def hazards(self, wanted: Mapping[str, list[int]]) -> dict[str, list[Hazard]]:
        return {path: list(self._hazards(path, indices)) for path, indices in wanted.items()}

    def _hazards(self, path: str, indices: list[int]) -> Iterator[Hazard]:
        parsed = self._files[path]
        for functions, offset in summary_functions(parsed.ctx).spans():
            wanted = frozenset(
                i - offset for i in indices if offset <= i < offset + len(functions.functions)
            )
            if not wanted:
                continue
            ctx = functions.ctx
            collector = parsed.collector
            if ctx is not parsed.ctx:  # a macro's items: same bytes where it matters
                collector = _Collector(ctx, parsed.touched, parsed.collector.allowances)
            functions.wanted = wanted
            present: dict[bytes, bool] = {}
            try:
                for rule, severity in parsed.drop_rules:
                    if not _mentions_any(ctx.source, rule.needles, present):
                        continue
                    for hit in rule.check(ctx):
                        hazard = self._hazard(collector, rule, severity, hit)
                        if hazard is not None:
                            yield replace(hazard, function=hazard.function + offset)
            finally:
                functions.wanted = frozenset()

    def _hazard(
        self, collector: _Collector, rule: Rule, severity: Severity, hit: Hit
    ) -> Hazard | None:
        ctx = collector.ctx
        if hit.scope is None or (not self.settings.tests and ctx.is_test(hit.node)):
            return None
        index = summary_functions(ctx).index_of(hit.scope.function)
        if index is None:
            return None
        finding = collector.finding(rule, severity, hit)
        allowed = collector.allowances.allows(rule.id, finding.line)
        excuse = key_of(hit.scope.excused) if hit.scope.excused else None
        return Hazard(index, excuse, finding, _label(ctx, hit.node), allowed)

    def lines(self, wanted: Mapping[str, Collection[int]]) -> dict[str, dict[int, str]]:
        """The source text of the given lines (the text format shows them)."""
        found = {}
        for path, numbers in wanted.items():
            parsed = self._files.get(path)
            if parsed is not None:
                found[path] = source_lines(parsed.ctx.source, numbers)
        return found

    def named(self, paths: Collection[str], names: Collection[str]) -> set[str]:
        """(see `Details.named`) A name found in one file is not looked for
        in the next, and a file set aside is parsed only when a name still
        looked for occurs in its bytes."""
        found: set[str] = set()
        for path in paths:
            parsed, source = self._files.get(path), self._aside.get(path)
            text = parsed.ctx.source if parsed else source
            candidates = words_among(text, set(names) - found) if text else set()
            if candidates:
                ctx = parsed.ctx if parsed else FileContext(path, text or b"")
                found |= ctx.named_in_test_code(candidates, whole_file=True)
        return found

    def names(self, path: str) -> frozenset[str]:
        """Every name a file spells (`analyze_part`'s answer to `named`)."""
        parsed, source = self._files.get(path), self._aside.get(path)
        root = parsed.ctx.root if parsed else FileContext(path, source).root if source else None
        return frozenset(node_texts(_NAMES, root)) if root is not None else frozenset()


def source_lines(source: bytes, numbers: Collection[int]) -> dict[int, str]:
    if not numbers:
        return {}
    lines = source.split(b"\n")
    return {
        n: lines[n - 1].rstrip(b"\r").decode("utf-8", "replace")
        for n in numbers
        if 0 < n <= len(lines)
    }


def analyze_files(
    files: Iterable[SourceFile],
    settings: Settings | None = None,
    manifests: Mapping[str, str | bytes] | None = None,
) -> list[FileReport]:
    """Analyse the files of one or more crates in this process. `manifests`
    maps the path of each `Cargo.toml` (same coordinates as the files' paths)
    to its text; without one a file is a crate of its own."""
    analysis = Analysis(settings)
    parts = [analysis.add(file) for file in files]
    return link(parts, settings, manifests, details=analysis)


def analyze(file: SourceFile, settings: Settings | None = None) -> FileReport:
    """The report of one file taken as a crate of its own."""
    return analyze_files([file], settings)[0]


def analyze_part(file: SourceFile, settings: Settings | None = None) -> FilePart:
    """A file's part that carries everything linking may ask of it: the calls
    of every function and what the Drop rules find in each, as if Drop
    reached them all, and every name it spells when it may be test code. For
    workers that keep nothing between tasks (the App's budgeted pool);
    costlier than an `Analysis`, which answers only about the functions Drop
    reaches and the names asked for."""
    analysis = Analysis(settings)
    part = analysis.add(file)
    if is_test_path(file.path) or _may_be_tests_module(file.path):
        part = replace(part, names=analysis.names(file.path))
    if part.items is None or not part.items.functions:
        return replace(part, calls={}, hazards=())
    every = {file.path: list(range(len(part.items.functions)))}
    calls = analysis.calls(every)[file.path]
    return replace(part, calls=calls, hazards=tuple(analysis.hazards(every)[file.path]))


def over_size_limit(size: int) -> str | None:
    """Why a file of `size` bytes is not analysed, or None when it is small enough."""
    if size <= MAX_SOURCE_BYTES:
        return None
    return f"{size / 2**20:.1f} MB is over the {MAX_SOURCE_BYTES // 2**20} MB limit"


def link(
    parts: Sequence[FilePart],
    settings: Settings | None = None,
    manifests: Mapping[str, str | bytes] | None = None,
    details: Details | None = None,
) -> list[FileReport]:
    """The reports of files analysed apart, once their crates are known:
    test code (a test target, a `#[cfg(test)] mod tests;` file) is left out
    unless the settings ask for it, and what the Drop rules find in the
    functions `fn drop` reaches is reported with its chain (`_place_hazard`).
    Reports in the order of `parts`. `details` answers about the files' functions;
    without it, the parts carry the answers (`analyze_part`)."""
    settings = settings or Settings()
    details = details or _Answered(parts)
    analysed = [n for n, part in enumerate(parts) if part.items is not None]
    items = [parts[n].items for n in analysed]
    paths = [file.path for file in items if file is not None]
    position = {path: index for index, path in enumerate(paths)}

    def fetch(refs: list[FnRef]) -> dict[FnRef, tuple[Call, ...]]:
        found = details.calls(_by_path(paths, refs))
        return {(position[p], fn): calls for p, got in found.items() for fn, calls in got.items()}

    model = CrateModel(items, manifests or {}, fetch, settings.tests)  # type: ignore[arg-type]
    hazards = details.hazards(_by_path(paths, list(model.reached())))
    linked = [_Linked(part) for part in parts]
    by_path = {entry.part.report.path: entry for entry in linked}
    tests = {paths[index] for index in range(len(paths)) if model.is_test_file(index)}
    tested = _named_in_test_files(parts, tests, details)
    for index, n in enumerate(analysed):
        if model.is_test_file(index) and not settings.tests:
            linked[n].findings.clear()
            continue
        _named_in_tests(linked[n], tested)
        for hazard in hazards.get(paths[index], ()):
            ref = (index, hazard.function)
            how = model.reached(hazard.excuse).get(ref)
            if how is None:
                continue
            _place_hazard(linked[n], by_path, hazard, how)
            if not model.roots_outside(index):
                continue  # every Drop's call leading there is in this file: no more places
            for other in model.reached_from_each(hazard.excuse).get(ref, ()):
                _place_at_call(by_path, hazard, other)  # every Drop's call leading there
    return [entry.report() for entry in linked]


def _may_be_tests_module(path: str) -> bool:
    """`tests.rs`, `test.rs` or a `tests/mod.rs`: the files a `#[cfg(test)] mod
    tests;` usually names. Whether it is test code the crate model says; the
    names are read for drop-untested in case it is."""
    folder, name = posixpath.split(path)
    return name in _TEST_MODULE_FILES or (
        name == "mod.rs" and posixpath.basename(folder) in {"tests", "test"}
    )


def _named_in_test_files(
    parts: Sequence[FilePart], tests: Collection[str], details: Details
) -> frozenset[str]:
    """The types of drop-untested findings that a test file (`tests`, or a
    test, bench or example path) names: a test elsewhere covers them."""
    untested: set[str] = set()
    for part in parts:
        lines = [finding.line for finding in part.report.findings if finding.rule == _UNTESTED]
        for types in _types_spanning(part.report.drop_impls, lines).values():
            untested |= types
    if not untested:
        return frozenset()
    paths = [part.report.path for part in parts if not part.report.skipped]
    return frozenset(details.named([p for p in paths if p in tests or is_test_path(p)], untested))


def _named_in_tests(linked: _Linked, names: frozenset[str]) -> None:
    """Drop drop-untested findings about an `impl Drop` whose type a test
    module elsewhere in the crate names (known only once the crate is)."""
    untested = {key: f for key, f in linked.findings.items() if f.rule == _UNTESTED}
    types = _types_spanning(linked.part.report.drop_impls, [f.line for f in untested.values()])
    for key, finding in untested.items():
        if types[finding.line] & names:
            del linked.findings[key]


def _types_spanning(impls: Iterable[DropImplInfo], lines: Iterable[int]) -> dict[int, set[str]]:
    """For each of `lines`, the types of the `impls` whose lines span it, in
    one sweep over both in order: looking through every impl for each
    finding is quadratic in a file of thousands of `impl Drop`."""
    spans = sorted((impl.line, impl.end_line, impl.type_name) for impl in impls)
    found: dict[int, set[str]] = {}
    begun: list[tuple[int, str]] = []  # (end line, type) of the impls begun, a heap
    k = 0
    for line in sorted(set(lines)):
        while k < len(spans) and spans[k][0] <= line:
            heapq.heappush(begun, spans[k][1:])
            k += 1
        while begun and begun[0][0] < line:
            heapq.heappop(begun)  # ended: every impl left in the heap spans `line`
        found[line] = {name for _, name in begun}
    return found


class _Answered:
    """`Details` from parts that carry their answers (`analyze_part`)."""

    def __init__(self, parts: Sequence[FilePart]) -> None:
        self.parts = {part.report.path: part for part in parts}

    def calls(self, wanted: Mapping[str, list[int]]) -> dict[str, dict[int, tuple[Call, ...]]]:
        return {
            path: {n: (self.parts[path].calls or {}).get(n, ()) for n in indices}
            for path, indices in wanted.items()
        }

    def hazards(self, wanted: Mapping[str, list[int]]) -> dict[str, list[Hazard]]:
        found = {}
        for path, indices in wanted.items():
            chosen = set(indices)
            found[path] = [h for h in self.parts[path].hazards or () if h.function in chosen]
        return found

    def named(self, paths: Collection[str], names: Collection[str]) -> set[str]:
        return set().union(*(self.parts[path].names.intersection(names) for path in paths))


def _by_path(paths: Sequence[str], refs: Iterable[FnRef]) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = {}
    for file, function in sorted(refs):
        grouped.setdefault(paths[file], []).append(function)
    return grouped


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
    """Report a reached hazard at its own line (with its shortest chain) and,
    when it lies in another file than `fn drop`, at the call in `fn drop`
    that leads to it too (a pull request may touch either)."""
    finding = hazard.finding
    if not how.calls:
        entry.add(finding, hazard.allowed)
        return
    chain, reached = _chain(hazard, how)
    finding = _through_calls(finding)
    entry.add(replace(finding, message=finding.message + reached, chain=chain), hazard.allowed)
    _place_at_call(by_path, hazard, how)


def _through_calls(finding: Finding) -> Finding:
    """A finding `fn drop` reaches only through calls, at the most its rule
    allows for that (`Rule.reached_at_most`)."""
    severity = capped(finding.severity, _REACHED_AT_MOST.get(finding.rule))
    return finding if severity == finding.severity else replace(finding, severity=severity)


def _place_at_call(by_path: Mapping[str, _Linked], hazard: Hazard, how: Reached) -> None:
    """The hazard at the first call in `fn drop` on `how`'s way to it, when
    that `fn drop` is in another file."""
    finding = _through_calls(hazard.finding)
    if not how.calls or finding.path == how.path:
        return
    chain, reached = _chain(hazard, how)
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


def _chain(hazard: Hazard, how: Reached) -> tuple[tuple[ChainStep, ...], str]:
    """The chain from `fn drop` to the hazard, and the message suffix naming it."""
    finding = hazard.finding
    via = " -> ".join(step.label for step in how.calls)
    chain = (
        ChainStep(how.path, how.line, f"Drop for {how.owner}"),
        *(ChainStep(step.path, step.line, step.label) for step in how.calls),
        ChainStep(finding.path, finding.line, hazard.label),
    )
    return chain, f" (reached from Drop for {how.owner} via {via})"


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
        span = self._whole_span(node) if hit.whole else self._node_span(node)
        if span is None:
            self.out_of_scope += 1
            return
        finding = self.finding(rule, severity, hit, span)
        self.findings.setdefault((rule.id, finding.line, finding.column), finding)

    def finding(
        self, rule: Rule, severity: Severity, hit: Hit, span: Span | None = None
    ) -> Finding:
        """The finding `hit` makes, at `span` (default: its node's); a whole-item
        finding moved off the item's first line says why."""
        node = hit.node
        line = node.start_point[0] + 1
        start_line, start_column, end_line, end_column = span or self._span(node)
        message = hit.message or rule.message
        if start_line != line:
            message += (
                f" (the item starts on line {line}, outside the changed lines;"
                " reported on its first changed line)"
            )
        return Finding(
            rule=rule.id,
            severity=capped(severity, hit.at_most),
            path=self.ctx.path,
            line=start_line,
            end_line=end_line,
            column=start_column,
            end_column=end_column,
            message=message,
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

    def _span(self, node: Node) -> Span:
        lines = self.ctx.lines
        start, end = lines.column(node.start_byte), lines.column(node.end_byte)
        return node.start_point[0] + 1, start, node.end_point[0] + 1, end

    def _node_span(self, node: Node) -> Span | None:
        """The node's span, or None when its first line is out of scope."""
        line = node.start_point[0] + 1
        return None if self.touched is not None and line not in self.touched else self._span(node)

    def _whole_span(self, node: Node) -> Span | None:
        """Where a finding about a whole item goes: its header (`impl Drop for
        G`, up to the body) when that line counts, else the first line of the
        item that does, trimmed; None when no line of the item counts."""
        first, last = node.start_point[0] + 1, node.end_point[0] + 1
        if self.touched is None or first in self.touched:
            body = node.child_by_field_name("body")
            return self._trimmed(first, node.start_byte, body.start_byte if body else None)
        inside = [n for n in self.touched if first <= n <= last]
        if not inside:
            return None
        return self._trimmed(min(inside), self.ctx.lines.line_start(min(inside)), None)

    def _trimmed(self, line: int, start: int, stop: int | None) -> Span:
        """One line's span from byte `start` to `stop` (at most the line's end),
        without surrounding whitespace; a blank line is a point at `start`."""
        lines = self.ctx.lines
        end = lines.end(start) if stop is None else min(lines.end(start), stop)
        text = self.ctx.source[start:end]
        first = start + len(text) - len(text.lstrip())
        last = start + len(text.rstrip())
        if last <= first:
            return line, lines.column(start), line, lines.column(start)
        return line, lines.column(first), line, lines.column(last)

    def _line_code(self, node: Node, whole: bool) -> str:
        """The anchor's source line, whitespace collapsed (from the whole node's
        start for whole-item findings): stable when code above it moves."""
        lines = self.ctx.lines
        return lines.code(node.start_byte if whole else lines.start(node.start_byte))


def _drop_impl_info(ctx: FileContext, touched: frozenset[int] | None) -> Iterable[DropImplInfo]:
    for impl in ctx.drop_impls:
        start, end = impl.impl.start_point[0] + 1, impl.impl.end_point[0] + 1
        hit = touched is None or any(start <= n <= end for n in touched)
        yield DropImplInfo(impl.type_name, start, end, hit)
