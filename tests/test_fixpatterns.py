"""The fix patterns are proven, not just read (issue 4).

`tests/rust/fixpatterns` compiles the ```rust blocks of `rules/fixes/*.md`
(build.rs extracts them) against Debian's packaged tokio and tempfile, offline,
and drops the results in every runtime context, each case in a child process.
Here we build it, run it and hold it to the outcome of every case; mutated
copies of the Markdown must make it fail; and our own engine must find nothing
in the patterns and `drop-block-on` in the shortcut they warn against.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rules.engine import SourceFile, analyze_files
from rules.fixes import PATTERNS, SAFE_DROP, TEMP_FILE_GUARD, rust_blocks

HARNESS = Path(__file__).parent / "rust" / "fixpatterns"
TARGET = HARNESS.parent / "target"  # build.target-dir in HARNESS/.cargo/config.toml
FIXES = Path(__file__).parents[1] / "rules" / "fixes"
NAIVE = "rust should_panic"
NESTED_RUNTIME = "Cannot start a runtime from within a runtime"

CONTEXTS = (
    "no_runtime",
    "multi_thread_block_on",
    "current_thread_block_on",
    "multi_thread_spawn",
    "current_thread_spawn",
    "multi_thread_spawn_blocking",
    "current_thread_spawn_blocking",
)
ASYNC_CONTEXTS = (
    "multi_thread_block_on",
    "current_thread_block_on",
    "multi_thread_spawn",
    "current_thread_spawn",
)
CASES = frozenset(
    {f"safe_drop/{context}" for context in CONTEXTS}
    | {f"safe_drop/unwinding/{context}" for context in CONTEXTS}
    | {f"naive/{context}" for context in CONTEXTS}
    | {"naive/unwinding/multi_thread_spawn", "naive/unwinding/current_thread_block_on"}
    | {
        "safe_drop/shutdown/multi_thread",
        "safe_drop/shutdown/current_thread",
        "safe_drop/close",
        "safe_drop/limit/current_thread_foreign_io",
        "safe_drop/limit/multi_thread_same_io",
        "safe_drop/limit/multi_thread_pending",
        "safe_drop/limit/multi_thread_without_timers",
    }
    | {
        f"temp_file_guard/{kind}{exit_}"
        for kind in ("file", "dir")
        for exit_ in ("", "_question_mark", "_unwind")
    }
    | {
        "temp_file_guard/already_removed",
        "temp_file_guard/symlink_not_followed",
        "temp_file_guard/tempfile_example",
    }
)
_CASE_LINE = re.compile(r"^case (\S+): (ok|FAIL) ?(.*)$")
_BLOCKS_LINE = re.compile(r"^blocks (\S+) (\d+) (\d+)$")


@dataclass(frozen=True)
class HarnessRun:
    build_error: str | None  # cargo's stderr when the build failed
    returncode: int
    blocks: dict[str, tuple[int, int]]  # pattern -> (rust blocks, should_panic blocks)
    cases: dict[str, tuple[bool, str]]  # case -> (held, detail)


def run_harness(fixes: Path | None = None) -> HarnessRun:
    """Build the harness (from `fixes`, default the real patterns) and run it.

    One lock around build and run: a mutant build and a normal one share the
    target directory (and so the compiled tokio), but not the binary.
    """
    cargo = shutil.which("cargo")
    assert cargo, "cargo is missing: apt-get install cargo librust-tokio-dev librust-tempfile-dev"
    env = {key: value for key, value in os.environ.items() if key != "DROPSAFE_FIXES_DIR"}
    if fixes is not None:
        env["DROPSAFE_FIXES_DIR"] = str(fixes)
    TARGET.mkdir(exist_ok=True)
    with (TARGET / "harness.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # Resolved afresh each build (offline, from the directory source: milliseconds):
        # a Cargo.lock left by a newer cargo (format v4) stops Debian's older one.
        (HARNESS / "Cargo.lock").unlink(missing_ok=True)
        build = subprocess.run(
            [cargo, "build", "--offline", "--quiet"],
            cwd=HARNESS,
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,
        )
        if build.returncode != 0:
            return HarnessRun(build.stderr, build.returncode, {}, {})
        run = subprocess.run(
            [str(TARGET / "debug" / "fixpatterns")], capture_output=True, text=True, timeout=900
        )
    blocks: dict[str, tuple[int, int]] = {}
    cases: dict[str, tuple[bool, str]] = {}
    for line in run.stdout.splitlines():
        if match := _CASE_LINE.match(line):
            cases[match[1]] = (match[2] == "ok", match[3])
        elif match := _BLOCKS_LINE.match(line):
            blocks[match[1]] = (int(match[2]), int(match[3]))
    return HarnessRun(None, run.returncode, blocks, cases)


@pytest.fixture(scope="module")
def harness() -> Iterator[HarnessRun]:
    run = run_harness()
    assert run.build_error is None, f"the harness does not build:\n{run.build_error}"
    yield run


@pytest.mark.parametrize("case", sorted(CASES))
def test_case_holds(harness: HarnessRun, case: str) -> None:
    assert case in harness.cases, f"the harness did not run {case}"
    held, detail = harness.cases[case]
    assert held, f"{case}: {detail}"


def test_harness_runs_exactly_the_listed_cases(harness: HarnessRun) -> None:
    assert set(harness.cases) == CASES
    assert harness.returncode == 0


def test_harness_compiles_the_blocks_python_extracts(harness: HarnessRun) -> None:
    """build.rs and rules.fixes.rust_blocks read the fences alike."""
    assert harness.blocks == {
        p.name: (len(rust_blocks(p.markdown)), len(rust_blocks(p.markdown, NAIVE)))
        for p in PATTERNS
    }
    assert harness.blocks["safe_drop"][1] == 1, "the shortcut to avoid is shown and compiled"


@pytest.mark.parametrize("context", ASYNC_CONTEXTS)
def test_shortcut_panics_inside_async_code(harness: HarnessRun, context: str) -> None:
    """Why drop-block-on exists: `try_current` then `block_on` panics there."""
    held, detail = harness.cases[f"naive/{context}"]
    assert held
    assert NESTED_RUNTIME in detail


def test_shortcut_aborts_when_dropped_while_unwinding_in_async_code(harness: HarnessRun) -> None:
    held, detail = harness.cases["naive/unwinding/multi_thread_spawn"]
    assert held
    assert "aborted" in detail
    assert NESTED_RUNTIME in detail


# Each mutation: (file, text to replace, replacement, cases that must then fail).
MUTATIONS = {
    "no-block-in-place": (
        "safe_drop.md",
        "tokio::task::block_in_place(|| handle.block_on(task))",
        "handle.block_on(task)",
        {"safe_drop/multi_thread_block_on", "safe_drop/multi_thread_spawn"},
    ),
    "blocks-current-thread-runtime": (
        "safe_drop.md",
        "Ok(_) => on_own_thread(cleanup, limit),",
        "Ok(handle) => Some(handle.block_on(cleanup)),",
        {"safe_drop/current_thread_block_on", "safe_drop/current_thread_spawn"},
    ),
    "timer-outside-runtime": (
        "safe_drop.md",
        "runtime.block_on(async move { tokio::time::timeout(limit, cleanup).await })",
        "runtime.block_on(tokio::time::timeout(limit, cleanup))",
        {"safe_drop/no_runtime", "safe_drop/current_thread_block_on"},
    ),
    "detached-spawn": (
        "safe_drop.md",
        "if let Some(Err(error)) = block_on_cleanup(release, CLEANUP_LIMIT) {",
        "if let Err(error) = Ok::<_, std::io::Error>({ tokio::spawn(release); }) {",
        {"safe_drop/no_runtime", "safe_drop/multi_thread_block_on"},
    ),
    "files-only": (
        "temp_file_guard.md",
        "Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&self.path),",
        "Ok(meta) if meta.is_dir() => std::fs::remove_dir(&self.path),",
        {"temp_file_guard/dir", "temp_file_guard/dir_question_mark", "temp_file_guard/dir_unwind"},
    ),
}


def mutated_copy(tmp_path: Path, name: str, old: str, new: str) -> Path:
    for source in FIXES.glob("*.md"):
        shutil.copy(source, tmp_path / source.name)
    text = (tmp_path / name).read_text(encoding="utf-8")
    assert text.count(old) == 1, f"the mutation's anchor is gone from {name}: {old!r}"
    (tmp_path / name).write_text(text.replace(old, new), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_breaking_a_pattern_fails_the_harness(tmp_path: Path, mutation: str) -> None:
    name, old, new, breaks = MUTATIONS[mutation]
    run = run_harness(mutated_copy(tmp_path, name, old, new))
    assert run.build_error is None, run.build_error
    assert run.returncode != 0
    failed = {case for case, (held, _) in run.cases.items() if not held}
    assert breaks <= failed, f"still held: {sorted(breaks - failed)}"


def test_a_pattern_that_no_longer_compiles_fails_the_harness(tmp_path: Path) -> None:
    broken = mutated_copy(tmp_path, "safe_drop.md", "pub struct Guard {", "pub struct G {")
    run = run_harness(broken)
    assert run.build_error is not None
    assert "Guard" in run.build_error


def pattern_files() -> list[SourceFile]:
    """The patterns as files, plus the harness's cases: a test file naming their types."""
    cases = HARNESS / "src" / "cases.rs"
    return [
        *(
            SourceFile(f"src/{pattern.name}.rs", "\n".join(rust_blocks(pattern.markdown)).encode())
            for pattern in PATTERNS
        ),
        SourceFile("tests/rust/fixpatterns/src/cases.rs", cases.read_bytes()),
    ]


