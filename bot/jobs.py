"""Review jobs and the in-process queue that runs them after the webhook has been answered.

One run at a time per pull request: a newer job for the same PR replaces a waiting one and
cancels a running one (a new push makes the old head's review worthless). A job that only
repeats the running one (same head, same scope) is dropped instead: every push sends both
`pull_request.synchronize` and `check_suite.requested`, and restarting would waste the work.
A bounded pool of workers runs the reviews; event handling (routing, permission checks) runs
as tracked background tasks so that `idle()` covers everything a delivery started.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from bot import metrics
from bot.payload import Shape

if TYPE_CHECKING:
    from gidgethub.sansio import Event

log = logging.getLogger(__name__)

DELIVERY_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "delivery_id", default=None
)
"""The delivery the current task works for (tasks it starts inherit it)."""


class DeliveryIdFilter(logging.Filter):
    """Names the delivery on records logged inside its work that do not name it themselves
    (the GitHub client's retries, say), so every line of a job can be found by its id."""

    def filter(self, record: logging.LogRecord) -> bool:
        delivery_id = DELIVERY_ID.get()
        if delivery_id is not None and not hasattr(record, "delivery_id"):
            record.delivery_id = delivery_id
        return True


@dataclass(frozen=True)
class Leftover:
    """A check run an earlier attempt of the same review opened and did not finish: its worker
    was killed, or a rate limit put the review off. The next attempt reuses it for the same
    head (appending only the annotations it lacks; only posting the review when its verdict
    is in), or completes it when the PR has moved on."""

    head_sha: str
    run_url: str
    annotations: int = 0  # how many the run holds (annotations are appended, never replaced)
    completed: bool = False  # the verdict is in: the review is what is left to post


class RetryLater(Exception):
    """Raised from inside a review when it should run again later instead of failing now (a
    rate limit, GitHub unreachable before the check run exists).

    The queue re-runs the job after `delay` seconds without holding a worker meanwhile, like
    arq's `Retry(defer=...)`; `reason` says why, for logs and, when retries run out, for the
    check run's summary; `leftover` is the check run the review opened, which the next try
    carries on.
    """

    def __init__(self, delay: float, reason: str = "", leftover: Leftover | None = None) -> None:
        super().__init__(reason or f"retry in {delay:.0f} s")
        self.delay = max(0.0, float(delay))
        self.reason = reason or str(self)
        self.leftover = leftover


SUPERSEDED = "superseded by a newer run for this pull request"
SHUTDOWN = "the App shut down before the review finished"
STALE = (
    "the worker running this review stopped, and the pull request has moved on to a newer head "
    "(or was closed) since"
)
"""Cancellation messages: the run sees them on its `CancelledError` and says why it stopped."""

JOB_PAYLOAD: Shape = {"installation.id": int, "repository.owner.login": str, "repository.name": str}
"""What `job_from_event` reads, so every event that queues a review must have it."""

PullKey = tuple[str, str, int]


@dataclass(frozen=True)
class ReviewJob:
    installation_id: int
    owner: str
    repo: str
    pull_number: int
    head_sha: str | None = None  # None: the pipeline reads the PR to get its head
    full: bool = False  # `/dropsafe rescan full`: whole changed files (mode file)
    reason: str = ""  # e.g. "pull_request.opened", "rescan", "check_run.rerequested"
    delivery_id: str = ""
    force: bool = False  # a person asked (rescan, Re-run): review even a head already reviewed
    deferred: int = 0  # times a RetryLater put this job off; bounds its tries (`bot.github`)
    deferred_since: float = 0.0  # when it was first put off (epoch seconds); bounds its time
    leftover: Leftover | None = None  # the check run an earlier try left open

    def put_off(self, leftover: Leftover | None = None) -> ReviewJob:
        """This job for its next try after a RetryLater that left `leftover` open."""
        return replace(
            self,
            deferred=self.deferred + 1,
            deferred_since=self.deferred_since or time.time(),
            leftover=leftover or self.leftover,
        )

    def after(self, older: ReviewJob) -> ReviewJob:
        """This request merged with an `older` one that has not run yet: the scopes and the
        force add up, the older one's open check run and tries carry over (the next run
        reuses the run or completes it; a rate limit's tries are not reset by a push).
        `bot.redisqueue`'s submit script merges requests on Redis by the same rule."""
        tries = older if older.deferred > self.deferred else self
        return replace(
            self,
            full=self.full or older.full,
            force=self.force or older.force,
            leftover=self.leftover or older.leftover,
            deferred=tries.deferred,
            deferred_since=tries.deferred_since,
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReviewJob:
        """The job `dataclasses.asdict` gave `data` for (a request stored in Redis)."""
        leftover = data.get("leftover")
        return cls(**{**data, "leftover": Leftover(**leftover) if leftover else None})

    @property
    def key(self) -> PullKey:
        return (self.owner, self.repo, self.pull_number)


Runner = Callable[[ReviewJob], Awaitable[None]]


class ReviewTrack(Protocol):
    """What one run of a review tells the queue, and learns from it: which head of the PR was
    last reviewed (so a late delivery for a head already reviewed costs nothing) and which
    check run is open (so a run whose worker died is completed by the next attempt)."""

    leftover: Leftover | None

    async def reviewed(self, head_sha: str, full: bool) -> bool: ...

    async def started(self, head_sha: str, run_url: str | None) -> None: ...

    async def progressed(self, annotations: int, completed: bool) -> None:
        """The open check run holds `annotations` and, if `completed`, its verdict."""

    async def finished(self, head_sha: str, full: bool) -> None: ...


REVIEWED_MEMORY = 10_000
"""Pull requests whose last reviewed head the in-process queue remembers."""


@dataclass
class MemoryTrack:
    """The in-process `ReviewTrack`: the last reviewed head per PR in a shared LRU mapping.
    A process that dies takes its open runs with it, so there is never a leftover."""

    reviewed_heads: MutableMapping[PullKey, tuple[str, bool]]
    key: PullKey
    leftover: Leftover | None = None
    head_sha: str | None = None  # the head under review, once the run has read it

    async def reviewed(self, head_sha: str, full: bool) -> bool:
        return self.reviewed_heads.get(self.key) == (head_sha, full)

    async def started(self, head_sha: str, run_url: str | None) -> None:
        self.head_sha = head_sha

    async def progressed(self, annotations: int, completed: bool) -> None:
        pass  # a try that stops in this process hands its progress on itself (`RetryLater`)

    async def finished(self, head_sha: str, full: bool) -> None:
        self.reviewed_heads[self.key] = (head_sha, full)


class Reviews(Protocol):
    """Where event handlers send review jobs: the in-process `JobQueue`, or Redis
    (`bot.redisqueue`) when REDIS_URL is set."""

    async def submit(self, job: ReviewJob) -> None: ...


class JobQueue:
    """Per-PR latest-wins queue over a fixed pool of worker tasks."""

    def __init__(
        self,
        run: Runner,
        *,
        workers: int = 4,
        moved_on: Callable[[PullKey], Awaitable[bool]] | None = None,
        abandon: Runner | None = None,
    ) -> None:
        """`moved_on(key)`: whether the running review of PR `key` is of a head that is no
        longer the PR's (None: always, so a new job always cancels the running one).
        `abandon(job)`: completes the check run a job dropped at shutdown left open."""
        self._run = run
        self._moved_on = moved_on
        self._abandon = abandon
        self._size = workers
        self._ready: asyncio.Queue[PullKey] = asyncio.Queue()
        self._waiting: dict[PullKey, ReviewJob] = {}
        self._running: dict[PullKey, tuple[ReviewJob, asyncio.Task[None]]] = {}
        self._background: set[asyncio.Task[None]] = set()
        # Reviews waiting out a RetryLater, each until its timer puts it back in the queue.
        self._deferred: dict[PullKey, tuple[ReviewJob, asyncio.TimerHandle]] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._changed = asyncio.Event()  # set on every change of the state; waiters re-check

    def start(self) -> None:
        self._workers = [asyncio.create_task(self._worker()) for _ in range(self._size)]

    async def close(self) -> None:
        """Stop the workers and cancel what is running or waiting (server shutdown).

        Running reviews are told why (`SHUTDOWN`) so they complete their check runs; waiting
        and deferred ones are logged so their deliveries can be sent again, and a check run
        one of them carries (a review put off by a rate limit) is completed (`abandon`).
        """
        tasks = [
            *self._workers,
            *(task for _, task in self._running.values()),
            *self._background,
        ]
        for task in tasks:
            task.cancel(SHUTDOWN)
        await asyncio.gather(*tasks, return_exceptions=True)
        dropped = [*self._waiting.values()]
        for job, timer in self._deferred.values():
            timer.cancel()
            dropped.append(job)
        self._waiting.clear()
        self._deferred.clear()
        self._workers = []
        for job in dropped:
            log.warning("review dropped at shutdown", extra=job_fields(job))
            if job.leftover is not None and self._abandon is not None:
                await self._guarded(self._abandon(job), job.delivery_id, job_fields(job))

    async def submit(self, job: ReviewJob) -> None:
        """Queue `job`; it supersedes any job for the same PR that is waiting or running, and
        merges into one put off (it waits with it: a rate limit holds for every head)."""
        self._enqueue(job)

    def _enqueue(self, job: ReviewJob) -> None:
        deferred = self._deferred.get(job.key)
        if deferred is not None:
            older, timer = deferred
            self._deferred[job.key] = (job.after(older), timer)
            log.info("review coalesced into a deferred one", extra=job_fields(job))
            return
        superseded = self._waiting.get(job.key)
        running_job, running = self._running.get(job.key, (None, None))
        if superseded is None and running_job is not None and _repeats(job, running_job):
            log.info("review already running", extra=job_fields(job))
            return
        self._waiting[job.key] = job if superseded is None else job.after(superseded)
        if running is not None:
            # The worker re-queues the key when the running run has ended.
            self.spawn(self._supersede(job, running), delivery_id=job.delivery_id)
        elif superseded is None:
            self._ready.put_nowait(job.key)
        else:
            log.info(
                "review superseded",
                extra=job_fields(job, superseded_delivery_id=superseded.delivery_id),
            )
        self._notify()

    async def _supersede(self, job: ReviewJob, running: asyncio.Task[None]) -> None:
        """Cancel the running review of `job`'s PR, unless `moved_on` says it reviews the
        PR's current head: then it finishes, and the waiting job finds that head reviewed."""
        if self._moved_on is not None and not await self._moved_on(job.key):
            log.info("review kept: the head it reviews is current", extra=job_fields(job))
            return
        running.cancel(SUPERSEDED)
        log.info("review superseded", extra=job_fields(job, superseded_running=True))

    def spawn(self, work: Coroutine[Any, Any, None], *, delivery_id: str) -> None:
        """Run event handling in the background, logging (never raising) its failure."""
        task = asyncio.create_task(self._guarded(work, delivery_id))
        self._background.add(task)
        task.add_done_callback(self._background_done)
        self._notify()

    async def idle(self) -> None:
        """Return once nothing is running, waiting (deferred included), or being handled."""
        await self._until(
            lambda: not (self._waiting or self._running or self._background or self._deferred)
        )

    async def handled(self) -> None:
        """Return once every delivery's handler has finished (its reviews may still run)."""
        await self._until(lambda: not self._background)

    async def _until(self, done: Callable[[], bool]) -> None:
        while not done():
            self._changed.clear()
            await self._changed.wait()

    def _notify(self) -> None:
        metrics.JOBS_QUEUED.set(len(self._waiting) + len(self._deferred))
        self._changed.set()

    def _background_done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        self._notify()

    async def _worker(self) -> None:
        while True:
            key = await self._ready.get()
            job = self._waiting.pop(key)
            task = asyncio.create_task(self._review(job))
            self._running[key] = (job, task)
            try:
                # asyncio.wait, not await: a cancelled run must not cancel the worker.
                await asyncio.wait({task})
            finally:
                del self._running[key]
                if key in self._waiting:  # superseded while it ran
                    self._ready.put_nowait(key)
                self._notify()

    async def _review(self, job: ReviewJob) -> None:
        # The run's coroutine is made here, inside the task, so a task cancelled before it
        # started leaves no never-awaited coroutine behind.
        await self._guarded(self._attempt(job), job.delivery_id, job_fields(job))

    async def _attempt(self, job: ReviewJob) -> None:
        try:
            await self._run(job)
        except RetryLater as later:
            log.warning(
                "review deferred", extra=job_fields(job, retry_in=later.delay, why=later.reason)
            )
            self._put_off(job.put_off(later.leftover), later.delay)

    def _put_off(self, job: ReviewJob, delay: float) -> None:
        """Run `job` again in `delay` seconds, holding no worker meanwhile; a newer request
        that came while it ran runs now instead, carrying on its check run."""
        newer = self._waiting.get(job.key)
        if newer is not None:
            self._waiting[job.key] = newer.after(job)
            return
        timer = asyncio.get_running_loop().call_later(delay, self._wake, job.key)
        self._deferred[job.key] = (job, timer)
        self._notify()

    def _wake(self, key: PullKey) -> None:
        job, _ = self._deferred.pop(key)
        self._enqueue(job)

    @staticmethod
    async def _guarded(
        work: Awaitable[None], delivery_id: str, extra: dict[str, object] | None = None
    ) -> None:
        extra = extra or {"delivery_id": delivery_id}
        DELIVERY_ID.set(delivery_id)  # in this task's own context: it does not leak out
        try:
            await work
        except asyncio.CancelledError:
            log.info("cancelled", extra=extra)
            raise
        except Exception:
            log.exception("job failed", extra=extra)


def _repeats(job: ReviewJob, running: ReviewJob) -> bool:
    """Same head and scope; a job without a head (a rescan) asks for a fresh read of the PR,
    and one that carries a check run must run to finish it."""
    return (
        job.head_sha is not None
        and job.leftover is None
        and (job.head_sha, job.full) == (running.head_sha, running.full)
    )


def job_fields(job: ReviewJob, **more: object) -> dict[str, object]:
    """The log fields that name a job: delivery, repository, PR, head, reason."""
    return {
        "delivery_id": job.delivery_id,
        "repository": f"{job.owner}/{job.repo}",
        "pull_number": job.pull_number,
        "head_sha": job.head_sha,
        "reason": job.reason,
        **more,
    }


def job_from_event(
    event: Event,
    *,
    pull_number: int,
    head_sha: str | None = None,
    full: bool = False,
    reason: str = "",
    force: bool = False,
) -> ReviewJob:
    """The job for one PR that a webhook event names (repository, installation: the payload)."""
    data = event.data
    return ReviewJob(
        installation_id=int(data["installation"]["id"]),
        owner=data["repository"]["owner"]["login"],
        repo=data["repository"]["name"],
        pull_number=int(pull_number),
        head_sha=head_sha,
        full=full,
        reason=reason or f"{event.event}.{data.get('action', '')}",
        delivery_id=event.delivery_id,
        force=force,
    )
