"""The review's pure payload builders: findings in, check-run and review JSON out."""

from __future__ import annotations

from dataclasses import replace

from bot.review import checkrun
from bot.review.comments import (
    COMMENT_CAP,
    comment_body,
    fingerprint,
    keyed,
    parse_marker,
    parse_overflow,
    plan_review,
    reflow,
    review_payload,
)
from bot.review.threads import Thread, bot_logins, thread_from_json, to_resolve
from rules.config import Settings
from rules.diff import parse_patch
from rules.engine import DropImplInfo, FileReport
from rules.model import NEVER_PANICS, NO_UNWRAP, ChainStep, Finding

# One hunk adding lines 10-14 of src/lib.rs (context lines 8-9 and 15-16).
PATCH = "@@ -8,4 +8,9 @@ impl Guard {\n a\n b\n+c\n+d\n+e\n+f\n+g\n h\n i\n"
CHANGE = parse_patch("src/lib.rs", PATCH, "modified")


def finding(
    line: int = 10, rule: str = "drop-unwrap", severity: str = "error", **kw: object
) -> Finding:
    fields: dict[str, object] = {
        "rule": rule,
        "severity": severity,
        "path": "src/lib.rs",
        "line": line,
        "end_line": line,
        "column": 9,
        "end_column": 20,
        "message": "`unwrap` in Drop",
        "item": "impl Drop for Guard > fn drop",
        "code": "self.file.take().unwrap();",
    }
    fields.update(kw)
    return Finding(**fields)  # type: ignore[arg-type]


def test_fingerprint_ignores_line_numbers_but_not_code() -> None:
    assert fingerprint(finding(10)) == fingerprint(finding(42, end_line=42))
    assert fingerprint(finding(10)) != fingerprint(finding(10, code="other();"))
    assert fingerprint(finding(10)) != fingerprint(finding(10, path="src/other.rs"))


def test_identical_findings_in_one_item_get_distinct_fingerprints() -> None:
    first, second = keyed([finding(12), finding(11)])
    assert first.finding.line == 11
    assert first.fp == fingerprint(finding(11))
    assert second.fp != first.fp


def test_comment_body_has_message_why_fix_and_marker() -> None:
    item = keyed([finding()])[0]
    body = comment_body(item.finding, item.fp)
    assert "`drop-unwrap`" in body and "`unwrap` in Drop" in body
    assert "Why it matters" in body
    assert "```rust" in body  # the fix pattern's code
    assert parse_marker(body) == ("drop-unwrap", item.fp)
    assert parse_marker("a comment by a person") is None


def test_reflow_joins_wrapped_prose_but_keeps_code_lists_and_headings() -> None:
    text = "Para\nwraps.\n\n## Head\nline\n- item\n  wraps\n- next\n```rust\nlet a = 1;\nb();\n```"
    assert reflow(text).splitlines() == [
        "Para wraps.",
        "",
        "## Head",
        "line",
        "- item wraps",
        "- next",
        "```rust",
        "let a = 1;",
        "b();",
        "```",
    ]


def test_plan_comments_only_diff_lines_and_skips_reported() -> None:
    items = keyed([finding(10), finding(8, code="a"), finding(30, code="b"), finding(12, code="c")])
    old = next(k for k in items if k.finding.line == 12)
    plan = plan_review(items, {"src/lib.rs": CHANGE}, frozenset({old.fp}))
    assert [c["line"] for c in plan.comments] == [8, 10]
    assert all(c["side"] == "RIGHT" and c["path"] == "src/lib.rs" for c in plan.comments)
    assert plan.outside_diff == 1 and plan.already == 1 and not plan.overflow


def test_plan_caps_inline_comments_keeping_errors_first() -> None:
    notices = [
        finding(10, rule="unwrap-in-production", severity="notice", code=f"n{i}") for i in range(40)
    ]
    errors = [finding(11, code=f"e{i}") for i in range(5)]
    findings = keyed(notices + errors)
    plan = plan_review(findings, {"src/lib.rs": CHANGE}, frozenset(), comment_on="notice")
    assert len(plan.comments) == COMMENT_CAP
    assert [k.finding.severity for k in plan.inline[:5]] == ["error"] * 5
    assert len(plan.overflow) == 15


