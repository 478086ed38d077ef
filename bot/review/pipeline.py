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
from typing import Any

import gidgethub.abc

from bot import metrics
from bot.github import (
    GITHUB_ERRORS,
    GitHubClient,
    RetryPolicy,
    deferral,
    describe,
    missing_permission,
    rate_limited,
    retry_delay,
)
from bot.jobs import (
    SHUTDOWN,
    STALE,
    SUPERSEDED,
    Leftover,
    MemoryTrack,
    RetryLater,
    ReviewJob,
    ReviewTrack,
)
from bot.review import budget, checkrun, crates, fetch, once, threads
from bot.review.budget import EnginePool
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
from rules.config import CONFIG_PATH, Settings, load_settings
from rules.diff import FileChange
from rules.engine import SourceFile
from rules.scope import Mode

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Context:
    """The per-run constants every step needs."""

    gh: gidgethub.abc.GitHubAPI
    owner: str
    repo: str
    pull: fetch.Pull  # its head is the one reviewed
    bots: frozenset[str]
    graphql_url: str
    blob_cache: MutableMapping[str, bytes]
    log_extra: dict[str, Any]
    run_url: str | None  # None: the App may not create check runs, the review goes on without
    engine: EnginePool
    progress: Progress  # how far the check run has got (a reused run: how far it had got)
    job: ReviewJob  # its tries so far bound how often a rate limit may put it off
    track: ReviewTrack  # told the progress, for an attempt after this worker's death


@dataclass
class Progress:
    """How far a review's check run has got: a try that a rate limit puts off hands it to
    the next (`Leftover`), which sends only the annotations the run lacks, and only the
    review when the verdict is in."""

    annotations: int = 0
    completed: bool = False


async def run_review(
    gh: gidgethub.abc.GitHubAPI,
    job: ReviewJob,
    *,
    app_slug: str,
    blob_cache: MutableMapping[str, bytes],
    graphql_url: str,
    track: ReviewTrack | None = None,
    engine: EnginePool | None = None,
) -> None:
    """Review the PR of `job` at its current head; raises nothing but its own cancellation
    and `RetryLater` (GitHub failed before the check run existed, see `_not_started`, or a
    rate limit stopped the review midway, see `_carry_on_later`).

    The head is read from GitHub when the run starts, whatever head the delivery named:
    deliveries arrive in any order, and only the current head is worth a verdict. A head
    `track` says was already reviewed (same scope) is skipped unless a person asked (`force`).
    What fails is logged with the delivery id and, once the check run exists, said in its
    summary: every way out completes the run, so none hangs "in progress".
    """
    track = track or MemoryTrack({}, job.key)
    extra = {
        "delivery_id": job.delivery_id,
        "repo": f"{job.owner}/{job.repo}",
        "pull": job.pull_number,
    }
    leftover = job.leftover  # a run an earlier try left open (rate limited), or a killed worker's
    if track.leftover is not None and (
        leftover is None or leftover.run_url != track.leftover.run_url
    ):
        leftover = track.leftover
    head = job.head_sha
    try:
        pull = await fetch.get_pull(gh, job.owner, job.repo, job.pull_number)
        head = pull.head_sha
        if leftover is not None and (leftover.head_sha != head or pull.state != "open"):
            if not leftover.completed:  # a verdict given stands; its review is not posted
                await complete_run(gh, leftover.run_url, STALE, "cancelled", extra)
            leftover = None
        if pull.state != "open":
            log.info("pull request is closed, not reviewing", extra=extra)
            return
        extra["head_sha"] = head
        if leftover is None and not job.force and await track.reviewed(head, job.full):
            log.info("head already reviewed", extra=extra)
            return
        run_url: str | None
        if leftover is not None:
            run_url, cancelled = leftover.run_url, None
            progress = Progress(leftover.annotations, leftover.completed)
        else:
            run_url, cancelled = await _create_run(gh, job.owner, job.repo, head, extra)
            progress = Progress()
        try:
            # Recorded before anything can stop the run: whoever finds it open completes it.
            await asyncio.shield(track.started(head, run_url))
        except asyncio.CancelledError as cancel:
            cancelled = cancelled or cancel
    except GITHUB_ERRORS as error:  # a deleted PR, a rate limit, a broken answer
        await _not_started(gh, job, head, error, extra)
        return
    ctx = Context(
        gh,
        job.owner,
        job.repo,
        pull,
        threads.bot_logins(app_slug),
        graphql_url,
        blob_cache,
        extra,
        run_url,
        engine or budget.shared(),
        progress,
        job,
        track,
    )
    try:
        if cancelled is not None:
            raise cancelled
        checked = await check(ctx, full=job.full)
    except asyncio.CancelledError as cancel:
        await _close(ctx, *_stopped_by(cancel))
        raise
    except Exception as error:  # every failure must still complete the check run
        _carry_on_later(ctx, error)
        _log_failure("review failed", ctx, error)
        await _close(ctx, _tried(job, error))
        return
    await track.finished(head, job.full)
    # The verdict stands once the check run is complete: its review is posted even when a
    # cancellation arrives meanwhile (a newer run skips this head as reviewed), then it ends.
    publishing = asyncio.ensure_future(_posted(ctx, checked))
    try:
        await asyncio.shield(publishing)
    except asyncio.CancelledError:
        await publishing
        raise


