"""`dropsafe` end to end: in-process through `main(argv)`, and a few times as the
installed console script. Each test works in its own temporary directory."""

from __future__ import annotations

import gc
import io
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from unittest import mock

import jsonschema
import pytest

from bot import cli
from bot.pool import GC_THRESHOLD, Holder
from bot.scan import balanced_chunks, collect_files, scan
from rules.catalogue import RULES, rule_by_id
from rules.engine import MAX_SOURCE_BYTES

SCHEMA = json.loads((Path(__file__).parent / "data/sarif/sarif-schema-2.1.0.json").read_text())

# drop-unwrap (error) on line 4.
GUARD = """\
struct G { x: Option<u32> }
impl Drop for G {
    fn drop(&mut self) {
        self.x.flush().unwrap();
    }
}
"""
CLEAN = "pub fn add(a: u32, b: u32) -> u32 {\n    a + b\n}\n"
# mem-forget (warning) on line 2, nothing at error level.
FORGET = "pub fn leak(v: Vec<u8>) {\n    std::mem::forget(v);\n}\n"
# lock-across-await (warning): a std guard held across an await
HELD = (
    "pub async fn flush(m: &std::sync::Mutex<u32>, s: &Sink) {\n"
    "    let g = m.lock().unwrap();\n"
    "    s.flush().await;\n"
    "}\n"
)


class Run:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self) -> dict:
        return json.loads(self.out)

    def rules(self) -> list[tuple[str, str, int]]:
        return [(f["rule"], f["path"], f["line"]) for f in self.json()["findings"]]


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """`run(*argv, stdin=b"")` calls `main` in `tmp_path` and captures its output."""
    monkeypatch.chdir(tmp_path)

    def call(*argv: str, stdin: bytes = b"") -> Run:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        code = cli.main(list(argv))
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return call


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


# --- formats and exit status -------------------------------------------------


def test_text_report_in_rustc_layout(run, tmp_path: Path) -> None:
    write(tmp_path, {"src/guard.rs": GUARD})
    result = run("check")
    assert result.code == 1
    lines = result.out.splitlines()
    heading = lines.index(
        "error[drop-unwrap]: `unwrap` in `Drop`: a panic while unwinding aborts the process"
    )
    assert lines[heading + 1 : heading + 5] == [
        " --> src/guard.rs:4:24",
        "  |",
        "4 |         self.x.flush().unwrap();",
        "  |                        ^^^^^^ " + rule_by_id("drop-unwrap").label,
    ]
    assert "  = note: `dropsafe explain drop-unwrap` has the full page and the fix pattern" in lines
    assert lines[-1] == "error: 2 findings (1 error, 1 notice) in 1 file"


def test_whole_impl_finding_underlines_the_impl_header(run, tmp_path: Path) -> None:
    write(tmp_path, {"src/guard.rs": GUARD})
    lines = run("check").out.splitlines()
    heading = lines.index("notice[drop-untested]: `impl Drop for G` has no test that names `G`")
    assert lines[heading + 3 : heading + 5] == [
        "2 | impl Drop for G {",
        "  | ^^^^^^^^^^^^^^^ " + rule_by_id("drop-untested").label,
    ]


def test_colour_follows_the_flag_and_no_color(run, tmp_path: Path, monkeypatch) -> None:
    write(tmp_path, {"src/guard.rs": GUARD})
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in run("check").out  # captured output is no terminal anyway
    assert "\x1b[1;31merror[drop-unwrap]" in run("check", "--color", "always").out
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert "\x1b[" not in run("check", "--color", "auto").out
    monkeypatch.setenv("NO_COLOR", "")  # empty: not set, says no-color.org
    assert "\x1b[1;31merror[drop-unwrap]" in run("check", "--color", "auto").out
    assert "\x1b[" not in run("check", "--color", "never").out


def test_version(run) -> None:
    result = run("--version")
    assert (result.code, result.out) == (0, f"dropsafe {metadata.version('dropsafe')}\n")


