"""With REDIS_URL: `serve` only verifies and enqueues, `dropsafe worker`s review.

A real redis-server (`conftest.redis_server`), the real App server and workers, the fake
GitHub: the whole path a delivery takes in production, shuffled and duplicated as GitHub
sends deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from app_harness import NUMBER, OWNER, REPO, opened_payload, running_app, seed_pull
from fakegithub import FakeGitHub, load_webhook, pr_comment_payload, pull_file
from redis_harness import (
    FAST_TIMINGS,
    free_port,
    fresh,
    push_deliveries,
    queue_idle,
    running_redis,
    running_workers,
    start_worker_process,
)

from bot.commands import ACCEPTED_REACTION
from bot.redisqueue import RedisJobs, SettledQueue, Timings, redis_jobs
from bot.review.comments import parse_marker

HEADS = [f"{n:040x}" for n in range(1, 6)]
UNWRAP_IN_DROP = "impl Drop for G { fn drop(&mut self) { self.0.flush().unwrap(); } }\n"
RECOVERY_DEADLINE = 30.0
"""Seconds a killed worker's review may take to finish elsewhere: loose (a loaded machine),
yet under the ~45 s saq's default heartbeat and sweep took."""


def push(fake: FakeGitHub, head: str) -> None:
    """A push to the example PR: a Drop that unwraps, different at each head."""
    body = f"impl Drop for G{head[-1]} {{ fn drop(&mut self) {{ self.0.flush().unwrap(); }} }}\n"
    fake.set_head(OWNER, REPO, NUMBER, head, [pull_file("src/lib.rs", "", body)])


def settled_runs(fake: FakeGitHub) -> dict[str, list[str | None]]:
    """Conclusions of the check runs per head; None for one still in progress."""
    runs: dict[str, list[str | None]] = {}
    for run in fake.check_runs:
        runs.setdefault(run.head_sha, []).append(
            run.conclusion if run.status == "completed" else None
        )
    return runs


async def test_a_delivery_is_queued_by_serve_and_reviewed_by_a_worker(
    fake_github: FakeGitHub, redis_url: str
) -> None:
    seed_pull(fake_github, [pull_file("src/lib.rs", "", UNWRAP_IN_DROP)])
    async with running_app(fake_github, redis_url=redis_url) as bot:
        answer = await bot.deliver("pull_request", load_webhook("pull_request.opened"))
        assert answer.status == 202
        assert fake_github.check_runs == []  # serve itself reviews nothing
        async with running_workers(fake_github, redis_url):
            await queue_idle(redis_url)
    [run] = fake_github.check_runs
    assert (run.status, run.conclusion) == ("completed", "failure")
    assert len(fake_github.reviews) == 1


async def test_a_redelivery_is_skipped_by_any_server(
    fake_github: FakeGitHub, redis_url: str
) -> None:
    seed_pull(fake_github)
    payload = load_webhook("pull_request.opened")
    async with running_app(fake_github, redis_url=redis_url) as bot:
        first = await bot.deliver("pull_request", payload, delivery_id="d-1")
    async with running_app(fake_github, redis_url=redis_url) as bot:  # another replica
        again = await bot.deliver("pull_request", payload, delivery_id="d-1")
    assert (first.status, again.status) == (202, 200)
    assert again.body == {"message": "already handled"}
    client = aioredis.from_url(redis_url)
    assert await client.zcard("saq:dropsafe:incomplete") == 1
    await client.aclose()


async def test_a_delivery_remembered_but_never_queued_can_be_sent_again(
    fake_github: FakeGitHub, redis_url: str
) -> None:
    """`serve` killed after remembering a delivery and before queuing it answered nothing:
    GitHub's "Redeliver" of it is accepted once `accept_within` has passed, not skipped; once
    queued, a delivery is remembered for a day."""
    seed_pull(fake_github, [pull_file("src/lib.rs", "", UNWRAP_IN_DROP)])
    payload = load_webhook("pull_request.opened")
    async with redis_jobs(redis_url, Timings(accept_within=0.5)) as jobs:
        assert await jobs.remember_delivery("d-1")  # and then the process died
        assert not await jobs.remember_delivery("d-1")  # a copy meanwhile is a duplicate
    await asyncio.sleep(0.6)
    async with running_app(fake_github, redis_url=redis_url) as bot:
        again = await bot.deliver("pull_request", payload, delivery_id="d-1")
        copy = await bot.deliver("pull_request", payload, delivery_id="d-1")
        async with running_workers(fake_github, redis_url):
            await queue_idle(redis_url)
    assert (again.status, copy.status) == (202, 200)
    client = aioredis.from_url(redis_url)
    assert await client.ttl("dropsafe:delivery:d-1") > 23 * 60 * 60
    await client.aclose()
    [run] = fake_github.check_runs
    assert (run.status, run.conclusion) == ("completed", "failure")