async def _posted(ctx: Context, checked: Checked) -> None:
    """Post the review; a rate limit puts it off, another failure is said in the completed
    check run."""
    try:
        await publish(ctx, checked)
    except RetryLater:
        raise
    except Exception as error:
        _carry_on_later(ctx, error)
        # The check run is complete and its conclusion stands (a failed post must not turn
        # a failing run neutral); its summary says the review is missing.
        _log_failure("posting the review failed", ctx, error)
        await _finish_run(ctx, checkrun.note_payload(checked.outcome, _tried(ctx.job, error)))


def _carry_on_later(ctx: Context, error: Exception) -> None:
    """A rate limit stopped the review midway: raise `RetryLater` for the wait GitHub asks
    (no worker is held meanwhile), handing the open check run and how far it got to the next
    try. Other failures, and a rate limit once the tries or time are used up, return: the
    caller completes the run saying what failed."""
    if not rate_limited(error):
        return
    policy = ctx.gh.retry if isinstance(ctx.gh, GitHubClient) else RetryPolicy()
    delay = deferral(error, policy, ctx.job.deferred, ctx.job.deferred_since)
    if delay is None:
        return
    leftover = None
    if ctx.run_url is not None:
        progress = ctx.progress
        leftover = Leftover(
            ctx.pull.head_sha, ctx.run_url, progress.annotations, progress.completed
        )
    raise RetryLater(delay, describe(error), leftover) from error


def _tried(job: ReviewJob, error: BaseException) -> str:
    """What failed, and how many tries it took when the review was put off before."""
    reason = describe(error)
    return f"{reason} ({job.deferred + 1} tries)" if job.deferred else reason


async def _not_started(
    gh: gidgethub.abc.GitHubAPI,
    job: ReviewJob,
    head: str | None,
    error: BaseException,
    extra: dict[str, Any],
) -> None:
    """GitHub failed the review before its check run existed. A failure that may pass (a
    server error, no answer, a rate limit) puts the job off (`RetryLater`) while it has tries
    left; when they are used up, a completed check run on the head says what failed. A
    failure that will not pass (the PR is gone, a permission is missing) is only logged."""
    policy = gh.retry if isinstance(gh, GitHubClient) else RetryPolicy()
    reason = describe(error)
    delay = deferral(error, policy, job.deferred, job.deferred_since)
    if delay is not None:
        raise RetryLater(delay, reason) from error
    log.warning("review not started", extra={**extra, "reason": reason})
    metrics.JOBS_FAILED.inc()
    if head is None or retry_delay(error, policy) is None:
        return
    tries = f"{reason} ({job.deferred + 1} tries)"
    payload = {**checkrun.create_payload(head), **checkrun.failed_payload(tries)}
    try:
        await once.create_check_run(gh, job.owner, job.repo, head, payload)
    except GITHUB_ERRORS as again:
        log.error("could not report the failure", extra={**extra, "reason": describe(again)})


async def complete_run(
    gh: gidgethub.abc.GitHubAPI, run_url: str, reason: str, conclusion: str, extra: dict[str, Any]
) -> None:
    """Complete a check run an earlier attempt left open; a failure is only logged."""
    try:
        await gh.patch(run_url, data=checkrun.failed_payload(reason, conclusion))
    except GITHUB_ERRORS as error:
        log.error("could not complete the check run", extra={**extra, "reason": describe(error)})


async def _create_run(
    gh: gidgethub.abc.GitHubAPI, owner: str, repo: str, head: str, extra: dict[str, Any]
) -> tuple[str | None, asyncio.CancelledError | None]:
    """The new check run's URL, or None when the App may not create one (the review goes on).

    A cancellation that arrives while GitHub creates the run is returned, not raised: the
    caller learns the run's id first, to close it rather than leave it in progress.
    """
    creating = asyncio.ensure_future(once.create_check_run(gh, owner, repo, head))
    cancelled: asyncio.CancelledError | None = None
    try:
        try:
            created = await asyncio.shield(creating)
        except asyncio.CancelledError as cancel:
            cancelled, created = cancel, await creating
    except GITHUB_ERRORS as error:
        if cancelled is not None:
            raise cancelled from None
        if not missing_permission(error):
            raise
        log.warning(
            "no check run: the App lacks a permission", extra={**extra, "reason": describe(error)}
        )
        return None, None
    return f"/repos/{owner}/{repo}/check-runs/{created['id']}", cancelled


