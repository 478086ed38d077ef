"""Review jobs on Redis (REDIS_URL): durable, coalesced, newest head first, safe to kill.

`dropsafe serve` only verifies a delivery and enqueues it; `dropsafe worker` processes
(`bot.worker`) run the event handlers and the reviews through saq, an asyncio job queue on
Redis. saq gives durability, retries, timeouts and heartbeats; this module adds what a queue
cannot know: that jobs for one pull request coalesce, that only its newest head matters, and
that one review of a PR runs at a time. Per pull request K (`owner/repo#number`), under
`dropsafe:`:

- `want:K`: what was asked since the last run started (scope, force, the latest delivery);
  requests merge, so a burst of pushes is one request.
- `gen:K`: how many runs of K have started. A request is enqueued as the saq job
  `review:K:<gen>`, so while that job waits every new request coalesces into it (saq drops
  an enqueue whose key is waiting or running); once it starts (`take`: `want` moves to
  `active:K:<gen>` and `gen` goes up, atomically) the next request gets a new job.
- `active:K:<gen>`: the request a run took and the check run it opened, kept until the run
  ends (`runs:K` lists them): a worker killed mid-review loses nothing, saq's sweeper re-runs
  the job (its heartbeat stops) and the new attempt finds the request and the open check run
  here; if a newer run took the lock first, it completes that check run instead.
- `lock:K`: held by the run reviewing K (renewed by its heartbeat, so a killed worker's lock
  expires). A run whose `gen` is overtaken by a newer one cancels itself: its check run is
  completed `cancelled` and the newer run, waiting on the lock, starts.
- `running:K`, `done:K`: the head (and scope) being reviewed and the last one reviewed, so
  the second event of a push (`synchronize` and `check_suite` both come) costs nothing.
- `delivery:<id>`: deliveries already accepted (24 hours), so a redelivery is skipped. Until
  its event job is in the queue it is kept only `Timings.accept_within`: a `serve` killed in
  between answered nothing, and GitHub's "Redeliver" must then go through.
- `asked:<id>:K`: delivery `<id>` asked for a review of K (24 hours), so its event job, run
  again after its worker died, does not ask twice (a second rescan, a second check run).
- `payload:<id>`: an accepted delivery's payload, until its event job has run (at most 24
  hours): the job's arguments name it, so no log line saq writes about a job carries it.

Each step that must be atomic is one Lua script. With Redis's append-only file on
(`appendonly yes`), an acknowledged delivery survives a Redis restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

import redis.asyncio as aioredis
from gidgethub import sansio
from saq import Queue
from saq.job import TERMINAL_STATUSES, Job, Status
from saq.queue.redis import RedisQueue

from bot.jobs import SHUTDOWN, SUPERSEDED, Leftover, PullKey, ReviewJob, job_fields

log = logging.getLogger(__name__)

PREFIX = "dropsafe:"
QUEUE_NAME = "dropsafe"
DELIVERY_MEMORY = 24 * 60 * 60
REQUEST_MEMORY = 7 * 24 * 60 * 60  # a request nobody took (every worker down a week) expires
REVIEWED_MEMORY = 30 * 24 * 60 * 60
OVERTAKEN_POLL = 0.5  # seconds between a running review's looks for a newer run


@dataclass(frozen=True)
class Timings:
    """How fast a dead worker is noticed and how long a job may run; tests shorten them.

    A SIGKILLed worker's job runs again elsewhere about `stuck_after + sweep + 2` seconds
    later (the 2: the sweeper's wait for a live worker to acknowledge the abort), and its
    PR's lock is free by then. The price of a short bound: a running job writes to Redis
    every `heartbeat` (a few commands a second per job, nothing for Redis), and a worker
    stalled longer than `stuck_after` (a paused VM, a starved CPU) is taken for dead: its
    job runs again elsewhere while the stalled copy is aborted, which repeats work but never
    a write to GitHub (`bot.review.once`).
    """

    heartbeat: float = 1.0  # seconds between a running job's signs of life
    stuck_after: int = 5  # a job silent this long is re-run elsewhere (saq's heartbeat)
    sweep: int = 1  # how often the workers (one at a time) look for such jobs
    lock_ttl: float = 5.0  # a review lock not renewed this long is free
    review_timeout: int = 30 * 60  # one attempt of a review job, all its waits included
    event_timeout: int = 120  # one attempt of an event job (routing, a permission check)
    retries: int = 5  # attempts of a job that fails or whose worker dies
    accept_within: float = 60.0  # seconds a delivery may take to be queued once remembered


def pull_name(key: PullKey) -> str:
    owner, repo, number = key
    return f"{owner}/{repo}#{number}"


def review_job_key(key: PullKey, gen: int) -> str:
    return f"review:{pull_name(key)}:{gen}"


def _tag(head_sha: str, full: bool) -> str:
    return f"{head_sha}|{int(full)}"


# KEYS want, gen, running, asked; ARGV request (JSON), the running tag this request repeats
# ('' none), want's lifetime, asked's lifetime ('' for a request no delivery makes: a job put
# off). Requests merge as `ReviewJob.after` says. Returns the gen to enqueue the job under,
# and why a request changed nothing: 'running' (its head is being reviewed) or 'asked' (the
# same delivery asked before: its event job runs again after its worker died).
_SUBMIT = """
local gen = tonumber(redis.call('GET', KEYS[2]) or '0')
if ARGV[4] ~= '' and not redis.call('SET', KEYS[4], 1, 'NX', 'EX', ARGV[4]) then
  return {gen, 'asked'}
end
local want = redis.call('GET', KEYS[1])
if not want and ARGV[2] ~= '' and redis.call('GET', KEYS[3]) == ARGV[2] then
  return {gen, 'running'}
end
local request = cjson.decode(ARGV[1])
if want then
  local old = cjson.decode(want)
  request.full = request.full or old.full
  request.force = request.force or old.force
  if request.leftover == cjson.null then request.leftover = old.leftover end
  if old.deferred > request.deferred then
    request.deferred = old.deferred
    request.deferred_since = old.deferred_since
  end
end
redis.call('SET', KEYS[1], cjson.encode(request), 'EX', ARGV[3])
return {gen, ''}
"""

# KEYS want, gen, active, runs; ARGV the job's gen, active's lifetime, gen's lifetime
_TAKE = """
local gen = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if current == gen then
  local want = redis.call('GET', KEYS[1])
  if not want then return {current, false} end
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], gen + 1, 'EX', ARGV[3])
  redis.call('HSET', KEYS[3], 'request', want)
  redis.call('EXPIRE', KEYS[3], ARGV[2])
  redis.call('SADD', KEYS[4], gen)
  redis.call('EXPIRE', KEYS[4], ARGV[2])
  return {gen + 1, want}