def test_clean_file_exits_0(run, tmp_path: Path) -> None:
    write(tmp_path, {"lib.rs": CLEAN})
    result = run("check", "lib.rs")
    assert (result.code, result.out, result.err) == (0, "dropsafe: no findings in 1 file\n", "")


def test_json_format(run, tmp_path: Path) -> None:
    write(tmp_path, {"src/guard.rs": GUARD, "src/lib.rs": CLEAN})
    result = run("check", "--format", "json")
    assert result.code == 1
    assert result.json()["files"] == 2
    assert ("drop-unwrap", "src/guard.rs", 4) in result.rules()
    assert result.json()["version"] == 2
    assert "fix" not in result.json()["findings"][0]
    fix = result.json()["rules"]["drop-unwrap"]["fix"]
    assert fix == rule_by_id("drop-unwrap").fix.markdown


def test_sarif_format_is_valid_and_relative(run, tmp_path: Path) -> None:
    write(tmp_path, {"src/guard.rs": GUARD})
    result = run("check", "--format", "sarif", "src")
    assert result.code == 1
    log = json.loads(result.out)
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    results = log["runs"][0]["results"]
    unwrap = next(r for r in results if r["ruleId"] == "drop-unwrap")
    location = unwrap["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "src/guard.rs"
    assert location["region"]["startLine"] == 4


def test_github_format(run, tmp_path: Path) -> None:
    write(tmp_path, {"src/guard.rs": GUARD})
    result = run("check", "--format", "github")
    assert result.code == 1
    assert any(
        line.startswith("::error file=src/guard.rs,line=4,")
        and "title=dropsafe(drop-unwrap)" in line
        for line in result.out.splitlines()
    )


def test_warning_alone_passes_unless_the_config_fails_on_warnings(run, tmp_path: Path) -> None:
    write(tmp_path, {"lib.rs": HELD, "strict.toml": 'fail_on = "warning"\n'})
    assert run("check", "lib.rs").code == 0
    assert run("check", "lib.rs", "--config", "strict.toml").code == 1


# --- exit status 2: one clear line --------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["check", "nope"], "dropsafe: error: no such file or directory: nope"),
        (["explain", "drop-nothing"], "dropsafe: error: unknown rule: drop-nothing"),
        (["check", "--config", "missing.toml"], "dropsafe: error: cannot read config missing.toml"),
        (["check", "--diff", "missing.diff"], "dropsafe: error: cannot read diff missing.diff"),
    ],
)
def test_usage_errors_exit_2_with_one_line(run, argv: list[str], message: str) -> None:
    result = run(*argv)
    assert result.code == 2
    assert result.out == ""
    assert len(result.err.splitlines()) == 1
    assert result.err.startswith(message)


def test_unparsable_diff_exits_2(run, tmp_path: Path) -> None:
    write(tmp_path, {"lib.rs": GUARD})
    result = run("check", "--diff", "-", stdin=b"this is not a diff\n")
    assert result.code == 2
    assert result.err.startswith("dropsafe: error: cannot parse the diff: ")
    assert len(result.err.splitlines()) == 1


def test_argparse_errors_exit_2(run) -> None:
    assert run("check", "--format", "xml").code == 2
    assert run("check", "--diff", "a", "--base", "HEAD").code == 2
    assert run().code == 2


# --- diffs, git and modes ------------------------------------------------------

# In guard.rs the diff adds line 4 (`let _k = 1;`, nothing to report) right
# after the unwrap on line 3 (a context line); lib.rs is not in the diff.
GUARD_V2 = """\
struct G { x: Option<u32> }
impl Drop for G { fn drop(&mut self) {
        self.x.flush().unwrap();
        let _k = 1;
        self.y.flush().expect("y");
    }
}
"""
DIFF = """\
diff --git a/src/guard.rs b/src/guard.rs
--- a/src/guard.rs
+++ b/src/guard.rs
@@ -1,5 +1,7 @@
 struct G { x: Option<u32> }
 impl Drop for G { fn drop(&mut self) {
         self.x.flush().unwrap();
+        let _k = 1;
+        self.y.flush().expect("y");
     }
 }
"""


