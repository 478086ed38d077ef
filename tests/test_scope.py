"""FileChange: which lines count per scope mode, and review-comment positions."""

from __future__ import annotations

import pytest

from rules.scope import FileChange, Mode


def change(status: str = "modified") -> FileChange:
    # two hunks: lines 3-9 (added 5, 6) and 20-26 (added 23)
    return FileChange(
        path="src/lib.rs",
        old_path=None,
        status=status,
        binary=False,
        added=frozenset({5, 6, 23}),
        hunks=((3, 9), (20, 26)),
    )


def test_added_mode_counts_only_added_lines() -> None:
    assert change().touched(Mode.ADDED) == {5, 6, 23}


def test_diff_context_mode_counts_every_hunk_line() -> None:
    assert change().touched(Mode.DIFF_CONTEXT) == set(range(3, 10)) | set(range(20, 27))


def test_file_mode_counts_every_line() -> None:
    assert change().touched(Mode.FILE) is None


@pytest.mark.parametrize("mode", list(Mode))
def test_a_deleted_file_has_no_touched_line(mode: Mode) -> None:
    assert change("deleted").touched(mode) == frozenset()


def test_modes_are_the_public_strings() -> None:
    assert [m.value for m in Mode] == ["added", "diff_context", "file"]
    # the CLI's and the configuration's plain strings work as modes
    assert change().touched(Mode("file")) is None
    assert change().touched("diff_context") == change().touched(Mode.DIFF_CONTEXT)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("line", "inside"),
    [(2, False), (3, True), (9, True), (10, False), (20, True), (26, True), (27, False)],
)
def test_in_diff_is_inside_a_hunk(line: int, inside: bool) -> None:
    assert change().in_diff(line) is inside


def test_same_hunk() -> None:
    assert change().same_hunk(3, 9)
    assert change().same_hunk(6, 6)
    assert not change().same_hunk(9, 20)  # each in a hunk, but not the same one
    assert not change().same_hunk(9, 10)


def test_a_change_without_hunks_accepts_no_comment() -> None:
    renamed = FileChange("new.rs", "old.rs", "renamed", False, frozenset(), ())
    assert renamed.touched(Mode.ADDED) == frozenset()
    assert renamed.touched(Mode.FILE) is None
    assert not renamed.in_diff(1)
