"""Inline review comments: fingerprints, markers, bodies and the review payload.

Pure functions: findings and parsed hunks in, the JSON of one pull-request
review out. GitHub rejects a whole review when a single comment sits outside
the diff, so every position is checked against the hunks here, before sending.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rules.catalogue import rule_by_id
from rules.docs import section
from rules.model import RANK, at_least, render_chain

if TYPE_CHECKING:
    from rules.diff import FileChange
    from rules.model import Finding, Rule

COMMENT_CAP = 30
"""Inline comments per review; more reads as spam and hits secondary rate limits."""

BODY_LIMIT = 60_000
"""Review bodies and comments stay below GitHub's 65,536 characters."""

_MARKER = re.compile(r"<!-- dropsafe:v1 rule=([a-z0-9-]+) fp=([0-9a-f]{16}) -->")
_OVERFLOW_MARKER = re.compile(r"<!-- dropsafe:v1 overflow=([0-9a-f,]*) -->")


@dataclass(frozen=True, slots=True)
class Keyed:
    """A finding with its line-independent fingerprint."""

    finding: Finding
    fp: str


def fingerprint(finding: Finding, occurrence: int = 0) -> str:
    """`Finding.fingerprint`, cut to 16 hex digits to keep the hidden marker short."""
    return finding.fingerprint(occurrence)[:16]


def keyed(findings: Iterable[Finding]) -> list[Keyed]:
    """Fingerprint findings in line order, numbering repeats of the same key."""
    seen: dict[tuple[str, str, str, str], int] = {}
    out = []
    for finding in sorted(findings, key=lambda f: (f.path, f.line, f.column, f.rule)):
        key = (finding.rule, finding.path, finding.item, finding.code)
        occurrence = seen.get(key, 0)
        seen[key] = occurrence + 1
        out.append(Keyed(finding, fingerprint(finding, occurrence)))
    return out


def marker(rule: str, fp: str) -> str:
    return f"<!-- dropsafe:v1 rule={rule} fp={fp} -->"


def parse_marker(body: str) -> tuple[str, str] | None:
    """(rule, fingerprint) of a comment of ours, or None for any other text."""
    match = _MARKER.search(body or "")
    return (match.group(1), match.group(2)) if match else None


def overflow_marker(fps: Iterable[str]) -> str:
    return f"<!-- dropsafe:v1 overflow={','.join(fps)} -->"


def parse_overflow(body: str) -> frozenset[str]:
    """Fingerprints an earlier review of ours listed in its body instead of inline."""
    match = _OVERFLOW_MARKER.search(body or "")
    return frozenset(filter(None, match.group(1).split(","))) if match else frozenset()


_BLOCK_START = re.compile(r"^\s*(?:[-*+] |\d+\. |#|>|\||```)")
_ONE_LINE_BLOCK = re.compile(r"^\s*(?:#|\||```)")  # headings, table rows, fences take no more


def reflow(markdown: str) -> str:
    """Join hard-wrapped prose lines: GitHub comments render every newline as a line break.

    Code fences are kept verbatim; a line that starts a list item, heading, quote or
    table keeps its own line, and its wrapped continuation lines join it.
    """
    out: list[str] = []
    fenced = False
    for line in markdown.splitlines():
        starts_fence = line.lstrip().startswith("```")
        if fenced or starts_fence:
            out.append(line)
            fenced ^= starts_fence
            continue
        joinable = out and out[-1].strip() and not _ONE_LINE_BLOCK.match(out[-1])
        if joinable and line.strip() and not _BLOCK_START.match(line):
            out[-1] = f"{out[-1].rstrip()} {line.strip()}"
        else:
            out.append(line)
    return "\n".join(out)


def comment_body(finding: Finding, fp: str, rule: Rule | None = None) -> str:
    """Rule, message, why it matters, the fix pattern, and our hidden marker."""
    rule = rule or rule_by_id(finding.rule)
    parts = [f"**dropsafe** `{finding.rule}` ({finding.severity}): {finding.message}"]
    if finding.chain:
        parts.append(f"**Call chain:** {render_chain(finding.chain, '`')}")
    why = section(rule.docs, "Why is this bad?") if rule else ""
    if why:
        parts.append(f"**Why it matters.** {reflow(why)}")
    fix = finding.fix or (rule.fix.markdown if rule and rule.fix else None)
    if fix:
        title = rule.fix.title if rule and rule.fix else "Fix pattern"
        summary = f"<summary>Fix pattern: {title}</summary>"
        parts.append(f"<details>{summary}\n\n{reflow(fix.strip())}\n\n</details>")
    parts.append(
        f"Silence with `// dropsafe:allow({finding.rule})` on the line above; "
        f"`dropsafe explain {finding.rule}` has the full page."
    )
    body = "\n\n".join(parts)
    tail = "\n\n" + marker(finding.rule, fp)
    return body[: BODY_LIMIT - len(tail)] + tail


