"""No input breaks the engine or the diff parser (property-based, hypothesis).

Random bytes, broken UTF-8, NUL bytes, token soup, real fixtures cut and
spliced, and the adversarial shapes of tests/adversarial.py (deep chains,
nested spawns, closures and blocks, unclosed brackets, long lines, many
`impl Drop`, allow comments, random bytes): the engine returns well-formed
findings on lines of the file, the diff parser returns changes within the new
file or raises `DiffError`.
Sizes and example counts are bounded so the suite stays fast; the sizes that
used to take seconds are timed in benchmarks/adversarial.py.
"""

from __future__ import annotations

import contextlib
import difflib
import io
from pathlib import Path

import pytest
from adversarial import (
    SHAPES,
    Shape,
    allow_comments,
    drop_impls,
    long_lines,
    one_line_drops,
    random_bytes,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.catalogue import RULE_IDS
from rules.diff import DiffError, diff_contents, parse_diff, parse_patch
from rules.engine import UNKNOWN_ALLOW, SourceFile, analyze_files
from rules.rust import context, parsing

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "rules").glob("*.rs"))
TOKENS = [
    b"fn f()",
    b"fn drop(&mut self)",
    b"impl Drop for S",
    b"impl S",
    b"struct S(Option<u8>);",
    b"mod tests",
    b"#[cfg(test)]",
    b"#[test]",
    b"{",
    b"}",
    b"(",
    b")",
    b"[",
    b"]",
    b";",
    b",",
    b"x",
    b".unwrap()",
    b'.expect("e")',
    b"panic!()",
    b"self.close()",
    b"Self::flush()",
    b"tokio::spawn(async move {",
    b"std::thread::spawn(move || {",
    b"block_on(f)",
    b"let g = m.lock().unwrap();",
    b".await",
    b"drop(g);",
    b"if thread::panicking() { return; }",
    b"|x|",
    b"move ||",
    b"'a",
    b'"',
    b'r#"',
    b"//",
    b"/*",
    b"*/",
    b"// dropsafe:allow(drop-unwrap)",
    b"// dropsafe:allow(no-such-rule)",
    b"use tokio::task;",
    b"std::mem::forget(x);",
    b"std::env::temp_dir()",
    b"\n",
    b"\x00",
    b"\xff\xfe",
    b"\xe9",
    b"\xf0\x9f\x98",
]
SEVERITIES = {"error", "warning", "notice"}
BOUNDED = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

paths = st.sampled_from(["src/lib.rs", "src/a/b.rs", "tests/it.rs", "examples/e.rs"])
token_soup = st.lists(st.sampled_from(TOKENS), max_size=200).map(b" ".join)


@st.composite
def spliced_fixtures(draw: st.DrawFn) -> bytes:
    """A real fixture with a slice cut out and tokens or bytes put in its place."""
    source = draw(st.sampled_from(FIXTURES)).read_bytes()
    start = draw(st.integers(0, len(source)))
    end = draw(st.integers(start, min(len(source), start + 400)))
    middle = draw(st.one_of(token_soup, st.binary(max_size=50)))
    return source[:start] + middle + source[end:]


# Shapes that grow wide, not deep: at these sizes they show what thousands would.
WIDE = {long_lines: 1, drop_impls: 300, one_line_drops: 300, allow_comments: 300}
WIDE[random_bytes] = 3000


@st.composite
def shaped(draw: st.DrawFn) -> bytes:
    """An adversarial shape, small, possibly with garbage around it (the
    100,000-character lines are too long for many examples: see below)."""
    shape: Shape = draw(st.sampled_from([s for s in SHAPES if s.build is not long_lines]))
    source = shape.build(draw(st.integers(1, 20 if shape.build in WIDE else 300)))
    return draw(st.binary(max_size=20)) + source + draw(st.one_of(token_soup, st.just(b"")))


sources = st.one_of(st.binary(max_size=3000), token_soup, spliced_fixtures(), shaped())


def assert_well_formed(source: bytes, path: str, touched: frozenset[int] | None) -> None:
    (report,) = analyze_files([SourceFile(path, source, touched)])
    lines = source.count(b"\n") + 1
    assert report.path == path
    for finding in report.findings:
        assert finding.rule in RULE_IDS or finding.rule == UNKNOWN_ALLOW
        assert finding.severity in SEVERITIES
        assert finding.path == path
        assert 1 <= finding.line <= finding.end_line <= lines, finding
        assert finding.column >= 1 and finding.end_column >= 1
        assert finding.message and isinstance(finding.item, str)
        assert touched is None or finding.line in touched
        for step in finding.chain:
            assert step.line >= 1


@BOUNDED
@given(source=sources, path=paths)
def test_engine_takes_any_input(source: bytes, path: str) -> None:
    assert_well_formed(source, path, None)


@BOUNDED
@given(source=sources, data=st.data())
def test_engine_keeps_to_the_touched_lines(source: bytes, data: st.DataObject) -> None:
    lines = source.count(b"\n") + 1
    touched = data.draw(st.frozensets(st.integers(1, lines), max_size=20))
    assert_well_formed(source, "src/lib.rs", touched)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda shape: shape.name)
