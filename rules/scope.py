"""Which lines of a changed file count as touched, per scope mode.

Pure data: `rules.diff` builds `FileChange`s from diff text, the CLI and the App
turn them into `SourceFile.touched` and check review-comment positions with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Mode(StrEnum):
    """reviewdog's filter-mode names, as DESIGN.md "Scope" defines them."""

    ADDED = "added"
    DIFF_CONTEXT = "diff_context"
    FILE = "file"


@dataclass(frozen=True, slots=True)
class FileChange:
    """One file of a diff, seen from its new side.

    `status` is "added", "modified", "deleted", "renamed" or "copied".
    `hunks` are the inclusive new-side line ranges of the hunks, in order; a hunk
    that keeps no new-side line (a pure deletion with no context) has none.
    """

    path: str
    old_path: str | None
    status: str
    binary: bool
    added: frozenset[int]
    hunks: tuple[tuple[int, int], ...]

    def touched(self, mode: Mode) -> frozenset[int] | None:
        """The lines that count in `mode`; None means every line (mode file).

        A deleted file has no lines left to count, whatever the mode.
        """
        if self.status == "deleted":
            return frozenset()
        if mode == Mode.FILE:
            return None
        if mode == Mode.DIFF_CONTEXT:
            return frozenset(n for start, end in self.hunks for n in range(start, end + 1))
        return self.added

    def in_diff(self, line: int) -> bool:
        """True when `line` lies in a hunk: GitHub accepts a review comment there only."""
        return any(start <= line <= end for start, end in self.hunks)

    def same_hunk(self, a: int, b: int) -> bool:
        """True when one hunk holds both lines: a multi-line comment or a
        suggestion must not span two hunks."""
        return any(start <= a <= end and start <= b <= end for start, end in self.hunks)
