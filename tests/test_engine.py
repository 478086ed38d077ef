"""The engine's shared machinery: scope, suppression, test code, reach through
calls, settings and bad input. Rule specifics live in the rule fixtures."""

import pickle
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rules.catalogue import RULES
from rules.config import load_settings
from rules.engine import (
    MAX_SOURCE_BYTES,
    UNKNOWN_ALLOW,
    Analysis,
    SourceFile,
    analyze,
    analyze_files,
)
from rules.model import pickled_as_call
from rules.rust.context import FileContext

FIXTURES = Path(__file__).parent / "fixtures" / "rules"

GUARD = b"""\
struct Guard(Option<u8>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.flush().unwrap();
        self.cleanup_sync();
    }
}

impl Guard {
    fn cleanup_sync(&self) {
        helper();
    }
}

fn helper() {
    panic!("boom");
}
"""


def found(report, rule=None):
    return [(f.rule, f.line) for f in report.findings if rule is None or f.rule == rule]


def test_touched_lines_scope_findings():
    everything = analyze(SourceFile("src/lib.rs", GUARD))
    assert ("drop-unwrap", 5) in found(everything)
    only_helper = analyze(SourceFile("src/lib.rs", GUARD, touched=frozenset({17})))
    assert found(only_helper) == [("drop-panic", 17)]
    assert only_helper.out_of_scope >= 1


def test_reach_through_calls_names_the_path():
    report = analyze(SourceFile("src/lib.rs", GUARD))
    (panic,) = [f for f in report.findings if f.rule == "drop-panic"]
    assert "reached from Drop for Guard via Guard::cleanup_sync -> helper" in panic.message
    assert panic.item == "fn helper"


def test_file_parts_pickle_to_equal_copies():
    # what a pool worker sends back: findings, item summary, allow comments
    source = (
        GUARD + b"use std::sync::{Arc, Mutex as M};\nmod inner;\n// dropsafe:allow(drop-panic)\n"
    )
    part = Analysis().add(SourceFile("src/lib.rs", source, frozenset({3})))
    assert part.report.findings and part.items and part.items.uses and part.items.drops
    assert part.allowances and part.allowances.ranges
    assert pickle.loads(pickle.dumps(part)) == part


def test_pickled_as_call_needs_every_field_in_init():
    with pytest.raises(TypeError, match="__init__"):

        @pickled_as_call
        @dataclass(slots=True)
        class Counted:
            name: str
            seen: int = field(init=False, default=0)


def test_occurrences_within_byte_ranges():
    source = b"fn a() { spawn(); }\nfn b() { spawn(); x.spawn_all(); }\n// spawn\n"
    ctx = FileContext("src/lib.rs", source)
    everywhere = ctx.occurrences(("spawn",))
    assert [n.start_point[0] for n in everywhere] == [0, 1]
    second = source.index(b"fn b")
    within = ctx.occurrences(("spawn",), within=[(second, source.index(b"// spawn"))])
    assert within == everywhere[1:]
    # a range that cuts a name in two holds no occurrence of it
    assert ctx.occurrences(("spawn",), within=[(0, source.index(b"spawn") + 3)]) == []


def test_recursive_calls_are_cut():
    source = b"""
struct G;
impl Drop for G { fn drop(&mut self) { self.a(); } }
impl G {
    fn a(&self) { self.b(); }
    fn b(&self) { self.a(); Self::a(self); x.unwrap(); }
}
"""
    report = analyze(SourceFile("src/lib.rs", source))
    assert [f.message for f in report.findings if f.rule == "drop-unwrap"] == [
        "`unwrap` in `Drop`: a panic while unwinding aborts the process"
        " (reached from Drop for G via G::a -> G::b)"
    ]


@pytest.mark.parametrize(
    "header",
    [
        b"impl Drop for G",
        b"impl std::ops::Drop for G",
        b"impl<T> Drop for G<T>",
        b"impl core::ops::Drop for G",
    ],
)
def test_drop_impl_spellings(header):
    report = analyze(SourceFile("src/lib.rs", header + b" { fn drop(&mut self) { x.unwrap(); } }"))
    assert found(report, "drop-unwrap") == [("drop-unwrap", 1)]


def test_fn_drop_of_another_trait_is_not_drop():
    source = b"impl Closer for G { fn drop(&mut self) { x.unwrap(); } }"
    assert found(analyze(SourceFile("src/lib.rs", source)), "drop-unwrap") == []


