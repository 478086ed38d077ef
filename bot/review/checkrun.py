"""The `dropsafe` check run: create/update payloads, annotations and the summary.

Pure functions: the outcome of one review in, check-run JSON out. The summary
must make a quiet run look deliberate, so it always says what was left out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.review.comments import COMMENT_CAP, Keyed, ReviewPlan, finding_line
from rules.catalogue import RULES, rule_by_id
from rules.config import CONFIG_PATH
from rules.model import CHECKLIST, RANK, at_least, render_chain

if TYPE_CHECKING:
    from rules.config import Settings
    from rules.engine import DropImplInfo, FileReport
    from rules.model import Finding

NAME = "dropsafe"
ANNOTATION_BATCH = 50
"""The Checks API takes at most 50 annotations per request; later PATCHes append."""
SUMMARY_LIMIT = 65_535
LEVELS = {"error": "failure", "warning": "warning", "notice": "notice"}
_CHECKED_BY = {item: [r.id for r in RULES if item in r.checklist] for item in CHECKLIST}
"""The rules that check each Appendix-A item, for the checklist tables' last column."""


@dataclass(frozen=True)
class Outcome:
    """Everything one review learned, for the summary and the conclusion."""

    findings: Sequence[Keyed]
    reports: Sequence[FileReport]
    settings: Settings
    mode: str  # effective mode (config, or `file` for a full rescan)
    plan: ReviewPlan
    skipped: Mapping[str, str] = field(default_factory=dict)  # path -> why not analysed
    excluded: Sequence[str] = ()  # paths matched by the config's `exclude`
    config_errors: Sequence[str] = ()
    context_files: int = 0  # other files of the crates read so Drop is followed across files
    context_notes: Sequence[str] = ()  # what of the crates could not be read, and why


def create_payload(head_sha: str) -> dict[str, object]:
    """POST .../check-runs: the run exists (in progress) before any slow work starts."""
    return {
        "name": NAME,
        "head_sha": head_sha,
        "status": "in_progress",
        "output": {
            "title": "Reviewing",
            "summary": "dropsafe is reviewing the changed Rust files.",
        },
    }


def conclusion(findings: Sequence[Keyed], fail_on: str) -> str:
    """`failure` at the fail level; `neutral` when failing is off but something was found."""
    if fail_on == "never":
        return "neutral" if findings else "success"
    return "failure" if any(at_least(k.finding.severity, fail_on) for k in findings) else "success"


def annotation(finding: Finding) -> dict[str, object]:
    """One annotation; columns only on single-line ranges, as the Checks API requires."""
    out: dict[str, object] = {
        "path": finding.path,
        "start_line": finding.line,
        "end_line": max(finding.end_line, finding.line),
        "annotation_level": LEVELS[finding.severity],
        "title": f"{finding.rule} ({finding.severity})"[:255],
        "message": _annotation_message(finding)[:60_000],
    }
    if out["end_line"] == finding.line and finding.end_column > finding.column:
        out["start_column"] = finding.column
        out["end_column"] = finding.end_column
    return out


def _annotation_message(finding: Finding) -> str:
    """The message, and the call chain on a line of its own (annotations are plain text)."""
    if not finding.chain:
        return finding.message
    return f"{finding.message}\ncall chain: {render_chain(finding.chain)}"