def test_engine_finds_nothing_in_the_patterns() -> None:
    reports = {report.path: report for report in analyze_files(pattern_files())}
    for pattern in PATTERNS:
        report = reports[f"src/{pattern.name}.rs"]
        assert [(f.rule, f.line, f.message) for f in report.findings] == []
        assert report.drop_impls, "the pattern has an impl Drop for the rules to look at"


def test_engine_flags_the_shortcut_with_drop_block_on() -> None:
    kept = [block for block in rust_blocks(SAFE_DROP.markdown) if "impl Drop for" not in block]
    source = "\n".join([*kept, *rust_blocks(SAFE_DROP.markdown, NAIVE)])
    [report] = analyze_files([SourceFile("src/naive.rs", source.encode())])
    flagged = [f for f in report.findings if f.rule == "drop-block-on"]
    assert len(flagged) == 1
    assert "handle.block_on(" in source.splitlines()[flagged[0].line - 1]


def test_patterns_state_their_limits_and_alternatives() -> None:
    text = SAFE_DROP.markdown
    assert NESTED_RUNTIME in text
    assert "current-thread runtime" in text and "cannot be blocked" in text
    assert "tied to the original runtime" in text
    assert text.count("// PLACEHOLDER") >= 4
    assert "tempfile::NamedTempFile" in TEMP_FILE_GUARD.markdown
    assert "tempfile::TempDir" in TEMP_FILE_GUARD.markdown
    assert SAFE_DROP.title and TEMP_FILE_GUARD.title