def _stopped_by(cancel: asyncio.CancelledError) -> tuple[str, str]:
    """Why a cancelled run stopped, and its conclusion: a superseded head is `cancelled`;
    after a shutdown the head still needs a verdict, so `neutral` (a rescan gives one)."""
    if cancel.args and cancel.args[0] == SHUTDOWN:
        return SHUTDOWN, "neutral"
    return SUPERSEDED, "cancelled"


def _log_failure(message: str, ctx: Context, error: Exception) -> None:
    """A failure talking to GitHub is one line with its reason; anything else, a traceback."""
    metrics.JOBS_FAILED.inc()
    extra = {**ctx.log_extra, "reason": describe(error)}
    if isinstance(error, GITHUB_ERRORS):
        log.error(message, extra=extra)
    else:
        log.exception(message, extra=extra)


async def _update_run(ctx: Context, payload: dict[str, object]) -> None:
    if ctx.run_url is not None:
        await ctx.gh.patch(ctx.run_url, data=payload)


async def _close(ctx: Context, reason: str, conclusion: str = "neutral") -> None:
    await _finish_run(ctx, checkrun.failed_payload(reason, conclusion))


async def _finish_run(ctx: Context, payload: dict[str, object]) -> None:
    """The last write to the check run on a way out: shielded from a cancellation in
    progress, and a failure is only logged, there being nothing left to tell it to."""
    try:
        await asyncio.shield(_update_run(ctx, payload))
    except Exception as error:
        log.error(
            "could not complete the check run", extra={**ctx.log_extra, "reason": describe(error)}
        )


@dataclass(frozen=True)
class Checked:
    """What steps 2-4 learned, for posting the review and cleaning up threads."""

    outcome: checkrun.Outcome
    ours: dict[str, dict[str, Any]]  # our earlier comments by fingerprint
    pr_paths: frozenset[str]  # the PR's Rust files, reviewed or not


async def check(ctx: Context, *, full: bool) -> Checked:
    """Steps 2-4: read the files, run the engine, complete the check run."""
    entries, (settings, config_errors) = await asyncio.gather(
        fetch.list_files(ctx.gh, ctx.owner, ctx.repo, ctx.pull.number), _settings(ctx)
    )
    rust = fetch.rust_files(entries)
    excluded = [e["filename"] for e in rust if settings.excluded(e["filename"])]
    wanted = [e for e in rust if not settings.excluded(e["filename"])]
    pr_paths = frozenset(e["filename"] for e in entries)
    (files, skipped), crate = await asyncio.gather(
        fetch.load_files(ctx.gh, ctx.owner, ctx.repo, ctx.pull, wanted, ctx.blob_cache),
        crates.read_crate_files(
            ctx.gh,
            ctx.owner,
            ctx.repo,
            ctx.pull.head_sha,
            [e["filename"] for e in wanted],
            lambda path: path in pr_paths or settings.excluded(path),
            ctx.blob_cache,
        ),
    )

    mode = Mode.FILE if full else settings.mode
    sources = [
        SourceFile(f.path, f.source, f.change.touched(mode) if f.change else frozenset())
        for f in files
    ]
    # the rest of the crates: Drop there may reach the changes, nothing there is reviewed
    sources += [SourceFile(path, source, frozenset()) for path, source in crate.sources]
    manifests = {path: text.decode("utf-8", "replace") for path, text in crate.manifests}
    reports = await ctx.engine.analyze(sources, settings, manifests)
    findings = keyed(f for report in reports for f in report.findings)
    metrics.findings(k.finding.rule for k in findings)
    context = frozenset(path for path, _ in crate.sources)
    reviewed = [r for r in reports if r.path not in context]

    changes = {f.path: f.change for f in files if f.change is not None and f.commentable}
    ours = await _our_comments(ctx)
    plan = await _plan(ctx, findings, changes, ours, settings.comment_on)

    outcome = checkrun.Outcome(
        findings=findings,
        reports=reviewed,
        settings=settings,
        mode=mode.value,
        plan=plan,
        skipped=skipped,
        excluded=excluded,
        config_errors=config_errors,
        context_files=len(context),
        context_notes=crate.notes,
    )
    progress = ctx.progress
    if ctx.run_url is not None and not progress.completed:
        updates = checkrun.completion_payloads(outcome, held=progress.annotations)
        for number, update in enumerate(updates, 1):
            progress.annotations = await once.update_check_run(
                ctx.gh, ctx.run_url, update, progress.annotations
            )
            progress.completed = number == len(updates)
            # Where the next attempt carries on from if this worker dies now.
            await ctx.track.progressed(progress.annotations, progress.completed)
    return Checked(outcome, ours, frozenset(e["filename"] for e in rust))