end
return {current, redis.call('HGET', KEYS[3], 'request')}
"""

# KEYS gen, active: a run's request, open check run and its progress, and the newest run's gen
_ACTIVE = """
local active = redis.call(
  'HMGET', KEYS[2], 'request', 'run_head', 'run_url', 'run_annotations', 'run_completed'
)
return {tonumber(redis.call('GET', KEYS[1]) or '0'), unpack(active)}
"""
RUN_FIELDS = ["run_head", "run_url", "run_annotations", "run_completed"]
"""How `active:K:<gen>` holds the check run a run opened (`_leftover` reads them back)."""

# KEYS lock; ARGV token, ttl ms: keep the lock while it is ours
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

# KEYS lock; ARGV token
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class Taken:
    """What a review job found when it started: the request, and for a job that runs again
    (its worker died) the check run it had opened and whether a newer run overtook it."""

    job: ReviewJob
    leftover: Leftover | None
    superseded: bool


class RedisJobs:
    """Jobs on Redis: `enqueue_event` and the delivery memory for the server, `submit` for
    event handlers (the `Reviews` seam), `take`/`lock`/the track for the review job."""

    def __init__(self, redis: aioredis.Redis, queue: Queue, timings: Timings) -> None:
        self.redis, self.queue, self.timings = redis, queue, timings
        self._submit = redis.register_script(_SUBMIT)
        self._take = redis.register_script(_TAKE)
        self._read_active = redis.register_script(_ACTIVE)
        self._renew = redis.register_script(_RENEW)
        self._unlock = redis.register_script(_UNLOCK)

    def _key(self, kind: str, key: PullKey) -> str:
        return f"{PREFIX}{kind}:{pull_name(key)}"

    async def submit(self, job: ReviewJob, *, delay: float = 0.0) -> None:
        """Ask for a review of `job`'s PR; it merges into a waiting request, if any (which
        runs when that one was to: a newer push waits out a rate limit with it).

        A delivery asks once: its event job may run again (its worker died after asking),
        and a second `/dropsafe rescan` request would review the head again. The job is
        enqueued all the same, since the worker may have died between asking and enqueuing;
        saq keeps one job per key, and a job with nothing to take does nothing.
        """
        repeats = ""  # a job put off carries on its review: never dropped as a repeat
        if job.head_sha and not job.force and not job.deferred:
            repeats = _tag(job.head_sha, job.full)
        asked = (
            self._asked(job.delivery_id, job.key) if job.delivery_id and not job.deferred else ""
        )
        gen, unchanged = await self._submit(
            keys=[
                self._key("want", job.key),
                self._key("gen", job.key),
                self._running(job.key),
                asked,
            ],
            args=[
                json.dumps(asdict(job)),
                repeats,
                REQUEST_MEMORY,
                DELIVERY_MEMORY if asked else "",
            ],
        )
        extra = job_fields(job)
        if unchanged == b"running":
            log.info("review already running", extra=extra)
            return
        queued = await self.queue.enqueue(
            "review_pull",
            key=review_job_key(job.key, gen),
            owner=job.owner,
            repo=job.repo,
            number=job.pull_number,
            gen=gen,
            timeout=self.timings.review_timeout,
            heartbeat=self.timings.stuck_after,
            retries=self.timings.retries,
            ttl=-1,  # nothing reads a finished job: its key is free again at once
            scheduled=int(time.time() + delay) if delay else 0,
        )
        if unchanged == b"asked":
            log.info("review already asked for by this delivery", extra=extra)
        else:
            log.info("review queued" if queued else "review coalesced", extra=extra)

    async def take(self, key: PullKey, gen: int) -> bool:
        """Start run `gen` of `key`: True when it has a request to work on (taken now, or
        before its worker died), False for a duplicate of a run already done."""
        _, request = await self._take(
            keys=[
                self._key("want", key),
                self._key("gen", key),
                self._active(key, gen),
                self._key("runs", key),
            ],
            args=[gen, REQUEST_MEMORY, REVIEWED_MEMORY],
        )
        return request is not None

    async def taken(self, key: PullKey, gen: int) -> Taken | None:
        """What run `gen` of `key` took, read again under the PR's lock; None when another
        attempt of the same run already finished it."""
        current, request, *run = await self._read_active(
            keys=[self._key("gen", key), self._active(key, gen)]
        )
        if request is None:
            return None
        job = ReviewJob.from_json(json.loads(request))
        return Taken(job, _leftover(run), superseded=int(current) > gen + 1)

    async def overtaken(self, key: PullKey, gen: int) -> bool:
        """A newer run of `key` has started: run `gen` is worth nothing any more."""
        return int(await self.redis.get(self._key("gen", key)) or 0) > gen + 1

    async def end(self, key: PullKey, gen: int) -> None:
        """Run `gen` is over, completed or given up: forget what it took."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._active(key, gen))
            pipe.srem(self._key("runs", key), gen)
            await pipe.execute()

    async def leftovers(self, key: PullKey, gen: int) -> dict[int, Leftover | None]:
        """The older runs of `key` that took a request and never ended, with the check run
        each left open. Asked under the PR's lock by run `gen`, which overtook them all, so
        none of them is reviewing: their workers died, or they gave up waiting for the lock."""
        others = [int(g) for g in await self.redis.smembers(self._key("runs", key))]  # type: ignore[misc]
        found: dict[int, Leftover | None] = {}
        for other in sorted(g for g in others if g < gen):
            run = await self.redis.hmget(self._active(key, other), RUN_FIELDS)  # type: ignore[misc]
            found[other] = _leftover(run)
        return found

    @contextlib.asynccontextmanager
    async def lock(self, key: PullKey, gen: int) -> AsyncIterator[bool]:
        """Hold `key`'s review lock, renewed every `Timings.heartbeat` meanwhile.

        Yields False without the lock when run `gen` was overtaken while it waited (the run
        holding the lock winds down as soon as it sees the newer run: `until_overtaken`).
        Each attempt has its own token: a second copy of the same job (saq re-runs a job it
        believes lost) waits like any other run.
        """
        token = f"{review_job_key(key, gen)}:{uuid.uuid4()}"
        lock_key = self._key("lock", key)
        ttl_ms = int(self.timings.lock_ttl * 1000)
        while not await self.redis.set(lock_key, token, nx=True, px=ttl_ms):
            if await self.overtaken(key, gen):
                yield False
                return
            await asyncio.sleep(min(0.2, self.timings.heartbeat))

        async def keep() -> None:
            while True:
                await asyncio.sleep(self.timings.heartbeat)
                await self._renew(keys=[lock_key], args=[token, ttl_ms])

        keeper = asyncio.create_task(keep())
        try:
            yield True
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
            await self._unlock(keys=[lock_key], args=[token])
            await self.redis.delete(self._running(key))

    async def until_overtaken(
        self,
        key: PullKey,
        gen: int,
        work: Awaitable[None],
        moved_on: Callable[[], Awaitable[bool]],
    ) -> None:
        """Run `work`, cancelling it with `SUPERSEDED` when a newer run of `key` starts and
        `moved_on()` says the PR's head is no longer the one being reviewed (a late delivery
        for an older head must not throw away the review of the current one), and with
        `SHUTDOWN` when this task is cancelled (the worker stops): either way the review
        completes its check run before it ends."""
        task = asyncio.ensure_future(work)
        newest = gen + 1
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=OVERTAKEN_POLL)
                if task.done():
                    break
                current = int(await self.redis.get(self._key("gen", key)) or 0)
                if current > newest:
                    newest = current
                    if await moved_on():
                        task.cancel(SUPERSEDED)
                        await asyncio.wait({task})
        except asyncio.CancelledError:
            task.cancel(SHUTDOWN)
            await asyncio.wait({task})
            raise
        if not task.cancelled():
            task.result()

    def track(self, taken: Taken, gen: int) -> RedisTrack:
        return RedisTrack(self, taken.job.key, gen, taken.job.full, taken.leftover)

    async def enqueue_event(self, event: sansio.Event) -> None:
        """Hand a verified delivery to the workers; its delivery id is the job's key, so a
        second copy of it while the first waits is one job.

        The payload waits under a key of its own (`payload:<delivery id>`, kept as long as
        delivery ids are), not in the job: saq writes a job's arguments into its log lines
        (a failing job's whole record), and a payload is what a person wrote on GitHub.
        """
        payload_key = f"{PREFIX}payload:{event.delivery_id}"
        await self.redis.set(payload_key, json.dumps(event.data), ex=DELIVERY_MEMORY)
        await self.queue.enqueue(
            "handle_event",
            key=f"event:{event.delivery_id}",
            event=event.event,
            delivery_id=event.delivery_id,
            payload_key=payload_key,
            timeout=self.timings.event_timeout,
            heartbeat=self.timings.stuck_after,
            retries=self.timings.retries,
            retry_delay=1.0,
            retry_backoff=60.0,
            ttl=-1,
        )
        await self.redis.expire(_delivery(event.delivery_id), DELIVERY_MEMORY)

    async def payload(self, payload_key: str) -> Any:
        """The payload `enqueue_event` stored; None once it expired (a day after)."""
        stored = await self.redis.get(payload_key)
        return None if stored is None else json.loads(stored)

    async def handled(self, payload_key: str) -> None:
        """The event's job succeeded: its payload is no longer needed."""
        await self.redis.delete(payload_key)

    async def reachable(self) -> bool:
        """Redis answers (for a health check)."""
        try:
            return bool(await self.redis.ping())  # type: ignore[misc]
        except (aioredis.RedisError, OSError):
            return False

    async def remember_delivery(self, delivery_id: str) -> bool:
        """Mark `delivery_id` handled; False when it already was (a redelivery). Kept for
        `accept_within` until `enqueue_event` queues it, then for a day."""
        accepting = int(self.timings.accept_within * 1000)
        return bool(await self.redis.set(_delivery(delivery_id), 1, nx=True, px=accepting))

    async def forget_delivery(self, delivery_id: str) -> None:
        await self.redis.delete(_delivery(delivery_id))

    def _asked(self, delivery_id: str, key: PullKey) -> str:
        return f"{PREFIX}asked:{delivery_id}:{pull_name(key)}"

    def _active(self, key: PullKey, gen: int) -> str:
        return f"{PREFIX}active:{pull_name(key)}:{gen}"

    def _running(self, key: PullKey) -> str:
        return self._key("running", key)


