"""One review of one PR head: the seven steps of DESIGN.md, in order.

This is the thin I/O layer: it reads through `fetch`, runs the engine in a
worker thread (so the event loop keeps acknowledging webhooks), and writes the
payloads that `checkrun` and `comments` build. Once the check run exists, every
way out completes it, so a run never hangs "in progress".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gidgethub.abc

from bot.review import checkrun, fetch, threads
from bot.review.comments import (
    Keyed,
    ReviewPlan,
    keyed,
    parse_marker,
    parse_overflow,
    plan_review,
    review_payload,
)
from rules.catalogue import RULE_IDS
from rules.config import Settings, load_settings
from rules.diff import FileChange
from rules.engine import SourceFile, analyze_files
from rules.scope import Mode

if TYPE_CHECKING:
    from bot.jobs import ReviewJob

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Context:
    """The per-run constants every step needs."""

    gh: gidgethub.abc.GitHubAPI
    owner: str
    repo: str
    pull: fetch.Pull
    head_sha: str
    bots: frozenset[str]
    graphql_url: str
    blob_cache: MutableMapping[str, bytes]
    log_extra: dict[str, Any]


async def run_review(
    gh: gidgethub.abc.GitHubAPI,
    job: ReviewJob,
    *,
    app_slug: str,
    blob_cache: MutableMapping[str, bytes],
    graphql_url: str,
) -> None:
    """Review the PR of `job` at its head; raises only when no check run could be created."""
    extra = {
        "delivery_id": job.delivery_id,
        "repo": f"{job.owner}/{job.repo}",
        "pull": job.pull_number,
    }
    pull = await fetch.get_pull(gh, job.owner, job.repo, job.pull_number)
    if pull.state != "open":
        log.info("pull request is closed, not reviewing", extra=extra)
        return
    head = job.head_sha or pull.head_sha
    if head != pull.head_sha:
        # The files endpoint only describes the current head; a newer push has its own job.
        log.info("head moved on, not reviewing an old commit", extra={**extra, "head_sha": head})
        return
    creating = asyncio.ensure_future(
        gh.post(
            "/repos/{owner}/{repo}/check-runs",
            fetch.repo_vars(job.owner, job.repo),
            data=checkrun.create_payload(head),
        )
    )
    cancelled = False
    try:
        created = await asyncio.shield(creating)
    except asyncio.CancelledError:
        # Superseded while GitHub creates the run: learn its id anyway, to close it below.
        created, cancelled = await creating, True
    run_url = f"/repos/{job.owner}/{job.repo}/check-runs/{created['id']}"
    ctx = Context(
        gh,
        job.owner,
        job.repo,
        pull,
        head,
        threads.bot_logins(app_slug),
        graphql_url,
        blob_cache,
        {**extra, "head_sha": head},
    )
    try:
        if cancelled:
            raise asyncio.CancelledError
        checked = await check(ctx, run_url, full=job.full)
    except asyncio.CancelledError:
        await _close(ctx, run_url, "superseded by a newer run for this pull request", "cancelled")
        raise
    except Exception as error:  # every failure must still complete the check run
        log.exception("review failed", extra=ctx.log_extra)
        await _close(ctx, run_url, f"{type(error).__name__}: {error}")
        return
    try:
        await publish(ctx, checked)
    except Exception as error:
        # The check run is complete and its conclusion stands (a failed post must not turn
        # a failing run neutral); its summary says the review is missing.
        log.exception("posting the review failed", extra=ctx.log_extra)
        note = checkrun.note_payload(checked.outcome, f"{type(error).__name__}: {error}")
        await ctx.gh.patch(run_url, data=note)


async def _close(ctx: Context, run_url: str, reason: str, conclusion: str = "neutral") -> None:
    try:
        payload = checkrun.failed_payload(reason, conclusion)
        await asyncio.shield(ctx.gh.patch(run_url, data=payload))
    except Exception:
        log.exception("could not complete the check run", extra=ctx.log_extra)


@dataclass(frozen=True)
class Checked:
    """What steps 2-4 learned, for posting the review and cleaning up threads."""

    outcome: checkrun.Outcome
    ours: dict[str, dict[str, Any]]  # our earlier comments by fingerprint
    pr_paths: frozenset[str]  # the PR's Rust files, reviewed or not


async def check(ctx: Context, run_url: str, *, full: bool) -> Checked:
    """Steps 2-4: read the files, run the engine, complete the check run."""
    entries, (settings, config_errors) = await asyncio.gather(
        fetch.list_files(ctx.gh, ctx.owner, ctx.repo, ctx.pull.number), _settings(ctx)
    )
    rust = fetch.rust_files(entries)
    excluded = [e["filename"] for e in rust if settings.excluded(e["filename"])]
    wanted = [e for e in rust if not settings.excluded(e["filename"])]
    files, skipped = await fetch.load_files(
        ctx.gh, ctx.owner, ctx.repo, ctx.pull, wanted, ctx.blob_cache
    )

    mode = Mode.FILE if full else settings.mode
    sources = [
        SourceFile(f.path, f.source, f.change.touched(mode) if f.change else frozenset())
        for f in files
    ]
    reports = await asyncio.to_thread(analyze_files, sources, settings)
    findings = keyed(f for report in reports for f in report.findings)

    changes = {f.path: f.change for f in files if f.change is not None and f.commentable}
    ours = await _our_comments(ctx)
    plan = await _plan(ctx, findings, changes, ours)

    outcome = checkrun.Outcome(
        findings=findings,
        reports=reports,
        settings=settings,
        mode=mode.value,
        plan=plan,
        skipped=skipped,
        excluded=excluded,
        config_errors=config_errors,
    )
    for update in checkrun.completion_payloads(outcome):
        await ctx.gh.patch(run_url, data=update)
    return Checked(outcome, ours, frozenset(e["filename"] for e in rust))


async def publish(ctx: Context, checked: Checked) -> None:
    """Steps 5-6: post the review when there is something new, resolve fixed threads."""
    plan = checked.outcome.plan
    assert plan is not None  # `check` always plans
    body = review_payload(plan, ctx.head_sha)
    if body is not None:
        await ctx.gh.post(
            "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
            fetch.repo_vars(ctx.owner, ctx.repo, pull_number=ctx.pull.number),
            data=body,
        )
    log.info(
        "review done",
        extra={
            **ctx.log_extra,
            "findings": len(checked.outcome.findings),
            "comments": len(plan.comments),
            "overflow": len(plan.overflow),
        },
    )
    await _resolve_fixed(ctx, checked)


async def _settings(ctx: Context) -> tuple[Settings, list[str]]:
    """The repository's configuration; any problem with it means defaults plus an explanation."""
    try:
        text = await fetch.read_config(
            ctx.gh, ctx.owner, ctx.repo, ctx.pull.default_branch, ctx.blob_cache
        )
    except gidgethub.GitHubException as error:
        return Settings(), [f"could not read `{fetch.CONFIG_PATH}`: {error}"]
    if text is None:
        return Settings(), []
    return load_settings(text, RULE_IDS)