def test_use_aliases_resolve():
    ctx = FileContext("src/lib.rs", b"use tokio::{self, task::{self, spawn as sp}};\nuse std::mem;")
    assert ctx.resolve("task::spawn") == "tokio::task::spawn"
    assert ctx.resolve("sp") == "tokio::task::spawn"
    assert ctx.resolve("mem::forget") == "std::mem::forget"
    assert ctx.resolve("::std::thread::spawn") == "std::thread::spawn"


def test_test_code_detection():
    source = b"""
fn prod() { a.unwrap(); }
#[cfg(test)]
mod tests { fn t() { b.unwrap(); } }
#[tokio::test(flavor = "multi_thread")]
async fn t2() { c.unwrap(); }
#[cfg(not(test))]
fn prod2() { d.unwrap(); }
"""
    report = analyze(SourceFile("src/lib.rs", source))
    assert found(report, "unwrap-in-production") == [
        ("unwrap-in-production", 2),
        ("unwrap-in-production", 8),
    ]
    for folder in ("tests", "benches", "examples"):
        assert found(analyze(SourceFile(f"{folder}/it.rs", source))) == []


def test_allow_comments():
    source = b"""
fn a() {
    // dropsafe:allow(unwrap-in-production)
    x.unwrap();
    y.unwrap(); // dropsafe:allow(unwrap-in-production)
    z.unwrap();
}
// dropsafe:allow(unwrap-in-production, panic-in-production)
#[inline]
fn b() {
    x.unwrap();
    panic!();
}
fn c() {
    // dropsafe:allow(unwrap-in-productoin)
    x.unwrap();
}
"""
    report = analyze(SourceFile("src/lib.rs", source))
    assert found(report) == [
        ("unwrap-in-production", 6),
        (UNKNOWN_ALLOW, 15),
        ("unwrap-in-production", 16),
    ]
    assert report.suppressed == 4
    unknown = next(f for f in report.findings if f.rule == UNKNOWN_ALLOW)
    assert unknown.severity == "notice"
    assert "unwrap-in-productoin" in unknown.message


def test_stacked_and_trailing_allow_comments_end_where_they_should():
    source = b"""\
fn a() {
    // dropsafe:allow(unwrap-in-production)
    // SAFETY: the slot was filled above
    // dropsafe:allow(panic-in-production)
    x.unwrap(); panic!();
    y.unwrap(); // dropsafe:allow(unwrap-in-production)
    z.unwrap(); panic!();
w.unwrap(); panic!(); // dropsafe:allow(panic-in-production) // dropsafe:allow(unwrap-in-production)
    v.unwrap(); panic!();
}
"""
    report = analyze(SourceFile("src/lib.rs", source))
    # line 5: both allowed from above; lines 6 and 8 by trailing comments (on
    # line 8 the second one too); what is allowed on line 6 does not reach line 7
    assert found(report) == [
        ("unwrap-in-production", 7),
        ("panic-in-production", 7),
        ("unwrap-in-production", 9),
        ("panic-in-production", 9),
    ]
    assert report.suppressed == 5


def test_clippy_allows_of_shared_lints_silence_their_rule():
    source = b"""\
#[allow(clippy::await_holding_lock)]
#[inline]
async fn serial(m: &std::sync::Mutex<u8>) {
    let _g = m.lock().unwrap();
    tick().await;
}
async fn other(m: &std::sync::Mutex<u8>) {
    let _g = m.lock().unwrap();
    tick().await;
}
#[allow(clippy::unwrap_used, clippy::too_many_lines)]
fn a() { x.unwrap(); panic!(); }
// #[allow(clippy::panic)]
fn b() { let s = "#[allow(clippy::panic)]"; panic!(); }
mod quiet {
    #![expect(clippy::panic)]
    fn c() { panic!(); }
}
fn d() { panic!(); }
"""
    report = analyze(SourceFile("src/lib.rs", source))
    shared = {"lock-across-await", "unwrap-in-production", "panic-in-production"}
    # the allowed lint's rule only, in the item (or the module of an inner attribute)
    assert [f for f in found(report) if f[0] in shared] == [
        ("unwrap-in-production", 4),
        ("unwrap-in-production", 8),
        ("lock-across-await", 9),
        ("panic-in-production", 12),
        ("panic-in-production", 14),
        ("panic-in-production", 19),
    ]


