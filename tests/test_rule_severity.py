"""Severity that means something: a lesser form of a rule's hazard is reported
below the rule's level (`Hit.at_most`), and never above what is configured."""

from rules.config import Settings
from rules.engine import SourceFile, analyze

DROP = b"""
struct Pool { in_use: usize, lock: std::sync::Mutex<u32> }

impl Drop for Pool {
    fn drop(&mut self) {
        assert_eq!(self.in_use, 0, "connections leaked");
        if self.in_use > 10 {
            panic!("far too many connections");
        }
        match self.in_use {
            0 => {}
            _ => unreachable!(),
        }
    }
}
"""


def severities(source: bytes, rule: str, settings: Settings | None = None) -> dict[int, str]:
    report = analyze(SourceFile("src/pool.rs", source), settings)
    return {f.line: f.severity for f in report.findings if f.rule == rule}


def test_assertions_in_drop_are_notices_and_panics_errors():
    assert severities(DROP, "drop-panic") == {6: "notice", 8: "error", 12: "notice"}


def test_a_cap_never_raises_a_configured_severity():
    settings = Settings(rules={"drop-panic": "warning"})
    assert severities(DROP, "drop-panic", settings) == {6: "notice", 8: "warning", 12: "notice"}