def test_findings_below_comment_on_are_annotations_only() -> None:
    levels = [finding(10, severity=s, code=s) for s in ("error", "warning", "notice")]
    inline = {
        comment_on: [k.finding.severity for k in plan.inline]
        for comment_on in ("error", "warning", "notice", "never")
        for plan in [
            plan_review(keyed(levels), {"src/lib.rs": CHANGE}, frozenset(), 30, comment_on)
        ]
    }
    assert inline == {
        "error": ["error"],
        "warning": ["error", "warning"],
        "notice": ["error", "warning", "notice"],
        "never": [],
    }
    default = plan_review(keyed(levels), {"src/lib.rs": CHANGE}, frozenset())
    assert default.below_comment_on == 1 and not default.overflow
    outcome = checkrun.Outcome(keyed(levels), [], Settings(), "added", default)
    assert '- 1 below `comment_on = "warning"`: annotations only' in checkrun.summary(outcome)
    assert "| `drop-unwrap` | notice | 1 |" in checkrun.summary(outcome)  # still counted
    assert len(checkrun.completion_payloads(outcome)[-1]["output"]["annotations"]) == 3


CHAIN = (
    ChainStep("src/pool.rs", 12, "Drop for Pool"),
    ChainStep("src/pool.rs", 13, "cleanup::shutdown"),
    ChainStep("src/cleanup.rs", 30, "Handle::current()"),
)


def test_the_call_chain_is_a_line_of_the_comment_and_of_the_annotation() -> None:
    reached = finding(30, chain=CHAIN, path="src/cleanup.rs")
    body = comment_body(reached, "0" * 16)
    assert "**Call chain:** `Drop for Pool` → `cleanup::shutdown` → `Handle::current()`" in body
    message = checkrun.annotation(reached)["message"]
    assert (
        message
        == "`unwrap` in Drop\ncall chain: Drop for Pool → cleanup::shutdown → Handle::current()"
    )
    assert "chain" not in comment_body(finding(30), "0" * 16).lower()
    assert checkrun.annotation(finding(30))["message"] == "`unwrap` in Drop"


def test_review_payload_lists_overflow_with_marker_and_nothing_new_means_none() -> None:
    many = keyed(finding(10, code=f"c{i}") for i in range(35))
    plan = plan_review(many, {"src/lib.rs": CHANGE}, frozenset())
    payload = review_payload(plan, "abc123")
    assert payload is not None
    assert payload["event"] == "COMMENT" and payload["commit_id"] == "abc123"
    assert len(payload["comments"]) == COMMENT_CAP  # type: ignore[arg-type]
    body = str(payload["body"])
    assert "5 more over the limit" in body
    assert parse_overflow(body) == {k.fp for k in plan.overflow}
    again = plan_review(many, {"src/lib.rs": CHANGE}, frozenset(k.fp for k in many))
    assert review_payload(again, "abc123") is None


def outcome(findings: list[Finding], **kw: object) -> checkrun.Outcome:
    items = keyed(findings)
    report = FileReport(
        "src/lib.rs",
        tuple(findings),
        suppressed=2,
        out_of_scope=3,
        drop_impls=(DropImplInfo("Guard", 9, 14, True), DropImplInfo("Old", 40, 50, False)),
    )
    fields: dict[str, object] = {
        "findings": items,
        "reports": [report],
        "settings": Settings(),
        "mode": "added",
        "plan": plan_review(items, {"src/lib.rs": CHANGE}, frozenset()),
    }
    fields.update(kw)
    return checkrun.Outcome(**fields)  # type: ignore[arg-type]


def test_conclusion_follows_fail_on() -> None:
    error, warning = keyed([finding(), finding(rule="mem-forget", severity="warning", code="x")])
    assert checkrun.conclusion([error], "error") == "failure"
    assert checkrun.conclusion([warning], "error") == "success"
    assert checkrun.conclusion([warning], "warning") == "failure"
    assert checkrun.conclusion([error], "never") == "neutral"
    assert checkrun.conclusion([], "never") == "success"


def test_annotation_columns_only_on_single_line_ranges() -> None:
    one = checkrun.annotation(finding())
    assert one["annotation_level"] == "failure"
    assert (one["start_column"], one["end_column"]) == (9, 20)
    multi = checkrun.annotation(finding(end_line=12))
    assert "start_column" not in multi and multi["end_line"] == 12
    assert checkrun.annotation(finding(severity="notice"))["annotation_level"] == "notice"