def diff_project(root: Path) -> None:
    write(root, {"src/guard.rs": GUARD_V2, "src/lib.rs": GUARD, "change.diff": DIFF})


def test_diff_from_file_keeps_only_added_lines_of_changed_files(run, tmp_path: Path) -> None:
    diff_project(tmp_path)
    result = run("check", "--diff", "change.diff", "--format", "json")
    assert result.json()["files"] == 1
    assert ("drop-unwrap", "src/guard.rs", 5) in result.rules()
    assert ("drop-unwrap", "src/guard.rs", 3) not in result.rules()
    assert result.code == 1


def test_diff_from_stdin(run, tmp_path: Path) -> None:
    diff_project(tmp_path)
    result = run("check", "--diff", "-", "--format", "json", stdin=DIFF.encode())
    assert ("drop-unwrap", "src/guard.rs", 5) in result.rules()
    assert {path for _, path, _ in result.rules()} == {"src/guard.rs"}


def test_mode_widens_the_diff_scope(run, tmp_path: Path) -> None:
    diff_project(tmp_path)
    context = run("check", "--diff", "change.diff", "--mode", "diff_context", "--format", "json")
    assert ("drop-unwrap", "src/guard.rs", 3) in context.rules()
    whole = run("check", "--diff", "change.diff", "--mode", "file", "--format", "json")
    assert {path for _, path, _ in whole.rules()} == {"src/guard.rs"}
    assert ("drop-unwrap", "src/guard.rs", 3) in whole.rules()


def test_diff_only_scans_files_under_the_given_paths(run, tmp_path: Path) -> None:
    diff_project(tmp_path)
    write(tmp_path, {"other/x.rs": CLEAN})
    result = run("check", "other", "--diff", "change.diff", "--format", "json")
    assert (result.code, result.json()["files"]) == (0, 0)


def test_base_revision_in_a_git_repository(run, tmp_path: Path) -> None:
    write(tmp_path, {"src/guard.rs": GUARD.replace("        self.x.flush().unwrap();\n", "")})
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "base")
    write(tmp_path, {"src/guard.rs": GUARD})
    result = run("check", "--base", "HEAD", "--format", "json")
    assert ("drop-unwrap", "src/guard.rs", 4) in result.rules()
    assert result.code == 1
    unchanged = run("check", "--base", "HEAD", "--format", "json", "src")
    assert unchanged.rules() == result.rules()


def test_diff_from_stdin_in_a_subdirectory_of_the_repository(run, tmp_path, monkeypatch) -> None:
    write(tmp_path, {"crates/a/src/guard.rs": GUARD_V2, "crates/b/lib.rs": CLEAN})
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "base")
    write(tmp_path, {"crates/a/src/guard.rs": GUARD_V2 + "fn f(x: Option<u8>) { x.unwrap(); }\n"})
    patch = git(tmp_path, "diff").encode()  # paths relative to the root, as git writes them
    (tmp_path / "crates/b/sub").mkdir()
    monkeypatch.chdir(tmp_path / "crates/b/sub")
    result = run("check", "--diff", "-", "--format", "json", stdin=patch)
    assert result.rules() == [("unwrap-in-production", "crates/a/src/guard.rs", 8)]
    assert result.json()["skipped"] == []
    narrowed = run("check", "--diff", "-", "--format", "json", "..", stdin=patch)
    assert (narrowed.json()["files"], narrowed.rules()) == (0, [])
    monkeypatch.chdir(tmp_path / "crates/a")
    assert run("check", "--diff", "-", "src", "--format", "json", stdin=patch).rules() == [
        ("unwrap-in-production", "crates/a/src/guard.rs", 8)
    ]


