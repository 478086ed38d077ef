"""Which files a `dropsafe check` reads, and running the engine over them on every core.

The engine (`rules.engine`) is pure; this module is the I/O around it:
walking directories, picking the files of a diff, finding the `Cargo.toml`
files above them, reading bytes, and spreading many files over a process pool.
Workers read and analyse their own files and send back only each file's
`FilePart` (findings, item summary, Drop hazards) and the few source lines the
text format shows, so a tree of thousands of files costs one pickle of plain
data, not of sources or trees; the parent links the parts into crates.
"""

from __future__ import annotations

import heapq
import os
import posixpath
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from bot.formats.text import shown_lines
from bot.pool import Holder, Pool, fewer_collections
from rules.config import Settings
from rules.engine import MAX_SOURCE_BYTES, FileReport, link
from rules.model import Finding
from rules.rust.context import is_test_path
from rules.scope import FileChange, Mode

SKIPPED_DIRS = frozenset({"target"})
MANIFEST = "Cargo.toml"
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
    """The reports of one scan, in path order, and the source text of the lines
    the text format shows for each finding (keyed by (path, line))."""

    reports: tuple[FileReport, ...]
    lines: Mapping[tuple[str, int], str] = field(default_factory=dict)

    @property
    def findings(self) -> list[Finding]:
        return [finding for report in self.reports for finding in report.findings]

    @property
    def skipped(self) -> list[FileReport]:
        return [report for report in self.reports if report.skipped]

    @property
    def analysed(self) -> int:
        """How many files were analysed (the skipped ones were not)."""
        return sum(1 for report in self.reports if not report.skipped)


def collect_files(paths: Sequence[str], cwd: str | None = None) -> list[Target]:
    """The files under `paths`: directories walked for `*.rs` (skipping `target/`
    and hidden folders), files taken as given (`bot.sources.read_source` skips
    one that is not Rust). Raises FileNotFoundError naming a missing path. Paths
    are shown relative to `cwd` when they lie under it."""
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
    """Analyse `targets`, in worker processes when there is enough source for them.

    The `Cargo.toml` files above the targets make them crates (`rules.engine.link`).
    """
    settings = settings or Settings()
    workers = workers or os.cpu_count() or 1
    pooled = workers > 1 and len(targets) > 1 and _total_bytes(targets) >= POOL_MIN_BYTES
    with (
        fewer_collections(),
        Pool(settings, workers, partial(balanced_chunks, tests=settings.tests))
        if pooled
        else Holder(settings) as holder,
    ):
        parts = sorted(holder.add(targets), key=lambda part: part.report.path)
        reports = link(parts, settings, find_manifests(targets), details=holder)
        wanted = {
            r.path: {n for f in r.findings for n in shown_lines(f)} for r in reports if r.findings
        }
        lines = holder.lines(wanted)
    shown = {(path, n): line for path, found in lines.items() for n, line in found.items()}
    return ScanResult(tuple(reports), shown)


def find_manifests(targets: Iterable[Target]) -> dict[str, str]:
    """The `Cargo.toml` texts in the targets' directories and above them, up to
    the root of their displayed paths, keyed by displayed path."""
    manifests: dict[str, str] = {}
    seen: set[str] = set()
    for target in targets:
        location = os.path.dirname(target.location)
        shown = posixpath.dirname(target.path)
        while location not in seen:
            seen.add(location)
            manifest = os.path.join(location, MANIFEST)
            if os.path.isfile(manifest):
                try:
                    text = Path(manifest).read_text("utf-8")
                except (OSError, UnicodeDecodeError):
                    text = None
                if text is not None:
                    manifests[posixpath.join(shown, MANIFEST)] = text
            parent = os.path.dirname(location)
            if not shown or shown == "/" or parent == location:
                break
            location, shown = parent, posixpath.dirname(shown)
    return manifests


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


def balanced_chunks(
    targets: Sequence[Target], count: int, tests: bool = False
) -> list[list[Target]]:
    """`count` chunks of about equal work, each file (largest first) to the
    chunk with the least so far. Work is bytes, except that a test file costs
    nothing when test code is left out: the engine only keeps it aside
    (`rules.engine.Analysis.add`)."""
    chunks: list[list[Target]] = [[] for _ in range(min(count, len(targets)))]
    loads = [(0, n) for n in range(len(chunks))]
    for size, target in sorted(((_work(t, tests), t) for t in targets), key=_first, reverse=True):
        load, n = heapq.heappop(loads)
        chunks[n].append(target)
        heapq.heappush(loads, (load + size, n))
    return chunks


def _work(target: Target, tests: bool) -> int:
    return _size(target) if tests or not is_test_path(target.path) else 0


def _first(pair: tuple[int, Target]) -> int:
    return pair[0]