def _delivery(delivery_id: str) -> str:
    return f"{PREFIX}delivery:{delivery_id}"


def _leftover(run: list[bytes | None]) -> Leftover | None:
    """The check run `RUN_FIELDS` describe, None when the run opened none."""
    head, url, annotations, completed = run
    if head is None or url is None:
        return None
    return Leftover(head.decode(), url.decode(), int(annotations or 0), completed == b"1")


@dataclass
class RedisTrack:
    """`ReviewTrack` on Redis for run `gen` of one PR (see the module's key list)."""

    reviews: RedisJobs
    key: PullKey
    gen: int
    full: bool
    leftover: Leftover | None
    head_sha: str | None = None  # the head under review, once the run has read it

    async def reviewed(self, head_sha: str, full: bool) -> bool:
        done = await self.reviews.redis.get(self.reviews._key("done", self.key))
        return done is not None and done.decode() == _tag(head_sha, full)

    async def started(self, head_sha: str, run_url: str | None) -> None:
        self.head_sha = head_sha
        redis = self.reviews.redis
        async with redis.pipeline(transaction=True) as pipe:
            active = self.reviews._active(self.key, self.gen)
            if run_url is not None:
                pipe.hset(active, mapping={"run_head": head_sha, "run_url": run_url})
            pipe.set(self.reviews._running(self.key), _tag(head_sha, self.full), ex=REQUEST_MEMORY)
            await pipe.execute()

    async def progressed(self, annotations: int, completed: bool) -> None:
        active = self.reviews._active(self.key, self.gen)
        progress = {"run_annotations": annotations, "run_completed": int(completed)}
        await self.reviews.redis.hset(active, mapping=progress)  # type: ignore[misc]

    async def finished(self, head_sha: str, full: bool) -> None:
        await self.reviews.redis.set(
            self.reviews._key("done", self.key), _tag(head_sha, full), ex=REVIEWED_MEMORY
        )