def test_bad_revision_exits_2(run, tmp_path: Path) -> None:
    write(tmp_path, {"lib.rs": CLEAN})
    git(tmp_path, "init", "-q")
    result = run("check", "--base", "no-such-rev")
    assert result.code == 2
    assert len(result.err.splitlines()) == 1
    assert "no-such-rev" in result.err


# --- configuration -----------------------------------------------------------


def test_config_excludes_files_and_turns_rules_off(run, tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "src/guard.rs": GUARD,
            "gen/guard.rs": GUARD,
            "lib.rs": FORGET,
            "dropsafe.toml": 'exclude = ["gen/**"]\n[rules]\nmem-forget = "off"\n',
        },
    )
    result = run("check", "--config", "dropsafe.toml", "--format", "json")
    assert result.json()["files"] == 2
    assert {path for _, path, _ in result.rules()} == {"src/guard.rs"}
    assert "mem-forget" not in {rule for rule, _, _ in result.rules()}
    assert result.err == ""


def test_repository_config_is_found_without_config_flag(run, tmp_path: Path, monkeypatch) -> None:
    write(
        tmp_path,
        {
            ".git/HEAD": "ref: refs/heads/main\n",
            ".github/dropsafe.toml": '[rules]\ndrop-unwrap = "off"\n',
            "src/guard.rs": GUARD,
        },
    )
    monkeypatch.chdir(tmp_path / "src")
    assert "drop-unwrap" not in {rule for rule, _, _ in run("check", "--format", "json").rules()}
    # an explicit --config wins over the repository file
    write(tmp_path, {"src/plain.toml": ""})
    assert "drop-unwrap" in {
        rule for rule, _, _ in run("check", "--config", "plain.toml", "--format", "json").rules()
    }


def test_invalid_config_warns_and_goes_on_with_defaults(run, tmp_path: Path) -> None:
    write(tmp_path, {"lib.rs": GUARD, "bad.toml": 'mode = "everything"\nfail_on = "never"\n'})
    result = run("check", "lib.rs", "--config", "bad.toml")
    assert result.code == 0  # fail_on = "never" still applies
    assert result.err.startswith("dropsafe: warning: bad.toml: mode: ")
    assert "[drop-unwrap]" in result.out


# --- which files ---------------------------------------------------------------


def test_walk_skips_target_and_hidden_directories(run, tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "src/guard.rs": GUARD,
            "src/notes.txt": GUARD,
            "target/debug/build/gen.rs": GUARD,
            ".git/x.rs": GUARD,
            "crates/.hidden/y.rs": GUARD,
            "crates/a/src/lib.rs": CLEAN,
        },
    )
    result = run("check", "--format", "json")
    assert result.json()["files"] == 2
    assert {path for _, path, _ in result.rules()} == {"src/guard.rs"}


def test_collect_files_takes_explicit_files_as_given_and_once(tmp_path: Path) -> None:
    write(tmp_path, {"a/x.rs": CLEAN, "a/generated.rs.in": CLEAN})
    targets = collect_files(["a", "a/x.rs", "a/generated.rs.in"], cwd=str(tmp_path))
    assert [t.path for t in targets] == ["a/generated.rs.in", "a/x.rs"]
    with pytest.raises(FileNotFoundError):
        collect_files(["a/none.rs"], cwd=str(tmp_path))


def test_test_files_among_the_inputs_count_as_tests_of_a_drop_type(run, tmp_path: Path) -> None:
    write(tmp_path, {"src/guard.rs": GUARD})
    untested = run("check", "--format", "json")
    assert ("drop-untested", "src/guard.rs", 2) in untested.rules()
    write(tmp_path, {"tests/guard.rs": "#[test]\nfn drops() { let _g = G { x: None }; }\n"})
    tested = run("check", "--format", "json")
    assert "drop-untested" not in {rule for rule, _, _ in tested.rules()}


# --- bad input -----------------------------------------------------------------


