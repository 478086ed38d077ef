"""Unified diffs in, `FileChange`s out: which new-side lines a change touched.

Three sources, one result: git's own diff text (`dropsafe check --diff/--base`),
GitHub's per-file `patch` field (hunks only), and, when GitHub omits the patch
(large or binary-looking files), a diff of the two texts computed here.
"""

from __future__ import annotations

import difflib
import io
import re
from collections.abc import Iterable, Sequence
from itertools import pairwise

from unidiff import Hunk, PatchedFile, PatchSet
from unidiff.errors import UnidiffParseError

from rules.scope import FileChange

__all__ = ["DiffError", "diff_contents", "parse_diff", "parse_patch"]

_DEV_NULL = "/dev/null"
_CONTEXT_LINES = 3  # git's and GitHub's default
# Prefixes git puts before paths: a/ b/, and the mnemonic ones (diff.mnemonicPrefix).
_PREFIX = re.compile(r"[abciow12]/")
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_ESCAPE = re.compile(rb'\\([0-7]{3}|[abtnvfr"\\])')
_ESCAPED = {
    bytes([code]): bytes([byte])
    for code, byte in zip(b'abtnvfr"\\', b'\a\b\t\n\v\f\r"\\', strict=True)
}
_HEADER_FIELDS = (
    "old mode",
    "new mode",
    "deleted file mode",
    "new file mode",
    "copy from",
    "copy to",
    "rename from",
    "rename to",
    "similarity index",
    "dissimilarity index",
    "index",
)
_GITHUB_STATUS = {
    "added": "added",
    "modified": "modified",
    "changed": "modified",
    "unchanged": "modified",
    "removed": "deleted",
    "deleted": "deleted",
    "renamed": "renamed",
    "copied": "copied",
}


class DiffError(ValueError):
    """The text is not a unified diff, or a malformed one (one-line message)."""


def parse_diff(text: str) -> dict[str, FileChange]:
    """Parse git's unified diff of any number of files, keyed by new path.

    Text before the first file (a commit message from `git show` or
    `git format-patch`) is skipped; an empty diff gives {}.
    """
    lines = _lines(text)
    starts = [n for n, line in enumerate(lines) if line.startswith("diff --git ")]
    if starts:
        bounds = pairwise([*starts, len(lines)])
        changes = [_git_file(lines[start:end], start) for start, end in bounds]
    else:
        changes = [_plain_file(patched) for patched in _patch_set(lines, 0)]
        if not changes and text.strip():
            raise DiffError("not a unified diff: no 'diff --git' or '---'/'+++' file header")
    return {change.path: change for change in changes}


def parse_patch(
    path: str, patch: str, status: str = "modified", *, old_path: str | None = None
) -> FileChange:
    """Parse the `patch` field of one file of GitHub's pull-request files API.

    `patch` is hunks only (no ---/+++ header) and may be empty; `status` is
    GitHub's (`removed` becomes "deleted", `changed` and `unchanged` "modified").
    """
    lines = _lines(patch)
    if lines and not lines[0].startswith("@@ "):
        raise DiffError(f"{path}: the patch does not start with a hunk header '@@ '")
    # A file header lets unidiff parse the hunks; line numbers in errors stay the patch's.
    patched = _patch_set(["--- a\n", "+++ b\n", *lines], -2)
    if len(patched) > 1:
        raise DiffError(f"{path}: the patch holds more than one file")
    hunks = patched[0] if patched else []
    return _change(path, old_path, _status(path, status), False, hunks)


def diff_contents(
    path: str,
    old: str | bytes,
    new: str | bytes,
    status: str = "modified",
    *,
    old_path: str | None = None,
) -> FileChange:
    """Diff two versions of a file here, for when GitHub sends no patch.

    difflib with git's 3 context lines; a missing newline at the end makes the
    last line differ, as in git. difflib aligns on longest matching blocks, not
    with git's Myers algorithm, so where a change can be aligned several ways
    (a block of repeated lines) hunk edges may differ slightly from git's.
    """
    matcher = difflib.SequenceMatcher(None, _lines(old), _lines(new), autojunk=False)
    ranges: list[tuple[int, int]] = []
    added: set[int] = set()
    for group in matcher.get_grouped_opcodes(_CONTEXT_LINES):
        first, last = group[0][3] + 1, group[-1][4]
        if last >= first:
            ranges.append((first, last))
        for tag, _, _, j1, j2 in group:
            if tag in ("replace", "insert"):
                added.update(range(j1 + 1, j2 + 1))
    return FileChange(
        path=path,
        old_path=old_path,
        status=_status(path, status),
        binary=False,
        added=frozenset(added),
        hunks=tuple(ranges),
    )


def _status(path: str, status: str) -> str:
    """Our status for one of GitHub's (or our own) file statuses."""
    if status not in _GITHUB_STATUS:
        raise DiffError(f"{path}: unknown file status {status!r}")
    return _GITHUB_STATUS[status]