def test_settings_turn_rules_off_and_change_severity():
    settings, errors = load_settings(
        '[rules]\nunwrap-in-production = "off"\ndrop-untested = "off"\ndrop-panic = "warning"\n',
        [rule.id for rule in RULES],
    )
    assert errors == []
    report = analyze(SourceFile("src/lib.rs", GUARD + b"fn p() { q.unwrap(); }\n"), settings)
    assert {(f.rule, f.severity) for f in report.findings} == {
        ("drop-unwrap", "error"),
        ("drop-panic", "warning"),
    }


def test_findings_carry_position_fix_and_fingerprint_parts():
    source = "impl Drop for G {\n    fn drop(&mut self) { let é = 1; x.unwrap(); }\n}\n"
    report = analyze(SourceFile("src/lib.rs", source.encode()))
    (finding,) = [f for f in report.findings if f.rule == "drop-unwrap"]
    assert (finding.line, finding.column, finding.end_line) == (2, 39, 2)
    assert finding.code == "fn drop(&mut self) { let é = 1; x.unwrap(); }"
    assert finding.item == "impl Drop for G > fn drop"
    assert finding.fix and "block_in_place" in finding.fix
    assert set(finding.to_json()) == {
        "rule",
        "severity",
        "path",
        "line",
        "end_line",
        "column",
        "message",
        "chain",
    }


def test_test_files_elsewhere_count_for_drop_untested():
    lib = SourceFile(
        "src/lib.rs", b"pub struct Guard;\nimpl Drop for Guard { fn drop(&mut self) {} }\n"
    )
    untested = analyze_files([lib])
    assert found(untested[0], "drop-untested") == [("drop-untested", 2)]
    test = SourceFile("tests/guard.rs", b"#[test]\nfn drops() { let _g = mycrate::Guard; }\n")
    tested = analyze_files([lib, test])
    assert found(tested[0], "drop-untested") == []


def test_drop_impls_are_listed_with_touched_flag():
    report = analyze(SourceFile("src/lib.rs", GUARD, touched=frozenset({17})))
    (impl,) = report.drop_impls
    assert (impl.type_name, impl.line, impl.end_line, impl.touched) == ("Guard", 3, 8, False)


# -- bad input -----------------------------------------------------------------


def test_non_utf8_source_is_analysed():
    source = b'\xff\xfe fn g() {}\nimpl Drop for X { fn drop(&mut self) { z.expect("\xe9"); } }'
    report = analyze(SourceFile("src/lib.rs", source))
    assert found(report, "drop-unwrap") == [("drop-unwrap", 2)]


def test_deep_nesting_does_not_recurse():
    source = b"fn f() {" + b"{" * 5000 + b"x.unwrap();" + b"}" * 5000 + b"}\n"
    report = analyze(SourceFile("src/lib.rs", source))
    assert found(report) == [("unwrap-in-production", 1)]
    assert report.findings[0].item == "fn f"


def test_syntax_errors_keep_the_parts_that_parse():
    source = (
        b"fn ok() { a.unwrap(); }\n"
        + b"@@@ ))) fn ( { ] ;; " * 500
        + b"\nimpl Drop for G { fn drop(&mut self) { b.unwrap(); } }\n"
    )
    report = analyze(SourceFile("src/lib.rs", source))
    assert ("unwrap-in-production", 1) in found(report)
    assert ("drop-unwrap", 3) in found(report)


def test_oversized_file_is_skipped_with_a_reason():
    source = b"fn f() { x.unwrap(); }\n" * (MAX_SOURCE_BYTES // 20)
    report = analyze(SourceFile("src/big.rs", source))
    assert report.findings == ()
    assert report.skipped and "MB" in report.skipped


def test_empty_file():
    report = analyze(SourceFile("src/empty.rs", b""))
    assert (report.findings, report.skipped, report.drop_impls) == ((), None, ())


@pytest.mark.parametrize("rule", [r for r in RULES if r.only_in_drop], ids=lambda r: r.id)
def test_a_rule_said_to_find_only_in_drop_finds_nothing_before_reach(rule):
    """`only_in_drop` lets the engine skip a rule in a file's first pass; that
    is only right if, with no function yet known to be reached, the rule finds
    nothing, even in the file written to make it fire."""
    for fixture in FIXTURES.glob("*.rs"):
        ctx = FileContext(f"src/{fixture.name}", fixture.read_bytes())
        assert list(rule.check(ctx)) == [], fixture.name