def batches(
    items: Sequence[dict[str, object]], size: int = ANNOTATION_BATCH
) -> Iterator[list[dict[str, object]]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def title(findings: Sequence[Keyed]) -> str:
    if not findings:
        return "No findings on the changed lines"
    counts = Counter(k.finding.severity for k in findings)
    parts = [
        f"{counts[s]} {s}{'s' if counts[s] != 1 else ''}"
        for s in ("error", "warning", "notice")
        if counts[s]
    ]
    return ", ".join(parts)


def completion_payloads(outcome: Outcome, held: int = 0) -> list[dict[str, object]]:
    """The PATCH bodies that finish the run: annotations 50 at a time, completion on the last.

    Completing on the last request means a run never shows as done with half its
    annotations; if a middle request fails, the caller's error path completes it. `held`:
    how many of the annotations the run already has (an earlier try of the same review sent
    them; GitHub appends annotations), which are not sent again.
    """
    text = summary(outcome)
    head = {"title": title(outcome.findings), "summary": text}
    notes = [annotation(k.finding) for k in outcome.findings][held:]
    chunks = list(batches(notes)) or [[]]
    payloads: list[dict[str, object]] = []
    for chunk in chunks:
        output: dict[str, object] = dict(head)
        if chunk:
            output["annotations"] = chunk
        payloads.append({"output": output})
    payloads[-1].update(
        status="completed", conclusion=conclusion(outcome.findings, outcome.settings.fail_on)
    )
    return payloads


def failed_payload(reason: str, conclusion: str = "neutral") -> dict[str, object]:
    """PATCH body that closes a run the review could not finish, so nothing hangs in progress.

    `neutral` for errors (a broken review must not block merging); `cancelled`
    when a newer push superseded the run.
    """
    return {
        "status": "completed",
        "conclusion": conclusion,
        "output": {
            "title": "dropsafe could not finish this review",
            "summary": f"The review stopped early: {reason[:2000]}\n\n"
            "Comment `/dropsafe rescan` on the pull request to try again.",
        },
    }


def note_payload(outcome: Outcome, problem: str) -> dict[str, object]:
    """PATCH body for a completed run whose review could not be posted: same conclusion,
    the summary says so (an output without annotations keeps the ones already sent)."""
    note = f"**The inline review could not be posted**: {problem[:2000]}\n\n"
    text = (note + summary(outcome))[:SUMMARY_LIMIT]
    return {"output": {"title": title(outcome.findings), "summary": text}}


def summary(outcome: Outcome) -> str:
    """Markdown: counts per rule, what was left out, a checklist per touched `impl Drop`."""
    sections = [
        _headline(outcome),
        _config(outcome.config_errors),
        _counts(outcome.findings),
        _left_out(outcome),
        _checklists(outcome),
        _overflow(outcome.plan),
    ]
    text = "\n\n".join(s for s in sections if s)
    if len(text) > SUMMARY_LIMIT:
        cut = "\n\n... (summary truncated; every finding is also an annotation)"
        text = text[: SUMMARY_LIMIT - len(cut)] + cut
    return text


def _headline(outcome: Outcome) -> str:
    analysed = sum(1 for r in outcome.reports if r.skipped is None)
    verdict = conclusion(outcome.findings, outcome.settings.fail_on)
    context = (
        f" (and {outcome.context_files} other file(s) of their crates, to follow Drop across files)"
        if outcome.context_files
        else ""
    )
    return (
        f"**{len(outcome.findings)} finding(s)** in {analysed} analysed Rust file(s){context}; "
        f"mode `{outcome.mode}`, fail on `{outcome.settings.fail_on}`: **{verdict}**."
    )


def _counts(findings: Sequence[Keyed]) -> str:
    if not findings:
        return ""
    per_rule = Counter((k.finding.rule, k.finding.severity) for k in findings)
    rows = ["| rule | severity | findings |", "| --- | --- | ---: |"]
    order = sorted(per_rule.items(), key=lambda kv: (-RANK.get(kv[0][1], 0), kv[0][0]))
    rows += [f"| `{rule}` | {severity} | {count} |" for (rule, severity), count in order]
    return "\n".join(rows)


def _left_out(outcome: Outcome) -> str:
    """How many findings and files did not make it into the review, and why."""
    suppressed = sum(r.suppressed for r in outcome.reports)
    out_of_scope = sum(r.out_of_scope for r in outcome.reports)
    skipped = {**outcome.skipped, **{r.path: r.skipped for r in outcome.reports if r.skipped}}
    lines = [
        f"- {out_of_scope} outside the touched lines (mode `{outcome.mode}`)",
        f"- {suppressed} suppressed by `// dropsafe:allow(..)`",
    ]
    plan = outcome.plan
    lines += [
        f"- {plan.outside_diff} where GitHub takes no inline comment"
        " (outside the diff's hunks, or no diff shown): annotations only",
        f"- {len(plan.overflow)} over the cap of {COMMENT_CAP} inline comments (listed at the end)",
        f"- {plan.already} already reported on an earlier push (not repeated)",
    ]
    if plan.below_comment_on:
        lines.append(
            f"- {plan.below_comment_on} below `comment_on = "
            f'"{outcome.settings.comment_on}"`: annotations only'
        )
    if outcome.excluded:
        lines.append(f"- {len(outcome.excluded)} file(s) excluded by the configuration's `exclude`")
    if skipped:
        lines.append(f"- {len(skipped)} file(s) not analysed:")
        lines += [f"  - `{path}`: {why}" for path, why in sorted(skipped.items())]
    if outcome.context_notes:
        lines.append("- of the crates' other files (Drop is not followed into what is missing):")
        lines += [f"  - {note}" for note in outcome.context_notes]
    return "### Left out\n\n" + "\n".join(lines)


def _overflow(plan: ReviewPlan) -> str:
    if not plan.overflow:
        return ""
    return "### Over the comment cap\n\n" + "\n".join(
        finding_line(k.finding) for k in plan.overflow
    )


def _config(errors: Sequence[str]) -> str:
    if not errors:
        return ""
    lines = "\n".join(f"- {e}" for e in errors)
    return (
        f"### Configuration errors\n\n`{CONFIG_PATH}` has problems; this run used the defaults "
        f"for what could not be read:\n\n{lines}"
    )


def _checklists(outcome: Outcome) -> str:
    tables = [
        _checklist(
            report.path,
            impl,
            [k.finding for k in outcome.findings if k.finding.path == report.path],
        )
        for report in outcome.reports
        for impl in report.drop_impls
        if impl.touched
    ]
    return "\n\n".join(tables)


def serves(finding: Finding) -> tuple[str, ...]:
    """The Appendix-A checklist items a finding's rule serves."""
    rule = rule_by_id(finding.rule)
    return tuple(rule.checklist) if rule else ()


def behind(impl: DropImplInfo, finding: Finding) -> bool:
    """A finding counts against an `impl Drop` inside it, or when its message names it"""
    return (
        impl.line <= finding.line <= impl.end_line
        or f"Drop for {impl.type_name}" in finding.message
    )


def _checklist(path: str, impl: DropImplInfo, findings: Sequence[Finding]) -> str:
    """The Appendix-A table for one touched `impl Drop`: each item ✅ or ⚠️ with its findings."""
    mine = [f for f in findings if behind(impl, f)]
    rows = [
        f"#### `impl Drop for {impl.type_name}` (`{path}:{impl.line}`)",
        "",
        "| checklist item | status | findings | checked by |",
        "| --- | :---: | --- | --- |",
    ]
    for item in CHECKLIST:
        hits = [f for f in mine if item in serves(f)]
        status = "⚠️" if hits else "✅"
        found = "<br>".join(f"`{f.rule}` line {f.line}" for f in hits) or "none"
        rules = ", ".join(f"`{r}`" for r in _CHECKED_BY[item]) or "review by hand"
        rows.append(f"| {item} | {status} | {found} | {rules} |")
    return "\n".join(rows)