async def _our_comments(ctx: Context) -> dict[str, dict[str, Any]]:
    """Our earlier inline comments by fingerprint: marker AND our bot as author."""
    comments = await fetch.list_review_comments(ctx.gh, ctx.owner, ctx.repo, ctx.pull.number)
    ours: dict[str, dict[str, Any]] = {}
    for comment in comments:
        marker = parse_marker(comment.get("body") or "")
        if marker and (comment.get("user") or {}).get("login") in ctx.bots:
            ours.setdefault(marker[1], comment)
    return ours


async def _plan(
    ctx: Context,
    findings: Sequence[Keyed],
    changes: Mapping[str, FileChange],
    ours: dict[str, dict[str, Any]],
) -> ReviewPlan:
    """The review to post; overflow lists of earlier reviews are read only when they could matter.

    A first review (no comments of ours) cannot have an earlier overflow list,
    which spares one request on the common path.
    """
    reported = frozenset(ours)
    plan = plan_review(findings, changes, reported)
    if not plan.has_news or not ours:
        return plan
    reviews = await fetch.list_reviews(ctx.gh, ctx.owner, ctx.repo, ctx.pull.number)
    listed = frozenset().union(
        *(
            parse_overflow(r.get("body") or "")
            for r in reviews
            if (r.get("user") or {}).get("login") in ctx.bots
        )
    )
    return plan_review(findings, changes, reported | listed) if listed else plan


async def _resolve_fixed(ctx: Context, checked: Checked) -> None:
    """Resolve our threads whose finding is gone; GraphQL is asked only when one may be."""
    current = {k.fp for k in checked.outcome.findings}
    analysed = {r.path for r in checked.outcome.reports if r.skipped is None}
    pr_paths = checked.pr_paths
    gone = [
        fp
        for fp, c in checked.ours.items()
        if fp not in current and (c.get("path") in analysed or c.get("path") not in pr_paths)
    ]
    if not gone:
        return
    found = await threads.list_threads(
        ctx.gh, ctx.graphql_url, ctx.owner, ctx.repo, ctx.pull.number
    )
    for thread in threads.to_resolve(found, current, ctx.bots, analysed, pr_paths):
        await threads.resolve(ctx.gh, ctx.graphql_url, thread)
