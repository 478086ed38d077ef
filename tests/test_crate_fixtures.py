"""The crate model against annotated multi-file crates (tests/fixtures/crates).

Each directory is a crate (or a tree of workspaces) with `Cargo.toml` files and
`// ruleid:` / `// ok:` annotations in its `.rs` files, as in the rule
fixtures. The engine runs on the whole directory at once; for each file the
set of (rule, line) it reports must equal the annotated set exactly, for the
Drop rules that follow calls and for every rule an annotation names.
"""

from dataclasses import replace
from pathlib import Path

import pytest
from test_rule_fixtures import annotated_lines

from bot.scan import collect_files, scan
from rules.config import Settings
from rules.engine import SourceFile, analyze_files, analyze_part, link

CRATES = Path(__file__).parent / "fixtures" / "crates"
REACHING_RULES = frozenset(
    {
        "drop-detached-spawn",
        "drop-block-on",
        "drop-unwrap",
        "drop-panic",
        "drop-abort-without-await",
        "drop-blocking-call",
    }
)


def crate_files(directory: Path) -> tuple[list[SourceFile], dict[str, str]]:
    files = [
        SourceFile(path.relative_to(directory).as_posix(), path.read_bytes())
        for path in sorted(directory.rglob("*.rs"))
    ]
    manifests = {
        path.relative_to(directory).as_posix(): path.read_text()
        for path in sorted(directory.rglob("Cargo.toml"))
    }
    return files, manifests


def expectations(files: list[SourceFile]) -> tuple[set, set, frozenset[str]]:
    """(flagged, quiet, rules checked): (path, rule, line) sets from the annotations."""
    flagged, quiet, named = set(), set(), set()
    for file in files:
        marked = annotated_lines(file.source.decode())
        for kind, found in (("ruleid", flagged), ("ok", quiet)):
            for rule, lines in marked[kind].items():
                named.add(rule)
                found.update((file.path, rule, line) for line in lines)
    return flagged, quiet, REACHING_RULES | named


@pytest.mark.parametrize(
    "crate", sorted(p for p in CRATES.iterdir() if p.is_dir()), ids=lambda p: p.name
)
def test_crate_matches_its_annotations(crate):
    files, manifests = crate_files(crate)
    flagged, quiet, rules = expectations(files)
    assert flagged and quiet, "a crate fixture needs flagged cases and near-misses"

    reports = analyze_files(files, manifests=manifests)
    found = {
        (f.path, f.rule, f.line) for report in reports for f in report.findings if f.rule in rules
    }

    assert sorted(found - flagged) == [], "flagged but not annotated `ruleid`"
    assert sorted(flagged - found) == [], "annotated `ruleid` but not flagged"
    assert not found & quiet


@pytest.mark.parametrize(
    "crate", sorted(p for p in CRATES.iterdir() if p.is_dir()), ids=lambda p: p.name
)
def test_the_cli_scan_finds_the_manifests_itself(crate):
    files, manifests = crate_files(crate)
    expected = {
        (f.path, f.rule, f.line, f.message)
        for report in analyze_files(files, manifests=manifests)
        for f in report.findings
    }
    result = scan(collect_files(["."], cwd=str(crate)), workers=1)
    assert {(f.path, f.rule, f.line, f.message) for f in result.findings} == expected


def test_worker_processes_link_the_same_crates(monkeypatch):
    # each file stays with the worker that parsed it; linking asks that worker again
    monkeypatch.setattr("bot.scan.POOL_MIN_BYTES", 0)
    for crate in ("paths", "workspace", "macros"):
        targets = collect_files(["."], cwd=str(CRATES / crate))
        pooled, single = scan(targets, workers=2), scan(targets, workers=1)
        assert pooled == single
        assert any(f.chain for f in pooled.findings)


def test_parts_that_carry_their_answers_link_the_same():
    # what the App's budgeted pool does: each file analysed alone, linked after
    for crate in ("paths", "methods", "macros"):
        files, manifests = crate_files(CRATES / crate)
        parts = [analyze_part(file) for file in files]
        assert link(parts, None, manifests) == analyze_files(files, None, manifests)


def reported(crate: str, settings=None, touched=None):
    files, manifests = crate_files(CRATES / crate)
    if touched is not None:
        files = [replace(f, touched=touched.get(f.path, frozenset())) for f in files]
    reports = analyze_files(files, settings, manifests)
    return [finding for report in reports for finding in report.findings]


def test_a_problem_in_another_file_names_the_chain_at_both_ends():
    found = {(f.path, f.line): f for f in reported("paths") if f.rule == "drop-unwrap"}
    deep, at_call = found[("src/cleanup.rs", 6)], found[("src/pool.rs", 10)]
    assert deep.chain == at_call.chain
    assert [(s.path, s.line, s.label) for s in deep.chain] == [
        ("src/pool.rs", 8, "Drop for Pool"),
        ("src/pool.rs", 10, "cleanup::shutdown"),
        ("src/cleanup.rs", 6, "unwrap()"),
    ]
    assert deep.message.endswith("(reached from Drop for Pool via cleanup::shutdown)")
    assert (
        "at src/cleanup.rs:6 (reached from Drop for Pool via cleanup::shutdown)" in at_call.message
    )
    assert at_call.item == "impl Drop for Pool > fn drop"
    assert at_call.code == "cleanup::shutdown();"


def test_a_touched_line_reached_from_an_untouched_drop_in_another_file():
    # what the App passes: the changed file with its touched lines, the rest untouched
    found = reported("paths", touched={"src/cleanup.rs": frozenset({6})})
    assert [(f.path, f.line, f.rule) for f in found] == [("src/cleanup.rs", 6, "drop-unwrap")]
    assert [step.label for step in found[0].chain] == [
        "Drop for Pool",
        "cleanup::shutdown",
        "unwrap()",
    ]


def test_test_code_is_reported_when_the_settings_ask():
    default = {f.path for f in reported("testcode")}
    opted_in = {f.path for f in reported("testcode", Settings(tests=True))}
    test_files = {
        "src/tests.rs",
        "src/pool/tests.rs",
        "tests/integration.rs",
        "benches/throughput.rs",
        "examples/demo.rs",
    }
    assert not default & test_files
    assert opted_in >= test_files


def test_a_drop_impl_in_a_test_body_is_test_code():
    # the Drop impls of a #[test] fn and of a cfg(test) module's helper: left out unless asked
    in_tests = {("src/process.rs", "drop-unwrap", 81), ("src/tests.rs", "drop-panic", 10)}
    default = {(f.path, f.rule, f.line) for f in reported("bodydrop")}
    opted_in = {(f.path, f.rule, f.line) for f in reported("bodydrop", Settings(tests=True))}
    assert not default & in_tests
    assert opted_in >= in_tests
