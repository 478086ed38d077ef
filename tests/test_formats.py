"""The report formats, on findings built by hand (no engine run needed)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest

from bot.formats import github, json_format, sarif, text
from bot.scan import ScanResult
from rules.catalogue import RULES
from rules.engine import FileReport
from rules.model import Finding

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


def test_text_heading_source_line_and_caret_under_the_column() -> None:
    line = "    fn drop(&mut self) { self.x.take().unwrap(); }"
    out = text.render(result(UNWRAP, lines={(UNWRAP.path, UNWRAP.line): line}))
    heading, source, carets, blank, summary = out.splitlines()
    assert heading == "src/guard.rs:3:29: error[drop-unwrap]: `.unwrap()` in Drop"
    assert source == f" 3 | {line}"
    assert carets.index("^") - len(" 3 | ") == UNWRAP.column - 1
    assert carets.count("^") == UNWRAP.end_column - UNWRAP.column
    assert blank == ""
    assert summary == "dropsafe: 1 finding (1 error) in 1 file"


def test_text_caret_keeps_tabs_so_it_lines_up() -> None:
    finding = replace(UNWRAP, column=3, end_column=9)
    assert text.caret("\t\tunwrap()", finding) == "\t\t^^^^^^"


def test_text_caret_is_one_wide_for_a_whole_item_finding_and_past_the_end() -> None:
    assert text.caret("impl Drop for G {", replace(UNWRAP, column=1, end_column=1)) == "^"
    assert text.caret("ab", replace(UNWRAP, column=5, end_column=9)) == "    ^"


def test_text_without_source_line_prints_the_heading_only() -> None:
    out = text.render(result(FORGET))
    assert out.splitlines()[0].startswith("src/lib.rs:10:5: warning[mem-forget]: ")
    assert out.splitlines()[1:] == ["", "dropsafe: 1 finding (1 warning) in 1 file"]


def test_text_summary_counts_severities_and_says_what_was_left_out() -> None:
    reports = (
        FileReport("a.rs", (UNWRAP, FORGET), suppressed=2, out_of_scope=1),
        FileReport("b.rs", ()),
        FileReport("huge.rs", (), skipped="too large"),
    )
    assert text.summary(ScanResult(reports)) == (
        "dropsafe: 2 findings (1 error, 1 warning) in 3 files; "
        "2 suppressed; 1 outside the touched lines; 1 file skipped"
    )
    assert text.summary(ScanResult(())) == "dropsafe: no findings in 0 files"


def test_json_is_one_object_with_design_keys() -> None:
    out = json.loads(json_format.render(result(UNWRAP, FORGET, skipped="too large")))
    assert out["files"] == 3
    assert out["skipped"] == [{"path": "gen/huge.rs", "reason": "too large"}]
    assert [f["rule"] for f in out["findings"]] == ["drop-unwrap", "mem-forget"]
    assert set(out["findings"][0]) == {
        "rule",
        "severity",
        "path",
        "line",
        "end_line",
        "column",
        "message",
        "fix",
        "chain",
    }


def test_sarif_validates_against_the_official_schema() -> None:
    weird = replace(FORGET, path="src/a dir/lib.rs", rule="unknown-allow-id", severity="notice")
    log = sarif.sarif_log(result(UNWRAP, FORGET, weird, skipped="too large"))
    jsonschema.Draft4Validator(SCHEMA).validate(log)


def test_sarif_describes_every_rule_with_its_docs_and_level() -> None:
    log = sarif.sarif_log(result(UNWRAP))
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "dropsafe"
    by_id = {rule["id"]: rule for rule in driver["rules"]}
    assert list(by_id) == [rule.id for rule in RULES]
    for rule in RULES:
        level = {"error": "error", "warning": "warning", "notice": "note"}[rule.severity]
        assert by_id[rule.id]["defaultConfiguration"]["level"] == level
        assert by_id[rule.id]["help"]["markdown"].startswith(rule.docs)
        assert by_id[rule.id]["shortDescription"]["text"] == rule.message


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


def test_sarif_reports_skipped_files_as_notifications() -> None:
    log = sarif.sarif_log(result(skipped="12.0 MB is over the 4 MB limit"))
    notes = log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
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


def test_github_format_lists_skipped_files_as_notices() -> None:
    out = github.render(result(UNWRAP, skipped="too large"))
    assert out.splitlines()[-1] == "::notice file=gen/huge.rs,title=dropsafe::skipped: too large"