def _git_file(section: Sequence[str], offset: int) -> FileChange:
    """One `diff --git` section: git's extended header, then hunks or a binary marker.

    unidiff reads the header line `diff --git a/P b/P` with a greedy regex, so a
    path holding " b/" (say `a b/c.rs`) gets split at the wrong place and the
    whole diff is rejected ("Target without source"). The header is therefore
    read here, and unidiff gets only the `---`/`+++` lines and the hunks.
    """
    fields: dict[str, str] = {}
    body = 1
    while body < len(section):
        name = next((f for f in _HEADER_FIELDS if section[body].startswith(f + " ")), None)
        if name is None:
            break
        fields[name] = section[body][len(name) + 1 :].rstrip("\r\n")
        body += 1
    rest = section[body:]
    binary = bool(rest) and rest[0].startswith(("Binary files ", "GIT binary patch"))
    patched = [] if binary else _patch_set(rest, offset + body)
    if len(patched) > 1:
        raise DiffError(f"line {offset + 1}: one 'diff --git' section holds two files")
    source = _token_path(patched[0].source_file) if patched else None
    target = _token_path(patched[0].target_file) if patched else None

    moved = next((k for k in ("rename", "copy") if {f"{k} from", f"{k} to"} <= fields.keys()), "")
    if moved:
        status = "renamed" if moved == "rename" else "copied"
        old_path: str | None = _unquote(fields[f"{moved} from"])
        path = _unquote(fields[f"{moved} to"])
    else:
        status = "added" if "new file mode" in fields else "modified"
        status = "deleted" if "deleted file mode" in fields else status
        old_path = None
        path = target or source or _header_path(section[0], offset)
    return _change(path, old_path, status, binary, patched[0] if patched else [])


def _plain_file(patched: PatchedFile) -> FileChange:
    """A file of a diff without git's headers (`diff -u`, `svn diff`)."""
    source, target = _token_path(patched.source_file), _token_path(patched.target_file)
    status = "added" if source is None else "deleted" if target is None else "modified"
    path = target or source
    assert path is not None  # unidiff never yields a file with neither name
    return _change(path, None, status, patched.is_binary_file, patched)


def _change(
    path: str, old_path: str | None, status: str, binary: bool, hunks: Iterable[Hunk]
) -> FileChange:
    ranges: list[tuple[int, int]] = []
    added: set[int] = set()
    for hunk in hunks:
        if hunk.target_length:
            ranges.append((hunk.target_start, hunk.target_start + hunk.target_length - 1))
        added.update(n for line in hunk if line.is_added and (n := line.target_line_no))
    return FileChange(
        path=path,
        old_path=old_path,
        status=status,
        binary=binary,
        added=frozenset(added),
        hunks=tuple(ranges),
    )


def _patch_set(lines: Sequence[str], offset: int) -> PatchSet:
    """unidiff's parse, with its errors as DiffError and one check it lacks.

    unidiff stops a hunk once the header's line counts are reached and reads
    whatever follows as free text, so a hunk longer than its header says would
    silently lose lines; that is reported here.
    """
    try:
        patched = PatchSet(lines)
    except UnidiffParseError as exc:
        where = f"in the file starting at line {offset + 1}" if offset >= 0 else "in the patch"
        raise DiffError(f"malformed diff {where}: {' '.join(str(exc).split())}") from None
    for patched_file in patched:
        for hunk in patched_file:
            numbers = [line.diff_line_no for line in hunk if line.diff_line_no is not None]
            if numbers:
                _check_hunk_end(hunk, lines, max(numbers), offset)
    return patched


def _check_hunk_end(hunk: Hunk, lines: Sequence[str], after: int, offset: int) -> None:
    """Raise when the line after a complete hunk is still a hunk line."""
    number, line = next(
        ((n, line) for n, line in enumerate(lines[after:], after) if not line.startswith("\\")),
        (after, ""),
    )
    if (
        line[:1] in ("+", "-", " ")
        and not line.startswith(("--- ", "+++ "))
        and line.rstrip("\r\n") != "-- "  # git format-patch's signature separator
    ):
        header = (
            f"@@ -{hunk.source_start},{hunk.source_length} "
            f"+{hunk.target_start},{hunk.target_length} @@"
        )
        raise DiffError(
            f"malformed diff: the hunk '{header}' has more lines than its header counts"
            f" (line {offset + number + 1})"
        )


def _header_path(header: str, offset: int) -> str:
    """The path of `diff --git A B` when both names are equal (no rename, no hunks)."""
    rest = header.rstrip("\r\n").removeprefix("diff --git ")
    if quoted := re.fullmatch(f"({_QUOTED}) ({_QUOTED})", rest):
        return _strip_prefix(_unquote(quoted[2]))
    for split, char in enumerate(rest):
        if char == " " and _strip_prefix(rest[:split]) == _strip_prefix(rest[split + 1 :]):
            return _strip_prefix(rest[split + 1 :])
    raise DiffError(f"line {offset + 1}: cannot tell the file name in {header.strip()!r}")


def _token_path(token: str) -> str | None:
    """A `---`/`+++` file name without quotes and a/ b/ prefix; None for /dev/null."""
    path = _unquote(token)
    return None if path == _DEV_NULL else _strip_prefix(path)


def _strip_prefix(path: str) -> str:
    return path[2:] if _PREFIX.match(path) else path


def _unquote(name: str) -> str:
    """Undo git's C-style quoting of unusual paths ("caf\\303\\251.rs")."""
    if len(name) < 2 or not (name.startswith('"') and name.endswith('"')):
        return name
    raw = name[1:-1].encode("utf-8", "surrogateescape")
    return _ESCAPE.sub(_unescape, raw).decode("utf-8", "surrogateescape")


def _unescape(match: re.Match[bytes]) -> bytes:
    code = match[1]
    return bytes([int(code, 8)]) if len(code) == 3 else _ESCAPED[code]


def _lines(text: str | bytes) -> list[str]:
    """Lines with their ends, split at "\\n" only as git does (a form feed or a
    lone "\\r" inside a line does not end it)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    return io.StringIO(text).readlines()
