"""drop-untested across files: a changed test file that names the type counts."""

from __future__ import annotations

from rules.engine import SourceFile, analyze_files, analyze_part, link

LIB = b"""
pub struct Pool;
pub struct Lease;

impl Drop for Pool {
    fn drop(&mut self) {}
}

impl Drop for Lease {
    fn drop(&mut self) {}
}
"""
TEST = b"""
#[test]
fn pool_drains_on_drop() {
    let pool = mylib::Pool;
    drop(pool);
}
"""


def _untested(files: list[SourceFile]) -> list[str]:
    return [
        finding.message
        for report in analyze_files(files)
        for finding in report.findings
        if finding.rule == "drop-untested"
    ]


def test_a_type_named_by_a_changed_test_file_is_tested():
    messages = _untested([SourceFile("src/pool.rs", LIB), SourceFile("tests/pool.rs", TEST)])
    assert messages == ["`impl Drop for Lease` has no test that names `Lease`"]


MENTIONS = b"""
// Lease is covered elsewhere
#[test]
fn pool_and_lease() {
    let pool = mylib::Pool;
    let note = "Lease";
}
"""


def test_a_test_file_names_a_type_only_in_code():
    """A test file is set aside unparsed (test code is not reported), and read
    for the names drop-untested asks about; a comment or a string naming the
    type is no test of it."""
    messages = _untested([SourceFile("src/pool.rs", LIB), SourceFile("tests/both.rs", MENTIONS)])
    assert messages == ["`impl Drop for Lease` has no test that names `Lease`"]


def test_the_app_pool_answers_names_as_the_cli_does():
    """The App's workers send parts that carry every name (`analyze_part`)."""
    parts = [
        analyze_part(SourceFile(path, source))
        for path, source in (("src/pool.rs", LIB), ("tests/both.rs", MENTIONS))
    ]
    (report, _) = link(parts)
    untested = [f.message for f in report.findings if f.rule == "drop-untested"]
    assert untested == ["`impl Drop for Lease` has no test that names `Lease`"]


def test_without_the_test_file_both_are_untested():
    assert len(_untested([SourceFile("src/pool.rs", LIB)])) == 2


def test_the_finding_covers_the_whole_impl():
    touched = frozenset({6})  # the body of `impl Drop for Pool`, not its first line
    (report,) = analyze_files([SourceFile("src/pool.rs", LIB, touched)])
    (finding,) = [f for f in report.findings if f.rule == "drop-untested"]
    assert (finding.line, finding.column, finding.end_column) == (6, 5, 26)  # fn drop(..) {}
    assert finding.message == (
        "`impl Drop for Pool` has no test that names `Pool` (the item starts on line 5,"
        " outside the changed lines; reported on its first changed line)"
    )


def test_the_finding_underlines_the_impl_header():
    (report,) = analyze_files([SourceFile("src/pool.rs", LIB)])
    finding = next(f for f in report.findings if f.rule == "drop-untested")
    assert (finding.line, finding.column, finding.end_line, finding.end_column) == (5, 1, 5, 19)