async def publish(ctx: Context, checked: Checked) -> None:
    """Steps 5-6: post the review when there is something new, resolve fixed threads."""
    plan = checked.outcome.plan
    body = review_payload(plan, ctx.pull.head_sha)
    if body is not None:
        await once.post_review(ctx.gh, ctx.owner, ctx.repo, ctx.pull.number, body, ctx.bots)
    log.info(
        "review done",
        extra={
            **ctx.log_extra,
            "findings": len(checked.outcome.findings),
            "comments": len(plan.comments),
            "overflow": len(plan.overflow),
        },
    )
    try:
        await _resolve_fixed(ctx, checked)
    except GITHUB_ERRORS as error:
        _carry_on_later(ctx, error)  # the next try posts nothing new, and resolves them
        # Best effort: the review is posted; a thread left open is resolved on a later push.
        log.warning(
            "could not resolve fixed review threads",
            extra={**ctx.log_extra, "reason": describe(error)},
        )


async def _settings(ctx: Context) -> tuple[Settings, list[str]]:
    """The repository's configuration; any problem with it means defaults plus an explanation,
    but a rate limit is raised: the review is put off rather than run with the wrong settings."""
    try:
        text = await fetch.read_config(
            ctx.gh, ctx.owner, ctx.repo, ctx.pull.default_branch, ctx.blob_cache
        )
    except gidgethub.GitHubException as error:
        if rate_limited(error):
            raise
        return Settings(), [f"could not read `{CONFIG_PATH}`: {describe(error)}"]
    if text is None:
        return Settings(), []
    return load_settings(text, RULE_IDS)


async def _our_comments(ctx: Context) -> dict[str, dict[str, Any]]:
    """Our earlier inline comments by fingerprint: marker AND our bot as author."""
    comments = await fetch.list_review_comments(ctx.gh, ctx.owner, ctx.repo, ctx.pull.number)
    ours: dict[str, dict[str, Any]] = {}
    for comment in comments:
        marker = parse_marker(comment.get("body") or "")
        if marker and _by_us(ctx, comment):
            ours.setdefault(marker[1], comment)
    return ours


def _by_us(ctx: Context, item: dict[str, Any]) -> bool:
    """A REST comment or review written by our bot (`user` is null for a deleted account)."""
    return (item.get("user") or {}).get("login") in ctx.bots


async def _plan(
    ctx: Context,
    findings: Sequence[Keyed],
    changes: Mapping[str, FileChange],
    ours: dict[str, dict[str, Any]],
    comment_on: str,
) -> ReviewPlan:
    """The review to post; overflow lists of earlier reviews are read only when they could matter.

    A first review (no comments of ours) cannot have an earlier overflow list,
    which spares one request on the common path.
    """
    reported = frozenset(ours)
    plan = plan_review(findings, changes, reported, comment_on=comment_on)
    if not plan.has_news or not ours:
        return plan
    reviews = await fetch.list_reviews(ctx.gh, ctx.owner, ctx.repo, ctx.pull.number)
    listed = frozenset().union(
        *(parse_overflow(r.get("body") or "") for r in reviews if _by_us(ctx, r))
    )
    if not listed:
        return plan
    return plan_review(findings, changes, reported | listed, comment_on=comment_on)


async def _resolve_fixed(ctx: Context, checked: Checked) -> None:
    """Resolve our threads whose finding is gone; GraphQL is asked only when one may be."""
    current = {k.fp for k in checked.outcome.findings}
    analysed = {r.path for r in checked.outcome.reports if r.skipped is None}
    pr_paths = checked.pr_paths
    if not any(
        threads.fixed(fp, c.get("path") or "", current, analysed, pr_paths)
        for fp, c in checked.ours.items()
    ):
        return
    found = await threads.list_threads(
        ctx.gh, ctx.graphql_url, ctx.owner, ctx.repo, ctx.pull.number
    )
    for thread in threads.to_resolve(found, current, ctx.bots, analysed, pr_paths):
        await threads.resolve(ctx.gh, ctx.graphql_url, thread)
