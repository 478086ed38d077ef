"""The report formats, on findings built by hand (no engine run needed)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest

from bot.formats import github, json_format, sarif, text
from bot.scan import ScanResult
from rules.catalogue import RULES, rule_by_id
from rules.engine import FileReport
from rules.model import ChainStep, Finding

SCHEMA = json.loads((Path(__file__).parent / "data/sarif/sarif-schema-2.1.0.json").read_text())

UNWRAP = Finding(
    rule="drop-unwrap",
    severity="error",
    path="src/guard.rs",
    line=3,
    end_line=3,
    column=29,
    end_column=37,
    message="`.unwrap()` in Drop",
    item="impl Drop for G > fn drop",
    code="self.x.take().unwrap();",
)
FORGET = Finding(
    rule="mem-forget",
    severity="warning",
    path="src/lib.rs",
    line=10,
    end_line=12,
    column=5,
    end_column=6,
    message="`std::mem::forget` skips Drop",
    item="fn leak",
    code="std::mem::forget(guard);",
)


def result(
    *findings: Finding, skipped: str | None = None, lines: dict[tuple[str, int], str] | None = None
) -> ScanResult:
    """A scan result with one report per path of `findings`, plus a skipped file if asked."""
    paths = sorted({f.path for f in findings})
    reports = [FileReport(p, tuple(f for f in findings if f.path == p)) for p in paths]
    if skipped:
        reports.append(FileReport("gen/huge.rs", (), skipped=skipped))
    return ScanResult(tuple(reports), lines or {})


def render(format_module, scan_result: ScanResult, **options) -> str:
    return "".join(format_module.render(scan_result, **options))


UNWRAP_LINE = "    fn drop(&mut self) { self.x.take().unwrap(); }"


def test_text_diagnostic_in_rustc_layout() -> None:
    out = render(text, result(UNWRAP, lines={(UNWRAP.path, UNWRAP.line): UNWRAP_LINE}))
    rule = rule_by_id("drop-unwrap")
    assert out.splitlines() == [
        "error[drop-unwrap]: `.unwrap()` in Drop",
        " --> src/guard.rs:3:29",
        "  |",
        f"3 | {UNWRAP_LINE}",
        "  |                             " + "^" * 8 + f" {rule.label}",
        "  |",
        f"  = help: {rule.help}",
        "  = note: `dropsafe explain drop-unwrap` has the full page and the fix pattern",
        "",
        "error: 1 finding (1 error) in 1 file",
    ]


def test_text_multi_line_span_is_bracketed_like_rustc() -> None:
    lines = {
        ("src/lib.rs", 10): "    let _ = std::mem::forget(",
        ("src/lib.rs", 11): "        guard,",
        ("src/lib.rs", 12): "    );",
    }
    starts_mid_line = replace(FORGET, column=13)
    out = text.diagnostic(starts_mid_line, lines).splitlines()
    label = rule_by_id("mem-forget").label
    assert out[2:9] == [
        "   |",
        "10 |       let _ = std::mem::forget(",
        "   |  _____________^",
        "11 | |         guard,",
        "12 | |     );",
        f"   | |_____^ {label}",  # under the `)` of `);`, the span's last character
        "   |",
    ]
    at_line_start = replace(FORGET, column=5)
    assert text.diagnostic(at_line_start, lines).splitlines()[3] == (
        "10 | /     let _ = std::mem::forget("
    )


def test_text_long_span_shows_its_ends_around_an_ellipsis() -> None:
    long = replace(FORGET, line=1, end_line=40, column=1, end_column=2)
    lines = {(long.path, n): f"x{n}" for n in text.shown_lines(long)}
    assert text.shown_lines(long) == [1, 2, 3, 38, 39, 40]
    out = text.diagnostic(long, lines).splitlines()
    assert out[out.index(" 3 | | x3") + 1] == "..."
    assert out[out.index("...") + 1] == "38 | | x38"


def test_text_tabs_show_as_four_spaces_and_the_carets_line_up() -> None:
    finding = replace(UNWRAP, column=3, end_column=9)
    out = text.diagnostic(finding, {(finding.path, 3): "\t\tunwrap()"}).splitlines()
    assert out[3] == "3 |         unwrap()"
    assert out[4].startswith("  |         ^^^^^^ ")


def test_text_long_line_shows_a_window_around_the_span_like_rustc() -> None:
    """A generated 40,000-character line can hold thousands of findings:
    each shows 140 characters of it, from 40 before the span."""
    line = "a(); " * 4000 + "x.take().unwrap();" + " b();" * 4000
    column = line.index("unwrap") + 1
    finding = replace(UNWRAP, column=column, end_column=column + len("unwrap()"))
    out = text.diagnostic(finding, {(finding.path, 3): line}).splitlines()
    assert out[1] == f" --> src/guard.rs:3:{column}"
    assert out[3] == f"3 | ...{line[column - 41 : column + 99]}..."
    assert out[4] == "  | " + " " * 43 + "^" * 8 + " " + rule_by_id("drop-unwrap").label
    # a span running past the window is underlined to its edge; a short line is whole
    wide = replace(finding, end_column=column + 500)
    assert text.diagnostic(wide, {(finding.path, 3): line}).splitlines()[4].count("^") == 100
    assert text.diagnostic(finding, {(finding.path, 3): "x"}).splitlines()[3] == "3 | x"


def test_text_point_finding_gets_one_caret_even_past_the_end_of_the_line() -> None:
    point = replace(UNWRAP, column=5, end_column=5)
    out = text.diagnostic(point, {(point.path, 3): "ab"}).splitlines()
    assert out[4].startswith("  |     ^ ")


def test_text_chain_is_shown_as_notes() -> None:
    chain = (ChainStep("src/guard.rs", 2, "Drop for G"), ChainStep("src/io.rs", 7, "io::close"))
    out = text.diagnostic(replace(UNWRAP, chain=chain), {}).splitlines()
    note = out.index("  = note: reached from `Drop` through")
    assert out[note + 1 : note + 3] == [
        "          src/guard.rs:2: Drop for G",
        "          src/io.rs:7: io::close",
    ]


def test_text_without_source_line_prints_heading_location_and_notes() -> None:
    out = render(text, result(FORGET)).splitlines()
    assert out[:2] == [
        "warning[mem-forget]: `std::mem::forget` skips Drop",
        "  --> src/lib.rs:10:5",
    ]
    assert out[2].startswith("   = help: ")
    assert out[-1] == "warning: 1 finding (1 warning) in 1 file"


def test_text_colour_only_when_asked() -> None:
    lines = {(UNWRAP.path, UNWRAP.line): UNWRAP_LINE}
    plain = render(text, result(UNWRAP, lines=lines))
    coloured = render(text, result(UNWRAP, lines=lines), style=text.Style(colour=True))
    assert "\x1b[" not in plain
    assert coloured.startswith("\x1b[1;31merror[drop-unwrap]\x1b[0m")
    assert re.sub("\x1b\\[[0-9;]*m", "", coloured) == plain


def test_text_lists_skipped_files() -> None:
    out = render(text, result(skipped="too large")).splitlines()
    assert out[:2] == ["warning: skipped: too large", " --> gen/huge.rs"]


def test_text_summary_counts_severities_and_says_what_was_left_out() -> None:
    reports = (
        FileReport("a.rs", (UNWRAP, FORGET), suppressed=2, out_of_scope=1),
        FileReport("b.rs", ()),
        FileReport("huge.rs", (), skipped="too large"),
    )
    assert text.summary(ScanResult(reports)) == (
        "error: 2 findings (1 error, 1 warning) in 2 files; "
        "2 suppressed; 1 outside the touched lines; 1 file skipped"
    )
    assert text.summary(ScanResult(())) == "dropsafe: no findings in 0 files"


def test_json_version_2_refers_to_rules_described_once() -> None:
    twin = replace(UNWRAP, line=4, end_line=4)
    out = json.loads(render(json_format, result(UNWRAP, twin, FORGET, skipped="too large")))
    assert out["version"] == 2
    assert out["files"] == 2
    assert out["skipped"] == [{"path": "gen/huge.rs", "reason": "too large"}]
    assert [f["rule"] for f in out["findings"]] == ["drop-unwrap", "drop-unwrap", "mem-forget"]
    assert set(out["findings"][0]) == {
        "rule",
        "severity",
        "path",
        "line",
        "end_line",
        "column",
        "message",
        "chain",
    }
    unwrap, forget = rule_by_id("drop-unwrap"), rule_by_id("mem-forget")
    assert out["rules"] == {
        "drop-unwrap": {"severity": "error", "summary": unwrap.message, "fix": unwrap.fix.markdown},
        "mem-forget": {"severity": forget.severity, "summary": forget.message, "fix": None},
    }


def test_json_carries_the_chain_and_rules_outside_the_catalogue() -> None:
    chain = (ChainStep("src/guard.rs", 2, "Drop for G"),)
    typo = replace(FORGET, rule="unknown-allow-id", severity="notice", message="unknown `x`")
    out = json.loads(render(json_format, result(replace(UNWRAP, chain=chain), typo)))
    assert out["findings"][0]["chain"] == [
        {"path": "src/guard.rs", "line": 2, "label": "Drop for G"}
    ]
    assert out["rules"]["unknown-allow-id"] == {
        "severity": "notice",
        "summary": "unknown `x`",
        "fix": None,
    }


def test_json_is_compact_with_one_finding_a_line() -> None:
    """Sixty thousand findings must stay a few MB, and greppable."""
    findings = (UNWRAP, replace(UNWRAP, line=4, end_line=4, message="two\nlines"), FORGET)
    lines = render(json_format, result(*findings)).splitlines()
    assert lines[0] == '{"version":2,"findings":['
    assert [json.loads(line.removesuffix(",")) for line in lines[1:-1]] == [
        finding.to_json() for finding in findings
    ]
    assert lines[-1].startswith('],"files":2,')
    assert json.loads("\n".join(lines))["findings"] == [f.to_json() for f in findings]


def test_json_without_findings_is_valid() -> None:
    assert json.loads(render(json_format, result()))["findings"] == []


def test_sarif_validates_against_the_official_schema() -> None:
    weird = replace(FORGET, path="src/a dir/lib.rs", rule="unknown-allow-id", severity="notice")
    chained = replace(UNWRAP, chain=(ChainStep("src/guard.rs", 2, "Drop for G"),))
    streamed = render(sarif, result(chained, FORGET, weird, skipped="too large"))
    log = json.loads(streamed)
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    assert log == sarif.sarif_log(result(chained, FORGET, weird, skipped="too large"))


def test_sarif_describes_every_rule_once_with_its_help_and_level() -> None:
    log = sarif.sarif_log(result(UNWRAP, replace(UNWRAP, line=9)))
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "dropsafe"
    by_id = {rule["id"]: rule for rule in driver["rules"]}
    assert list(by_id) == [rule.id for rule in RULES]
    for rule in RULES:
        level = {"error": "error", "warning": "warning", "notice": "note"}[rule.severity]
        assert by_id[rule.id]["defaultConfiguration"]["level"] == level
        assert rule.docs in by_id[rule.id]["help"]["markdown"]
        assert rule.help in by_id[rule.id]["help"]["text"]
        assert by_id[rule.id]["shortDescription"]["text"] == rule.message
    fix = rule_by_id("drop-unwrap").fix
    sharing = [rule for rule in RULES if rule.fix == fix]
    assert json.dumps(log).count(json.dumps(fix.markdown)[1:-1]) == len(sharing)
    assert all("fix" not in json.dumps(r) for r in log["runs"][0]["results"])


def test_sarif_chain_becomes_a_code_flow_ending_at_the_finding() -> None:
    chain = (ChainStep("src/guard.rs", 2, "Drop for G"), ChainStep("src/io.rs", 7, "io::close"))
    (res,) = sarif.sarif_log(result(replace(UNWRAP, chain=chain)))["runs"][0]["results"]
    steps = res["codeFlows"][0]["threadFlows"][0]["locations"]
    places = [
        (
            s["location"]["physicalLocation"]["artifactLocation"]["uri"],
            s["location"]["physicalLocation"]["region"]["startLine"],
            s["location"].get("message", {}).get("text"),
        )
        for s in steps
    ]
    assert places == [
        ("src/guard.rs", 2, "Drop for G"),
        ("src/io.rs", 7, "io::close"),
        ("src/guard.rs", 3, None),
    ]
    (plain,) = sarif.sarif_log(result(UNWRAP))["runs"][0]["results"]
    assert "codeFlows" not in plain


def test_sarif_result_location_and_level() -> None:
    log = sarif.sarif_log(result(UNWRAP, replace(FORGET, path="src/my dir/lib.rs")))
    first, second = log["runs"][0]["results"]
    assert first["ruleId"] == "drop-unwrap"
    assert first["level"] == "error"
    location = first["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "src/guard.rs"
    assert location["region"] == {"startLine": 3, "startColumn": 29, "endLine": 3, "endColumn": 37}
    assert second["level"] == "warning"
    assert second["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "src/my%20dir/lib.rs"
    )
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert rules[first["ruleIndex"]]["id"] == "drop-unwrap"


def test_sarif_uri_of_odd_and_absolute_paths() -> None:
    assert sarif.uri("src/caf\udce9 x.rs") == "src/caf%E9%20x.rs"
    assert sarif.uri("/abs/lib.rs") == "file:///abs/lib.rs"


def test_sarif_region_without_width_runs_to_the_end_of_the_line() -> None:
    whole = replace(UNWRAP, column=1, end_column=1)
    region = sarif.sarif_log(result(whole))["runs"][0]["results"][0]["locations"][0]
    assert region["physicalLocation"]["region"] == {"startLine": 3, "startColumn": 1, "endLine": 3}


def test_fingerprint_ignores_lines_but_not_item_or_code() -> None:
    moved = replace(UNWRAP, line=40, end_line=40, column=9, end_column=17)
    assert moved.fingerprint() == UNWRAP.fingerprint()
    assert replace(UNWRAP, item="fn other").fingerprint() != UNWRAP.fingerprint()
    assert replace(UNWRAP, code="x.unwrap();").fingerprint() != UNWRAP.fingerprint()
    assert replace(UNWRAP, path="src/b.rs").fingerprint() != UNWRAP.fingerprint()


def test_sarif_identical_findings_get_distinct_fingerprints() -> None:
    twin = replace(UNWRAP, line=4, end_line=4)
    results = sarif.sarif_log(result(UNWRAP, twin))["runs"][0]["results"]
    prints = [r["partialFingerprints"][sarif.FINGERPRINT] for r in results]
    assert prints == [f"{UNWRAP.fingerprint()}:1", f"{UNWRAP.fingerprint()}:2"]


def test_sarif_reports_skipped_files_as_warning_notifications() -> None:
    log = sarif.sarif_log(result(skipped="12.0 MB is over the 4 MB limit"))
    notes = log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert notes[0]["level"] == "warning"
    assert notes[0]["message"]["text"] == "skipped: 12.0 MB is over the 4 MB limit"
    assert notes[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "gen/huge.rs"
    )


def test_github_annotation_on_one_line_has_columns() -> None:
    assert github.annotation(UNWRAP) == (
        "::error file=src/guard.rs,line=3,endLine=3,col=29,endColumn=37,"
        "title=dropsafe(drop-unwrap)::`.unwrap()` in Drop"
    )


def test_github_annotation_over_several_lines_drops_columns() -> None:
    assert github.annotation(FORGET) == (
        "::warning file=src/lib.rs,line=10,endLine=12,"
        "title=dropsafe(mem-forget)::`std::mem::forget` skips Drop"
    )


@pytest.mark.parametrize(
    ("raw", "data", "prop"),
    [
        ("100%", "100%25", "100%25"),
        ("a\r\nb", "a%0D%0Ab", "a%0D%0Ab"),
        ("a:b,c", "a:b,c", "a%3Ab%2Cc"),
    ],
)
def test_github_escaping(raw: str, data: str, prop: str) -> None:
    assert github.escape_data(raw) == data
    assert github.escape_property(raw) == prop


def test_github_escapes_message_and_path() -> None:
    odd = replace(UNWRAP, path="src/a,b:c.rs", message="50% done\nnext", severity="notice")
    line = github.annotation(odd)
    assert line.startswith("::notice file=src/a%2Cb%3Ac.rs,line=3,")
    assert line.endswith("::50%25 done%0Anext")


def test_github_format_lists_skipped_files_as_warnings() -> None:
    out = render(github, result(UNWRAP, skipped="too large"))
    assert out.splitlines()[-1] == "::warning file=gen/huge.rs,title=dropsafe::skipped: too large"


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.id)
def test_every_rule_has_a_caret_label_and_a_one_line_help(rule) -> None:
    assert rule.label and "\n" not in rule.label and len(rule.label) <= 50
    assert rule.help and "\n" not in rule.help and len(rule.help) <= 90
