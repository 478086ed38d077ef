"""`dropsafe worker`: takes jobs from Redis (REDIS_URL) and runs them; start as many as needed.

Two job functions, each a few lines over the code `serve` runs in-process without Redis:
`handle_event` routes a delivery `serve` enqueued (the handlers submit review requests), and
`review_pull` runs one review of a pull request with the coordination of `bot.redisqueue`
(take the request, hold the PR's lock, stop when a newer run starts). saq runs them with
retries, a timeout and a heartbeat: a job whose worker dies is re-run by another worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import aiohttp
import dotenv
from gidgethub import sansio
from redis.exceptions import RedisError
from saq import Worker
from saq.types import Context, PartialTimersDict

from bot import metrics
from bot.github import GitHubApp, RetryPolicy
from bot.jobs import DELIVERY_ID, SUPERSEDED, Leftover, PullKey, RetryLater, ReviewJob, job_fields
from bot.redisqueue import QUEUE_NAME, RedisJobs, Taken, Timings, pull_name, redis_jobs
from bot.review.fetch import BlobCache
from bot.review.pipeline import complete_run
from bot.server import BLOB_CACHE_BYTES, configure_logging, dispatch, moved_on, review
from bot.settings import Settings, SettingsError, metrics_port

log = logging.getLogger(__name__)


class JobContext(Context, total=False):
    """What saq hands a job function: its `job`, and our `app`."""

    app: WorkerApp


CONCURRENCY = 10  # jobs one worker process runs at once (reviews mostly wait on GitHub)
GRACE_PERIOD = 20
"""Seconds a stopping worker lets running jobs finish (platforms send SIGKILL after ~30)."""


async def handle_event(ctx: JobContext, *, event: str, delivery_id: str, payload_key: str) -> None:
    """One delivery: route it as `serve` does in-process (its handlers submit reviews)."""
    DELIVERY_ID.set(delivery_id)
    app: WorkerApp = ctx["app"]
    payload = await app.jobs.payload(payload_key)
    if payload is None:
        log.warning("delivery expired before a worker took it", extra={"event": event})
        return
    async with beating(ctx):
        delivery = sansio.Event(payload, event=event, delivery_id=delivery_id)
        await dispatch(app.github, delivery, app.jobs)
    await app.jobs.handled(payload_key)


async def review_pull(ctx: JobContext, *, owner: str, repo: str, number: int, gen: int) -> None:
    """Run `gen` of the reviews of one PR (`bot.redisqueue` explains the protocol)."""
    app: WorkerApp = ctx["app"]
    key = (owner, repo, number)
    if not await app.jobs.take(key, gen):
        log.info("nothing to review", extra={"repository": f"{owner}/{repo}", "pull": number})
        return

    async with beating(ctx), app.jobs.lock(key, gen) as held:
        if not held:
            # A newer run holds the PR: it completes whatever this run left open.
            log.info("review overtaken while waiting", extra={"pull": pull_name(key)})
            return
        taken = await app.jobs.taken(key, gen)
        await app.close_leftovers(key, gen, keep=taken.job.leftover if taken else None)
        if taken is None:  # another attempt of this run finished it
            return
        DELIVERY_ID.set(taken.job.delivery_id)
        if taken.superseded:
            await app.complete(taken.job, taken.leftover)
        else:
            try:
                await app.review(taken, gen)
            except RetryLater as later:
                log.warning(
                    "review deferred",
                    extra=job_fields(taken.job, retry_in=later.delay, why=later.reason),
                )
                await app.jobs.submit(taken.job.put_off(later.leftover), delay=later.delay)
        await app.jobs.end(key, gen)


@asynccontextmanager
async def beating(ctx: JobContext) -> AsyncIterator[None]:
    """The job's heartbeat while the block runs: saq's sweeper takes a job silent for
    `Timings.stuck_after` seconds for one whose worker died, and runs it again elsewhere."""
    job, every = ctx["job"], ctx["app"].jobs.timings.heartbeat

    async def beat() -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await job.update()
            except RedisError as error:  # the next beat may get through
                log.warning("job heartbeat failed", extra={"why": str(error)})

    beats = asyncio.create_task(beat())
    try:
        yield
    finally:
        beats.cancel()
        await asyncio.gather(beats, return_exceptions=True)


class WorkerApp:
    """What the job functions share in one worker process: the GitHub App, the blob cache,
    the Redis side of the queue."""

    def __init__(self, settings: Settings, github: GitHubApp, jobs: RedisJobs) -> None:
        self.settings, self.github, self.jobs = settings, github, jobs
        self.blob_cache = BlobCache(BLOB_CACHE_BYTES)

    async def review(self, taken: Taken, gen: int) -> None:
        """Run the review, stopping it when a newer run starts for a newer head."""
        job, track = taken.job, self.jobs.track(taken, gen)

        async def moved_on_now() -> bool:
            return await moved_on(self.github, job, track.head_sha)

        work = review(
            self.github,
            job,
            runner=None,
            blob_cache=self.blob_cache,
            graphql_url=self.settings.graphql_url,
            track=track,
        )
        await self.jobs.until_overtaken(job.key, gen, work, moved_on_now)

    async def close_leftovers(self, key: PullKey, gen: int, keep: Leftover | None) -> None:
        """Complete the check runs that earlier runs of the PR left open, and forget them;
        but `keep`, the run this run's request carries on (a review put off by a rate limit
        whose worker died before it forgot its run)."""
        for other, leftover in (await self.jobs.leftovers(key, gen)).items():
            request = await self.jobs.taken(key, other)
            if request is not None:
                await self.complete(request.job, leftover, keep)
            await self.jobs.end(key, other)

    async def complete(
        self, job: ReviewJob, leftover: Leftover | None, keep: Leftover | None = None
    ) -> None:
        """A newer run took over from `job`'s: complete, cancelled, the check run it opened
        (`leftover`) and the one it carried on from an earlier try, except `keep`."""
        log.info("review superseded", extra=job_fields(job))
        runs = {run.run_url for run in (leftover, job.leftover) if run is not None}
        runs.discard(keep.run_url if keep is not None else "")
        if not runs:
            return
        gh = await self.github.installation_client(job.installation_id)
        for run_url in sorted(runs):
            await complete_run(gh, run_url, SUPERSEDED, "cancelled", job_fields(job))


@asynccontextmanager
async def worker_app(
    settings: Settings, timings: Timings, retry: RetryPolicy | None = None
) -> AsyncIterator[WorkerApp]:
    assert settings.redis_url is not None, "run() checks it"
    async with AsyncExitStack() as stack:
        session = await stack.enter_async_context(
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        )
        github = GitHubApp(
            session, settings.app_id, settings.private_key, api_url=settings.api_url, retry=retry
        )
        jobs = await stack.enter_async_context(redis_jobs(settings.redis_url, timings))
        yield WorkerApp(settings, github, jobs)


async def work(
    settings: Settings,
    timings: Timings | None = None,
    *,
    concurrency: int = CONCURRENCY,
    retry: RetryPolicy | None = None,
    grace_period: int = GRACE_PERIOD,
) -> None:
    """Take jobs until SIGTERM/SIGINT (or cancelled); running jobs get `grace_period` seconds
    to finish, then are cancelled and re-queued."""
    timings = timings or Timings()
    async with worker_app(settings, timings, retry) as app:
        worker: Worker[JobContext] = Worker(
            app.jobs.queue,
            functions=[handle_event, review_pull],
            concurrency=concurrency,
            timers=PartialTimersDict(sweep=timings.sweep, schedule=1, abort=1, worker_info=10),
            shutdown_grace_period_s=grace_period,
            dequeue_timeout=1.0,  # an idle worker notices a stop request within a second
        )
        worker.context["app"] = app
        log.info("worker started", extra={"queue": QUEUE_NAME, "concurrency": concurrency})
        await worker.start()


def run() -> None:
    """`dropsafe worker`: read the settings (one clear line if one is missing) and work."""
    dotenv.load_dotenv(Path.cwd() / ".env")
    try:
        settings = Settings.from_env()
        if settings.redis_url is None:
            raise SettingsError(
                "missing setting: REDIS_URL is not set (a worker takes jobs from it)"
            )
        port = metrics_port(os.environ)
    except SettingsError as exc:
        raise SystemExit(f"dropsafe: {exc}") from None
    configure_logging()
    metrics.process_started()
    if port is not None:
        metrics.serve(port)
    asyncio.run(work(settings))