def test_non_utf8_file_is_reported_with_replacement_characters(run, tmp_path: Path) -> None:
    source = GUARD.encode().replace(b"unwrap();", b"unwrap(); // caf\xe9 \xff")
    write(tmp_path, {"latin1.rs": source})
    result = run("check", "latin1.rs")
    assert result.code == 1
    assert "4 |         self.x.flush().unwrap(); // caf\ufffd \ufffd" in result.out.splitlines()


def test_empty_file(run, tmp_path: Path) -> None:
    write(tmp_path, {"empty.rs": b""})
    result = run("check", "empty.rs")
    assert (result.code, result.out) == (0, "dropsafe: no findings in 1 file\n")


SKIPPED = {
    "big.rs": f"{10.0:.1f} MB is over the {MAX_SOURCE_BYTES // 2**20} MB limit",
    "blob.rs": "binary file (it contains NUL bytes)",
    "notes.txt": "not a Rust file (no .rs extension)",
}


def skipping_project(root: Path) -> None:
    filler = b"// filler line to make a large generated file\n"
    big = filler * (10 * 2**20 // len(filler)) + filler[: 10 * 2**20 % len(filler)]
    write(root, {"big.rs": big, "blob.rs": b"\x7fELF\0\0" + GUARD.encode(), "notes.txt": GUARD})
    write(root, {"clean.rs": CLEAN})


@pytest.mark.parametrize("format", ["text", "json", "sarif", "github"])
def test_skipped_files_are_warned_about_and_listed_in_every_format(run, tmp_path, format) -> None:
    skipping_project(tmp_path)
    result = run("check", "--format", format, *SKIPPED, "clean.rs")
    assert result.code == 0
    assert result.err.splitlines() == [
        f"dropsafe: warning: {path}: skipped: {reason}" for path, reason in sorted(SKIPPED.items())
    ]
    for path, reason in SKIPPED.items():
        assert path in result.out and reason in result.out
    if format == "text":
        assert result.out.splitlines()[-1] == "dropsafe: no findings in 1 file; 3 files skipped"


def test_fail_on_skip_exits_1(run, tmp_path: Path) -> None:
    skipping_project(tmp_path)
    assert run("check", "notes.txt", "clean.rs").code == 0
    failed = run("check", "--fail-on-skip", "notes.txt", "clean.rs")
    assert failed.code == 1
    assert run("check", "--fail-on-skip", "clean.rs").code == 0


def test_a_path_that_is_not_rust_is_not_a_clean_pass(run, tmp_path: Path) -> None:
    write(tmp_path, {"Cargo.toml": "[package]\n"})
    result = run("check", "--format", "json", "Cargo.toml")
    assert (result.json()["files"], result.json()["findings"]) == (0, [])
    assert result.json()["skipped"] == [
        {"path": "Cargo.toml", "reason": "not a Rust file (no .rs extension)"}
    ]
    assert "Cargo.toml: skipped" in result.err


def test_a_directory_without_rust_files_is_warned_about(run, tmp_path: Path) -> None:
    write(tmp_path, {"docs/index.md": "# docs\n", "src/lib.rs": CLEAN})
    result = run("check", "docs", "src")
    assert result.code == 0
    assert result.err == "dropsafe: warning: docs: no Rust files (*.rs) under it\n"
    assert run("check", "src").err == ""


def test_unreadable_file_is_skipped(run, tmp_path: Path) -> None:
    write(tmp_path, {"lib.rs": CLEAN})
    (tmp_path / "gone.rs").symlink_to(tmp_path / "deleted.rs")  # dangling: found, not readable
    result = run("check", "--format", "json")
    assert result.json()["skipped"] == [
        {"path": "gone.rs", "reason": "cannot read it (No such file or directory)"}
    ]
    assert (
        result.err
        == "dropsafe: warning: gone.rs: skipped: cannot read it (No such file or directory)\n"
    )


def test_file_mostly_of_syntax_errors_still_reports_what_parses(run, tmp_path: Path) -> None:
    garbage = "fn broken( { let x = ; }\n@@ $$ let let ;; ::: =>\n" * 100
    write(tmp_path, {"broken.rs": garbage + GUARD})
    result = run("check", "--format", "json")
    assert ("drop-unwrap", "broken.rs", 200 + 4) in result.rules()


def test_deeply_nested_code_does_not_recurse(run, tmp_path: Path) -> None:
    depth = 5000
    nested = "fn deep() {\n" + "{" * depth + "\n" + "}" * depth + "\n}\n"
    write(tmp_path, {"deep.rs": nested + GUARD})
    result = run("check", "--format", "json")
    assert ("drop-unwrap", "deep.rs", 4 + 4) in result.rules()


def test_thousands_of_files(run, tmp_path: Path) -> None:
    padding = "// " + "x" * 250 + "\n"  # enough source in all for the process pool
    for n in range(2000):
        name = f"crate/src/m{n // 100}/f{n}.rs"
        write(tmp_path, {name: padding + (GUARD if n % 500 == 0 else CLEAN)})
    result = run("check", "crate", "--format", "json")
    assert result.json()["files"] == 2000
    unwraps = {path for rule, path, _ in result.rules() if rule == "drop-unwrap"}
    assert unwraps == {f"crate/src/m{n // 100}/f{n}.rs" for n in (0, 500, 1000, 1500)}


def test_process_pool_gives_the_same_reports_as_one_process(tmp_path: Path) -> None:
    padding = "// " + "x" * 1000 + "\n"
    files = {f"src/f{n}.rs": padding + (GUARD if n % 3 else CLEAN) for n in range(600)}
    files["tests/uses_g.rs"] = "#[test]\nfn t() { let _g = G { x: None }; }\n"
    write(tmp_path, files)
    targets = collect_files([str(tmp_path)], cwd=str(tmp_path))
    pooled, single = scan(targets, workers=2), scan(targets, workers=1)
    assert pooled == single
    assert len(pooled.findings) > 300
    assert "drop-untested" not in {f.rule for f in pooled.findings}


def test_scan_collects_cycles_less_often_and_restores_the_thresholds(tmp_path: Path) -> None:
    write(tmp_path, {"src/lib.rs": GUARD})
    targets = collect_files([str(tmp_path)], cwd=str(tmp_path))
    previous = gc.get_threshold()
    seen: list[tuple[int, int, int]] = []
    with mock.patch.object(Holder, "add", autospec=True) as add:
        add.side_effect = lambda *args: seen.append(gc.get_threshold()) or []
        scan(targets, workers=1)
    assert seen and all(first >= GC_THRESHOLD > previous[0] for first, _, _ in seen)
    assert gc.get_threshold() == previous


# --- rules, explain, serve -------------------------------------------------------


def test_rules_lists_the_catalogue_in_order(run) -> None:
    result = run("rules")
    assert result.code == 0
    listed = [line.split()[:2] for line in result.out.splitlines()]
    assert listed == [[rule.id, rule.severity] for rule in RULES]


def test_explain_prints_the_docs_and_the_fix_pattern(run) -> None:
    rule = rule_by_id("drop-block-on")
    result = run("explain", "drop-block-on")
    assert result.code == 0
    assert rule.docs.strip() in result.out
    assert rule.fix is not None
    assert rule.fix.markdown.strip() in result.out


@pytest.mark.parametrize(
    ("rule_id", "reach", "tests"),
    [
        ("drop-unwrap", True, "Test code is not reported"),
        ("drop-untested", False, "drop-untested reads test code"),
        ("unwrap-in-production", False, "Test code is not reported"),
    ],
)
def test_explain_says_what_code_the_rule_looks_at(run, rule_id, reach, tests) -> None:
    out = run("explain", rule_id).out
    scope = out[out.index("## Scope") :]
    assert tests in scope and "tests = true" in scope
    assert ("every function of the crate it reaches" in scope) == reach


def test_serve_hands_the_port_to_the_server(run, monkeypatch: pytest.MonkeyPatch) -> None:
    ports: list[int | None] = []
    fake = type(sys)("bot.server")
    fake.run = ports.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bot.server", fake)
    import bot

    monkeypatch.setattr(bot, "server", fake, raising=False)
    assert run("serve", "--port", "8123").code == 0
    assert run("serve").code == 0
    assert ports == [8123, None]


# --- the installed command ---------------------------------------------------------


def dropsafe(*argv: str, cwd: Path, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("dropsafe")
    return subprocess.run(
        [str(script), *argv], cwd=cwd, input=stdin.decode(), capture_output=True, text=True
    )


def test_console_script_reports_and_exits_1(tmp_path: Path) -> None:
    write(tmp_path, {"src/guard.rs": GUARD_V2, "change.diff": DIFF})
    done = dropsafe("check", "--diff", "-", "--format", "github", cwd=tmp_path, stdin=DIFF.encode())
    assert done.returncode == 1
    assert "::error file=src/guard.rs,line=5," in done.stdout


def test_console_script_usage_error_and_python_m(tmp_path: Path) -> None:
    done = dropsafe("explain", "no-such-rule", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert (
        done.stderr == "dropsafe: error: unknown rule: no-such-rule (`dropsafe rules` lists them)\n"
    )
    module = subprocess.run(
        [sys.executable, "-m", "bot", "rules"], cwd=tmp_path, capture_output=True, text=True
    )
    assert module.returncode == 0
    assert module.stdout.split()[0] == RULES[0].id


def test_console_script_survives_a_file_name_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / os.fsdecode(b"caf\xe9.rs")).write_text(GUARD)
    done = dropsafe("check", "--format", "sarif", cwd=tmp_path)
    assert done.returncode == 1
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in json.loads(done.stdout)["runs"][0]["results"]
    }
    assert uris == {"caf%E9.rs"}


@pytest.fixture(scope="module")
def many_notices(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file whose 6,000 notices (no failing finding: exit 0) make over 500 KB
    in every format, far more than a pipe buffers."""
    root = tmp_path_factory.mktemp("notices")
    (root / "many.rs").write_text("fn f() {\n" + "    slot.take().unwrap();\n" * 6000 + "}\n")
    return root


@pytest.mark.parametrize("form", ["text", "json", "sarif", "github"])
def test_a_reader_that_stops_early_ends_the_command_quietly(many_notices: Path, form) -> None:
    argv = [str(Path(sys.executable).with_name("dropsafe")), "check", "--format", form, "many.rs"]
    whole = subprocess.run(argv, cwd=many_notices, capture_output=True)
    assert (whole.returncode, whole.stderr) == (0, b"")
    assert len(whole.stdout) > 500_000
    # `dropsafe check ... | head -c 100`: read 100 bytes, close the pipe
    child = subprocess.Popen(argv, cwd=many_notices, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None and child.stderr is not None
    assert child.stdout.read(100) == whole.stdout[:100]
    child.stdout.close()
    assert child.stderr.read() == b""  # no traceback, no "Exception ignored"
    assert child.wait(timeout=60) == cli.EXIT_STDOUT_CLOSED


def test_workers_get_even_work_and_test_files_weigh_nothing(tmp_path: Path) -> None:
    """Set-aside test files cost a worker nothing, so they must not count
    against its share; the rest is dealt largest first to the least loaded."""
    for path, size in {"src/a.rs": 9000, "src/b.rs": 5000, "src/c.rs": 4000}.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(b"/" * size)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests/t.rs").write_bytes(b"/" * 20000)
    targets = collect_files(["."], cwd=str(tmp_path))

    def loads(tests: bool) -> list[int]:
        chunks = balanced_chunks(targets, 2, tests)
        sizes = [[(tmp_path / t.path).stat().st_size for t in chunk] for chunk in chunks]
        return sorted(sum(s for s in chunk if tests or s != 20000) for chunk in sizes)

    assert loads(tests=False) == [9000, 9000]
    assert loads(tests=True) == [18000, 20000]