@pytest.mark.parametrize("queue", ["in-process", "redis"])
async def test_shuffled_pushes_review_the_newest_head_once(
    fake_github: FakeGitHub, redis_server: str, queue: str
) -> None:
    """Every push's two deliveries, shuffled and some sent twice, while the queue works: in
    `serve` alone, or through Redis with two workers."""
    seed_pull(fake_github)
    deliveries = [d for head in HEADS for d in push_deliveries(head)]
    deliveries += random.Random(7).sample(deliveries, 4)
    random.Random(9).shuffle(deliveries)
    redis_url = await fresh(redis_server) if queue == "redis" else None
    async with contextlib.AsyncExitStack() as stack:
        bot = await stack.enter_async_context(running_app(fake_github, redis_url=redis_url))
        if redis_url:
            await stack.enter_async_context(running_workers(fake_github, redis_url, count=2))
        for n, (event, payload) in enumerate(deliveries):
            if n == len(deliveries) // 2:
                for head in HEADS:  # the pushes happen while deliveries are in flight
                    push(fake_github, head)
            answer = await bot.deliver(event, payload)
            assert answer.status == 202, answer
        await (queue_idle(redis_url) if redis_url else bot.idle())
    newest = HEADS[-1]
    runs = settled_runs(fake_github)
    assert all(None not in conclusions for conclusions in runs.values()), runs
    assert [c for c in runs[newest] if c != "cancelled"] == ["failure"], runs
    # A run that started before the pushes may have read the new files (GitHub's files
    # endpoint shows the current head): each finding is posted once, by whichever run.
    markers = [parse_marker(c.body) for r in fake_github.reviews for c in r.comments]
    assert markers and len(markers) == len(set(markers))
    assert "drop-unwrap" in {m[0] for m in markers if m}, markers


@pytest.mark.parametrize(
    ("method", "moment"),
    [("GET", "*/git/blobs/*"), ("POST", "*/pulls/*/reviews")],
    ids=["reading files", "posting the review"],
)
async def test_a_worker_killed_mid_review_loses_nothing(
    fake_github: FakeGitHub, redis_url: str, tmp_path: Path, method: str, moment: str
) -> None:
    """SIGKILL while the review reads the files, or while GitHub takes its review (and then
    applies it, the worker gone): another worker finishes the job in the same check run,
    and the review is posted once. With the timings a deployment runs (`Timings()`), well
    within `RECOVERY_DEADLINE` (benchmarks/worker_death.py measures the figure)."""
    seed_pull(fake_github, [pull_file("src/lib.rs", "", UNWRAP_IN_DROP)])
    held = fake_github.hold(method, moment)
    async with running_app(fake_github, redis_url=redis_url) as bot:
        await bot.deliver("pull_request", load_webhook("pull_request.opened"))
        doomed = start_worker_process(
            fake_github, redis_url, tmp_path / "worker.log", production_timings=True
        )
        try:
            await asyncio.wait_for(held.arrived.wait(), 60)
        finally:
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(10)
        held.release()
        async with running_workers(fake_github, redis_url, timings=Timings()):
            await queue_idle(redis_url, timeout=RECOVERY_DEADLINE)
    [run] = fake_github.check_runs
    assert (run.status, run.conclusion) == ("completed", "failure")
    annotations = [(a["path"], a["start_line"], a["title"]) for a in run.annotations]
    assert annotations and len(annotations) == len(set(annotations))  # none sent twice
    [review] = fake_github.reviews
    assert [parse_marker(c.body)[0] for c in review.comments] == ["drop-unwrap"]  # type: ignore[index]


async def test_a_worker_stopped_mid_review_hands_it_to_another(
    fake_github: FakeGitHub, redis_url: str, tmp_path: Path
) -> None:
    """SIGTERM (a deploy) while the review reads the files and its grace period is over: the
    review's check run says it was shut down, the job goes back to the queue, and another
    worker gives the verdict in the same check run and posts the review once."""
    seed_pull(fake_github, [pull_file("src/lib.rs", "", UNWRAP_IN_DROP)])
    held = fake_github.hold("GET", "*/git/blobs/*")
    async with running_app(fake_github, redis_url=redis_url) as bot:
        await bot.deliver("pull_request", load_webhook("pull_request.opened"))
        stopping = start_worker_process(fake_github, redis_url, tmp_path / "worker.log")
        try:
            await asyncio.wait_for(held.arrived.wait(), 60)
            stopping.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(stopping.wait, 30) == 0
        finally:
            stopping.kill()
        [run] = fake_github.check_runs
        assert (run.status, run.conclusion) == ("completed", "neutral")
        assert "shut down" in run.output["summary"]
        held.release()
        async with running_workers(fake_github, redis_url):
            await queue_idle(redis_url)
    [run] = fake_github.check_runs
    assert (run.status, run.conclusion) == ("completed", "failure")
    [review] = fake_github.reviews
    assert [parse_marker(c.body)[0] for c in review.comments] == ["drop-unwrap"]  # type: ignore[index]


