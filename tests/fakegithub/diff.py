"""Git-shaped diffs for the fake: blob SHAs, GitHub's `patch` text, and the lines a diff allows.

GitHub's `patch` field is a unified diff with 3 lines of context and no `---`/`+++`
header; review comments may only land on lines inside its hunks, so the fake parses
the same text back to decide what to reject.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field

_HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_FUNCNAME = re.compile(r"[A-Za-z_$]")
NO_NEWLINE = "\\ No newline at end of file"


def git_blob_sha(content: bytes) -> str:
    """The SHA-1 git gives a blob: `sha1("blob <size>\\0" + content)`."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def unified_patch(old: str, new: str, context: int = 3) -> str:
    """GitHub's `patch` for a file going from `old` to `new` (git's format, no file header).

    difflib's hunk headers already match git's (`-0,0` for an empty side, no count of 1);
    git's function context after `@@` is added, since GitHub's patches carry it too.
    """
    old_lines = old.splitlines(keepends=True)
    lines = difflib.unified_diff(old_lines, new.splitlines(keepends=True), n=context)
    out: list[str] = []
    for line in lines:
        if line.startswith(("---", "+++")) and not out:
            continue
        if line.startswith("@@"):
            line = _with_function_context(line, old_lines)
        out.append(line if line.endswith("\n") else f"{line}\n{NO_NEWLINE}\n")
    return "".join(out).rstrip("\n")


@dataclass
class Hunk:
    """The line numbers one hunk covers on each side (context lines are on both)."""

    old: list[int] = field(default_factory=list)
    new: list[int] = field(default_factory=list)
    text: list[str] = field(default_factory=list)  # header and body, as in the patch

    def lines(self, side: str) -> list[int]:
        return self.old if side == "LEFT" else self.new


@dataclass
class ParsedPatch:
    hunks: list[Hunk]
    positions: int  # lines below the first `@@` header: the valid range of legacy `position`

    def hunk_of(self, line: int, side: str) -> Hunk | None:
        return next((h for h in self.hunks if line in h.lines(side)), None)


def _with_function_context(header: str, old_lines: list[str]) -> str:
    """git's default hunk-header context: the last line before the hunk (old side) that
    starts with a letter, `_` or `$`, cut to 80 characters."""
    found = _HUNK_HEADER.match(header)
    assert found is not None
    start, count = int(found.group(1)), int(found.group(2) or 1)
    before = old_lines[: start if count == 0 else start - 1]
    context = next((text for text in reversed(before) if _FUNCNAME.match(text)), None)
    if context is None:
        return header
    return f"{header.rstrip()} {context.rstrip()[:80]}\n"


def parse_patch(patch: str) -> ParsedPatch:
    hunks: list[Hunk] = []
    old_no = new_no = 0
    positions = -1
    for text in patch.split("\n"):
        positions += 1
        header = _HUNK_HEADER.match(text)
        if header:
            hunks.append(Hunk())
            old_no, new_no = int(header.group(1)), int(header.group(3))
        if hunks:
            hunks[-1].text.append(text)
        if header or not hunks or text.startswith("\\"):
            continue
        elif text.startswith("-"):
            hunks[-1].old.append(old_no)
            old_no += 1
        elif text.startswith("+"):
            hunks[-1].new.append(new_no)
            new_no += 1
        else:
            hunks[-1].old.append(old_no)
            hunks[-1].new.append(new_no)
            old_no += 1
            new_no += 1
    return ParsedPatch(hunks, max(positions, 0))


def line_counts(patch: str) -> tuple[int, int]:
    """(additions, deletions) of a patch, as GitHub reports them per file."""
    body = [t for t in patch.split("\n") if not t.startswith("@@")]
    return (sum(t.startswith("+") for t in body), sum(t.startswith("-") for t in body))