def comment_position(finding: Finding, change: FileChange | None) -> dict[str, object] | None:
    """Where GitHub accepts this finding as an inline comment, or None.

    A single-line comment on the RIGHT side at the anchor line, only when that
    line lies inside a hunk: anything else would make GitHub reject the review.
    """
    if change is None or not change.in_diff(finding.line):
        return None
    return {"path": change.path, "line": finding.line, "side": "RIGHT"}


@dataclass(frozen=True)
class ReviewPlan:
    """What this push's review says, and what it leaves out (for the summary)."""

    comments: tuple[dict[str, object], ...]
    inline: tuple[Keyed, ...]  # findings behind `comments`, same order
    overflow: tuple[Keyed, ...]  # on diff lines but over the cap: listed in the body
    outside_diff: int  # kept findings GitHub cannot take inline
    already: int  # commented or listed on an earlier push
    below_comment_on: int = 0  # under the configured `comment_on`: annotations only

    @property
    def has_news(self) -> bool:
        return bool(self.comments or self.overflow)


def plan_review(
    findings: Sequence[Keyed],
    changes: Mapping[str, FileChange],
    reported: frozenset[str],
    cap: int = COMMENT_CAP,
    comment_on: str = "warning",
) -> ReviewPlan:
    """Pick the inline comments of one review.

    Findings whose fingerprint was `reported` before (a comment of ours, or an
    earlier overflow list) are not repeated; those below `comment_on` are left
    to the check run's annotations. Errors go first so the cap keeps the
    findings that matter most.
    """
    fresh: list[tuple[Keyed, dict[str, object]]] = []
    outside = already = below = 0
    for item in findings:
        if item.fp in reported:
            already += 1
            continue
        if not at_least(item.finding.severity, comment_on):
            below += 1
            continue
        position = comment_position(item.finding, changes.get(item.finding.path))
        if position is None:
            outside += 1
            continue
        fresh.append((item, position))
    fresh.sort(key=lambda pair: -RANK[pair[0].finding.severity])
    comments = tuple(
        {**position, "body": comment_body(item.finding, item.fp)} for item, position in fresh[:cap]
    )
    return ReviewPlan(
        comments=comments,
        inline=tuple(item for item, _ in fresh[:cap]),
        overflow=tuple(item for item, _ in fresh[cap:]),
        outside_diff=outside,
        already=already,
        below_comment_on=below,
    )


def finding_line(finding: Finding) -> str:
    """One Markdown list line naming a finding, used for overflow lists."""
    where = f"`{finding.path}:{finding.line}`"
    return f"- {where} `{finding.rule}` ({finding.severity}): {finding.message}"


def review_body(plan: ReviewPlan) -> str:
    """The review's text: counts, the overflow list (bounded), and the overflow marker.

    The marker lists every overflow fingerprint, so the next push does not list
    them again as new.
    """
    total = len(plan.comments) + len(plan.overflow)
    lines = [
        f"**dropsafe** found {total} new finding(s) on the changed lines; "
        f"{len(plan.comments)} commented inline."
    ]
    tail = ""
    if plan.overflow:
        tail = "\n\n" + overflow_marker(item.fp for item in plan.overflow)
        lines += [
            "",
            f"{len(plan.overflow)} more over the limit of {COMMENT_CAP} inline comments:",
            "",
        ]
        budget = BODY_LIMIT - len(tail) - 200
        for shown, item in enumerate(plan.overflow):
            entry = finding_line(item.finding)
            budget -= len(entry) + 1
            if budget < 0:
                lines.append(f"- ... and {len(plan.overflow) - shown} more (see the check run)")
                break
            lines.append(entry)
    lines += ["", "The check run has every finding and the checklist per touched `impl Drop`."]
    return "\n".join(lines) + tail


def review_payload(plan: ReviewPlan, head_sha: str) -> dict[str, object] | None:
    """The POST .../reviews body, or None when there is nothing new to say."""
    if not plan.has_news:
        return None
    return {
        "commit_id": head_sha,
        "event": "COMMENT",
        "body": review_body(plan),
        "comments": list(plan.comments),
    }