def test_adversarial_shapes_at_full_depth(shape: Shape) -> None:
    """5,000 levels of nesting, 8,000 chained calls: no RecursionError, and the
    finding inside is still found."""
    n = WIDE.get(shape.build, shape.n)
    source = shape.build(n)
    assert_well_formed(source, shape.path, None)
    if b"x.unwrap();" in source:
        (report,) = analyze_files([SourceFile(shape.path, source)])
        deepest = source[: source.index(b"x.unwrap();")].count(b"\n") + 1
        assert deepest in {finding.line for finding in report.findings}


# -- diffs ---------------------------------------------------------------------

text_lines = st.lists(
    st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=30), max_size=40
)


@st.composite
def git_diffs(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A git-style diff of one file between two random versions, and the new version."""
    old = draw(text_lines)
    new = draw(st.one_of(text_lines, st.just(old)))
    if new == old:
        new = [*old, "added"]
    body = difflib.unified_diff(
        [f"{line}\n" for line in old],
        [f"{line}\n" for line in new],
        "a/src/lib.rs",
        "b/src/lib.rs",
    )
    return "diff --git a/src/lib.rs b/src/lib.rs\n" + "".join(body), new


def assert_within(added: frozenset[int], hunks: tuple[tuple[int, int], ...], lines: int) -> None:
    assert all(1 <= line <= lines for line in added)
    for first, last in hunks:
        assert 1 <= first <= last <= lines


@BOUNDED
@given(generated=git_diffs())
def test_diff_parser_reads_real_diffs(generated: tuple[str, list[str]]) -> None:
    text, new = generated
    change = parse_diff(text)["src/lib.rs"]
    assert_within(change.added, change.hunks, len(new))


@BOUNDED
@given(
    generated=git_diffs(),
    cut=st.integers(0, 2000),
    junk=st.text(max_size=40),
)
def test_diff_parser_rejects_broken_diffs_cleanly(
    generated: tuple[str, list[str]], cut: int, junk: str
) -> None:
    text, _ = generated
    broken = text[:cut] + junk + text[cut + len(junk) :]
    try:
        changes = parse_diff(broken)
    except DiffError as error:
        assert str(error) and "\n" not in str(error)
        return
    for change in changes.values():
        assert all(line >= 1 for line in change.added)


@BOUNDED
@given(text=st.one_of(st.text(max_size=2000), st.binary(max_size=2000).map(bytes.hex)))
def test_diff_parser_takes_any_text(text: str) -> None:
    with contextlib.suppress(DiffError):
        parse_diff(text)
    with contextlib.suppress(DiffError):
        parse_patch("src/lib.rs", text)


@BOUNDED
@given(old=st.binary(max_size=500), new=st.binary(max_size=500))
def test_diff_of_contents_takes_any_bytes(old: bytes, new: bytes) -> None:
    change = diff_contents("src/lib.rs", old, new)
    assert_within(change.added, change.hunks, len(io.BytesIO(new).readlines()))


# -- deep trees -----------------------------------------------------------------


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda path: path.stem)
def test_deep_tree_answers_match_the_tree_walk(
    fixture: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a deep tree parents and names come from one recorded walk
    (`parsing.Ancestry`) instead of tree-sitter's descent from the root: with
    it forced on every fixture, the findings are the same to the letter."""
    source = fixture.read_bytes()
    paths = [f"src/{fixture.stem}.rs", f"tests/{fixture.stem}.rs"]
    usual = [analyze_files([SourceFile(path, source)]) for path in paths]
    monkeypatch.setattr(context, "is_deep", lambda root: True)
    assert [analyze_files([SourceFile(path, source)]) for path in paths] == usual


# -- lines and columns ------------------------------------------------------------

# ASCII, newlines, whitespace (Unicode's too), and UTF-8 whole, cut and invalid
UTF8_PIECES = [b"a", b" ", b"\t", b"\n", b"\xc3\xa9", b"\xe2\x80\x83", b"\xf0\x9f\x98\x80"]
UTF8_PIECES += [b"\xc3", b"\xe2\x80", b"\xf0\x9f", b"\x80", b"\xbf", b"\xe0\x80", b"\xed\xa0"]
UTF8_PIECES += [b"\xff"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(UTF8_PIECES), max_size=60).map(b"".join))
def test_lines_answer_what_decoding_each_line_answers(source: bytes) -> None:
    """`Lines` counts columns from checkpoints and decodes only part of a long
    line; with checkpoints every 3 bytes and 4-character codes (so both
    shortcuts run on short input) it answers what decoding answers."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(parsing, "_STRIDE", 3)
        patch.setattr(parsing, "CODE_LIMIT", 4)
        lines = parsing.Lines(source)
        for byte in range(len(source) + 1):
            start = source.rfind(b"\n", 0, byte) + 1
            end = source.find(b"\n", byte) % (len(source) + 1)  # -1: the source's end
            assert (lines.start(byte), lines.end(byte)) == (start, end)
            assert lines.number(byte) == source.count(b"\n", 0, byte) + 1
            assert lines.column(byte) == len(source[start:byte].decode("utf-8", "replace")) + 1
            text = source[byte:end].decode("utf-8", "replace")
            assert lines.code(byte) == " ".join(text.split())[:4]
