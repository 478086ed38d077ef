"""The App's web server: verify and acknowledge webhook deliveries, then work in the background.

GitHub gives a delivery 10 seconds, so the handler only checks the signature, drops
redeliveries, answers, and hands the event to the job queue. Routing follows bedevere: one
module per concern with its own Router, composed here; dependencies reach the handlers as
keyword arguments of `dispatch`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Iterator, MutableMapping
from pathlib import Path
from typing import Protocol, cast

import aiohttp
import cachetools
import dotenv
import gidgethub
from aiohttp import web
from gidgethub import routing, sansio
from gidgethub.abc import GitHubAPI
from redis.exceptions import RedisError

from bot import checks, commands, logs, metrics, pulls
from bot.activity import Activity
from bot.github import (
    GITHUB_ERRORS,
    GitHubApp,
    GitHubClient,
    RetryPolicy,
    deferral,
    describe,
)
from bot.jobs import (
    REVIEWED_MEMORY,
    SHUTDOWN,
    JobQueue,
    MemoryTrack,
    PullKey,
    RetryLater,
    ReviewJob,
    Reviews,
    ReviewTrack,
    job_fields,
)
from bot.manifest import CALLBACK_PATH, WEBHOOK_PATH
from bot.payload import Shape, problems
from bot.redisqueue import RedisJobs, Timings, redis_jobs
from bot.review import fetch
from bot.review.fetch import BlobCache
from bot.settings import Settings, SettingsError, is_registered, listen_port
from bot.setup import SetupFlow, SetupSettings
from bot.status import status_page
from bot.webhooks import MAX_PAYLOAD_BYTES, ReadBudget, Refused, read_delivery

HEALTH_TIMEOUT = 2.0  # seconds /healthz waits for Redis to answer a PING
ABANDON_TIMEOUT = 10.0  # seconds shutdown gives GitHub to complete each put-off review's run
DELIVERY_MEMORY = 24 * 60 * 60  # seconds a delivery id is remembered (GitHub redelivers by hand)
BLOB_CACHE_BYTES = 64 * 2**20

router = routing.Router(pulls.router, checks.router, commands.router)
PAYLOADS: dict[str, Shape] = {**pulls.PAYLOADS, **checks.PAYLOADS, **commands.PAYLOADS}
log = logging.getLogger(__name__)


class ReviewRunner(Protocol):
    def __call__(
        self,
        gh: GitHubAPI,
        job: ReviewJob,
        *,
        app_slug: str,
        blob_cache: MutableMapping[str, bytes],
        graphql_url: str,
        track: ReviewTrack,
    ) -> Awaitable[None]: ...


class Registration:
    """Who the App is: known at start from the settings, or later, when the setup flow
    (`bot.setup`) has registered a new App on GitHub. Until then `github` is None and
    webhook deliveries are refused with 503."""

    def __init__(self, settings: Settings | None, retry: RetryPolicy | None) -> None:
        self.settings = settings
        self.retry = retry
        self.session: aiohttp.ClientSession | None = None
        self.github: GitHubApp | None = None
        self.webhooks: Webhooks | None = None
        self.handoff: Handoff | None = None  # set with the session: in-process or Redis

    def activate(self, settings: Settings, budget: ReadBudget, activity: Activity) -> None:
        """Start serving as the App `settings` names (the session must be open)."""
        assert self.session is not None, "the server's HTTP session is not open yet"
        assert self.handoff is not None, "the handoff is set up with the session"
        self.settings = settings
        self.github = GitHubApp(
            self.session,
            settings.app_id,
            settings.private_key,
            api_url=settings.api_url,
            retry=self.retry,
        )
        self.webhooks = Webhooks(settings.webhook_secret, budget, activity, self.handoff)


JOBS = web.AppKey("jobs", JobQueue)
REGISTRATION = web.AppKey("registration", Registration)
ACTIVITY = web.AppKey("activity", Activity)


def make_app(
    settings: Settings | None,
    *,
    runner: ReviewRunner | None = None,
    retry: RetryPolicy | None = None,
    workers: int = 4,
    read_budget: ReadBudget | None = None,
    setup: SetupSettings | None = None,
) -> web.Application:
    """The aiohttp application. `runner` defaults to `bot.review.run_review`; the App's slug
        is read once from GET /app. `app[JOBS].idle()` waits for all work. Without `settings`
        the App is not registered yet: `/` serves the setup page (`bot.setup`, with `setup`'s
    addresses), afterwards the status page (`bot.status`)."""
    blob_cache = BlobCache(BLOB_CACHE_BYTES)
    reviewed_heads: cachetools.LRUCache[PullKey, tuple[str, bool]] = cachetools.LRUCache(
        maxsize=REVIEWED_MEMORY
    )
    app = web.Application(client_max_size=MAX_PAYLOAD_BYTES)
    registration = Registration(settings, retry)
    activity = Activity()
    budget = read_budget or ReadBudget()

    reviewing: dict[PullKey, tuple[ReviewJob, MemoryTrack]] = {}

    async def run_job(job: ReviewJob) -> None:
        github, settings = registration.github, registration.settings
        assert github is not None and settings is not None, "jobs come from deliveries"
        track = MemoryTrack(reviewed_heads, job.key)
        reviewing[job.key] = (job, track)
        try:
            await review(
                github,
                job,
                runner=runner,
                blob_cache=blob_cache,
                graphql_url=settings.graphql_url,
                track=track,
            )
        except RetryLater as later:
            activity.finished(job.delivery_id, f"put off {later.delay:.0f} s: {later.reason}")
            raise
        except Exception as exc:
            activity.finished(job.delivery_id, f"failed: {describe(exc)}")
            raise
        finally:
            reviewing.pop(job.key, None)
        activity.finished(job.delivery_id, f"reviewed ({job.reason})")

    async def abandon(job: ReviewJob) -> None:
        """Complete the check run a review put off (a rate limit) left open: shutting down."""
        from bot.review.pipeline import complete_run  # the engine's imports, only when needed

        assert registration.github is not None and job.leftover is not None, "a deferred run"
        gh = await registration.github.installation_client(job.installation_id)
        async with asyncio.timeout(ABANDON_TIMEOUT):
            await complete_run(gh, job.leftover.run_url, SHUTDOWN, "neutral", job_fields(job))

    async def running_moved_on(key: PullKey) -> bool:
        job, track = reviewing[key]
        assert registration.github is not None, "jobs come from deliveries"
        return await moved_on(registration.github, job, track.head_sha)

    async def github_session(app: web.Application) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            registration.session = await stack.enter_async_context(
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
            )
            if settings is not None and settings.redis_url is not None:
                jobs = await stack.enter_async_context(redis_jobs(settings.redis_url, Timings()))
                registration.handoff = RedisHandoff(jobs)
            else:
                registration.handoff = LocalHandoff(app)
                _default_runner()  # reviews run here: the engine is imported now, and kept
            if settings is not None:
                registration.activate(settings, budget, activity)
            stack.enter_context(long_lived_heap())
            app[JOBS].start()
            yield
            await app[JOBS].close()

    async def webhook(request: web.Request) -> web.Response:
        if registration.webhooks is None:
            return _answer(503, "dropsafe is not registered with GitHub yet: open / to set it up")
        return await registration.webhooks.handle(request)

    def register(new: Settings) -> None:
        registration.activate(new, budget, activity)

    flow = SetupFlow(setup or SetupSettings(), register, lambda: registration.session)

    async def home(request: web.Request) -> web.Response:
        if registration.github is None:
            return await flow.page(request)
        return await status_page(registration.github, activity)

    app[JOBS] = JobQueue(run_job, workers=workers, moved_on=running_moved_on, abandon=abandon)
    app[REGISTRATION] = registration
    app[ACTIVITY] = activity
    app.cleanup_ctx.append(github_session)
    app.router.add_post(WEBHOOK_PATH, webhook)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics.handle)
    app.router.add_get("/", home)
    app.router.add_get(CALLBACK_PATH, flow.callback)
    return app


async def review(
    github: GitHubApp,
    job: ReviewJob,
    *,
    runner: ReviewRunner | None,
    blob_cache: MutableMapping[str, bytes],
    graphql_url: str,
    track: ReviewTrack,
) -> None:
    """Run one review job with a client for its installation (in `serve` or a worker).

    Lines logged meanwhile name the job; its time goes to the review duration histogram.
    No token (GitHub failing) puts the job off while it has tries left (`RetryLater`).
    """
    with (
        logs.job_context(f"{job.owner}/{job.repo}", job.pull_number),
        metrics.REVIEW_SECONDS.time(),
        metrics.JOBS_RUNNING.track_inprogress(),
    ):
        try:
            try:
                gh = await github.installation_client(job.installation_id)
                slug = await github.slug()
            except GITHUB_ERRORS as error:
                delay = deferral(error, github.retry, job.deferred, job.deferred_since)
                if delay is not None:
                    raise RetryLater(delay, describe(error)) from error
                raise
            await (runner or _default_runner())(
                gh,
                job,
                app_slug=slug,
                blob_cache=blob_cache,
                graphql_url=graphql_url,
                track=track,
            )
        except RetryLater:
            metrics.JOBS_RETRIED.inc()
            raise
        except Exception:
            metrics.JOBS_FAILED.inc()
            raise
        log.info(
            "review finished",
            extra={
                "delivery_id": job.delivery_id,
                "reason": job.reason,
                "rate_limit_remaining": gh.rate_limit.remaining if gh.rate_limit else None,
            },
        )


async def moved_on(github: GitHubApp, job: ReviewJob, head_sha: str | None) -> bool:
    """Whether `job`'s PR has moved past `head_sha`, the head a running review reviews (None:
    the run has not read it yet, and will read the newest): a push or a close. A late
    delivery for an older head must not throw away the review of the current one."""
    if head_sha is None:
        return False
    try:
        gh = await github.installation_client(job.installation_id)
        pull = await fetch.get_pull(gh, job.owner, job.repo, job.pull_number)
    except GITHUB_ERRORS as error:
        log.warning("could not read the head", extra=job_fields(job, why=describe(error)))
        return False
    return pull.head_sha != head_sha or pull.state != "open"


@contextlib.contextmanager
def long_lived_heap() -> Iterator[None]:
    """What is alive once the App has started (modules, the engine's tables, the App itself)
    stays out of the cycle collector while the block runs (`gc.freeze`): a burst of deliveries
    allocates enough to set off a full collection, which walked all of it, about 90,000
    objects, in the middle of the acknowledgements (benchmarks/app.py: 200 concurrent
    deliveries' burst CPU 0.23 s -> 0.18 s). What the App allocates later is collected as
    usual; leaving the block hands the frozen objects back to the collector."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _default_runner() -> ReviewRunner:
    # Imported late: the review pipeline pulls in the engine, which the server does not need
    # to answer deliveries.
    from bot.review import run_review

    return run_review


async def healthz(request: web.Request) -> web.Response:
    """200 when the server can take deliveries; 503 naming what is down (Redis, when
    REDIS_URL is set), so a load balancer or an orchestrator stops sending it work."""
    handoff = request.app[REGISTRATION].handoff
    checks = await handoff.health() if handoff is not None else {}
    healthy = all(state == "ok" for state in checks.values())
    return web.json_response(
        {"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503
    )


class Webhooks:
    """POST /api/github/webhooks: authenticate, deduplicate, acknowledge, queue.

    The request itself (headers, bounded body read, signature, parsing) is `bot.webhooks`'s;
    here, what the payload asks for.
    """

    def __init__(
        self, secret: str, budget: ReadBudget, activity: Activity, handoff: Handoff
    ) -> None:
        self._secret, self._budget, self._activity = secret, budget, activity
        self._handoff = handoff

    async def handle(self, request: web.Request) -> web.Response:
        """Answer within GitHub's 10 seconds; a refusal (4xx) names its reason and is logged."""
        try:
            event = await self._event(request)
        except Refused as refusal:
            log.warning(
                "delivery refused",
                extra={
                    "delivery_id": request.headers.get("X-GitHub-Delivery"),
                    "event": request.headers.get("X-GitHub-Event"),
                    "status": refusal.status,
                    "reason": refusal.reason,
                },
            )
            self._activity.received(
                request.headers.get("X-GitHub-Delivery") or "(none)",
                request.headers.get("X-GitHub-Event") or "(none)",
                None,
                f"refused {refusal.status}: {refusal.reason}",
            )
            event_name = _event_label(request.headers.get("X-GitHub-Event"))
            metrics.delivery(event_name, f"refused_{refusal.status}")
            return _answer(refusal.status, refusal.reason)
        status, message = await self._accept(event)
        metrics.delivery(_event_label(event.event), OUTCOMES.get(message, "not_queued"))
        self._activity.received(event.delivery_id, event.event, event.data, message)
        return _answer(status, message)

    async def _event(self, request: web.Request) -> sansio.Event:
        event = await read_delivery(request, self._secret, self._budget)
        if not isinstance(event.data.get("action", ""), str):
            raise Refused(400, "payload refused: `action` is not a string")
        wrong = problems(event.data, PAYLOADS.get(event.event, {})) if router.fetch(event) else []
        if wrong:
            raise Refused(400, "payload refused: " + "; ".join(wrong))
        return event

    async def _accept(self, event: sansio.Event) -> tuple[int, str]:
        """The answer's status and message."""
        extra = {
            "delivery_id": event.delivery_id,
            "event": event.event,
            "action": event.data.get("action"),
        }
        try:
            if not await self._handoff.first_delivery(event.delivery_id):
                log.info("redelivery skipped", extra=extra)
                return 200, "already handled"
            if event.event == "ping":
                return 200, "pong"
            if not router.fetch(event):
                log.info("event acknowledged, nothing to do", extra=extra)
                return 200, "ignored"
            await self._handoff.hand_over(event)
        except Exception:
            # Redis out of reach: GitHub shows the failed delivery, and it can be sent again.
            log.exception("delivery not queued", extra=extra)
            return 503, "could not queue the delivery: send it again later"
        log.info("event accepted", extra=extra)
        return 202, "accepted"


OUTCOMES = {
    "already handled": "redelivery",
    "pong": "pong",
    "ignored": "ignored",
    "accepted": "accepted",
}
"""The `outcome` label of the deliveries metric, by the answer's message."""
KNOWN_EVENTS = frozenset({*PAYLOADS, "ping", "installation", "installation_repositories"})


def _event_label(event: str | None) -> str:
    """The event as a metric label: anyone can post any header, so unknown names are one."""
    return event if event in KNOWN_EVENTS else "other"


class Handoff(Protocol):
    """Where an accepted delivery goes: handled in this process, or a job on Redis."""

    async def first_delivery(self, delivery_id: str) -> bool:
        """Remember `delivery_id`; False when it was already handled (a redelivery)."""
        ...

    async def hand_over(self, event: sansio.Event) -> None:
        """Start handling `event` after the answer; raises when it cannot be accepted."""
        ...

    async def health(self) -> dict[str, str]:
        """What `/healthz` reports about where deliveries go: name -> "ok" or why not."""
        ...


class LocalHandoff:
    """The embedded default: delivery ids remembered in memory, events handled as background
    tasks of this process's `JobQueue`."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._seen: cachetools.TTLCache[str, bool] = cachetools.TTLCache(
            maxsize=100_000, ttl=DELIVERY_MEMORY
        )

    async def health(self) -> dict[str, str]:
        return {}  # nothing outside this process

    async def first_delivery(self, delivery_id: str) -> bool:
        if delivery_id in self._seen:
            return False
        self._seen[delivery_id] = True
        return True

    async def hand_over(self, event: sansio.Event) -> None:
        self._app[JOBS].spawn(self._dispatch(event), delivery_id=event.delivery_id)

    async def _dispatch(self, event: sansio.Event) -> None:
        github = self._app[REGISTRATION].github
        assert github is not None, "deliveries are accepted only once registered"
        try:
            await dispatch(github, event, self._app[JOBS])
        except Exception:
            # Nothing may have been queued (GitHub down, say): a redelivery must not be skipped.
            self._seen.pop(event.delivery_id, None)
            raise


class RedisHandoff:
    """With REDIS_URL: delivery ids remembered in Redis, each event a job for the workers."""

    def __init__(self, jobs: RedisJobs) -> None:
        self._jobs = jobs

    async def health(self) -> dict[str, str]:
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT):
                await cast(Awaitable[bool], self._jobs.redis.ping())  # redis-py's union type
        except (RedisError, OSError, TimeoutError) as error:
            return {"redis": f"unreachable ({type(error).__name__})"}
        return {"redis": "ok"}

    async def first_delivery(self, delivery_id: str) -> bool:
        return await self._jobs.remember_delivery(delivery_id)

    async def hand_over(self, event: sansio.Event) -> None:
        try:
            await self._jobs.enqueue_event(event)
        except Exception:
            with contextlib.suppress(Exception):
                await self._jobs.forget_delivery(event.delivery_id)
            raise


async def dispatch(github: GitHubApp, event: sansio.Event, jobs: Reviews) -> None:
    """Route one event to its handlers with an installation client and the review queue."""
    gh = await github.installation_client(event.data["installation"]["id"])
    await router.dispatch(event, gh, jobs=jobs)


def _answer(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


def configure_logging() -> None:
    """Log lines to stderr at INFO, in LOG_FORMAT (`text` or `json`), each naming its job
    (`serve` and `worker` alike); an unknown format stops the start with one line."""
    try:
        logs.configure(os.environ.get("LOG_FORMAT") or "text")
    except ValueError as exc:
        raise SystemExit(f"dropsafe: bad setting: {exc}") from None


def run(port: int | None = None) -> None:
    """`dropsafe serve`: settings from the environment and `./.env`, checked before serving
    (one line naming a wrong setting); without an App id, the setup page instead."""
    dotenv.load_dotenv(Path.cwd() / ".env")
    configure_logging()
    metrics.process_started()
    try:
        settings = Settings.from_env() if is_registered(os.environ) else None
        if settings is not None:
            asyncio.run(verify_with_github(settings))
        port = port or listen_port(os.environ)
    except SettingsError as exc:
        raise SystemExit(f"dropsafe: {exc}") from None
    app = make_app(settings, setup=SetupSettings.from_env())
    logging.getLogger().addHandler(app[ACTIVITY])
    if settings is None:
        print(f"dropsafe: not registered yet: open http://localhost:{port}/ to register the App")
    else:
        print(f"dropsafe: listening on port {port}; webhooks: POST {WEBHOOK_PATH}")
    web.run_app(app, port=port, print=None)


async def verify_with_github(settings: Settings) -> None:
    """GET /app with the App's JWT: a key that is not this App's (401) or an id GitHub does not
    know (404) stops the start; GitHub out of reach is only logged (deliveries retry later)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        client = GitHubClient(
            session,
            app_id=settings.app_id,
            private_key=settings.private_key,
            base_url=settings.api_url,
            retry=RetryPolicy(attempts=2),
        )
        try:
            await client.getitem("/app")
        except gidgethub.HTTPException as error:
            if error.status_code not in (401, 404):
                log.warning("settings not verified with GitHub: %s", describe(error))
                return
            raise SettingsError(
                f"bad setting: GitHub refused the App's JWT for APP_ID={settings.app_id} "
                f"({error.status_code} to GET /app): is PRIVATE_KEY this App's key?"
            ) from None
        except GITHUB_ERRORS as error:
            log.warning("settings not verified with GitHub: %s", describe(error))
