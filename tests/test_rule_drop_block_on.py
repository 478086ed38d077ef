"""drop-block-on's excuses, and the rules of the spawn family against their own
documentation (against the safe-Drop fix pattern: tests/test_fixpatterns.py)."""

from __future__ import annotations

import pytest

from rules.catalogue import rule_by_id
from rules.docs import section
from rules.engine import SourceFile, analyze
from rules.fixes import rust_blocks

FAMILY = (
    "drop-detached-spawn",
    "detached-spawn",
    "drop-block-on",
    "drop-abort-without-await",
    "drop-blocking-call",
)


def _flagged(source: str, rule: str = "drop-block-on") -> list[int]:
    report = analyze(SourceFile("src/lib.rs", source.encode()))
    return [f.line for f in report.findings if f.rule == rule]


def _in_drop(body: str) -> str:
    return f"impl Drop for G {{\n    fn drop(&mut self) {{\n{body}\n    }}\n}}\n"


@pytest.mark.parametrize(
    "body",
    [
        "if !Handle::try_current().is_ok() { rt.block_on(f()); }",
        "if let Some(h) = Handle::try_current().ok() { x(h) } else { rt.block_on(f()); }",
        "match Handle::try_current().ok() { None => rt.block_on(f()), Some(h) => x(h) }",
        "match Handle::try_current() { Ok(h) => x(h), _ => rt.block_on(f()) }",
        "let current = Handle::try_current();\nif current.is_err() { rt.block_on(f()); }",
        "tokio::task::spawn_blocking(move || h.block_on(f()));",
        "let _ = std::thread::spawn(move || h.block_on(f())).join();",
    ],
)
def test_no_runtime_here_or_another_thread_is_excused(body):
    assert _flagged(_in_drop(body)) == []


@pytest.mark.parametrize(
    "body",
    [
        "if Handle::try_current().is_ok() { h.block_on(f()); }",
        "if let Err(_) = Handle::try_current() { x() } else { h.block_on(f()); }",
        "match Handle::try_current() { Err(_) => x(), _ => h.block_on(f()) }",
        "let run = || h.block_on(f());\nrun();",
        "tokio::spawn(async move { h.block_on(f()) });",
    ],
)
def test_a_running_runtime_is_not_excused(body):
    assert len(_flagged(_in_drop(body))) == 1


def test_a_helper_called_only_where_no_runtime_runs_is_excused():
    source = (
        _in_drop("match Handle::try_current() { Err(_) => own(), Ok(_) => log() }")
        + "fn own() { rt.block_on(f()); }\n"
    )
    assert _flagged(source) == []


def test_a_helper_also_called_with_a_runtime_is_flagged_with_that_path():
    source = _in_drop("if Handle::try_current().is_ok() { self.flush(); }") + (
        "impl G {\n    fn flush(&self) { step(); }\n}\nfn step() { rt.block_on(f()); }\n"
    )
    report = analyze(SourceFile("src/lib.rs", source.encode()))
    (finding,) = [f for f in report.findings if f.rule == "drop-block-on"]
    assert finding.message.endswith("(reached from Drop for G via G::flush -> step)")


@pytest.mark.parametrize("rule_id", FAMILY)
def test_docs_example_is_flagged_and_its_fix_is_not(rule_id):
    rule = rule_by_id(rule_id)
    assert rule is not None
    (example,) = rust_blocks(section(rule.docs, "Example"))
    (instead,) = rust_blocks(section(rule.docs, "Use instead"))
    assert _flagged(example, rule_id)
    assert not _flagged(instead, rule_id)