class SettledQueue(RedisQueue):
    """saq's Redis queue whose sweeper looks twice before it takes a job back.

    A worker moves a job to the active list (BLMOVE) a moment before it marks the job active;
    saq's sweeper (0.26), running then on any worker, takes such a job for one whose worker
    died: it aborts it and queues it again while it runs, or loses it when the job ends
    meanwhile. Here a job in the active list not yet marked active is read again after
    `SETTLE` seconds, and swept only if it still is not; stuck jobs (heartbeat or timeout
    missed) are swept as saq does.
    """

    async def sweep(self, lock: int = 60, abort: float = 2.0) -> list[str]:
        if not await self.redis.set(self._sweep, 1, nx=True, ex=lock):
            return []  # another worker sweeps this round
        swept = []
        for job_id in await self.redis.lrange(self._active, 0, -1):  # type: ignore[misc]
            job = await self._orphaned(job_id)
            if job is None:
                continue
            swept.append(job_id.decode())
            log.warning("job swept: its worker stopped", extra={"job": job.key})
            await self.abort(job, error=self.swept_error_message)
            with contextlib.suppress(asyncio.TimeoutError, RuntimeError):
                await job.refresh(abort)  # a live worker would acknowledge the abort
            if job.retryable:
                await self.retry(job, error=self.swept_error_message)
            else:
                await self.finish(job, Status.ABORTED, error=self.swept_error_message)
        return swept

    async def _orphaned(self, job_id: bytes) -> Job | None:
        """The job if no worker runs it: stuck, or still not marked active after `SETTLE`."""
        job = await self._get_job_by_id(job_id)
        if job is not None and job.status != Status.ACTIVE and not job.stuck:
            await asyncio.sleep(SETTLE)
            job = await self._get_job_by_id(job_id)
        if job is None:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.lrem(self._active, 0, job_id.decode())
                pipe.zrem(self._incomplete, job_id)
                await pipe.execute()
            return None
        orphaned = job.stuck or job.status not in (Status.ACTIVE, *TERMINAL_STATUSES)
        return job if orphaned else None


SETTLE = 2.0
"""Seconds a job may sit in saq's active list before a worker marks it active."""


@contextlib.asynccontextmanager
async def redis_jobs(url: str, timings: Timings) -> AsyncIterator[RedisJobs]:
    """`RedisJobs` on the queue at `url`, connected for the duration of the block."""
    queue = SettledQueue.from_url(url, name=QUEUE_NAME)
    await queue.connect()
    try:
        yield RedisJobs(queue.redis, queue, timings)
    finally:
        await queue.disconnect()
