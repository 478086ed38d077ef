"""A rate limit in the middle of a review puts the review off instead of holding a worker.

GitHub answers the review's POST with a rate limit whose wait is longer than a worker should
sleep (`RetryPolicy.max_wait`): the check run already exists and holds its verdict. The job
is re-queued with the wait GitHub asks for (in `serve`'s own queue, or scheduled on Redis),
the one worker there is reviews another pull request meanwhile, and the next try posts the
review in the same check run. Real server, real workers, the fake GitHub, a real Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from app_harness import (
    FAST_RETRY,
    NUMBER,
    OWNER,
    REPO,
    AppUnderTest,
    logged,
    opened_payload,
    running_app,
)
from fakegithub import FakeGitHub, pull_file
from redis_harness import fresh, push_deliveries, queue_idle, running_workers

UNWRAP_IN_DROP = "impl Drop for G { fn drop(&mut self) { self.0.flush().unwrap(); } }\n"
OTHER = 3  # the pull request reviewed while the first one waits
WAIT = 2.0  # seconds GitHub asks the App to wait: over `max_wait`, short for a test
RETRY = dataclasses.replace(FAST_RETRY, max_wait=0.2, secondary_wait=WAIT)

LIMITS: dict[str, dict[str, Any]] = {
    "403 secondary": {"status": 403},  # no retry-after: back off from `secondary_wait`
    "429": {"status": 429},
    "403 primary": {"status": 403, "primary": True},  # remaining 0: wait for the reset
}


@contextlib.asynccontextmanager
async def serving(
    fake: FakeGitHub, redis_server: str, queue: str, one_at_a_time: bool = False
) -> AsyncIterator[AppUnderTest]:
    """The App with the short waits of `RETRY`, reviewing in its own queue ("in-process") or
    through a fresh Redis with a worker ("redis"); `one_at_a_time`: a single review slot.
    On exit from the body, once the queue is idle, it stops."""
    redis_url = await fresh(redis_server) if queue == "redis" else None
    slots = {"workers": 1} if one_at_a_time else {}
    async with contextlib.AsyncExitStack() as stack:
        bot = await stack.enter_async_context(
            running_app(fake, redis_url=redis_url, retry=RETRY, **slots)
        )
        if redis_url:
            concurrency = {"concurrency": 1} if one_at_a_time else {}
            await stack.enter_async_context(
                running_workers(fake, redis_url, retry=RETRY, **concurrency)
            )
        yield bot
        await (queue_idle(redis_url) if redis_url else bot.idle())


async def deferred(caplog: pytest.LogCaptureFixture) -> None:
    """Wait until a review was put off."""
    async with asyncio.timeout(60):
        while not logged(caplog, "review deferred"):
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("queue", ["in-process", "redis"])
@pytest.mark.parametrize("limit", LIMITS)
async def test_a_rate_limited_review_post_is_put_off_and_posted_in_the_same_run(
    fake_github: FakeGitHub,
    redis_server: str,
    caplog: pytest.LogCaptureFixture,
    queue: str,
    limit: str,
) -> None:
    first, other = opened_payload(NUMBER, "a" * 40), opened_payload(OTHER, "b" * 40)
    for payload in (first, other):
        fake_github.add_pull_request_from_payload(
            payload, files=[pull_file("src/lib.rs", "", UNWRAP_IN_DROP)]
        )
    fault = dict(LIMITS[limit])
    if fault.pop("primary", False):
        reset = str(int(time.time() + WAIT))
        fault["headers"] = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
    reviews = f"/repos/{OWNER}/{REPO}/pulls/{NUMBER}/reviews"
    fake_github.fail_next("POST", reviews, **fault)
    async with serving(fake_github, redis_server, queue, one_at_a_time=True) as bot:
        assert (await bot.deliver("pull_request", first)).status == 202
        async with asyncio.timeout(60):  # the first try meets the limit
            while not fake_github.calls("POST", reviews):
                await asyncio.sleep(0.01)
        assert (await bot.deliver("pull_request", other)).status == 202

    # The one worker was free while the first review waited: the other PR's review started
    # before the first one's next try read its pull request again.
    reads = [
        r.path
        for r in fake_github.requests
        if r.method == "GET" and r.path.startswith(f"/repos/{OWNER}/{REPO}/pulls/")
    ]
    first_read, other_read = (
        f"/repos/{OWNER}/{REPO}/pulls/{NUMBER}",
        reads.index(f"/repos/{OWNER}/{REPO}/pulls/{OTHER}"),
    )
    assert [n for n, path in enumerate(reads) if path == first_read][1] > other_read
    [put_off] = logged(caplog, "review deferred")
    assert 0 < float(getattr(put_off, "retry_in", 0)) <= WAIT + 1
    assert [r.status for r in fake_github.calls("POST", reviews)] == [fault["status"], 200]
    # One check run per head, completed with its verdict once: its annotations are as many
    # as those of the other PR (the same code), not doubled; one review per pull request.
    runs = [
        (r.head_sha, r.status, r.conclusion, len(r.annotations)) for r in fake_github.check_runs
    ]
    [(_, *first_run), (_, *other_run)] = sorted(runs)
    assert first_run == other_run and other_run[:2] == ["completed", "failure"]
    assert sorted(r.commit_id for r in fake_github.reviews) == ["a" * 40, "b" * 40]
    assert not logged(caplog, "job failed")


@pytest.mark.parametrize("queue", ["in-process", "redis"])
async def test_a_push_while_a_review_is_put_off_waits_with_it_and_the_newest_head_wins(
    fake_github: FakeGitHub, redis_server: str, caplog: pytest.LogCaptureFixture, queue: str
) -> None:
    """The review of the first head is put off after its check run got its verdict; a push
    meanwhile joins the waiting request (no run starts before the wait is over), and the
    next try reviews the new head: the first head keeps its verdict, never gets a review."""
    caplog.set_level(logging.INFO, logger="bot")
    first, pushed = "a" * 40, "c" * 40
    fake_github.add_pull_request_from_payload(
        opened_payload(NUMBER, first), files=[pull_file("src/lib.rs", "", UNWRAP_IN_DROP)]
    )
    reviews = f"/repos/{OWNER}/{REPO}/pulls/{NUMBER}/reviews"
    fake_github.fail_next("POST", reviews, 429)
    async with serving(fake_github, redis_server, queue) as bot:
        assert (await bot.deliver("pull_request", opened_payload(NUMBER, first))).status == 202
        await deferred(caplog)
        body = UNWRAP_IN_DROP.replace("G", "H")
        fake_github.set_head(OWNER, REPO, NUMBER, pushed, [pull_file("src/lib.rs", "", body)])
        for event, payload in push_deliveries(pushed):
            assert (await bot.deliver(event, payload)).status == 202

    runs = sorted((r.head_sha, r.status, r.conclusion) for r in fake_github.check_runs)
    assert runs == [(first, "completed", "failure"), (pushed, "completed", "failure")]
    posts = [(r.json["commit_id"], r.status) for r in fake_github.calls("POST", reviews)]
    assert posts == [(first, 429), (pushed, 200)]
    assert logged(
        caplog, "review coalesced" if queue == "redis" else "review coalesced into a deferred one"
    )
    assert not logged(caplog, "job failed")


@pytest.mark.parametrize("queue", ["in-process", "redis"])
async def test_a_rate_limited_config_read_puts_the_review_off_instead_of_using_defaults(
    fake_github: FakeGitHub, redis_server: str, caplog: pytest.LogCaptureFixture, queue: str
) -> None:
    """The repository turns the rule off; reviewing with the defaults would fail the head.
    The read of `.github/dropsafe.toml` meets a 429: the next try reads it and passes."""
    head = "a" * 40
    fake_github.add_pull_request_from_payload(
        opened_payload(NUMBER, head), files=[pull_file("src/lib.rs", "", UNWRAP_IN_DROP)]
    )
    config = f"/repos/{OWNER}/{REPO}/contents/.github/dropsafe.toml"
    fake_github.set_content(OWNER, REPO, ".github/dropsafe.toml", '[rules]\ndrop-unwrap = "off"\n')
    fake_github.fail_next("GET", config, 429)
    async with serving(fake_github, redis_server, queue) as bot:
        assert (await bot.deliver("pull_request", opened_payload(NUMBER, head))).status == 202
        await deferred(caplog)

    assert [r.status for r in fake_github.calls("GET", config)] == [429, 200]
    [run] = fake_github.check_runs
    assert (run.head_sha, run.status, run.conclusion) == (head, "completed", "success")
    assert "could not read" not in run.output.get("summary", "")
    assert not fake_github.reviews
    assert not logged(caplog, "job failed")
