"""Which files a `dropsafe check` reads, and running the engine over them on every core.

The engine (`rules.engine.analyze`) is pure; this module is the I/O around it:
walking directories, picking the files of a diff, reading bytes, and spreading
many files over a process pool. Workers read their own files and send back only
the small `FileReport`s (plus the few source lines the text format shows, and
the names a test file mentions), so a tree of thousands of files costs one
pickle of findings, not of sources.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from rules.config import Settings
from rules.engine import MAX_SOURCE_BYTES, FileReport, SourceFile, analyze, analyze_test_file
from rules.model import Finding
from rules.rust.context import is_test_path
from rules.scope import FileChange, Mode

SKIPPED_DIRS = frozenset({"target"})
# a file's report, the source lines its findings anchor on, and the names it
# mentions when it is a test file (see `scan`)
Scanned = tuple[FileReport, dict[int, str], frozenset[str]]
# Below this much source a pool costs more (fork, pickling) than it saves.
POOL_MIN_BYTES = 512 * 1024


@dataclass(frozen=True, slots=True)
class Target:
    """One file to analyse: `path` names it in reports ("/" separators), `location` is read."""

    path: str
    location: str
    touched: frozenset[int] | None = None  # None: every line counts (mode file)


@dataclass(frozen=True)
class ScanResult:
    """The reports of one scan, in path order, and the source text of each line
    a finding anchors on (keyed by (path, line)) for the text format's caret."""

    reports: tuple[FileReport, ...]
    lines: Mapping[tuple[str, int], str] = field(default_factory=dict)

    @property
    def findings(self) -> list[Finding]:
        return [finding for report in self.reports for finding in report.findings]

    @property
    def skipped(self) -> list[FileReport]:
        return [report for report in self.reports if report.skipped]


def collect_files(paths: Sequence[str], cwd: str | None = None) -> list[Target]:
    """The files under `paths`: directories walked for `*.rs` (skipping `target/`
    and hidden folders), files taken as given. Raises FileNotFoundError naming a
    missing path. Paths are shown relative to `cwd` when they lie under it."""
    cwd = os.path.abspath(cwd or os.getcwd())
    seen: dict[str, Target] = {}
    for given in paths:
        location = os.path.abspath(os.path.join(cwd, given))
        if os.path.isdir(location):
            found: Iterable[str] = walk_rust_files(location)
        elif os.path.exists(location):
            found = [location]
        else:
            raise FileNotFoundError(given)
        for file in found:
            seen.setdefault(file, Target(display_path(file, cwd), file))
    return sorted(seen.values(), key=lambda target: target.path)


def walk_rust_files(directory: str) -> Iterator[str]:
    """Every `*.rs` below `directory`; symlinked folders are not followed (no cycles)."""
    for parent, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
        for name in sorted(files):
            if name.endswith(".rs"):
                yield os.path.join(parent, name)


def diff_targets(
    changes: Mapping[str, FileChange], mode: Mode, root: str, within: Sequence[str] = (".",)
) -> list[Target]:
    """The `.rs` files a diff adds or changes, under one of the `within` paths,
    with the lines `mode` counts. Diff paths are relative to `root` and stay so in reports."""
    # Real paths: git reports the repository root with symlinks resolved.
    root = os.path.realpath(root)
    scopes = [os.path.realpath(path) for path in within]
    targets = []
    for change in changes.values():
        if change.status == "deleted" or change.binary or not change.path.endswith(".rs"):
            continue
        location = os.path.join(root, *change.path.split("/"))
        if any(_is_under(location, scope) for scope in scopes):
            targets.append(Target(change.path, location, change.touched(mode)))
    return sorted(targets, key=lambda target: target.path)


def scan(
    targets: Sequence[Target], settings: Settings | None = None, workers: int | None = None
) -> ScanResult:
    """Analyse `targets`, in a process pool when there is enough source for one.

    drop-untested accepts a test anywhere among the targets: the test files
    are analysed first, and the names they mention go to every other analysis.
    """
    settings = settings or Settings()
    workers = workers or os.cpu_count() or 1
    tests = [target for target in targets if is_test_path(target.path)]
    others = [target for target in targets if not is_test_path(target.path)]
    if workers > 1 and len(targets) > 1 and _total_bytes(targets) >= POOL_MIN_BYTES:
        with ProcessPoolExecutor(workers) as pool:
            results = _pooled(pool, tests, settings, frozenset(), workers * 8)
            results += _pooled(pool, others, settings, _names(results), workers * 8)
    else:
        results = _scan_chunk(tests, settings, frozenset())
        results += _scan_chunk(others, settings, _names(results))
    results.sort(key=lambda result: result[0].path)
    lines = {(report.path, n): text for report, found, _ in results for n, text in found.items()}
    return ScanResult(tuple(report for report, _, _ in results), lines)


def display_path(location: str, cwd: str) -> str:
    """`location` relative to `cwd` when under it, else absolute; always "/" separators."""
    shown = os.path.relpath(location, cwd) if _is_under(location, cwd) else location
    return Path(shown).as_posix()


def _is_under(location: str, directory: str) -> bool:
    return location == directory or location.startswith(directory.rstrip(os.sep) + os.sep)


def _size(target: Target) -> int:
    try:
        return os.path.getsize(target.location)
    except OSError:
        return 0


def _total_bytes(targets: Iterable[Target]) -> int:
    """Bytes the engine will analyse: a file over its limit is skipped at no cost."""
    total = 0
    for target in targets:
        size = _size(target)
        total += size if size <= MAX_SOURCE_BYTES else 0
        if total >= POOL_MIN_BYTES:
            break
    return total


def _balanced_chunks(targets: Sequence[Target], count: int) -> list[list[Target]]:
    """`count` chunks of about equal bytes: dealt out largest file first, like cards."""
    ordered = sorted(targets, key=_size, reverse=True)
    return [ordered[n::count] for n in range(min(count, len(ordered)))]


def _pooled(
    pool: ProcessPoolExecutor,
    targets: Sequence[Target],
    settings: Settings,
    test_names: frozenset[str],
    chunks: int,
) -> list[Scanned]:
    futures = [
        pool.submit(_scan_chunk, chunk, settings, test_names)
        for chunk in _balanced_chunks(targets, chunks)
    ]
    return [scanned for future in futures for scanned in future.result()]


def _names(results: Iterable[Scanned]) -> frozenset[str]:
    return frozenset[str]().union(*(names for _, _, names in results))


def _scan_chunk(
    targets: Iterable[Target], settings: Settings, test_names: frozenset[str]
) -> list[Scanned]:
    """Runs in a worker: read and analyse each file; only reports go back."""
    return [_scan_one(target, settings, test_names) for target in targets]


def _scan_one(target: Target, settings: Settings, test_names: frozenset[str]) -> Scanned:
    try:
        source = Path(target.location).read_bytes()
    except OSError as exc:
        skipped = f"cannot read it ({exc.strerror})"
        return FileReport(target.path, (), skipped=skipped), {}, frozenset()
    file = SourceFile(target.path, source, target.touched)
    if is_test_path(target.path):
        report, names = analyze_test_file(file, settings)
    else:
        report, names = analyze(file, settings, test_names), frozenset()
    return report, _anchor_lines(source, report.findings), names


def _anchor_lines(source: bytes, findings: Iterable[Finding]) -> dict[int, str]:
    wanted = {finding.line for finding in findings}
    if not wanted:
        return {}
    lines = source.split(b"\n")
    return {
        n: lines[n - 1].rstrip(b"\r").decode("utf-8", "replace") for n in wanted if n <= len(lines)
    }