def test_120_annotations_go_in_three_patches_completing_on_the_last() -> None:
    payloads = checkrun.completion_payloads(
        outcome([finding(10, code=f"c{i}") for i in range(120)])
    )
    assert [len(p["output"]["annotations"]) for p in payloads] == [50, 50, 20]  # type: ignore[index]
    assert all(p["output"]["title"] and p["output"]["summary"] for p in payloads)  # type: ignore[index]
    assert "status" not in payloads[0] and "conclusion" not in payloads[0]
    assert payloads[-1]["status"] == "completed" and payloads[-1]["conclusion"] == "failure"


def test_no_findings_completes_in_one_patch_with_success() -> None:
    (payload,) = checkrun.completion_payloads(outcome([]))
    assert payload["conclusion"] == "success" and "annotations" not in payload["output"]  # type: ignore[operator]
    summary = payload["output"]["summary"]  # type: ignore[index]
    assert "3 outside the touched lines" in summary and "2 suppressed" in summary


def test_summary_counts_left_out_config_errors_and_checklist() -> None:
    findings = [
        finding(10),
        finding(11, code="x"),
        finding(12, rule="drop-panic", code="p", message="`panic!` in Drop"),
    ]
    text = checkrun.summary(
        outcome(
            findings,
            skipped={"gen/big.rs": "binary file"},
            excluded=["benches/a.rs"],
            config_errors=["`mode`: expected one of added, diff_context, file"],
        )
    )
    assert "| `drop-unwrap` | error | 2 |" in text
    assert "| `drop-panic` | error | 1 |" in text
    assert "`gen/big.rs`: binary file" in text
    assert "1 file(s) excluded" in text
    assert "expected one of added" in text
    assert "impl Drop for Guard" in text and "impl Drop for Old" not in text
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    assert "⚠️" in rows[NO_UNWRAP] and "line 10" in rows[NO_UNWRAP]
    assert "⚠️" in rows[NEVER_PANICS]
    assert "✅" in rows["Test coverage exists"]


def test_summary_stays_under_githubs_limit() -> None:
    many = [finding(10, code=f"c{i}", message="m" * 500) for i in range(400)]
    assert len(checkrun.summary(outcome(many))) <= checkrun.SUMMARY_LIMIT


def test_failed_payload_completes_neutral() -> None:
    payload = checkrun.failed_payload("GitHubBroken: 502")
    assert payload["status"] == "completed" and payload["conclusion"] == "neutral"
    assert "502" in payload["output"]["summary"]  # type: ignore[index]


def test_threads_resolved_only_when_ours_gone_and_nobody_replied() -> None:
    bots = bot_logins("dropsafe")
    gone = Thread("T1", "src/lib.rs", False, ("dropsafe[bot]",), "a" * 16)
    replied = replace(gone, id="T2", authors=("dropsafe[bot]", "octocat"))
    current = replace(gone, id="T3", fingerprint="b" * 16)
    theirs = replace(gone, id="T4", authors=("octocat",))
    done = replace(gone, id="T5", resolved=True)
    skipped_file = replace(gone, id="T6", path="src/big.rs")
    left_pr = replace(gone, id="T7", path="src/removed.rs")
    picked = to_resolve(
        [gone, replied, current, theirs, done, skipped_file, left_pr],
        {"b" * 16},
        bots,
        analysed={"src/lib.rs"},
        pr_paths={"src/lib.rs", "src/big.rs"},
    )
    assert [t.id for t in picked] == ["T1", "T7"]


def test_thread_from_graphql_reads_marker_of_first_comment() -> None:
    item = keyed([finding()])[0]
    node = {
        "id": "T",
        "isResolved": False,
        "path": "src/lib.rs",
        "comments": {
            "nodes": [
                {"author": {"login": "dropsafe"}, "body": comment_body(item.finding, item.fp)},
                {"author": None, "body": "ghost reply"},
            ]
        },
    }
    thread = thread_from_json(node)
    assert thread.fingerprint == item.fp and thread.authors == ("dropsafe", "")
