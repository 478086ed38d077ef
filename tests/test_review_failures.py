"""GitHub failing the App during a review, end to end: the App completes what it can, says
what it could not (in the check run when one exists, in a log line with the delivery id
always), never crashes the worker and never retries forever.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from app_harness import (
    FAST_RETRY,
    NUMBER,
    OWNER,
    REPO,
    AppUnderTest,
    delivery_of,
    logged,
    running_app,
)
from fakegithub import FakeGitHub, load_webhook, pull_file
from test_review_app import FIXED, HEAD, NEW, OLD, PUSHED, opened, seed, synchronize

from bot import logs
from bot.server import JOBS

FORBIDDEN = {
    "message": "Resource not accessible by integration",
    "documentation_url": "https://docs.github.com/rest",
}
REVIEWS = "/repos/{o}/{r}/pulls/{n}/reviews"
CHECK_RUNS = "/repos/{o}/{r}/check-runs"
BLOBS = "/repos/{o}/{r}/git/blobs/{sha}"


@pytest.fixture
async def bot(fake_github: FakeGitHub) -> AsyncIterator[AppUnderTest]:
    """The App with the real review and nothing seeded (each test seeds its own PR)."""
    async with running_app(fake_github) as app:
        yield app


async def deliver(
    bot: AppUnderTest, delivery_id: str, payload: dict[str, Any] | None = None
) -> None:
    answer = await bot.deliver("pull_request", payload or opened(), delivery_id=delivery_id)
    assert answer.status == 202, answer
    await bot.idle()


@pytest.fixture
def served_log() -> Iterator[io.StringIO]:
    """The log as `dropsafe serve` writes it: key=value fields, the job's delivery named."""
    out = io.StringIO()
    handler = logs.handler("text", out)
    logger = logging.getLogger("bot")
    logger.addHandler(handler)
    yield out
    logger.removeHandler(handler)


def no_crash(caplog: pytest.LogCaptureFixture) -> bool:
    """No job died with an exception the pipeline did not expect."""
    return logged(caplog, "job failed") == []


# -- permissions, missing pull requests, tokens ---------------------------------------------