async def test_a_worker_killed_after_submitting_a_rescan_does_not_ask_twice(
    fake_github: FakeGitHub, redis_url: str, tmp_path: Path
) -> None:
    """A worker takes a `/dropsafe rescan`, submits the review request, and is killed while
    it reacts to the comment; the review runs meanwhile on another worker. The event job runs
    again (saq's sweeper), and its second submit is the same request: one check run."""
    seed_pull(fake_github, [pull_file("src/lib.rs", "", UNWRAP_IN_DROP)])
    fake_github.set_role(OWNER, REPO, "writer", "write")
    made = fake_github.add_issue_comment(OWNER, REPO, NUMBER, "/dropsafe rescan", "writer")
    repo = fake_github.repository(OWNER, REPO)
    assert repo is not None
    held = fake_github.hold("POST", "*/reactions")
    async with running_app(fake_github, redis_url=redis_url) as bot:
        await bot.deliver("issue_comment", pr_comment_payload(made, repo, "User"))
        doomed = start_worker_process(
            fake_github, redis_url, tmp_path / "worker.log", production_timings=True
        )
        try:
            await asyncio.wait_for(held.arrived.wait(), 60)
            async with running_workers(fake_github, redis_url, timings=Timings()):
                async with asyncio.timeout(60):  # the review, while the reaction hangs
                    while not any(r.status == "completed" for r in fake_github.check_runs):
                        await asyncio.sleep(0.05)
                doomed.send_signal(signal.SIGKILL)
                doomed.wait(10)
                held.release()
                async with asyncio.timeout(RECOVERY_DEADLINE):  # the event job's second run
                    while len(fake_github.calls("POST", "*/reactions")) < 2:
                        await asyncio.sleep(0.05)
                await queue_idle(redis_url, timeout=RECOVERY_DEADLINE)
        finally:
            doomed.kill()
    [run] = fake_github.check_runs
    assert (run.status, run.conclusion) == ("completed", "failure")
    assert [r.content for r in fake_github.reactions if r.comment_id == made.id] == [
        ACCEPTED_REACTION
    ]


def opened(fake: FakeGitHub, number: int) -> dict[str, Any]:
    """PR `number` opened at a head of its own, with a Drop that unwraps; its delivery."""
    payload = opened_payload(number, f"{number:040x}")
    fake.add_pull_request_from_payload(payload, files=[pull_file("src/lib.rs", "", UNWRAP_IN_DROP)])
    return payload


def reviewed_once(fake: FakeGitHub, numbers: range) -> bool:
    """Each of those PRs has one completed check run with a verdict and one review."""
    return settled_runs(fake) == {f"{n:040x}": ["failure"] for n in numbers} and len(
        fake.reviews
    ) == len(numbers)


async def test_a_redis_crash_loses_no_acknowledged_delivery(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    """Deliveries for twenty pull requests are answered 202, then Redis is SIGKILLed and
    started again from its append-only file: the workers review every one of them."""
    deliveries = [opened(fake_github, number) for number in range(1, 21)]
    port = free_port()
    with running_redis(tmp_path, port, stop=signal.SIGKILL) as url:
        async with running_app(fake_github, redis_url=url) as bot:
            for payload in deliveries:
                assert (await bot.deliver("pull_request", payload)).status == 202
    with running_redis(tmp_path, port) as url:
        async with running_workers(fake_github, url, count=2):
            await queue_idle(url)
    assert reviewed_once(fake_github, range(1, 21))


async def test_workers_ride_out_a_redis_crash(fake_github: FakeGitHub, tmp_path: Path) -> None:
    """Redis is SIGKILLed under running workers and started again: they reconnect and review
    what is delivered afterwards."""
    port = free_port()
    crash = contextlib.ExitStack()
    url = crash.enter_context(running_redis(tmp_path, port, stop=signal.SIGKILL))
    async with running_workers(fake_github, url, count=2):
        with crash:
            async with running_app(fake_github, redis_url=url) as bot:
                for number in range(1, 6):
                    await bot.deliver("pull_request", opened(fake_github, number))
            await queue_idle(url)
        with running_redis(tmp_path, port):
            async with running_app(fake_github, redis_url=url) as bot:
                for number in range(6, 11):
                    answer = await bot.deliver("pull_request", opened(fake_github, number))
                    assert answer.status == 202
            await queue_idle(url)
    assert reviewed_once(fake_github, range(1, 11))


async def test_redis_reachability(redis_url: str) -> None:
    async with redis_jobs(redis_url, FAST_TIMINGS) as jobs:
        assert await jobs.reachable()
    nobody = SettledQueue.from_url(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens
    assert not await RedisJobs(nobody.redis, nobody, FAST_TIMINGS).reachable()
