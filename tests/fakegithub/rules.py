"""What GitHub rejects that its schema cannot say: review positions outside the diff,
a completed check run without a conclusion, columns on a multi-line annotation.

Each check returns GitHub's own error strings (quoted in public bug reports, see
`tests/data/github/README.md`); an empty list means GitHub would accept the request.
"""

from __future__ import annotations

from typing import Any

from .diff import parse_patch
from .state import PullRequest

LINE_NOT_IN_DIFF = "Pull request review thread line must be part of the diff"
START_NOT_IN_HUNK = (
    "Pull request review thread start line must be part of the same hunk as the line."
)
START_AFTER_END = "Pull request review thread start line must precede the end line."
BLANK_HUNK = "Pull request review thread diff hunk can't be blank"
PATH_UNRESOLVED = "Path could not be resolved"
POSITION_INVALID = "Pull request review thread position is invalid"
SIDES = ("LEFT", "RIGHT")


def review_errors(pull: PullRequest, body: dict[str, Any]) -> list[str]:
    """Every reason to reject this review; one bad comment rejects the whole review."""
    errors = []
    commit = body.get("commit_id")
    if commit is not None and commit not in pull.shas:
        errors.append(f"No commit found for SHA: {commit}")
    for comment in body.get("comments") or []:
        errors.extend(comment_errors(pull, comment))
    return errors


def comment_errors(pull: PullRequest, comment: dict[str, Any]) -> list[str]:
    changed = pull.file(comment["path"])
    if changed is None:
        return [PATH_UNRESOLVED]
    if changed.patch is None:
        return [BLANK_HUNK]
    patch = parse_patch(changed.patch)
    if comment.get("line") is None:
        position = comment.get("position")
        if position is None or not 1 <= position <= patch.positions:
            return [POSITION_INVALID if position is not None else LINE_NOT_IN_DIFF]
        return []
    side = comment.get("side", "RIGHT")
    start_side = comment.get("start_side", side)
    bad_sides = [
        f"{key} must be LEFT or RIGHT, got {value!r}"
        for key, value in (("side", side), ("start_side", start_side))
        if value not in SIDES
    ]
    if bad_sides:
        return bad_sides
    hunk = patch.hunk_of(comment["line"], side)
    if hunk is None:
        return [LINE_NOT_IN_DIFF]
    start = comment.get("start_line")
    if start is None:
        return []
    if start not in hunk.lines(start_side):
        return [START_NOT_IN_HUNK]
    if start_side == side and start >= comment["line"]:
        return [START_AFTER_END]
    return []


def check_run_errors(body: dict[str, Any], *, creating: bool) -> list[str]:
    """The check-run rules outside the schema (POST lacks PATCH's `anyOf` for conclusion)."""
    errors = []
    completing = body.get("status") == "completed" or "completed_at" in body
    if creating and completing and body.get("conclusion") is None:
        errors.append("conclusion must be given when status is completed or completed_at is set")
    if body.get("conclusion") == "stale":
        errors.append("You cannot change a check run conclusion to stale, only GitHub can set this")
    annotations = (body.get("output") or {}).get("annotations") or []
    for index, note in enumerate(annotations):
        has_columns = "start_column" in note or "end_column" in note
        if has_columns and note["start_line"] != note["end_line"]:
            errors.append(
                f"annotations[{index}]: start_column and end_column may only be "
                "given when start_line equals end_line"
            )
    return errors