async def test_a_review_post_without_permission_is_not_retried_and_the_run_says_so(
    bot: AppUnderTest, fake_github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    seed(fake_github)
    fake_github.fail_next("POST", REVIEWS, 403, body=FORBIDDEN)
    await deliver(bot, "no-pr-write")

    assert [p.status for p in fake_github.calls("POST", REVIEWS)] == [403]
    (run,) = fake_github.check_runs
    assert run.status == "completed" and run.conclusion == "failure"
    summary = run.output["summary"]
    assert "could not be posted" in summary and "permission" in summary
    [failed] = logged(caplog, "posting the review failed")
    assert delivery_of(failed) == "no-pr-write"
    assert no_crash(caplog)


async def test_a_check_run_without_permission_still_gets_the_review_posted(
    bot: AppUnderTest, fake_github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    seed(fake_github)
    fake_github.fail_next("POST", CHECK_RUNS, 403, body=FORBIDDEN)
    await deliver(bot, "no-checks-write")

    assert [p.status for p in fake_github.calls("POST", CHECK_RUNS)] == [403]
    assert fake_github.check_runs == []
    (review,) = fake_github.reviews
    assert len(review.comments) == 2
    [warning] = logged(caplog, "no check run: the App lacks a permission")
    assert delivery_of(warning) == "no-checks-write"
    assert no_crash(caplog)


async def test_a_deleted_pull_request_is_skipped_and_the_next_one_reviewed(
    bot: AppUnderTest, fake_github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.review.pipeline")
    seed(fake_github)
    fake_github.fail_next("GET", "/repos/{o}/{r}/pulls/{n}", 404, body={"message": "Not Found"})
    await deliver(bot, "deleted")
    assert fake_github.check_runs == []
    [gone] = logged(caplog, "review not started")
    assert delivery_of(gone) == "deleted" and "404" in str(getattr(gone, "reason", ""))
    assert no_crash(caplog)

    await deliver(bot, "next")
    assert [r.status for r in fake_github.check_runs] == ["completed"]


async def test_an_installation_token_that_expires_mid_review_is_renewed_once(
    bot: AppUnderTest, fake_github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    seed(fake_github, [pull_file(f"src/guard{n}.rs", OLD, NEW) for n in range(3)])
    held = fake_github.hold("GET", BLOBS)
    answer = await bot.deliver("pull_request", opened(), delivery_id="expiring")
    assert answer.status == 202
    await held.arrived.wait()  # the review is reading blobs, three at once
    fake_github.expire_tokens()
    held.release()
    await bot.idle()

    assert len(fake_github.calls("POST", "/app/installations/{id}/access_tokens")) == 2
    refused = [r for r in fake_github.requests if r.status == 401]
    assert refused and {r.path for r in refused} <= {
        r.path for r in fake_github.requests if r.status == 200
    }
    (run,) = fake_github.check_runs
    assert run.conclusion == "failure" and len(fake_github.reviews) == 1
    assert no_crash(caplog)


# -- GraphQL errors, rate limits, flaky and broken answers -----------------------------------


RATE_LIMITED = {
    "errors": [
        {"type": "RATE_LIMITED", "message": "API rate limit exceeded for installation ID 1."}
    ]
}
RESOLVE_FORBIDDEN = {
    "data": {"resolveReviewThread": None},
    "errors": [
        {
            "type": "FORBIDDEN",
            "path": ["resolveReviewThread"],
            "message": "Resource not accessible by integration",
        }
    ],
}


@pytest.mark.parametrize(
    ("body", "skip"),
    [(RATE_LIMITED, 0), (RESOLVE_FORBIDDEN, 1)],
    ids=["threads-rate-limited", "resolve-forbidden"],
)
async def test_graphql_errors_leave_the_review_posted(
    bot: AppUnderTest,
    fake_github: FakeGitHub,
    caplog: pytest.LogCaptureFixture,
    body: dict[str, Any],
    skip: int,
) -> None:
    seed(fake_github)
    await deliver(bot, "first")
    # The push fixes block_on (its thread would be resolved) and adds a new finding.
    pushed = FIXED + (
        "\nasync fn extra(m: &std::sync::Mutex<u8>, s: &Sink) {\n"
        "    let g = m.lock().unwrap();\n    s.flush().await;\n}\n"
    )
    fake_github.set_head(OWNER, REPO, NUMBER, PUSHED, [pull_file("src/guard.rs", OLD, pushed)])
    fake_github.fail_next("POST", "/graphql", 200, body=body, skip=skip)
    await deliver(bot, "second", synchronize(PUSHED))

    assert len(fake_github.reviews) == 2  # the new finding was posted
    assert fake_github.resolved_threads == []
    second = fake_github.check_runs[1]
    assert second.status == "completed" and "could not be posted" not in second.output["summary"]
    [warning] = logged(caplog, "could not resolve fixed review threads")
    assert delivery_of(warning) == "second"
    assert no_crash(caplog)


@pytest.mark.parametrize("status", [403, 429])
async def test_a_primary_rate_limit_far_off_puts_the_review_off_with_its_run_open(
    fake_github: FakeGitHub, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    """Midway through a review, GitHub's rate limit resets in an hour: the review is put off
    until then (no worker waits), its check run left open for the next try; the App shutting
    down meanwhile completes the run, saying why."""
    seed(fake_github)
    reset = int(time.time()) + 3600
    fake_github.fail_next(
        "GET",
        BLOBS,
        status,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
        body={"message": "API rate limit exceeded for installation ID 1."},
    )
    async with running_app(fake_github) as bot:
        await bot.deliver("pull_request", opened(), delivery_id="limited")
        [put_off] = await deferred(caplog)
        assert 3590 < float(getattr(put_off, "retry_in", 0)) <= 3601
        assert time.strftime("%H:%M", time.gmtime(reset)) in str(getattr(put_off, "why", ""))
        (run,) = fake_github.check_runs
        assert run.status == "in_progress"
    assert len(fake_github.calls("GET", BLOBS)) == 1  # no waiting an hour, no retry loop
    (run,) = fake_github.check_runs
    assert run.status == "completed" and run.conclusion == "neutral"
    assert "shut down" in run.output["summary"]
    [dropped] = logged(caplog, "review dropped at shutdown")
    assert delivery_of(dropped) == "limited"
    assert no_crash(caplog)


async def test_a_rate_limit_that_outlasts_the_tries_completes_the_run_saying_so(
    fake_github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    """Each try of the review meets the limit again (GitHub asks for waits no worker holds
    on for): after `job_attempts` tries in the same check run, it is completed neutral,
    naming the limit and the tries."""
    seed(fake_github)
    fake_github.fail_next("GET", BLOBS, 429, times=1000, headers={"retry-after": "0.05"})
    async with running_app(fake_github, retry=dataclasses.replace(FAST_RETRY, max_wait=0)) as bot:
        await deliver(bot, "limited-long")
    assert len(logged(caplog, "review deferred")) == FAST_RETRY.job_attempts - 1
    assert len(fake_github.calls("GET", BLOBS)) == FAST_RETRY.job_attempts
    (run,) = fake_github.check_runs
    assert (run.status, run.conclusion) == ("completed", "neutral")
    summary = run.output["summary"]
    assert "rate limit" in summary and f"({FAST_RETRY.job_attempts} tries)" in summary
    assert fake_github.reviews == []
    assert no_crash(caplog)


async def deferred(caplog: pytest.LogCaptureFixture, count: int = 1) -> list[logging.LogRecord]:
    """The first `count` "review deferred" lines, once logged (a job put off by RetryLater)."""
    async with asyncio.timeout(10):
        while len(logged(caplog, "review deferred")) < count:
            await asyncio.sleep(0.01)
    return logged(caplog, "review deferred")[:count]


async def test_a_rate_limit_before_the_check_run_puts_the_job_off_until_the_reset(
    bot: AppUnderTest, fake_github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    seed(fake_github)
    reset = int(time.time()) + 3600
    fake_github.fail_next(
        "POST",
        CHECK_RUNS,
        403,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
        body={"message": "API rate limit exceeded for installation ID 1."},
    )
    answer = await bot.deliver("pull_request", opened(), delivery_id="limited-early")
    assert answer.status == 202
    [put_off] = await deferred(caplog)
    assert delivery_of(put_off) == "limited-early"
    assert 3590 < float(getattr(put_off, "retry_in", 0)) <= 3601  # no worker held meanwhile
    assert "rate limit" in str(getattr(put_off, "why", ""))
    assert fake_github.check_runs == [] and fake_github.reviews == []
    assert len(fake_github.calls("POST", CHECK_RUNS)) == 1
    assert no_crash(caplog)


async def test_a_failure_before_the_check_run_is_retried_as_a_job(
    bot: AppUnderTest, fake_github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    """GitHub down for longer than the client's own retries: the job runs again later."""
    seed(fake_github)
    fake_github.fail_next("GET", "/repos/{o}/{r}/pulls/{n}", 502, times=FAST_RETRY.attempts)
    await deliver(bot, "down-a-while")
    [put_off] = logged(caplog, "review deferred")
    assert "502" in str(getattr(put_off, "why", ""))
    (run,) = fake_github.check_runs
    assert run.status == "completed" and run.conclusion == "failure"
    assert len(fake_github.reviews) == 1
    assert no_crash(caplog)


async def test_when_its_tries_run_out_the_pr_shows_a_completed_run_saying_why(
    bot: AppUnderTest, fake_github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    seed(fake_github)
    fake_github.fail_next("GET", "/repos/{o}/{r}/pulls/{n}", 503, times=1000)
    await deliver(bot, "down-for-good")
    assert len(logged(caplog, "review deferred")) == FAST_RETRY.job_attempts - 1
    assert len(fake_github.calls("GET", "/repos/{o}/{r}/pulls/{n}")) == (
        FAST_RETRY.attempts * FAST_RETRY.job_attempts
    )
    (run,) = fake_github.check_runs
    assert (run.head_sha, run.status, run.conclusion) == (HEAD, "completed", "neutral")
    summary = run.output["summary"]
    assert "503" in summary and f"({FAST_RETRY.job_attempts} tries)" in summary
    assert fake_github.reviews == []
    [stopped] = logged(caplog, "review not started")
    assert delivery_of(stopped) == "down-for-good"


async def test_a_502_in_the_middle_of_pagination_is_retried(
    bot: AppUnderTest, fake_github: FakeGitHub, served_log: io.StringIO
) -> None:
    files = [pull_file(f"src/m{n:03}.rs", None, f"pub fn f{n}() {{}}\n") for n in range(101)]
    seed(fake_github, files)
    fake_github.fail_next("GET", "/repos/{o}/{r}/pulls/{n}/files", 502, query={"page": "2"})
    await deliver(bot, "paged")

    pages = fake_github.calls("GET", "/repos/{o}/{r}/pulls/{n}/files")
    assert [(p.query.get("page"), p.status) for p in pages] == [(None, 200), ("2", 502), ("2", 200)]
    [retry] = [line for line in served_log.getvalue().splitlines() if "retrying" in line]
    assert "status=502" in retry and "delivery_id='paged'" in retry
    (run,) = fake_github.check_runs
    assert run.conclusion == "success"
    assert "in 101 analysed Rust file(s)" in run.output["summary"]


async def test_malformed_json_from_github_completes_the_run_with_a_reason(
    bot: AppUnderTest, fake_github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    seed(fake_github)
    fake_github.fail_next("GET", BLOBS, 200, body=b'{"sha": "abc", "content": "cHV')
    await deliver(bot, "garbled")
    (run,) = fake_github.check_runs
    assert run.status == "completed" and run.conclusion == "neutral"
    assert "not valid JSON" in run.output["summary"]
    assert fake_github.reviews == []
    assert no_crash(caplog)


async def test_malformed_json_before_the_check_run_is_one_log_line(
    bot: AppUnderTest, fake_github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    seed(fake_github)
    fake_github.fail_next("GET", "/repos/{o}/{r}/pulls/{n}", 200, body=b"<html>")
    await deliver(bot, "garbled-early")
    [stopped] = logged(caplog, "review not started")
    assert "not valid JSON" in str(getattr(stopped, "reason", ""))
    assert no_crash(caplog)
    await deliver(bot, "next")
    assert len(fake_github.check_runs) == 1


async def test_a_config_github_refuses_to_show_means_defaults_and_the_reason(
    bot: AppUnderTest, fake_github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    seed(fake_github)
    fake_github.fail_next("GET", "/repos/{o}/{r}/contents/*", 403, body=FORBIDDEN)
    await deliver(bot, "no-contents-read")
    (run,) = fake_github.check_runs
    assert run.conclusion == "failure"  # the defaults fail on the error findings
    summary = run.output["summary"]
    assert "could not read `.github/dropsafe.toml`" in summary and "permission" in summary
    assert len(fake_github.reviews) == 1
    assert no_crash(caplog)


# -- work not lost --------------------------------------------------------------------------


async def test_a_review_post_that_keeps_failing_still_completes_the_run(
    bot: AppUnderTest, fake_github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    seed(fake_github)
    fake_github.fail_next("POST", REVIEWS, 502, times=10)
    await deliver(bot, "down")
    assert len(fake_github.calls("POST", REVIEWS)) == 4  # FAST_RETRY.attempts, then give up
    (run,) = fake_github.check_runs
    assert run.conclusion == "failure" and "could not be posted" in run.output["summary"]
    assert no_crash(caplog)


async def test_shutdown_completes_the_run_in_flight_and_logs_the_waiting_ones(
    fake_github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    seed(fake_github)
    other = load_webhook("pull_request.opened")
    other["pull_request"]["number"] = 3
    fake_github.add_pull_request_from_payload(other, files=[pull_file("src/a.rs", OLD, NEW)])
    held = fake_github.hold("GET", BLOBS)
    async with running_app(fake_github, workers=1) as bot:
        await bot.deliver("pull_request", opened(), delivery_id="in-flight")
        await held.arrived.wait()
        await bot.deliver("pull_request", other, delivery_id="waiting")
        await bot.app[JOBS].handled()
    # Leaving the block shut the App down (aiohttp's on_cleanup) with both jobs unfinished.
    (run,) = fake_github.check_runs
    assert run.status == "completed" and run.conclusion == "neutral"
    assert "shut down" in run.output["summary"]
    [dropped] = logged(caplog, "review dropped at shutdown")
    assert delivery_of(dropped) == "waiting"
